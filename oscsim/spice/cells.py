"""Circuit cells: each ``.subckt`` file, its pins, and parameter objects that check themselves.

The subcircuits are plain ngspice files in ``oscsim/spice/subckt/`` (package data, so a plain
``pip install`` finds them; ``netlists/cells/`` in the checkout links there), documented in their
headers. The classes here hold the same parameters as SI floats, render instance lines, and
compute what the exporter needs around a cell (initial state for ``uic``, switch levels).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

from oscsim.envelope import Tank
from oscsim.spice.format import spice_float

CELLS_DIR = Path(__file__).resolve().parent / "subckt"
"""The cell files, shipped in the package; ``netlists/cells`` in the checkout links here."""
_NODE = re.compile(r"[A-Za-z0-9_]+\Z")


@dataclass(frozen=True)
class Subckt:
    """A subcircuit file ``netlists/cells/<name>.subckt`` and its pins, in order."""

    name: str
    pins: tuple[str, ...]

    @property
    def path(self) -> Path:
        """Absolute path of the ``.subckt`` file in this checkout."""
        return CELLS_DIR / f"{self.name}.subckt"

    def include_line(self, netlist_dir: str | Path) -> str:
        """``.include`` line for a netlist written in ``netlist_dir``, by relative path."""
        rel = os.path.relpath(self.path, Path(netlist_dir).resolve())
        return f".include {Path(rel).as_posix()}"

    def instance(
        self, inst: str, nodes: Mapping[str, str], params: Mapping[str, float] | None = None
    ) -> str:
        """Instance line ``x<inst> <nodes in pin order> <name> [k=v ...]``.

        Raises:
            ValueError: a pin missing or unknown, or a name that is not ``[A-Za-z0-9_]+``
                (pass user text through ``format.sanitize_name`` first).
        """
        if set(nodes) != set(self.pins):
            raise ValueError(f"{self.name} needs exactly the pins {self.pins}, got {tuple(nodes)}")
        names = [inst, *nodes.values(), *(params or {})]
        bad = [n for n in names if not _NODE.match(n)]
        if bad:
            raise ValueError(f"not a safe SPICE name: {bad[0]!r} (use only A-Z, a-z, 0-9, _)")
        words = [f"x{inst}", *(nodes[p] for p in self.pins), self.name]
        words += [f"{k}={spice_float(v)}" for k, v in (params or {}).items()]
        return " ".join(words)


@dataclass(frozen=True)
class CellState:
    """Initial state of one cell for ``.tran ... uic``.

    Attributes:
        node_v: pin -> node voltage, V (vss at 0 V), for ``.ic v(<node>)=...``.
        params: instance parameters that carry the rest of the state (inductor currents, A).
    """

    node_v: dict[str, float]
    params: dict[str, float]

    def ic_terms(self, nodes: Mapping[str, str]) -> list[str]:
        """``v(<node>)=<value>`` terms for a ``.ic`` line, given the instance's pin -> node map."""
        return [f"v({nodes[pin]})={spice_float(v)}" for pin, v in self.node_v.items()]


def _check_positive(obj: object, names: tuple[str, ...]) -> None:
    """Raise ValueError naming the first field of ``names`` that is not a finite number > 0."""
    for name in names:
        value = getattr(obj, name)
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ValueError(
                f"{type(obj).__name__}.{name} must be a finite number > 0, got {value!r}"
            )


def _spice_params(obj: object, exclude: tuple[str, ...] = ()) -> dict[str, float]:
    """The dataclass fields that are subckt parameters, as floats in field order."""
    return {f.name: float(getattr(obj, f.name)) for f in fields(obj) if f.name not in exclude}


