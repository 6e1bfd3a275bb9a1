"""Cell calibration in ngspice: how one ``lc`` cell's frequency moves with its amplitude.

A coupling bank whose two cells disagree with its sign loads each tank like a conductance to
ground. One cell runs here with a differential resistor of x tank conductances across its tank
and no other input; its amplitude falls and its frequency offset moves (the tank's harmonics
shift the frequency, by an amount that depends on how hard the pair limits). The pairs
(amplitude, offset) are what the envelope model needs to carry the cell's own drift
(``oscsim.envelope.Tank.offsets``); ``benchmarks/cell_loading.py`` reports the same curve.
"""

from __future__ import annotations

import functools
import math
import tempfile
from pathlib import Path

import numpy as np

from oscsim.spice.cells import LcCell
from oscsim.spice.format import spice_float
from oscsim.spice.phase import demodulate
from oscsim.spice.run import run_netlist

SETTLE = 16  # cycles before the frequency fit: the amplitude settles in a few tank time constants
STOPPED = 0.01  # below this fraction of its free amplitude a cell has stopped: no frequency


def loaded_cell_netlist(cell: LcCell, load: float, cycles: int, netlist_dir: Path) -> str:
    """One free-running cell with ``load`` tank conductances across its tank (differential
    resistor ``2 r_loss / load``: each side sees ``load / r_loss`` to the virtual ground)."""
    nodes = {"p": "p", "n": "n", "tune": "0", "inj": "0", "vdd": "vdd", "vss": "0"}
    start = cell.initial_state(0.0)
    lines = [
        f"lc cell with {load:g} tank conductances of load",
        cell.subckt.include_line(netlist_dir),
        f"Vdd vdd 0 dc {spice_float(cell.vdd_v)}",
        cell.subckt.instance("o", nodes, {**cell.spice_params(), **start.params}),
    ]
    if load > 0:
        lines.append(f"Rload p n {spice_float(2.0 * cell.r_loss_ohm / load)}")
    step, stop = spice_float(0.01 / cell.f_ref_hz), spice_float(cycles / cell.f_ref_hz)
    lines += [
        ".ic " + " ".join(start.ic_terms(nodes)),
        f".tran {step} {stop} 0 {step} uic",  # max step T/100
        ".save v(p) v(n)",
        ".end",
    ]
    return "\n".join(lines) + "\n"


def measure_load(cell: LcCell, load: float, cycles: int = 48, timeout_s: float = 120.0) -> dict:
    """Frequency offset (fraction of f_ref per cycle; None once the load has stopped the cell)
    and amplitude (V) of one loaded cell."""
    with tempfile.TemporaryDirectory(prefix="oscsim-load-") as tmp:
        raw = run_netlist(loaded_cell_netlist(cell, load, cycles, Path(tmp)), timeout_s, tmp)
    t_cycles = np.arange(SETTLE, cycles + 1)
    amp, phase = demodulate(
        raw.time, raw["v(p)"] - raw["v(n)"], t_cycles / cell.f_ref_hz, cell.f_ref_hz, 1
    )
    if amp[-1, 0] < STOPPED * cell.steady_amplitude_v():
        stopped = {"delta_per_cycle": None, "deg_per_cycle": None, "amplitude_v": float(amp[-1, 0])}
        return {"load": load, **stopped}
    slope = np.polyfit(t_cycles, np.unwrap(phase[:, 0]), 1)[0]
    return {
        "load": load,
        "delta_per_cycle": float(slope / (2.0 * math.pi)),
        "deg_per_cycle": math.degrees(float(slope)),
        "amplitude_v": float(amp[-1, 0]),
    }


@functools.cache
def measure_offsets(
    cell: LcCell, max_load: float = 3.0, points: int = 13, timeout_s: float = 120.0
) -> tuple[tuple[float, float], ...]:
    """The cell's frequency offset against its free-running one as its amplitude falls under
    loads of 0 to ``max_load`` tank conductances: ``(amplitude / free amplitude, offset per
    cycle)`` pairs, amplitude increasing (``Tank.offsets``); stopped cells are left out.
    Measured once per cell and process."""
    rows = [
        measure_load(cell, float(x), timeout_s=timeout_s) for x in np.linspace(0, max_load, points)
    ]
    running = [r for r in rows if r["delta_per_cycle"] is not None]
    free = running[0]
    pairs = {
        r["amplitude_v"] / free["amplitude_v"]: r["delta_per_cycle"] - free["delta_per_cycle"]
        for r in running
    }
    return tuple(sorted(pairs.items()))
