"""Read ngspice raw files (binary or ASCII, one plot, real or complex) into numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from oscsim.errors import SpiceError

_DATA_MARKERS = (b"Binary:\n", b"Values:\n")
_MAX_HEADER = 1 << 20


@dataclass(frozen=True)
class RawFile:
    """One ngspice plot.

    Attributes:
        path: the file it was read from.
        title: the netlist's title line.
        plotname: e.g. ``Transient Analysis``.
        complex: True for complex plots (AC); then every array but the (real) scale is
            complex128; otherwise all are float64.
        variables: name -> values, in file order; names as ngspice writes them (``time``,
            ``v(p)``, ``i(vdd)``, ``v(x1.p)``, ``i(l.x1.lp)``), lower case.
        kinds: name -> ngspice's variable type (``time``, ``voltage``, ``current``, ...).
    """

    path: Path
    title: str
    plotname: str
    complex: bool
    variables: dict[str, np.ndarray] = field(repr=False)
    kinds: dict[str, str] = field(repr=False)

    @property
    def names(self) -> list[str]:
        """Variable names in file order; the first is the scale (time or frequency)."""
        return list(self.variables)

    @property
    def scale(self) -> np.ndarray:
        """The independent variable (first column): time in s, frequency in Hz, ..."""
        return next(iter(self.variables.values()))

    @property
    def time(self) -> np.ndarray:
        """Time vector in seconds; SpiceError if this plot is not a transient."""
        if "time" not in self.variables:
            raise SpiceError(f"{self.path}: plot {self.plotname!r} has no time vector")
        return self.variables["time"]

    def __getitem__(self, name: str) -> np.ndarray:
        """Values of one variable, looked up case-insensitively."""
        try:
            return self.variables[name.lower()]
        except KeyError:
            shown = ", ".join(self.names[:20])
            raise SpiceError(f"{self.path}: no variable {name!r}; it has {shown}") from None


def read_raw(path: str | Path) -> RawFile:
    """Read an ngspice raw file written with ``-r`` (binary) or ``set filetype=ascii``.

    Raises:
        SpiceError: missing, truncated or malformed file, or more than one plot in it.
    """
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise SpiceError(f"cannot read raw file {path}: {exc.strerror}") from None
    if not blob.startswith(b"Title:"):
        raise SpiceError(f"{path} is not an ngspice raw file (it does not start with 'Title:')")
    header, marker, body = _split_header(path, blob)
    meta, names, kinds = _parse_header(path, header)
    is_complex = "complex" in meta.get("flags", "").split()
    n_points = _int_field(path, meta, "No. Points")
    if marker == b"Binary:\n":
        data, rest = _binary_values(path, body, len(names), n_points, is_complex)
    else:
        data, rest = _ascii_values(path, body, len(names), n_points, is_complex)
    if rest.lstrip().startswith(b"Title:"):
        raise SpiceError(
            f"{path} holds more than one plot; oscsim reads one analysis per raw file "
            "(put one analysis in each netlist)"
        )
    if rest.strip():
        raise SpiceError(
            f"{path}: the header says {n_points} points but {len(rest)} more bytes follow; "
            "the run was probably aborted (see ngspice's log)"
        )
    return RawFile(
        path=path,
        title=meta.get("title", ""),
        plotname=meta.get("plotname", ""),
        complex=is_complex,
        variables={name: _column(data, j, is_complex) for j, name in enumerate(names)},
        kinds=dict(zip(names, kinds, strict=True)),
    )


def _column(data: np.ndarray, j: int, is_complex: bool) -> np.ndarray:
    """Column j as a contiguous array; the scale (j = 0) of a complex plot as float64."""
    column = data[:, j].real if is_complex and j == 0 else data[:, j]  # Im(scale) is junk
    return np.ascontiguousarray(column)


def _split_header(path: Path, blob: bytes) -> tuple[str, bytes, bytes]:
    """Cut the text header from the data block; returns (header, marker, data bytes)."""
    found = [(blob.find(m, 0, _MAX_HEADER), m) for m in _DATA_MARKERS]
    found = [(i, m) for i, m in found if i >= 0]
    if not found:
        raise SpiceError(
            f"{path}: no 'Binary:' or 'Values:' line; the file is truncated or not raw"
        )
    start, marker = min(found)
    try:
        header = blob[:start].decode("ascii")
    except UnicodeDecodeError:
        raise SpiceError(f"{path}: the raw-file header is not ASCII text") from None
    return header, marker, blob[start + len(marker) :]


def _parse_header(path: Path, header: str) -> tuple[dict[str, str], list[str], list[str]]:
    """Header fields (lower-case keys), variable names and kinds."""
    meta: dict[str, str] = {}
    lines = header.splitlines()
    for k, line in enumerate(lines):
        key, sep, value = line.partition(":")
        if not sep:
            raise SpiceError(f"{path}: malformed header line {line!r}")
        if key.strip().lower() == "variables":
            var_lines = lines[k + 1 :]
            break
        meta[key.strip().lower()] = value.strip()
    else:
        raise SpiceError(f"{path}: header has no 'Variables:' section")
    n_vars = _int_field(path, meta, "No. Variables")
    if len(var_lines) != n_vars or n_vars < 1:
        raise SpiceError(f"{path}: header lists {len(var_lines)} variables, expected {n_vars}")
    names, kinds = [], []
    for line in var_lines:
        parts = line.split()
        if len(parts) < 3:
            raise SpiceError(f"{path}: malformed variable line {line!r}")
        names.append(parts[1].lower())
        kinds.append(parts[2])
    return meta, names, kinds


def _int_field(path: Path, meta: dict[str, str], key: str) -> int:
    """Integer header field ``key`` (looked up in lower case), checked >= 0."""
    try:
        value = int(meta[key.lower()])
    except (KeyError, ValueError):
        raise SpiceError(f"{path}: header field {key!r} missing or not an integer") from None
    if value < 0:
        raise SpiceError(f"{path}: header field {key!r} is negative")
    return value


def _binary_values(
    path: Path, body: bytes, n_vars: int, n_points: int, is_complex: bool
) -> tuple[np.ndarray, bytes]:
    """Decode little-endian float64 records (two per value when complex)."""
    per_value = 2 if is_complex else 1
    size = 8 * per_value * n_vars * n_points
    if len(body) < size:
        raise SpiceError(
            f"{path} is truncated: the header promises {n_points} points "
            f"({size} data bytes) but only {len(body)} bytes follow"
        )
    flat = np.frombuffer(body, dtype="<f8", count=per_value * n_vars * n_points).astype(np.float64)
    if is_complex:
        data = (flat[0::2] + 1j * flat[1::2]).reshape(n_points, n_vars)
    else:
        data = flat.reshape(n_points, n_vars)
    return data, body[size:]


def _ascii_values(
    path: Path, body: bytes, n_vars: int, n_points: int, is_complex: bool
) -> tuple[np.ndarray, bytes]:
    """Decode ``Values:`` text: per point an index, then one value per line."""
    lines = body.decode("ascii", errors="replace").splitlines()
    needed = n_vars * n_points
    tokens: list[str] = []
    k = 0
    while len(tokens) < needed and k < len(lines):
        parts = lines[k].split()
        k += 1
        if not parts:
            continue
        if len(tokens) % n_vars == 0:
            if len(parts) != 2 or int(parts[0]) != len(tokens) // n_vars:
                raise SpiceError(f"{path}: malformed ASCII point line {lines[k - 1]!r}")
            parts = parts[1:]
        tokens.extend(parts)
    if len(tokens) < needed:
        raise SpiceError(
            f"{path} is truncated: the header promises {n_points} points, "
            f"the file holds {len(tokens) // n_vars}"
        )
    try:
        if is_complex:
            pairs = [t.split(",") for t in tokens]
            data = np.array([complex(float(a), float(b)) for a, b in pairs], dtype=np.complex128)
        else:
            data = np.array([float(t) for t in tokens], dtype=np.float64)
    except ValueError:
        raise SpiceError(f"{path}: a value in the ASCII data is not a number") from None
    rest = "\n".join(lines[k:]).encode("ascii")
    return data.reshape(n_points, n_vars), rest