@dataclass(frozen=True)
class LcCell:
    """Differential LC oscillator ``lc`` (pins ``p n tune inj vdd vss``), defaults at 1 GHz.

    Attributes:
        f_ref_hz: tank resonance, Hz (inductance per side follows from it and ``c_f``).
        c_f: tank capacitance per side, F.
        q: tank quality factor (parallel loss from each tank node to vdd).
        i_tail_a: tail current, A: the cell's whole supply current.
        v_lin_v: linear input range of the tanh pair, V.
        c_tune_f_per_v: capacitance removed per volt on ``tune``, F/V (raises the frequency).
        g_pump_s_per_v: pump conductance per volt on ``inj``, S/V.
        vdd_v: supply voltage, V (sets the tank's DC level; not a subckt parameter).
    """

    f_ref_hz: float = 1e9
    c_f: float = 1e-12
    q: float = 10.0
    i_tail_a: float = 0.5e-3
    v_lin_v: float = 0.2
    c_tune_f_per_v: float = 40e-15
    g_pump_s_per_v: float = 0.125e-3
    vdd_v: float = 1.8

    subckt: ClassVar[Subckt] = Subckt("lc", ("p", "n", "tune", "inj", "vdd", "vss"))

    def __post_init__(self) -> None:
        _check_positive(self, ("f_ref_hz", "c_f", "q", "i_tail_a", "v_lin_v", "vdd_v"))
        for name in ("c_tune_f_per_v", "g_pump_s_per_v"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"LcCell.{name} must be a finite number >= 0, got {value!r}")
        gain = self.i_tail_a * self.r_loss_ohm / self.v_lin_v
        if gain <= 1.2:
            raise ValueError(
                f"LcCell would barely oscillate or not at all: loop gain i_tail_a * r_loss_ohm / "
                f"v_lin_v = {gain:.3g} must exceed 1.2; raise i_tail_a or q, or lower v_lin_v"
            )

    @property
    def l_h(self) -> float:
        """Tank inductance per side, H: ``1 / ((2 pi f_ref)^2 c_f)``."""
        return 1.0 / ((2.0 * math.pi * self.f_ref_hz) ** 2 * self.c_f)

    @property
    def r_loss_ohm(self) -> float:
        """Parallel loss per side, ohm: ``q / (2 pi f_ref c_f)``."""
        return self.q / (2.0 * math.pi * self.f_ref_hz * self.c_f)

    @property
    def power_w(self) -> float:
        """Supply power, W: the tail current from vdd."""
        return self.i_tail_a * self.vdd_v

    @property
    def k_per_siemens(self) -> float:
        """First-order coupling per reference cycle per siemens joining matching tank nodes."""
        return 1.0 / (4.0 * math.pi * self.f_ref_hz * self.c_f)

    @property
    def sigma_per_volt(self) -> float:
        """First-order SHIL strength per reference cycle per volt of 2 f_ref pump on ``inj``."""
        return self.g_pump_s_per_v / (4.0 * math.pi * self.f_ref_hz * self.c_f)

    @property
    def sigma_threshold(self) -> float:
        """SHIL strength per cycle at which the pump alone sustains oscillation: ``1 / (2 q)``.

        The pump's conductance at the locked phase, half its amplitude, then equals the tank's
        differential loss, and unlike the tanh pair it does not saturate: at and above this
        the amplitude runs away and the pump is no longer −σ sin 2θ. Below it the locked
        amplitude is about ``A0 / (1 − σ / sigma_threshold)`` (tests/test_spice_cells.py).
        """
        return 1.0 / (2.0 * self.q)

    @property
    def delta_per_volt(self) -> float:
        """First-order detuning (fraction of f_ref, per cycle) per volt on ``tune``."""
        return self.c_tune_f_per_v / (2.0 * self.c_f)

    def spice_params(self) -> dict[str, float]:
        """Subckt parameters, named as in ``lc.subckt``."""
        return _spice_params(self, exclude=("vdd_v",))

    def steady_amplitude_v(self) -> float:
        """Free-running differential amplitude, V, from the describing function of the tanh pair.

        Solves ``A = r_loss i_tail F1(A / v_lin)`` (``oscsim.envelope.Tank.free_u``), with
        ``F1(a)`` the fundamental of ``tanh(a cos phi)``; harmonics and coupling loads are
        neglected.
        """
        return Tank.from_cell(self).free_u * self.v_lin_v

    def initial_state(self, theta_rad: float, tune_v: float = 0.0) -> CellState:
        """State that starts the cell at phase ``theta_rad`` with its steady amplitude.

        ``V(p, n) = A cos(2 pi f t + theta)`` at ``t = 0``: node voltages ``vdd +- A cos(theta)/2``
        and inductor currents (vdd -> p, vdd -> n) ``i_tail/2 -+ A sin(theta) / (2 omega L)``,
        with ``omega`` the tank frequency at ``tune_v``.
        """
        amp = self.steady_amplitude_v()
        c_total = self.c_f - self.c_tune_f_per_v * tune_v
        if c_total <= 0:
            raise ValueError(f"tune_v = {tune_v} V leaves no tank capacitance; use a smaller bias")
        omega = 1.0 / math.sqrt(self.l_h * c_total)
        half_v = 0.5 * amp * math.cos(theta_rad)
        ac_a = amp * math.sin(theta_rad) / (2.0 * omega * self.l_h)
        return CellState(
            node_v={"p": self.vdd_v + half_v, "n": self.vdd_v - half_v},
            params={
                "ilp_ic_a": 0.5 * self.i_tail_a - ac_a,
                "iln_ic_a": 0.5 * self.i_tail_a + ac_a,
            },
        )


