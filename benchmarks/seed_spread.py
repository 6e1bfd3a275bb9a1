"""Runs of one model side by side: their FIDs at one budget and how their critics saw them.

GAN runs of the same model differ with their seeds, and ``quality.py --seed`` and
``--critic-seed`` train such runs; this puts them in one table. For every run folder given it
takes the run's seeds from its ``train_log.json``, its live and averaged FIDs at ``--steps``
from ``quality.json`` (the rows of ``--model`` and ``--model``-ema), and the mean negated critic
loss (the critic's estimate of the Wasserstein distance, less its penalty) over each
``--window`` steps up to that budget: a run whose critic finds its samples easy to tell from
the data sits higher. Nothing is trained or sampled, so it takes a second.

    R=benchmarks/runs/quality/mnist/ais-4bit-envelope
    python benchmarks/seed_spread.py --model ais-4bit-envelope --steps 2200 \\
        --runs $R $R-seed1 $R-seed2 $R-seed1-critic0 $R-critic1

Writes ``benchmarks/results/seed_spread.{json,md}`` (rows merge by data set, model, steps,
seeds and window; one table per data set, model, steps and window) and, for the runs of this
call, the plot that table links (``seed_spread-mnist-ais-4bit-envelope-2200-w200.png``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from quality import row_key

from oscsim.atomic import merge_row, read_results
from oscsim.errors import OscsimError, run_script
from oscsim.plots import save_figure
from oscsim.tables import cell

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = ("dataset", "model", "steps", "seed", "critic_seed", "window")


def _run_log(run: Path) -> dict[str, Any]:
    """A training run's ``train_log.json``, or a clear error naming the folder."""
    path = run / "train_log.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OscsimError(f"{run} is not a training run (no train_log.json)") from None
    except ValueError as err:
        raise OscsimError(f"{path} is not JSON ({err}); is the run intact?") from None


def critic_windows(history: dict[str, list[float]], steps: int, window: int) -> list[float]:
    """Mean of ``-critic_loss`` over steps (lo, lo + window], for lo = 0, window, … < steps.

    Raises:
        OscsimError: the run has not reached ``steps`` (train it on first).
    """
    step = np.asarray(history["step"])
    value = -np.asarray(history["critic_loss"], dtype=float)
    if step.size == 0 or step.max() < steps:
        reached = int(step.max()) if step.size else 0
        raise OscsimError(f"the run reached step {reached}, not {steps}: train it on first")
    return [
        float(value[(step > lo) & (step <= lo + window)].mean()) for lo in range(0, steps, window)
    ]


def measure(run: Path, model: str, steps: int, window: int, quality: Path) -> dict[str, Any]:
    """One run's row: its seeds, FIDs (live and averaged) at ``steps`` and critic windows.

    Raises:
        OscsimError: the run is missing or short of ``steps``, or has no live row at ``steps``.
    """
    log = _run_log(run)
    critic = critic_windows(log["history"], steps, window)
    config = log["config"]
    key = (config["dataset"], model, steps, int(config["seed"]), config.get("critic_seed"))
    rows = {row_key(r): r for r in read_results(quality, "quality")["rows"]}
    live, averaged = rows.get(key), rows.get((key[0], f"{model}-ema", *key[2:]))
    if live is None:
        raise OscsimError(
            f"{quality} has no {model} row at {steps} steps for {run.name}'s seeds: score "
            f"{run.name} with benchmarks/quality.py --steps {steps} first, or name the model its "
            "rows use with --model"
        )
    return {
        **dict(zip(KEYS[:-1], key, strict=True)),
        "run": run.name,
        "window": window,
        "fid": live["fid"],
        "fid_averaged": averaged and averaged["fid"],
        "ema_from": averaged and averaged.get("ema_from"),
        "critic": critic,
    }


