"""What a model becomes as a circuit: element values, gains, supplies (DESIGN.md §3).

Mapping, per reference cycle (``CircuitGains`` holds the gains; first order by default):

- k: the LSB k_step sets the bank unit conductance ``G = k_step / k_per_siemens``; code c on
  edge (i, j) closes ``|c| G`` between matching (c > 0) or crossed (c < 0) tank nodes.
- rho: the same kind of bank between each cell and the reference clock, whose amplitude is the
  cell's steady amplitude, so a rho bank pulls like a coupling to a cell locked at phase 0.
- delta: a tune voltage ``(code · delta_step − delta0) / delta_per_volt``; ``delta0`` (the
  cells' free-running offset, 0 unless calibrated) is cancelled by every cell's bias.
- sigma: each shil coupler scales the 1 V, 2·f_ref line by code/15, and the cells' pump gain is
  chosen so that one code step is ``sigma_step`` to first order. The circuit's sigma per code
  is not linear (netlists/cells/README.md: about +30 % at codes 3 to 7, +2.5 % at 15, because
  the pump raises the amplitude), so small codes lock harder than the model assumes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from oscsim.envelope import Tank
from oscsim.errors import OscsimError
from oscsim.model import AISGenerator
from oscsim.spice.cells import CELLS, Cbank4Cell, LcCell, RefclkCell, ShilCell
from oscsim.spice.pwl import Schedule

VARIANTS = ("structural", "collapsed")
TRANSITION_CYCLES = 0.01
"""Ramp time of every control at a segment boundary, in reference cycles (T_ref / 100)."""
SUPPLIES = (
    ("Vdd_osc", "vdd_osc", "oscillators"),
    ("Vdd_cpl", "vdd_cpl", "couplings"),
    ("Vdd_bias", "vdd_bias", "bias"),
    ("Vdd_shil", "vdd_shil", "shil"),
)
"""(source, node, domain) of each supply: one source per energy domain."""


@dataclass(frozen=True)
class CircuitGains:
    """How behavioural rates (per reference cycle) map to element values.

    Attributes:
        k_per_siemens: coupling per siemens joining matching tank nodes of two cells.
        sigma_per_pump_siemens: SHIL strength per siemens of pump conductance amplitude
            (``g_pump_s_per_v`` times the 2·f_ref amplitude on ``inj``).
        delta_per_volt: detuning per volt on ``tune``.
        delta0_per_cycle: the cells' free-running offset, cancelled by the tune bias.
        time_scale: circuit reference cycles per model cycle. The circuit runs the model's
            trajectory this many times slower, every rate (k, δ, σ, ρ) divided by it: couplings
            and pumps load each tank less (closer to the weak-coupling limit that the
            behavioural phase model assumes) at this many times the simulated time.
    """

    k_per_siemens: float
    sigma_per_pump_siemens: float
    delta_per_volt: float
    delta0_per_cycle: float = 0.0
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not math.isfinite(value) or (f.name != "delta0_per_cycle" and value <= 0):
                raise ValueError(f"CircuitGains.{f.name} must be finite (and > 0), got {value}")

    @classmethod
    def first_order(
        cls, cell: LcCell, delta0_per_cycle: float = 0.0, time_scale: float = 1.0
    ) -> CircuitGains:
        """The cell's first-order gains (``LcCell.k_per_siemens`` ...), offset and time scale."""
        return cls(
            cell.k_per_siemens,
            cell.k_per_siemens,
            cell.delta_per_volt,
            delta0_per_cycle,
            time_scale,
        )


