"""Cells: registry against the .subckt files, parameter checks, and the cells' physics in ngspice.

The physics tests compare with first-order closed forms (Adler locking, tan(D/2) ~ exp(-4 pi k t));
each prints what it measured (see netlists/cells/README.md; run with -s to see it).
"""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from oscsim.spice.cells import (
    CELLS,
    SUBCKTS,
    Cbank4Cell,
    LcCell,
    RefclkCell,
    ShilCell,
)
from oscsim.spice.format import spice_float
from oscsim.spice.phase import demodulate, frequency_hz, phase_at, wrap
from oscsim.spice.raw import RawFile
from oscsim.spice.run import run_netlist, tran_line

LC = LcCell()
T_REF = 1.0 / LC.f_ref_hz
needs_ngspice = pytest.mark.skipif(
    shutil.which("ngspice") is None, reason="ngspice not installed (apt-get install ngspice)"
)


def _subckt_header(path: Path) -> tuple[str, list[str], dict[str, str], str]:
    """(name, pins, params, header comment) of the one ``.subckt`` in a file."""
    text = path.read_text()
    joined = re.sub(r"\n\+", " ", text)
    line = next(ln for ln in joined.splitlines() if ln.lower().startswith(".subckt"))
    words, _, params = line.partition("params:")
    name, *pins = words.split()[1:]
    values = dict(re.findall(r"(\w+)=(\{[^}]*\}|\S+)", params))
    comment = "\n".join(ln for ln in text.splitlines() if ln.startswith("*"))
    assert f".ends {name}" in text
    return name, pins, values, comment


@pytest.mark.parametrize("cell", [LcCell(), Cbank4Cell(), ShilCell(), RefclkCell()])
def test_subckt_files_match_the_registry(cell) -> None:
    subckt = cell.subckt
    assert SUBCKTS[subckt.name] is subckt and subckt.path.is_file()
    name, pins, defaults, comment = _subckt_header(subckt.path)
    assert name == subckt.name and tuple(pins) == subckt.pins
    assert set(cell.spice_params()) <= set(defaults)
    for key, value in cell.spice_params().items():
        assert float(defaults[key]) == pytest.approx(value, rel=1e-12), key
    for word in [*pins, "vdd", *cell.spice_params()]:
        assert re.search(rf"\b{word}\b", comment), f"{subckt.path.name} header lacks {word}"


