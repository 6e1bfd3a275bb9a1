"""Render a ``CircuitPlan`` and one latent as ngspice netlist text, byte for byte deterministic.

Layout: title, includes (``cells/<name>.subckt``, relative), one supply per energy domain, the
reference clock, the oscillators (and their shil couplers), the coupling banks in sorted edge
order, the reference-clock (rho) banks, the control sources sorted by net name, ``.ic``,
``.save``, ``.tran`` (collapsed: then the ``.control`` block). Names are generated: cell i is
instance ``xo<i>`` with tank nodes ``o<i>_p``/``o<i>_n``; the bank of edge (i, j) is
``xk<i>_<j>`` (collapsed: resistors ``rk<i>_<j>pp`` ...); cell i's rho bank is ``xr<i>``; a
control net is named by its codes per segment (``pwl``).

Variants: ``structural`` has every bank (``cbank4``: binary-weighted resistors behind switches,
polarity switches) and every shil coupler explicit, as hardware has them, their switch controls
on shared PWL nets. ``collapsed`` replaces each bank by plain resistors, one pair of paths (p-p
and n-n, or p-n and n-p) per polarity the bank ever uses, and each coupler by a linear VCVS
(``e``) scaling the line by code/15; a ``.control`` block stops the transient at every segment
boundary, ``alter``s the values that change and resumes. Everything but the cells is then
linear and constant within a segment: the fast path (a behavioural ``i = V·pwl(time)``
conductance costs about ten times more per element and time step).

Energy domains: the cells' tails (and, through the tanks, the bank losses) draw from
``Vdd_osc``, which also sets the refclk's DC level so rho banks carry no DC current; the bank
and shil switch logic sit on ``Vdd_cpl`` and ``Vdd_shil``; the lc cell's ``tune`` is a sense
input, so ``Vdd_bias`` draws nothing in this macro model. Control sources are ideal: loading
the parameters is not simulated (its energy is a separate term, DESIGN.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oscsim.spice.format import spice_float
from oscsim.spice.plan import SUPPLIES, CircuitPlan, check_variant
from oscsim.spice.pwl import ControlNets, code_token
from oscsim.spice.run import tran_line

R_OFF_OHM = 1e12
"""Resistance of a collapsed path whose code is 0 (the banks' switch off-resistance)."""

_IC_PER_LINE = 4
_SAVE_PER_LINE = 8
_DIRECT, _CROSSED = ("pp", "nn"), ("pn", "np")


def render_netlist(plan: CircuitPlan, theta0: np.ndarray, variant: str) -> str:
    """Netlist text of ``plan`` started at the phases ``theta0`` ``[N]`` (rad), ``\\n`` endings."""
    check_variant(variant)
    nets = ControlNets(plan.schedule)
    sched, cell = plan.schedule, plan.cell
    states = [
        cell.initial_state(float(theta0[i]), tune_v=float(plan.tune_v[0, i]))
        for i in range(plan.n_osc)
    ]
    stepped: list[Stepped] = []
    body = _oscillators(plan, nets, states, variant, stepped) + _banks(plan, nets, variant, stepped)
    ic_terms = [
        term
        for i, state in enumerate(states)
        for term in state.ic_terms({"p": f"o{i}_p", "n": f"o{i}_n"})
    ]
    saved = plan.saved_vectors()
    lines = [
        f"oscsim {variant} netlist: {plan.n_osc} {cell.subckt.name} cells, {len(plan.edges)} "
        f"coupling banks, {sched.segments} segments of {plan.cycles_per_segment:g} cycles",
        "* written by oscsim.spice.export; manifest.json maps oscillators to nodes. Segment",
        f"* boundaries every {spice_float(sched.t_stop_s / sched.segments)} s; controls ramp over "
        f"{spice_float(sched.transition_s)} s centred on each boundary.",
        *(f".include cells/{name}.subckt" for name in _includes(plan, variant)),
        "* supplies, one per energy domain",
        *(
            f"{src} {node} 0 dc {spice_float(plan.supply_volts(domain))}"
            for src, node, domain in SUPPLIES
        ),
        "* reference clock (phase 0) and 2 f_ref injection line",
        plan.refclk.subckt.instance(
            "ref",
            {"p": "ref_p", "n": "ref_n", "line": "line", "vdd": "vdd_osc", "vss": "0"},
            plan.refclk.spice_params(),
        ),
        *body,
        "* control sources, one per distinct schedule",
        *nets.lines(),
        "* initial state: every cell at its steady amplitude and latent phase (uic)",
        *(_chunked(".ic", ic_terms, _IC_PER_LINE)),
        *(_chunked(".save", saved, _SAVE_PER_LINE)),
        tran_line(sched.t_stop_s, cell.f_ref_hz),
        *(_control(plan, stepped) if variant == "collapsed" else []),
        ".end",
    ]
    return "\n".join(lines) + "\n"


def _includes(plan: CircuitPlan, variant: str) -> list[str]:
    """Names of the subcircuits a netlist of this variant uses, sorted."""
    names = [plan.cell.subckt.name, plan.refclk.subckt.name]
    if variant == "structural":
        names += [plan.bank.subckt.name, plan.shil.subckt.name]
    return sorted(names)


def includes(plan: CircuitPlan, variant: str) -> list[str]:
    """Relative include paths (``cells/<name>.subckt``) of a netlist of this variant."""
    return [f"cells/{name}.subckt" for name in _includes(plan, check_variant(variant))]


def _chunked(keyword: str, words: list[str], per_line: int) -> list[str]:
    return [
        f"{keyword} {' '.join(words[i : i + per_line])}" for i in range(0, len(words), per_line)
    ]


@dataclass(frozen=True)
class Stepped:
    """A collapsed-netlist element whose value is set per segment by ``alter``.

    Attributes:
        name: element name (``rk0_1pp``, ``einj_3_5``).
        param: what ``alter`` sets (``resistance``, ``gain``).
        values: the value in each segment.
    """

    name: str
    param: str
    values: tuple[float, ...]


def _stepped_line(item: Stepped, nodes: str) -> str:
    """Element line holding the first segment's value."""
    return f"{item.name} {nodes} {spice_float(item.values[0])}"


def _control(plan: CircuitPlan, stepped: list[Stepped]) -> list[str]:
    """``.control`` block: stop at each boundary, alter what changes, resume; write the raw file.

    ``write`` with no file writes to the ``-r`` raw file of the batch run; ``quit`` keeps batch
    mode from running the ``.tran`` a second time.
    """
    bounds = plan.schedule.breakpoints_s[1:-1]
    out = [".control", *(f"stop when time = {spice_float(t)}" for t in bounds), "run"]
    for s in range(1, len(bounds) + 1):
        out += [
            f"alter {item.name} {item.param} = {spice_float(item.values[s])}"
            for item in stepped
            if item.values[s] != item.values[s - 1]
        ]
        out.append("resume")
    return [*out, "write", "quit", ".endc"]


def _oscillators(
    plan: CircuitPlan, nets: ControlNets, states: list, variant: str, stepped: list[Stepped]
) -> list[str]:
    """Cell instances with their tune nets; structural: a shil coupler per cell."""
    cell, shil = plan.cell, plan.shil
    cells, pumps = ["* oscillators"], {}
    couplers = ["* SHIL couplers" if variant == "structural" else "* SHIL pumps: line x code/15"]
    for i, state in enumerate(states):
        sigma = [int(c) for c in plan.codes["sigma"][:, i]]
        if variant == "structural":
            inj = f"o{i}_inj"
            pins = {"line": "line", "out": inj, "vdd": "vdd_shil", "vss": "0"}
            levels = [shil.switch_levels(c) for c in sigma]
            for pin in ("b0", "b1", "b2", "b3"):
                seq = [lv[pin] for lv in levels]
                pins[pin] = nets.net("sh", [int(v > 0) for v in seq], seq)
            couplers.append(shil.subckt.instance(f"s{i}", pins))
        elif any(sigma):
            inj = f"inj_{code_token(sigma)}"
            pumps[inj] = Stepped(f"e{inj}", "gain", tuple(c / shil.max_code for c in sigma))
        else:
            inj = "0"
        delta = [int(c) for c in plan.codes["delta"][:, i]]
        tune = nets.net("tune", delta, plan.tune_v[:, i])
        nodes = {"p": f"o{i}_p", "n": f"o{i}_n", "tune": tune, "inj": inj}
        nodes.update(vdd="vdd_osc", vss="0")
        cells.append(cell.subckt.instance(f"o{i}", nodes, {**cell.spice_params(), **state.params}))
    if variant == "structural":
        return cells + couplers
    items = [pumps[k] for k in sorted(pumps)]
    stepped += items
    return cells + couplers[:1] + [_stepped_line(it, f"{it.name[1:]} 0 line 0") for it in items]


def _banks(plan: CircuitPlan, nets: ControlNets, variant: str, stepped: list[Stepped]) -> list[str]:
    """Coupling banks (k) in edge order, then reference-clock banks (rho)."""
    out = ["* coupling banks"]
    for (i, j), codes in zip(plan.edges.tolist(), plan.codes["k"].T, strict=True):
        ends = ((f"o{i}_p", f"o{i}_n"), (f"o{j}_p", f"o{j}_n"))
        out += _bank(plan, nets, variant, f"k{i}_{j}", ends, codes, stepped)
    if plan.rho_bank is not None:
        out.append("* reference-clock banks (rho)")
        for i, codes in enumerate(plan.codes["rho"].T):
            ends = ((f"o{i}_p", f"o{i}_n"), ("ref_p", "ref_n"))
            out += _bank(plan, nets, variant, f"r{i}", ends, codes, stepped)
    return out


def _bank(
    plan: CircuitPlan,
    nets: ControlNets,
    variant: str,
    inst: str,
    ends: tuple[tuple[str, str], tuple[str, str]],
    codes: np.ndarray,
    stepped: list[Stepped],
) -> list[str]:
    """One bank: a ``cbank4`` instance, or a resistor pair per used polarity (collapsed)."""
    (pa, na), (pb, nb) = ends
    codes = [int(c) for c in codes]
    bank = plan.bank if inst.startswith("k") else plan.rho_bank
    if variant == "structural":
        pins = {"pa": pa, "na": na, "pb": pb, "nb": nb, "vdd": "vdd_cpl", "vss": "0"}
        levels = [bank.switch_levels(c) for c in codes]
        for pin in ("b0", "b1", "b2", "pol"):
            seq = [lv[pin] for lv in levels]
            pins[pin] = nets.net("cb", [int(v > 0) for v in seq], seq)
        return [bank.subckt.instance(inst, pins, bank.spice_params())]
    out = []
    for sign, tags, paths in (
        (1, _DIRECT, ((pa, pb), (na, nb))),
        (-1, _CROSSED, ((pa, nb), (na, pb))),
    ):
        units = [max(sign * c, 0) for c in codes]
        if any(units):
            ohms = tuple(1.0 / (u * bank.g_s) if u else R_OFF_OHM for u in units)
            for tag, (x, y) in zip(tags, paths, strict=True):
                item = Stepped(f"r{inst}{tag}", "resistance", ohms)
                stepped.append(item)
                out.append(_stepped_line(item, f"{x} {y}"))
    return out