@dataclass(frozen=True)
class CircuitPlan:
    """Everything the netlists of one model share: all but the initial phases.

    Attributes:
        cell: oscillator cell, its pump gain set for the model's sigma step.
        bank, rho_bank: coupling banks (k) and reference-clock banks (rho; None without rho).
        shil, refclk: SHIL coupler and reference clock.
        schedule: segment breakpoints and transition time.
        gains: the gains used.
        edges: ``[E, 2]`` oscillator pairs, sorted; ``codes["k"]`` columns follow this order.
        codes: ``k`` ``[S, E]``, ``delta``/``sigma``/``rho`` ``[S, N]`` integer codes.
        steps: the LSB of each kind per circuit reference cycle (the model's / time_scale).
        roles: ``"visible"``/``"hidden"`` per oscillator.
        visible: node ids of the visible oscillators in pixel order.
        image_shape: (height, width).
    """

    cell: LcCell
    bank: Cbank4Cell
    rho_bank: Cbank4Cell | None
    shil: ShilCell
    refclk: RefclkCell
    schedule: Schedule
    gains: CircuitGains
    edges: np.ndarray
    codes: dict[str, np.ndarray]
    steps: dict[str, float]
    roles: tuple[str, ...]
    visible: np.ndarray
    image_shape: tuple[int, int]

    @property
    def n_osc(self) -> int:
        """Number of oscillators."""
        return len(self.roles)

    @property
    def cycles_per_segment(self) -> float:
        """Segment length in reference cycles (12 significant digits: no rounding residue)."""
        sched = self.schedule
        return float(f"{sched.t_stop_s * self.cell.f_ref_hz / sched.segments:.12g}")

    @property
    def tune_v_per_code(self) -> float:
        """Tune voltage per delta code, V."""
        return self.steps["delta"] / self.gains.delta_per_volt

    @property
    def tune_offset_v(self) -> float:
        """Tune voltage at delta code 0 (cancels delta0), V."""
        return -self.gains.delta0_per_cycle / self.gains.delta_per_volt

    @property
    def tune_v(self) -> np.ndarray:
        """Tune voltage of every cell in every segment, V, ``[S, N]``."""
        return self.tune_offset_v + self.codes["delta"] * self.tune_v_per_code

    @property
    def pump_threshold_ratio(self) -> float:
        """Strongest SHIL strength of the circuit over the cell's ``sigma_threshold``.

        At 1 or more some cell is a parametric oscillator of its own (its amplitude runs away)
        unless couplings load it; keep it well below 1 (a larger time scale divides it).
        """
        top = float(self.codes["sigma"].max(initial=0)) * self.steps["sigma"]
        return top / self.cell.sigma_threshold

    def supply_volts(self, domain: str) -> float:
        """Supply voltage of one domain, V (the bias domain runs at the cells' vdd)."""
        return {
            "oscillators": self.cell.vdd_v,
            "couplings": self.bank.vdd_v,
            "bias": self.cell.vdd_v,
            "shil": self.shil.vdd_v,
        }[domain]

    def saved_vectors(self) -> list[str]:
        """Vectors a netlist saves: each cell's p and n, the refclk's, the supply currents."""
        nodes = [f"v(o{i}_{side})" for i in range(self.n_osc) for side in ("p", "n")]
        return [*nodes, "v(ref_p)", "v(ref_n)", *(f"i({src.lower()})" for src, _, _ in SUPPLIES)]


def get_cell(cell: str | LcCell) -> LcCell:
    """An oscillator cell object from its registry name (or the object itself)."""
    if isinstance(cell, LcCell):
        return cell
    if cell not in CELLS:
        raise OscsimError(f"unknown cell {cell!r}; choose one of {sorted(CELLS)}")
    return CELLS[cell]()


def check_variant(variant: str) -> str:
    """``variant`` itself if it is one of ``VARIANTS``, else an OscsimError listing them."""
    if variant not in VARIANTS:
        raise OscsimError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return variant