def test_registry_lists_the_oscillator_cells() -> None:
    assert set(CELLS) == {"lc"} and CELLS["lc"] is LcCell


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LcCell(c_f=-1e-12), "c_f must be a finite number > 0"),
        (lambda: LcCell(q=float("nan")), "q must be"),
        (lambda: LcCell(i_tail_a=0.1e-3), "loop gain"),
        (lambda: LcCell(g_pump_s_per_v=-1.0), "g_pump_s_per_v must be"),
        (lambda: Cbank4Cell(g_s=0.0), "g_s must be"),
        (lambda: Cbank4Cell().switch_levels(8), "-7..7"),
        (lambda: ShilCell().switch_levels(16), "0..15"),
        (lambda: RefclkCell(line_phase_deg=math.inf), "finite"),
        (lambda: LC.initial_state(0.0, tune_v=30.0), "no tank capacitance"),
    ],
)
def test_parameters_check_themselves(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_lc_design_values_and_initial_state() -> None:
    assert LC.l_h == pytest.approx(25.33e-9, rel=1e-3)
    assert LC.r_loss_ohm == pytest.approx(1591.5, rel=1e-4)
    amp = LC.steady_amplitude_v()
    assert 0.9 < amp < LC.r_loss_ohm * LC.i_tail_a * 4 / math.pi
    at_zero = LC.initial_state(0.0)
    assert at_zero.node_v["p"] - at_zero.node_v["n"] == pytest.approx(amp)
    assert at_zero.params == pytest.approx({"ilp_ic_a": 0.25e-3, "iln_ic_a": 0.25e-3})
    quarter = LC.initial_state(math.pi / 2)
    assert quarter.node_v == pytest.approx({"p": 1.8, "n": 1.8})
    swing = amp / (2 * 2 * math.pi * LC.f_ref_hz * LC.l_h)
    assert quarter.params["ilp_ic_a"] == pytest.approx(0.25e-3 - swing)
    assert quarter.ic_terms({"p": "p1", "n": "n1"}) == [
        f"v(p1)={spice_float(1.8)}",
        f"v(n1)={spice_float(1.8)}",
    ]


def test_switch_levels_and_instance_lines(tmp_path: Path) -> None:
    assert Cbank4Cell().switch_levels(-5) == {"b0": 1.8, "b1": 0.0, "b2": 1.8, "pol": 0.0}
    assert Cbank4Cell().switch_levels(3)["pol"] == 1.8
    assert ShilCell().switch_levels(9) == {"b0": 1.8, "b1": 0.0, "b2": 0.0, "b3": 1.8}
    nodes = {"p": "line", "n": "rn", "line": "l2", "vdd": "vdd", "vss": "0"}
    line = RefclkCell().subckt.instance("ref", nodes, {"amp_v": 0.5})
    assert line == "xref line rn l2 vdd 0 refclk amp_v=5.000000e-01"
    with pytest.raises(ValueError, match="exactly the pins"):
        RefclkCell().subckt.instance("ref", {"p": "a"})
    with pytest.raises(ValueError, match="not a safe SPICE name"):
        RefclkCell().subckt.instance("ref", {**nodes, "vss": "0 vdd"})
    include = LC.subckt.include_line(tmp_path)
    assert include.startswith(".include ../") and include.endswith("oscsim/spice/subckt/lc.subckt")


@dataclass
class _Bench:
    """A hand-built testbench: lc cells, cbank4 banks, shil couplers, refclk, PWL controls."""

    thetas: list[float]
    tune_v: list[float] | None = None
    shil_codes: list[int] | None = None
    banks: list[tuple[int, int, list[tuple[float, int]]]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    cell: LcCell = LC

    def _pwl(self, name: str, node: str, steps: list[tuple[float, float]], t_stop: float) -> None:
        """PWL source holding each level from its start time, 10 ps ramps at the boundaries."""
        points = [f"0 {spice_float(steps[0][1])}"]
        for (t_s, v), (_, before) in zip(steps[1:], steps[:-1], strict=True):
            points += [f"{spice_float(t_s)} {spice_float(before)}"]
            points += [f"{spice_float(t_s + 10e-12)} {spice_float(v)}"]
        points.append(f"{spice_float(t_stop)} {spice_float(steps[-1][1])}")
        self.lines.append(f"v{name} {node} 0 pwl({' '.join(points)})")

    def run(self, tmp_path: Path, cycles: int) -> RawFile:
        t_stop = cycles * T_REF
        bank, shil, ref = Cbank4Cell(), ShilCell(), RefclkCell()
        self.lines = [
            "oscsim cell testbench",
            *(s.include_line(tmp_path) for s in (LC.subckt, bank.subckt, shil.subckt, ref.subckt)),
            "vosc vdd 0 1.8",
            "vctl vddc 0 1.8",
            ref.subckt.instance(
                "ref", dict(p="rp", n="rn", line="line", vdd="vdd", vss="0"), ref.spice_params()
            ),
        ]
        ic_terms = []
        for i, theta in enumerate(self.thetas):
            tune = self.tune_v[i] if self.tune_v else 0.0
            self.lines.append(f"vtune{i} tune{i} 0 {spice_float(tune)}")
            inj = "0"
            if self.shil_codes:
                inj = f"inj{i}"
                pins = dict(line="line", out=inj, vdd="vddc", vss="0")
                for pin, level in shil.switch_levels(self.shil_codes[i]).items():
                    pins[pin] = f"s{i}{pin}"
                    self._pwl(f"s{i}{pin}", pins[pin], [(0.0, level)], t_stop)
                self.lines.append(shil.subckt.instance(f"s{i}", pins))
            state = self.cell.initial_state(theta, tune_v=tune)
            nodes = dict(p=f"p{i}", n=f"n{i}", tune=f"tune{i}", inj=inj, vdd="vdd", vss="0")
            params = {**self.cell.spice_params(), **state.params}
            self.lines.append(LC.subckt.instance(f"o{i}", nodes, params))
            ic_terms += state.ic_terms(nodes)
        for a, b, schedule in self.banks:
            pins = dict(pa=f"p{a}", na=f"n{a}", pb=f"p{b}", nb=f"n{b}", vdd="vddc", vss="0")
            levels = [(t_s, bank.switch_levels(code)) for t_s, code in schedule]
            for pin in ("b0", "b1", "b2", "pol"):
                pins[pin] = f"k{a}_{b}{pin}"
                self._pwl(pins[pin], pins[pin], [(t, lv[pin]) for t, lv in levels], t_stop)
            self.lines.append(bank.subckt.instance(f"k{a}_{b}", pins, bank.spice_params()))
        self.lines += [".ic " + " ".join(ic_terms), tran_line(t_stop, LC.f_ref_hz), ".end", ""]
        netlist = tmp_path / "bench.cir"
        netlist.write_text("\n".join(self.lines))
        return run_netlist(netlist, timeout_s=60, f_ref_hz=LC.f_ref_hz)


def _vdiff(raw: RawFile, n: int) -> np.ndarray:
    return np.stack([raw[f"v(p{i})"] - raw[f"v(n{i})"] for i in range(n)], axis=1)


def _decay_rate(t_s: np.ndarray, x: np.ndarray, lo: float, hi: float) -> float:
    """Slope per reference cycle of ln|x| over the samples where lo < |x| < hi."""
    keep = (np.abs(x) > lo) & (np.abs(x) < hi)
    assert keep.sum() >= 5, "too few points to fit a decay"
    return np.polyfit(t_s[keep] / T_REF, np.log(np.abs(x[keep])), 1)[0]


@pytest.mark.ngspice
@needs_ngspice
def test_lc_oscillates_at_f_ref_and_starts_at_its_phase(tmp_path: Path) -> None:
    thetas = [0.0, -2.0, 1.0, 2.5]
    raw = _Bench(thetas).run(tmp_path, cycles=60)
    v = _vdiff(raw, 4)
    f_hz = frequency_hz(raw.time, v[:, 0], t_start_s=10 * T_REF)
    assert f_hz == pytest.approx(LC.f_ref_hz, rel=0.01)
    amp, phase = demodulate(raw.time, v, [5 * T_REF, 60 * T_REF], LC.f_ref_hz)
    assert amp == pytest.approx(np.full((2, 4), LC.steady_amplitude_v()), rel=0.02)
    assert wrap(phase[0] - phase[0, 0]) == pytest.approx(wrap(np.array(thetas)), abs=0.03)
    i_supply = -np.mean(raw["i(vosc)"][raw.time > 10 * T_REF]) / 4
    assert i_supply == pytest.approx(LC.i_tail_a, rel=0.01)
    print(
        f"\nmeasured lc: f = {f_hz / 1e9:.6f} GHz (delta0 = {f_hz / LC.f_ref_hz - 1:+.2e}), "
        f"amplitude = {amp[-1, 0]:.4f} V diff (describing function {LC.steady_amplitude_v():.4f}),"
        f" supply = {i_supply * 1e3:.4f} mA, {i_supply * 1.8 * 1e3:.3f} mW"
    )


@pytest.mark.ngspice
@needs_ngspice
@pytest.mark.parametrize("code", [7, -7])
def test_pair_locks_in_phase_or_anti_phase(tmp_path: Path, code: int) -> None:
    start = math.radians(100.0)
    bench = _Bench([0.0, start], banks=[(0, 1, [(0.0, 0), (8 * T_REF, code)])])
    raw = bench.run(tmp_path, cycles=45)
    times = np.arange(5, 46) * T_REF
    theta = phase_at(raw.time, _vdiff(raw, 2), times, LC.f_ref_hz)
    delta = wrap(theta[:, 1] - theta[:, 0])
    assert math.degrees(abs(delta[3])) == pytest.approx(100.0, abs=3.0)  # still open at 8 cycles
    target = 0.0 if code > 0 else math.pi
    assert math.degrees(abs(wrap(delta[-1] - target))) < 5.0
    # tan(D/2) = tan(D0/2) exp(-4 pi k t), from the moment the bank closes
    locking = times >= 9 * T_REF
    k = -_decay_rate(times[locking], np.tan(wrap(delta[locking] - target) / 2), 0.03, 2.0)
    k *= np.sign(code) / (4 * np.pi)
    expected = code * Cbank4Cell().g_s * LC.k_per_siemens
    assert k == pytest.approx(expected, rel=0.25)
    print(
        f"\nmeasured k(code {code:+d}) = {k:+.5f}/cycle = {k / (code * Cbank4Cell().g_s):.2f} "
        f"per siemens (first order {LC.k_per_siemens:.2f})"
    )


@pytest.mark.ngspice
@needs_ngspice
def test_shil_pulls_phases_to_two_values_pi_apart(tmp_path: Path) -> None:
    starts = [math.radians(60.0), math.radians(120.0), math.radians(60.0)]
    raw = _Bench(starts, shil_codes=[15, 15, 0]).run(tmp_path, cycles=60)
    times = np.arange(5, 61) * T_REF
    theta = phase_at(raw.time, _vdiff(raw, 3), times, LC.f_ref_hz, ref=raw["v(rp)"] - raw["v(rn)"])
    offset = theta[-1, 0]
    assert math.degrees(abs(wrap(theta[-1, 1] - offset - math.pi))) < 3.0
    assert math.degrees(abs(offset)) < 10.0
    free = math.degrees(theta[-1, 2])
    assert min(abs(free - math.degrees(offset)), abs(abs(free) - 180.0)) > 30.0  # code 0: no lock
    sigma = -_decay_rate(times, np.tan(theta[:, 0] - offset), 0.02, 2.0) / (4 * np.pi)
    expected = LC.sigma_per_volt * RefclkCell().line_amp_v
    assert sigma == pytest.approx(expected, rel=0.35)
    print(
        f"\nmeasured SHIL (code 15, 1 V line): offset = {math.degrees(offset):+.3f} deg, "
        f"second phase {math.degrees(theta[-1, 1]):+.3f} deg, sigma = {sigma:.5f}/cycle "
        f"(first order {expected:.5f})"
    )


@pytest.mark.ngspice
@needs_ngspice
@pytest.mark.parametrize("ratio", [0.6, 1.4])
def test_pump_beyond_its_threshold_runs_away(tmp_path: Path, ratio: float) -> None:
    # pump conductance giving sigma = ratio x sigma_threshold at code 15 on the 1 V line
    g_pump = ratio * LC.sigma_threshold / (LC.k_per_siemens * RefclkCell().line_amp_v)
    cell = dataclasses.replace(LC, g_pump_s_per_v=g_pump)
    raw = _Bench([0.0], shil_codes=[15], cell=cell).run(tmp_path, cycles=40)
    amp, _ = demodulate(raw.time, _vdiff(raw, 1), np.array([20.0, 38.0]) * T_REF, LC.f_ref_hz)
    print(f"\nmeasured amplitude with the pump at {ratio} x threshold: {amp[:, 0]} V")
    if ratio < 1:  # the saturated pair bounds it where the pump cancels that much tank loss
        assert amp[1, 0] == pytest.approx(LC.steady_amplitude_v() / (1 - ratio), rel=0.1)
    else:  # the pump alone is a parametric oscillator: no bound
        assert amp[1, 0] > 1.5 * amp[0, 0] and amp[1, 0] > 3.0


@pytest.mark.ngspice
@needs_ngspice
def test_tune_shifts_the_frequency(tmp_path: Path) -> None:
    tunes = [-0.5, 0.0, 0.5]
    raw = _Bench([0.0, 0.0, 0.0], tune_v=tunes).run(tmp_path, cycles=40)
    v = _vdiff(raw, 3)
    f_hz = [frequency_hz(raw.time, v[:, i], t_start_s=5 * T_REF) for i in range(3)]
    assert f_hz[0] < f_hz[1] < f_hz[2]
    per_volt = (f_hz[2] - f_hz[0]) / LC.f_ref_hz / (tunes[2] - tunes[0])
    assert per_volt == pytest.approx(LC.delta_per_volt, rel=0.2)
    print(f"\nmeasured detuning: {per_volt:.5f} of f_ref per volt on tune")
