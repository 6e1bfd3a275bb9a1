"""Versioned torch files (models, classifiers): written atomically, read safely, format-checked.

Read with ``torch.load(weights_only=True)`` only: tensors, numbers, strings, lists and dicts,
never pickled code. Every way a file can be wrong becomes one ModelFileError naming the file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_path
from .errors import ModelFileError
from .versions import versions


def write_container(path: str | Path, fmt: str, version: int, content: dict[str, Any]) -> Path:
    """Save ``content`` tagged with ``fmt``, ``version`` and the package versions, atomically."""
    tagged = {"format": fmt, "format_version": version, **content, "versions": versions()}
    with atomic_path(path) as tmp:
        torch.save(tagged, tmp)
    return Path(path)


def read_container(
    path: Path, fmt: str, version: int, what: str, data: bytes | None = None
) -> dict[str, Any]:
    """The dict stored in ``path`` (or in its bytes ``data``), if it is a ``fmt`` file.

    Args:
        path: the file (named in errors).
        fmt: the required ``"format"`` tag; version: the required ``"format_version"``.
        what: how errors call the file ("oscsim model file").
        data: the file's bytes, when the caller has already read them (to hash them).
    """
    try:
        content = torch.load(
            io.BytesIO(data) if data is not None else path, map_location="cpu", weights_only=True
        )
    except Exception as exc:  # torch raises many types for garbage; all mean the same here
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(
            f"{path} is not a readable {what} (truncated, corrupt or of another program): {first}"
        ) from None
    if not isinstance(content, dict) or content.get("format") != fmt:
        raise ModelFileError(f"{path} is a torch file but not an {what}")
    if content.get("format_version") != version:
        raise ModelFileError(
            f"{path} has {what} format version {content.get('format_version')}; this oscsim "
            f"reads version {version}: upgrade oscsim or regenerate the file"
        )
    return content
