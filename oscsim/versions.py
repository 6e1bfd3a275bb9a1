"""Versions of everything that can change a result, recorded in every result and model file."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

_PACKAGES = ("oscsim", "torch", "numpy", "networkx", "PySpice", "matplotlib")


def versions() -> dict[str, str]:
    """Return package, Python and platform versions as plain strings."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
