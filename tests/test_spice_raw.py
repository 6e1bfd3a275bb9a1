"""Raw-file reader: binary against ASCII of the same ngspice run, complex plots, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from oscsim.errors import SpiceError
from oscsim.spice.raw import read_raw

DATA = Path(__file__).parent / "data"
BINARY = DATA / "rc_small.raw"
ASCII = DATA / "rc_small_ascii.raw"


def _write_raw(path: Path, flags: str, names: list[str], rows: np.ndarray, binary: bool) -> None:
    """Write a raw file in ngspice's layout (header, then Binary: or Values:)."""
    kinds = ["frequency"] + ["voltage"] * (len(names) - 1)
    header = (
        f"Title: synthetic\nDate: today\nPlotname: AC Analysis\nFlags: {flags}\n"
        f"No. Variables: {len(names)}\nNo. Points: {rows.shape[0]}\nVariables:\n"
        + "".join(f"\t{i}\t{n}\t{k}\n" for i, (n, k) in enumerate(zip(names, kinds, strict=True)))
    )
    if binary:
        pairs = np.stack([rows.real, rows.imag], axis=-1) if flags == "complex" else rows
        path.write_bytes(header.encode() + b"Binary:\n" + pairs.astype("<f8").tobytes())
        return
    lines = []
    for i, row in enumerate(rows):
        vals = [f"{v.real:.15e},{v.imag:.15e}" if flags == "complex" else f"{v:.15e}" for v in row]
        lines.append(f"{i}\t\t{vals[0]}\n" + "".join(f"\t{v}\n" for v in vals[1:]))
    path.write_text(header + "Values:\n" + "".join(lines))


def test_binary_equals_ascii_of_the_same_run() -> None:
    binary, ascii_ = read_raw(BINARY), read_raw(ASCII)
    assert binary.names == ascii_.names == ["time", "v(in)", "v(out)", "i(v1)"]
    assert binary.plotname == ascii_.plotname == "Transient Analysis"
    assert binary.time.dtype == np.float64 and binary.time.size == 49
    assert binary.kinds["i(v1)"] == "current"
    for name in binary.names:
        # ASCII raw files print 16 significant digits
        np.testing.assert_allclose(binary[name], ascii_[name], rtol=2e-15, atol=0.0)
    assert np.all(np.diff(binary.time) > 0) and binary.time[-1] == pytest.approx(2e-9)
    assert np.abs(binary["V(IN)"]).max() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("binary", [True, False])
def test_complex_plot_round_trip(tmp_path: Path, binary: bool) -> None:
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(5, 3)) + 1j * rng.normal(size=(5, 3))
    rows[:, 0] = np.array([1e3, 1e4, 1e5, 1e6, 1e7]) + 1e-3j  # ngspice leaves junk in Im(scale)
    path = tmp_path / "ac.raw"
    _write_raw(path, "complex", ["frequency", "v(a)", "v(b)"], rows, binary)
    raw = read_raw(path)
    assert raw.complex and raw.scale.dtype == np.float64
    np.testing.assert_array_equal(raw.scale, rows[:, 0].real)
    np.testing.assert_allclose(raw["v(b)"], rows[:, 2], rtol=1e-14)
    with pytest.raises(SpiceError, match="no time vector"):
        _ = raw.time


def test_truncated_binary_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cut.raw"
    path.write_bytes(BINARY.read_bytes()[:-100])
    with pytest.raises(SpiceError, match="truncated"):
        read_raw(path)


def test_truncated_ascii_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cut.raw"
    path.write_text(ASCII.read_text()[:-400])
    with pytest.raises(SpiceError, match="truncated"):
        read_raw(path)


def test_two_plots_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "two.raw"
    path.write_bytes(BINARY.read_bytes() * 2)  # ngspice appends each analysis the same way
    with pytest.raises(SpiceError, match="more than one plot"):
        read_raw(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"* a netlist, not a raw file\n", "not an ngspice raw file"),
        (b"Title: x\nNo. Variables: 1\n", "truncated or not raw"),
        (b"Title: x\nNo. Points: 1\nVariables:\n\t0\ttime\ttime\nBinary:\n", "No. Variables"),
        (b"Title: x\x00\xff\nBinary:\n", "not ASCII"),
    ],
)
def test_malformed_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.raw"
    path.write_bytes(content)
    with pytest.raises(SpiceError, match=message):
        read_raw(path)


def test_missing_file_and_unknown_variable(tmp_path: Path) -> None:
    with pytest.raises(SpiceError, match="cannot read raw file"):
        read_raw(tmp_path / "absent.raw")
    with pytest.raises(SpiceError, match="no variable 'v\\(nowhere\\)'"):
        read_raw(BINARY)["v(nowhere)"]