def plan_circuit(
    model: AISGenerator,
    cell: str | LcCell = "lc",
    gains: CircuitGains | None = None,
    transition_cycles: float = TRANSITION_CYCLES,
) -> CircuitPlan:
    """Element values of ``model`` as a circuit of ``cell`` oscillators.

    Raises:
        OscsimError: a float model (no codes) or not 4-bit, codes outside what the banks build,
            or a bias that leaves a cell no tank capacitance.
    """
    if not model.quantizers or model.config.bits != 4:
        raise OscsimError(
            f"only 4-bit quantized models can be exported (the banks are 4-bit); this one has "
            f"bits={model.config.bits}: train it with ModelConfig(bits=4)"
        )
    base = get_cell(cell)
    gains = gains or CircuitGains.first_order(base)
    _check_envelope(model, base, gains)
    steps = {name: step / gains.time_scale for name, step in model.steps().items()}
    codes = {
        name: c.detach().cpu().numpy().astype(np.int64) for name, c in model.to_codes().items()
    }
    edges = model.edges.detach().cpu().numpy().T.astype(np.int64)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    codes["k"] = codes["k"][:, order]
    refclk = RefclkCell(f_ref_hz=base.f_ref_hz, amp_v=base.steady_amplitude_v())
    pump = 15.0 * steps["sigma"] / (gains.sigma_per_pump_siemens * refclk.line_amp_v)
    plan = CircuitPlan(
        cell=dataclasses.replace(base, g_pump_s_per_v=pump),
        bank=Cbank4Cell(g_s=steps["k"] / gains.k_per_siemens),
        rho_bank=Cbank4Cell(g_s=steps["rho"] / gains.k_per_siemens) if "rho" in codes else None,
        shil=ShilCell(),
        refclk=refclk,
        schedule=Schedule.uniform(
            model.config.segments,
            model.config.cycles_per_segment * gains.time_scale / base.f_ref_hz,
            transition_cycles / base.f_ref_hz,
        ),
        gains=gains,
        edges=edges[order],
        codes=codes,
        steps=steps,
        roles=tuple(model.graph.nodes[i]["role"] for i in range(model.n_osc)),
        visible=model.visible.detach().cpu().numpy().astype(np.int64),
        image_shape=(int(model.image_shape[0]), int(model.image_shape[1])),
    )
    _check_codes(plan)
    return plan


def _check_envelope(model: AISGenerator, cell: LcCell, gains: CircuitGains) -> None:
    """Raise OscsimError if an envelope model would be built as a circuit it was not trained
    for: another tank, or its trajectory slowed down (the tank's rates do not scale)."""
    if model.config.dynamics != "envelope":
        return
    trained, built = model.config.tank, Tank.from_cell(cell)
    if not (
        math.isclose(trained.q, built.q, rel_tol=1e-6)
        and math.isclose(trained.loop_gain, built.loop_gain, rel_tol=1e-6)
    ):
        raise OscsimError(
            f"this envelope model was trained for a tank with Q = {trained.q:g} and loop gain "
            f"{trained.loop_gain:.4g}; the cell has Q = {built.q:g} and loop "
            f"gain {built.loop_gain:.4g}: export with the matching cell or retrain"
        )
    if gains.time_scale != 1.0:
        raise OscsimError(
            f"an envelope model is its circuit at time scale 1 (its tanks' rates do not slow "
            f"down with the banks'); got time_scale {gains.time_scale:g}"
        )


def _check_codes(plan: CircuitPlan) -> None:
    """Raise OscsimError if a code cannot be built or a bias leaves a tank no capacitance."""
    for name, top in (("k", 7), ("rho", 7), ("sigma", 15)):
        if name in plan.codes and np.abs(plan.codes[name]).max(initial=0) > top:
            raise OscsimError(f"{name} codes exceed the 4-bit range ±{top}; re-quantize the model")
    if plan.codes["sigma"].min(initial=0) < 0:
        raise OscsimError("sigma codes must be >= 0 (SHIL strength is unsigned)")
    top_v = float(plan.tune_v.max(initial=0.0))
    if plan.cell.c_f - plan.cell.c_tune_f_per_v * top_v <= 0:
        raise OscsimError(
            f"a tune bias of {top_v:.3g} V leaves no tank capacitance: the model's delta step "
            f"{plan.steps['delta']:.3g} per cycle is too large for this cell"
        )
