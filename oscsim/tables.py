"""Cells of the markdown tables written beside result files."""

from __future__ import annotations

from typing import Any


def cell(value: Any, spec: str = ".2f") -> str:
    """``value`` formatted by ``spec``, or an en dash where it is missing (a row measured before
    its column existed, a step an arm was not scored at)."""
    return "–" if value is None else format(value, spec)
