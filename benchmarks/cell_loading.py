"""What a coupling load does to one oscillator cell: its amplitude and frequency, in ngspice.

A coupling bank of conductance g between two tanks carries no current when their phases agree
with its sign and the most when they disagree (a frustrated link): then it loads each tank
like g to an AC ground. A cell whose links are all frustrated carries x = r_loss · Σ g, which
is 2·Q·Σ|k| in model units (k = g / (4π f_ref C)), tank conductances of extra loss. One lc
cell runs here with a differential resistor of x tank conductances across its tank (x from 0
to ``--max-load``) and no other input; its frequency offset (phase slope against f_ref after
``SETTLE`` cycles) and amplitude are measured. The phase model assumes neither changes with
the state; how much they do is one ingredient of the circuit/behaviour mismatch
(``benchmarks/fidelity.py``). The loads a trained model puts on its cells (x per cell, largest
over segments, with every link frustrated) are reported beside them.

    python benchmarks/cell_loading.py                 # demo model, x = 0 .. 4

Writes ``benchmarks/results/cell_loading.{json,md,png}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from oscsim.atomic import write_json, write_text
from oscsim.errors import OscsimError, run_script
from oscsim.model import AISGenerator
from oscsim.modelfile import load_model
from oscsim.plots import save_figure
from oscsim.spice.calibrate import measure_load
from oscsim.spice.cells import LcCell
from oscsim.versions import versions

RESULTS = Path(__file__).resolve().parent / "results"


def model_loads(model: AISGenerator) -> np.ndarray:
    """Per cell, the largest over segments of x = 2·Q·Σ|k|: its bank load with every link
    frustrated, in tank conductances (``LcCell`` default Q)."""
    k = np.abs(model.hardware_params()["k"].detach().double().numpy())  # [S, E]
    edges = model.edges.numpy()
    per_cell = np.zeros((k.shape[0], model.n_osc))
    for end in edges:  # each link loads both of its cells
        np.add.at(per_cell, (slice(None), end), k)
    return 2.0 * LcCell().q * per_cell.max(axis=0)


def figure(rows: list[dict], loads: np.ndarray, name: str) -> Figure:
    """Frequency offset and amplitude against load, over the model's distribution of loads."""
    fig = Figure(figsize=(8.0, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    x = [r["load"] for r in rows]
    running = [r for r in rows if r["delta_per_cycle"] is not None]
    ax1.plot([r["load"] for r in running], [1e3 * r["delta_per_cycle"] for r in running], "o-")
    ax1.set_ylabel("frequency offset (1e-3 of f_ref)")
    ax2.plot(x, [r["amplitude_v"] for r in rows], "o-")
    ax2.set_ylabel("amplitude V(p) − V(n) (V)")
    for ax in (ax1, ax2):
        ax.set_xlabel("load (tank conductances)")
        twin = ax.twinx()
        twin.hist(loads, bins=40, range=(0, max(max(x), loads.max())), color="grey", alpha=0.3)
        twin.set_yticks([])
    fig.suptitle(f"one lc cell under a coupling load; grey: {name}'s cells, all links frustrated")
    return fig


def markdown(result: dict) -> str:
    """The measurement as markdown."""
    q = result["model_load_quantiles"]
    lines = [
        "# One lc cell under a coupling load (ngspice)",
        "",
        f"Model {result['model']}: per-cell load with every link frustrated, x = 2·Q·Σ|k| "
        f"(largest over segments): median {q['50']:.2f}, 90th percentile {q['90']:.2f}, "
        f"max {q['100']:.2f} tank conductances.",
        "",
        "| load (tank conductances) | frequency offset per cycle | degrees per cycle | "
        "amplitude (V) |",
        "|---|---|---|---|",
    ]
    for r in result["rows"]:
        if r["delta_per_cycle"] is None:
            lines.append(f"| {r['load']:g} | stopped | – | {r['amplitude_v']:.3f} |")
            continue
        lines.append(
            f"| {r['load']:g} | {r['delta_per_cycle']:+.2e} | {r['deg_per_cycle']:+.3f} | "
            f"{r['amplitude_v']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure the loaded cell and write JSON, markdown and the figure."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="demo", help="model whose cell loads are reported")
    ap.add_argument("--max-load", type=float, default=4.0, help="largest load, tank conductances")
    ap.add_argument("--points", type=int, default=17, help="loads from 0 to --max-load")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.max_load <= 0 or args.points < 2:
        raise OscsimError("--max-load must be positive and --points at least 2")
    cell = LcCell()
    rows = [measure_load(cell, float(x)) for x in np.linspace(0.0, args.max_load, args.points)]
    loads = model_loads(load_model(args.model).model)
    quantiles = {str(p): float(np.percentile(loads, p)) for p in (50, 90, 100)}
    result = {"model": args.model, "rows": rows, "model_load_quantiles": quantiles}
    result["versions"] = versions()
    write_json(args.out / "cell_loading.json", result)
    write_text(args.out / "cell_loading.md", markdown(result))
    save_figure(figure(rows, loads, args.model), args.out / "cell_loading.png")
    print(markdown(result))
    return 0


if __name__ == "__main__":
    run_script(main)