def _bit_levels(bits: int, names: tuple[str, ...], high_v: float) -> dict[str, float]:
    return {name: high_v if (bits >> i) & 1 else 0.0 for i, name in enumerate(names)}


@dataclass(frozen=True)
class Cbank4Cell:
    """4-bit sign-magnitude coupling bank ``cbank4`` (pins ``pa na pb nb b0 b1 b2 pol vdd vss``).

    Attributes:
        g_s: unit conductance G, S; code c joins each pair of tank nodes with ``|c| G``.
        r_on_ohm: switch on-resistance, ohm.
        vdd_v: control-domain supply, V (high level of the switch controls).
    """

    g_s: float = 20e-6
    r_on_ohm: float = 1.0
    vdd_v: float = 1.8

    subckt: ClassVar[Subckt] = Subckt(
        "cbank4", ("pa", "na", "pb", "nb", "b0", "b1", "b2", "pol", "vdd", "vss")
    )
    max_code: ClassVar[int] = 7

    def __post_init__(self) -> None:
        _check_positive(self, ("g_s", "r_on_ohm", "vdd_v"))

    def spice_params(self) -> dict[str, float]:
        """Subckt parameters, named as in ``cbank4.subckt``."""
        return _spice_params(self, exclude=("vdd_v",))

    def switch_levels(self, code: int) -> dict[str, float]:
        """Control voltages (pin -> V) for a signed code in -7..7 (0 leaves the polarity high)."""
        if int(code) != code or abs(code) > self.max_code:
            raise ValueError(f"coupling code must be an integer in -7..7, got {code!r}")
        levels = _bit_levels(abs(int(code)), ("b0", "b1", "b2"), self.vdd_v)
        levels["pol"] = 0.0 if code < 0 else self.vdd_v
        return levels


@dataclass(frozen=True)
class ShilCell:
    """Code-switched SHIL coupler ``shil`` (pins ``line out b0 b1 b2 b3 vdd vss``).

    Attributes:
        vdd_v: control-domain supply, V (high level of the code bits).
    """

    vdd_v: float = 1.8

    subckt: ClassVar[Subckt] = Subckt("shil", ("line", "out", "b0", "b1", "b2", "b3", "vdd", "vss"))
    max_code: ClassVar[int] = 15

    def __post_init__(self) -> None:
        _check_positive(self, ("vdd_v",))

    def spice_params(self) -> dict[str, float]:
        """Subckt parameters: none (the strength is the code times refclk's line amplitude)."""
        return {}

    def switch_levels(self, code: int) -> dict[str, float]:
        """Control voltages (pin -> V) for a code in 0..15."""
        if int(code) != code or not 0 <= code <= self.max_code:
            raise ValueError(f"SHIL code must be an integer in 0..15, got {code!r}")
        return _bit_levels(int(code), ("b0", "b1", "b2", "b3"), self.vdd_v)


@dataclass(frozen=True)
class RefclkCell:
    """Reference clock and 2 f_ref injection line ``refclk`` (pins ``p n line vdd vss``).

    Attributes:
        f_ref_hz: reference frequency, Hz.
        amp_v: differential clock amplitude, V.
        line_amp_v: injection-line amplitude, V (full scale of every shil coupler).
        line_phase_deg: line phase against the clock's second harmonic, degrees.
    """

    f_ref_hz: float = 1e9
    amp_v: float = 1.0
    line_amp_v: float = 1.0
    line_phase_deg: float = 0.0

    subckt: ClassVar[Subckt] = Subckt("refclk", ("p", "n", "line", "vdd", "vss"))

    def __post_init__(self) -> None:
        _check_positive(self, ("f_ref_hz", "amp_v", "line_amp_v"))
        if not math.isfinite(self.line_phase_deg):
            raise ValueError("RefclkCell.line_phase_deg must be finite")

    def spice_params(self) -> dict[str, float]:
        """Subckt parameters, named as in ``refclk.subckt``."""
        return _spice_params(self)


CELLS: dict[str, type[LcCell]] = {"lc": LcCell}
"""Oscillator cells by name: the exporter and the tests iterate over these."""

SUBCKTS: dict[str, Subckt] = {
    cell.subckt.name: cell.subckt for cell in (LcCell, Cbank4Cell, ShilCell, RefclkCell)
}
"""Every subcircuit file oscsim ships, by subckt name."""
