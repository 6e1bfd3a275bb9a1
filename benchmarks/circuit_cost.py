"""What one circuit sample costs in ngspice, and why: matrix size, fill-ins, seconds per cycle.

For each model (demo, MNIST) and variant (collapsed, structural) the exporter's own netlist of
one latent (seed 0) runs twice, cut to the first ``--cycles`` C1 and C2 reference cycles (its
``.control`` block replaced by ``run`` and ``rusage all``). The difference of the two wall
times over C2 − C1 is the cost of one simulated cycle without parsing and set-up; the projected
seconds per sample is set-up + that × the model's cycles (segments × cycles per segment).
ngspice's own ``rusage`` gives the circuit equations, the non-zeros of the matrix, the fill-ins
its sparse LU adds and where the time goes (load, factor, solve): the fill-ins are what makes
a larger network cost more than its node count.

    python benchmarks/circuit_cost.py                        # demo and mnist, both variants
    python benchmarks/circuit_cost.py --models demo --cycles 1 3

Rows merge into ``benchmarks/results/circuit_cost.{json,md}`` by (model, variant).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from oscsim.atomic import read_results, write_json, write_text
from oscsim.errors import OscsimError, run_script
from oscsim.model import AISGenerator
from oscsim.modelfile import load_model
from oscsim.spice.export import export_model
from oscsim.spice.run import run_netlist
from oscsim.versions import versions

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("collapsed", "structural")
# ngspice `rusage all` lines kept per run: (label in the log, key)
USAGE = {
    "Circuit Equations": "equations",
    "Circuit original non-zeroes": "nonzeros",
    "Circuit fill-in non-zeroes": "fill_ins",
    "Transient iterations": "newton_iterations",
    "Accepted timepoints": "timepoints",
    "Transient analysis time": "analysis_s",
    "Transient load time": "load_s",
    "Transient factor time": "factor_s",
    "Transient solve time": "solve_s",
}
_USAGE_LINE = re.compile(r"^(?P<label>[A-Za-z][A-Za-z -]*?)\s*(?:\(seconds\))?\s*=\s*(?P<v>\S+)")
_TRAN = re.compile(r"^\.tran (\S+) (\S+) (.*)$", re.M)
_CONTROL = re.compile(r"^\.control$.*?^\.endc$\n", re.M | re.S)


def cut_netlist(text: str, cycles: float, f_ref_hz: float) -> str:
    """The netlist simulating only its first ``cycles`` reference cycles, then reporting
    ngspice's resource usage (a collapsed netlist's segment-boundary ``alter`` steps are
    dropped with its ``.control`` block)."""
    if not _TRAN.search(text) or not re.search(r"^\.end$", text, re.M):
        raise OscsimError("not an oscsim netlist: expected a .tran line and a final .end")
    text = _TRAN.sub(lambda m: f".tran {m[1]} {cycles / f_ref_hz:.6e} {m[3]}", text, count=1)
    text = _CONTROL.sub("", text, count=1)
    control = ".control\nrun\nrusage all\nwrite\nquit\n.endc\n"
    return re.sub(r"^\.end$", lambda _: control + ".end", text, count=1, flags=re.M)


def parse_usage(log: str) -> dict[str, float]:
    """The ``USAGE`` figures of an ngspice log holding ``rusage all`` output."""
    found: dict[str, float] = {}
    for line in log.splitlines():
        m = _USAGE_LINE.match(line.strip())
        if m and m["label"] in USAGE:
            found[USAGE[m["label"]]] = float(m["v"])
    missing = sorted(set(USAGE.values()) - set(found))
    if missing:
        raise OscsimError(f"ngspice printed no rusage figures for {missing}")
    return found


def measure(
    model: AISGenerator, name: str, variant: str, cycles: tuple[float, float], timeout_s: float
) -> dict:
    """Wall seconds and ngspice usage of one latent's netlist cut to each of ``cycles``."""
    with tempfile.TemporaryDirectory(prefix="oscsim-cost-") as tmp:
        manifest = export_model(model, tmp, n=1, seed=0, variant=variant)
        text = (Path(tmp) / manifest["netlists"][0]).read_text()
        runs = []
        for c in cycles:
            netlist = Path(tmp) / f"cut_{c:g}.cir"
            netlist.write_text(cut_netlist(text, c, manifest["f_ref_hz"]))
            start = time.perf_counter()
            run_netlist(netlist, timeout_s, workdir=tmp)
            wall = time.perf_counter() - start
            usage = parse_usage((Path(tmp) / "ngspice.log").read_text())
            runs.append({"cycles": c, "wall_s": wall, **usage})
    total_cycles = model.config.segments * model.config.cycles_per_segment
    (c1, c2), (r1, r2) = cycles, runs
    per_cycle = (r2["wall_s"] - r1["wall_s"]) / (c2 - c1)
    setup = r1["wall_s"] - per_cycle * c1
    # share of the longer run's analysis time spent factoring (ngspice's clock has ms steps:
    # a tiny circuit may report 0 s)
    factor = r2["factor_s"] / r2["analysis_s"] if r2["analysis_s"] > 0 else None
    return {
        "model": name,
        "variant": variant,
        "oscillators": int(model.n_osc),
        "cycles_per_sample": total_cycles,
        "runs": runs,
        "s_per_cycle": per_cycle,
        "setup_s": setup,
        "projected_s_per_sample": setup + per_cycle * total_cycles,
        "factor_share": factor,
        "newton_per_timepoint": r2["newton_iterations"] / r2["timepoints"],
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    lines = [
        "# Circuit simulation cost (ngspice, one process, one latent)",
        "",
        "| model | variant | oscillators | equations | non-zeros | fill-ins | s per cycle | "
        "set-up s | projected s per sample | LU factor share | Newton iterations per step |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        u = r["runs"][-1]
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['oscillators']} | {u['equations']:.0f} | "
            f"{u['nonzeros']:.0f} | {u['fill_ins']:.0f} | {r['s_per_cycle']:.1f} | "
            f"{r['setup_s']:.1f} | {r['projected_s_per_sample']:.0f} | "
            + ("– |" if r["factor_share"] is None else f"{100 * r['factor_share']:.0f} % |")
            + f" {r['newton_per_timepoint']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure every (model, variant) and write JSON and markdown results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["demo", "mnist"], help="names or files")
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    ap.add_argument("--cycles", nargs=2, type=float, default=[1.0, 2.0], metavar=("C1", "C2"))
    ap.add_argument("--timeout-s", type=float, default=3600.0, help="limit per ngspice run, s")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    c1, c2 = args.cycles
    if not 0 < c1 < c2:
        raise OscsimError(f"--cycles needs 0 < C1 < C2, got {c1:g} {c2:g}")
    rows = []
    for name in args.models:
        model = load_model(name).model
        for variant in args.variants:
            print(f"{name} {variant} ...", flush=True)
            rows.append(measure(model, name, variant, (c1, c2), args.timeout_s))
            print(markdown(rows[-1:]).splitlines()[-1], flush=True)
    path = args.out / "circuit_cost.json"
    merged = {(r["model"], r["variant"]): r for r in read_results(path, "circuit cost")["rows"]}
    merged.update({(r["model"], r["variant"]): r for r in rows})
    write_json(path, {"rows": list(merged.values()), "versions": versions()})
    write_text(path.with_suffix(".md"), markdown(list(merged.values())))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    run_script(main)
