"""Does a run's circuit risk grow as it trains? Latent sensitivity of every snapshot, beside FID.

A generator that scores a better FID is not worth shipping if its circuit no longer draws what
it draws. A circuit takes most of an hour per latent; ``oscsim.sensitivity``'s detuning screen
(``benchmarks/latent_risk.py``, which checks it against every circuit run so far) takes
seconds. This profiles every snapshot ``quality.py`` kept of one run, live and weight-averaged,
with ``latent_risk.profile_row`` (median, 90th and 99th percentile and the worst latent, in
degrees, and the share of latents above twice the median) and puts each beside the FID
``quality.json`` holds for it, so a budget can be picked for image quality and circuit risk
together. Nothing is trained or simulated.

    python benchmarks/risk_over_training.py --dataset fashion --model ais-4bit-envelope
    python benchmarks/risk_over_training.py --dataset mnist --model ais-4bit-envelope --seed 1

Writes ``benchmarks/results/risk_over_training-<dataset>-<run>.{json,md,png}``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from latent_risk import profile_row
from matplotlib.figure import Figure
from quality import _run_name
from quality_curves import KINDS, curve
from tqdm import tqdm

from oscsim.atomic import read_results, write_json, write_text
from oscsim.errors import OscsimError, run_script
from oscsim.plots import save_figure
from oscsim.train import kept_snapshots
from oscsim.versions import versions

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
STATS = ("median_deg", "p90_deg", "p99_deg", "max_deg")


def markdown(results: dict[str, Any]) -> str:
    """The table: one row per snapshot."""
    s = results["settings"]
    lines = [
        f"# Circuit risk over training: {s['dataset']} {s['run']}",
        "",
        f"Sensitivity under {s['kind']} {s['size']:g} ({s['draws']} patterns, {s['n']} latents, "
        "latent seed 0): final-phase RMS error, degrees; flagged: the share of latents above "
        "twice the median (latent_risk.py's screen). FID from quality.json.",
        "",
        "| steps | kind | FID | median | p90 | p99 | max | flagged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        fid = "-" if r["fid"] is None else f"{r['fid']:.2f}"
        stats = " | ".join(f"{r[k]:.1f}" for k in STATS)
        flagged = f"{r['share_flagged']:.3f}"
        lines.append(f"| {r['steps']:,} | {r['kind']} | {fid} | {stats} | {flagged} |")
    return "\n".join(lines) + "\n"


def figure(results: dict[str, Any]) -> Figure:
    """FID and the sensitivity percentiles against training steps, live and averaged."""
    fig = Figure(figsize=(10, 3.8))
    fid_ax, risk_ax = fig.subplots(1, 2)
    for kind, style in (("live", "--"), ("averaged", "-")):
        rows = [r for r in results["rows"] if r["kind"] == kind]
        steps = [r["steps"] for r in rows]
        scored = [(r["steps"], r["fid"]) for r in rows if r["fid"] is not None]
        if scored:
            fid_ax.plot(*zip(*scored, strict=True), style, marker="o", label=kind)
        for stat, colour in zip(STATS[:3], ("C0", "C1", "C3"), strict=True):
            label = f"{stat.removesuffix('_deg')}, {kind}"
            risk_ax.plot(steps, [r[stat] for r in rows], style, color=colour, label=label)
    fid_ax.set(xlabel="training steps", ylabel="FID (10,000 samples)", title="image quality")
    risk_ax.set(xlabel="training steps", ylabel="phase error under detuning, deg")
    risk_ax.set_title("circuit risk (latent sensitivity)")
    fid_ax.legend(fontsize=8)
    risk_ax.legend(fontsize=7, ncol=2)
    fig.suptitle(f"{results['settings']['dataset']} · {results['settings']['run']}")
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    """Profile every snapshot of one quality.py run; write JSON, markdown and the plot."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, help="mnist or fashion (quality.py's names)")
    ap.add_argument("--model", default="ais-4bit-envelope", help="quality.py model name")
    ap.add_argument("--seed", type=int, default=0, help="training seed of the run")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "quality", help="runs folder")
    ap.add_argument("--n", type=int, default=64, help="latents per snapshot")
    ap.add_argument("--draws", type=int, default=8, help="mismatch patterns averaged over")
    ap.add_argument("--size", type=float, default=1e-3, help="detuning per cycle")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.n < 2:
        raise OscsimError(f"--n must be at least 2 latents, got {args.n}")
    if args.threads:
        torch.set_num_threads(args.threads)
    run = _run_name(args.model, args.seed)
    found = kept_snapshots(args.work / args.dataset / run)
    if not found:
        raise OscsimError(
            f"no snapshots in {args.work / args.dataset / run / 'snapshots'}: train the run with "
            "benchmarks/quality.py over two budgets or more first"
        )
    quality = read_results(args.out / "quality.json", "quality")["rows"]
    fids = {  # kind -> {steps: FID} of this run, as quality_curves reads them
        kind: dict(curve(quality, args.dataset, args.model + suffix, args.seed))
        for kind, suffix in KINDS.items()
    }
    rows = []
    for steps, averaged, path in tqdm(found, desc="snapshots", unit="model"):
        row = profile_row(str(path), "detuning", args.size, args.n, args.draws, flag=2.0)
        kind = "averaged" if averaged else "live"
        fid = fids[kind].get(steps)
        row |= {"model": f"{run}/snapshots/{path.name}", "steps": steps, "kind": kind, "fid": fid}
        rows.append(row)
    settings = {"dataset": args.dataset, "run": run, "kind": "detuning", "size": args.size}
    settings |= {"draws": args.draws, "n": args.n}
    results = {"settings": settings, "rows": rows, "versions": versions()}
    stem = args.out / f"risk_over_training-{args.dataset}-{run}"
    write_json(stem.with_suffix(".json"), results)
    write_text(stem.with_suffix(".md"), markdown(results))
    save_figure(figure(results), stem.with_suffix(".png"))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    run_script(main)
