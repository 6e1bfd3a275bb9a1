"""SPICE text: one fixed float format and a name sanitiser, so netlists are byte-deterministic."""

from __future__ import annotations

import math
import re

_NAME_BAD = re.compile(r"[^A-Za-z0-9_]")


def spice_float(x: float) -> str:
    """Format a finite float as SPICE text, identical on every machine.

    Uses ``%.6e`` (seven significant digits, no locale, no SI suffix), e.g. ``1.000000e-12``;
    zero is ``0.000000e+00`` (never ``-0``). Raises ValueError for NaN or infinity, which no
    SPICE element accepts.
    """
    value = float(x)
    if not math.isfinite(value):
        raise ValueError(f"cannot write {value!r} into a netlist: SPICE values must be finite")
    if value == 0.0:
        value = 0.0  # drop the sign of -0.0
    return f"{value:.6e}"


def sanitize_name(s: str) -> str:
    """Turn free text into a SPICE-safe name: only ``[A-Za-z0-9_]``, never a leading digit.

    Every other character becomes ``_``; a leading digit gets an ``n`` prefix. Raises ValueError
    for an empty name (or one of only whitespace), which would change a netlist's meaning.
    """
    text = str(s).strip()
    if not text:
        raise ValueError("empty name: give a non-empty element, node or file name")
    name = _NAME_BAD.sub("_", text)
    return f"n{name}" if name[0].isdigit() else name
