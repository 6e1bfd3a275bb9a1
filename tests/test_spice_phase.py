"""Phase readout: synthetic waveforms with known phases, then the simulated reference clock."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from oscsim.spice.cells import RefclkCell
from oscsim.spice.phase import demodulate, frequency_hz, phase_at, rising_crossings, wrap
from oscsim.spice.run import run_netlist, tran_line

F_REF = 1e9


def _irregular_time(t_stop_s: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Simulator-like time points: irregular, about T/100 apart on average."""
    return np.sort(np.concatenate([[0.0, t_stop_s], rng.uniform(0.0, t_stop_s, n)]))


def test_known_phases_with_drift_harmonics_and_amplitude_ramp() -> None:
    rng = np.random.default_rng(3)
    t = _irregular_time(60e-9, 6000, rng)
    theta0 = np.array([0.3, -2.0, 3.1, 1.0, -np.pi / 2])
    drift = np.array([0.0, 0.01, -0.02, 0.005, 0.0])  # frequency offsets, fraction of f_ref
    amp = np.array([1.0, 0.5, 2.0, 1.0, 0.8]) * (1.0 + 0.1 * t[:, None] / 60e-9)
    theta = theta0 + 2 * np.pi * drift * F_REF * t[:, None]
    carrier = 2 * np.pi * F_REF * t[:, None] + theta
    v = amp * (np.cos(carrier) + 0.1 * np.cos(3 * carrier))
    times = np.array([10e-9, 33.3e-9, 60e-9])
    amplitude, phase = demodulate(t, v, times, F_REF, window_cycles=4)
    expected = wrap(theta0 + 2 * np.pi * drift * F_REF * times[:, None])
    assert phase.shape == amplitude.shape == (3, 5)
    assert np.abs(wrap(phase - expected)).max() < 0.005
    true_amp = np.array([1.0, 0.5, 2.0, 1.0, 0.8]) * (1.0 + 0.1 * times[:, None] / 60e-9)
    np.testing.assert_allclose(amplitude, true_amp, rtol=0.02)


def test_line_fit_removes_the_lag_of_a_frequency_offset() -> None:
    t = np.linspace(0.0, 30e-9, 3001)
    v = np.cos(2 * np.pi * 1.02 * F_REF * t)  # 2 % fast: phase grows 0.126 rad per cycle
    truth = wrap(2 * np.pi * 0.02 * F_REF * 30e-9)
    lagged = phase_at(t, v, 30e-9, F_REF, window_cycles=1)[0, 0]
    fitted = phase_at(t, v, 30e-9, F_REF, window_cycles=4)[0, 0]
    assert abs(wrap(fitted - truth)) < 0.003
    assert abs(wrap(lagged - truth)) > 0.05  # one cycle sees its centre, half a cycle back


def test_reference_subtraction_and_one_dimensional_input() -> None:
    t = np.linspace(0.0, 20e-9, 4001)
    ref = np.cos(2 * np.pi * F_REF * t + 0.7)
    v = 0.4 * np.cos(2 * np.pi * F_REF * t + 0.7 + 2.5)
    assert phase_at(t, v, [10e-9, 20e-9], F_REF, ref=ref) == pytest.approx(2.5, abs=1e-4)
    assert phase_at(t, v, 20e-9, F_REF)[0, 0] == pytest.approx(wrap(3.2), abs=1e-4)


def test_wrap_and_frequency_from_crossings() -> None:
    assert wrap(np.array([np.pi, -np.pi, 3 * np.pi / 2]))[0] == pytest.approx(np.pi)
    assert wrap(-np.pi) == pytest.approx(np.pi)
    assert wrap(3 * np.pi / 2) == pytest.approx(-np.pi / 2)
    t = np.linspace(0.0, 50e-9, 20001)
    v = np.sin(2 * np.pi * 0.9937e9 * t + 0.2)
    assert frequency_hz(t, v, t_start_s=5e-9) == pytest.approx(0.9937e9, rel=1e-6)
    assert rising_crossings(t, v).size == 49  # 49.7 cycles, starting just after a crossing
    with pytest.raises(ValueError, match="fewer than two"):
        frequency_hz(t, v, t_start_s=49.5e-9)


@pytest.mark.parametrize(
    ("times", "kwargs", "message"),
    [
        (3e-9, {}, "readout times must lie"),
        (25e-9, {}, "readout times must lie"),
        (10e-9, {"window_cycles": 0}, "window_cycles"),
        (10e-9, {"window_cycles": 2.5}, "window_cycles"),
    ],
)
def test_bad_arguments(times: float, kwargs: dict, message: str) -> None:
    t = np.linspace(0.0, 20e-9, 2001)
    with pytest.raises(ValueError, match=message):
        phase_at(t, np.cos(2 * np.pi * F_REF * t), times, F_REF, **kwargs)
    with pytest.raises(ValueError, match="do not match"):
        phase_at(t, np.zeros(5), 10e-9, F_REF)


@pytest.mark.ngspice
@pytest.mark.skipif(
    shutil.which("ngspice") is None, reason="ngspice not installed (apt-get install ngspice)"
)
def test_simulated_reference_clock_defines_phase_zero(tmp_path: Path) -> None:
    ref = RefclkCell(line_phase_deg=40.0)
    netlist = tmp_path / "refclk.cir"
    nodes = {"p": "rp", "n": "rn", "line": "line", "vdd": "vdd", "vss": "0"}
    netlist.write_text(
        "\n".join(
            [
                "refclk alone",
                ref.subckt.include_line(tmp_path),
                "vdd vdd 0 1.8",
                ref.subckt.instance("ref", nodes, ref.spice_params()),
                "rl line 0 1k",
                tran_line(12e-9, F_REF),
                ".end",
                "",
            ]
        )
    )
    raw = run_netlist(netlist, timeout_s=30)
    times = np.array([5e-9, 8.3e-9, 12e-9])
    v_clock = raw["v(rp)"] - raw["v(rn)"]
    amp, clock = demodulate(raw.time, v_clock, times, F_REF)
    assert np.abs(clock).max() < 1e-3
    np.testing.assert_allclose(amp, ref.amp_v, rtol=2e-3)
    line = phase_at(raw.time, raw["v(line)"], times, 2 * F_REF)
    assert np.degrees(line) == pytest.approx(np.full((3, 1), 40.0), abs=0.1)
    assert np.mean(raw["v(rp)"]) == pytest.approx(1.8, abs=0.01)