def rank_correlation(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation of two equally long lists (no ties expected: FIDs and mean
    losses are continuous), 1 where both put the runs in the same order."""
    rx, ry = (np.argsort(np.argsort(v)).astype(float) for v in (x, y))
    return float(np.corrcoef(rx, ry)[0, 1])


def _label(row: dict[str, Any]) -> str:
    seeds = f"seed {row['seed']}"
    if row["critic_seed"] is not None:
        seeds += f", critic seed {row['critic_seed']}"
    return seeds


def plot_name(dataset: str, model: str, steps: int, window: int) -> str:
    """File name of one table's plot, so that each budget keeps its own picture."""
    return f"seed_spread-{dataset}-{model}-{steps}-w{window}.png"


def markdown(rows: list[dict[str, Any]]) -> str:
    """One table per (data set, model, steps, window): a run per line, a window per column."""
    lines = ["# Runs of one model side by side: FID and the critic's view", ""]
    groups = sorted({(r["dataset"], r["model"], r["steps"], r["window"]) for r in rows})
    for dataset, model, steps, window in groups:
        group = [
            r
            for r in rows
            if (r["dataset"], r["model"], r["steps"], r["window"])
            == (dataset, model, steps, window)
        ]
        group.sort(key=lambda r: (r["seed"], -1 if r["critic_seed"] is None else r["critic_seed"]))
        spans = [f"{lo}–{lo + window}" for lo in range(0, steps, window)]
        lines += [
            f"## {dataset}, {model}, {steps:,} steps: FID, and the mean negated critic loss "
            f"per {window} steps",
            "",
            f"![critic loss per window]({plot_name(dataset, model, steps, window)})",
            "",
            "| run | seeds | FID | averaged (from step) | " + " | ".join(spans) + " |",
            "|---|---|---|---|" + "---|" * len(spans),
        ]
        for r in group:
            since = "" if r["ema_from"] is None else f" ({r['ema_from']})"
            lines.append(
                f"| {r['run']} | {_label(r)} | {cell(r['fid'])} | {cell(r['fid_averaged'])}{since}"
                " | " + " | ".join(cell(c) for c in r["critic"]) + " |"
            )
        lines.append("")
        last = [r["critic"][-1] for r in group]
        for what in ("fid", "fid_averaged"):
            fids = [r[what] for r in group]
            if len(group) >= 3 and None not in fids:
                lines.append(
                    f"- Rank correlation (Spearman) of the last window's critic loss with "
                    f"{'the averaged ' if what == 'fid_averaged' else ''}FID over "
                    f"{len(group)} runs: {rank_correlation(last, fids):.2f}"
                )
        lines.append("")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """The runs' windowed critic losses against the step, each labelled with its FIDs."""
    fig = Figure(figsize=(7.0, 4.0))
    ax = fig.subplots()
    for r in rows:
        mids = [lo + r["window"] / 2 for lo in range(0, r["steps"], r["window"])]
        fids = f"FID {cell(r['fid'])} / {cell(r['fid_averaged'])} averaged"
        ax.plot(mids, r["critic"], marker="o", markersize=3, label=f"{_label(r)}: {fids}")
    first = rows[0]
    ax.set_title(f"{first['dataset']}, {first['model']}, {first['steps']:,} steps", fontsize=9)
    ax.set_xlabel("generator iteration")
    ax.set_ylabel(f"negated critic loss (mean per {first['window']})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    """Read every run, merge its row into the results, write JSON, markdown and the plot."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, nargs="+", required=True, help="training run folders")
    ap.add_argument("--model", required=True, help="the quality.py model the runs train")
    ap.add_argument("--steps", type=int, required=True, help="the budget they were scored at")
    ap.add_argument("--window", type=int, default=200, help="steps per critic-loss mean")
    ap.add_argument("--quality", type=Path, default=RESULTS / "quality.json")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.steps < 1:
        raise OscsimError(f"--steps must be a positive budget, got {args.steps}")
    if args.window < 1 or args.steps % args.window:
        raise OscsimError(
            f"--window {args.window} must be positive and divide --steps {args.steps}, so that "
            "no window reaches past the budget"
        )
    mine = [measure(run, args.model, args.steps, args.window, args.quality) for run in args.runs]
    for row in mine:
        rows = merge_row(args.out / "seed_spread.json", row, KEYS, "seed spread", markdown)
    plot(mine, args.out / plot_name(mine[0]["dataset"], args.model, args.steps, args.window))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    run_script(main)
