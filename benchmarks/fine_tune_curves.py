"""FID of fine-tunes against their steps: the arms of one comparison (a remedy, its control,
the baseline given the same remedy) in one plot and one table, from ``oscsim fid --json`` files.

Each ``--arm LABEL=GLOB`` is one run's scored snapshots (a run continued in a copy of its folder
is one arm over both folders); a file's step is read from the model it scored. ``--ratio A/B``
divides arm A's FID by arm B's at every step both were scored at (the 3× target is static over
AIS). Means are over steps ``--from`` to ``--to``, the same window for every arm. Nothing is
trained or sampled.

    R=benchmarks/results/mnist_mode_seeking
    python benchmarks/fine_tune_curves.py --name mnist-seed2 --from 400 --to 800 \\
        --arm "AIS, term=$R/mnist-seed2-ms-ft*-ema.json" \\
        --arm "AIS, control=$R/mnist-seed2-control-ft*-ema.json" \\
        --arm "static, term=$R/mnist-static-seed2-ms-ft*-ema.json" \\
        --ratio "static, term/AIS, term"

Writes ``benchmarks/results/fine_tune_curves.{json,md}`` (comparisons merge by ``--name``) and
``fine_tune_curves-<name>.png``.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter
from quality_curves import Curve, ratio

from oscsim.atomic import merge_row
from oscsim.errors import OscsimError, run_script
from oscsim.modelfile import load_model
from oscsim.plots import save_figure
from oscsim.tables import cell

RESULTS = Path(__file__).resolve().parent / "results"


def _split(text: str, sep: str, what: str) -> tuple[str, str]:
    left, found, right = text.partition(sep)
    if not (found and left and right):
        raise OscsimError(f"{what} must look like A{sep}B, got {text!r}")
    return left, right


def arm(pattern: str) -> Curve:
    """The (step, FID) points of the ``oscsim fid --json`` files matching ``pattern``; the
    step is the scored model's training step. A clear error for no file or a bad one."""
    files = sorted(glob.glob(pattern))
    if not files:
        raise OscsimError(f"no FID file matches {pattern!r}")
    points = {}
    for name in files:
        try:
            result = json.loads(Path(name).read_text())
            fid, source = float(result["fid"]), result["source"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OscsimError(f"{name} is not an `oscsim fid --json` result ({exc})") from None
        step = load_model(source).train_state.get("step")
        if not isinstance(step, int):
            raise OscsimError(f"{name} scored {source}, which records no training step")
        if step in points:
            raise OscsimError(f"{pattern!r} holds two files for step {step}; narrow the glob")
        points[step] = fid
    return sorted(points.items())


def mean_over(points: Curve, window: tuple[int, int | None]) -> float | None:
    """Mean of the points from step ``window[0]`` to ``window[1]`` (None: the last), both
    included; None if no point is in it."""
    start, stop = window
    inside = [f for s, f in points if s >= start and (stop is None or s <= stop)]
    return float(np.mean(inside)) if inside else None


def comparison(
    name: str,
    arms: dict[str, str],
    ratios: list[tuple[str, str]],
    window: tuple[int, int | None],
    target: float | None = None,
) -> dict[str, Any]:
    """Comparison ``name``: every arm's curve and its mean over ``window`` (steps, both ends
    included), and every requested ratio's curve and mean (``target``: the ratio aimed at)."""
    curves = {label: arm(pattern) for label, pattern in arms.items()}
    for pair in ratios:
        missing = [label for label in pair if label not in curves]
        if missing:
            raise OscsimError(f"--ratio names {missing[0]!r}, which no --arm labels")
    return {
        "name": name,
        "window": list(window),
        "target": target,
        "arms": {
            label: {"pattern": arms[label], "points": curves[label], "mean": mean_over(c, window)}
            for label, c in curves.items()
        },
        "ratios": {
            f"{a}/{b}": {"points": (r := ratio(curves[a], curves[b])), "mean": mean_over(r, window)}
            for a, b in ratios
        },
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    """One table per comparison: FID (and ratio) at every scored step, and the mean."""
    out = ["# FID of fine-tunes against their steps", ""]
    for comp in sorted(rows, key=lambda r: r["name"]):
        name = comp["name"]
        lines = {**comp["arms"], **comp["ratios"]}
        steps = sorted({s for v in lines.values() for s, _ in v["points"]})
        out += [f"## {name}", "", f"![{name}](fine_tune_curves-{name}.png)", ""]
        if comp["target"] is not None:
            out += [f"Ratio aimed at: {comp['target']:g}.", ""]
        start, stop = comp["window"]
        span = f"mean {start}–{stop if stop is not None else 'end'}"
        out.append("| arm | " + " | ".join(map(str, steps)) + f" | {span} |")
        out.append("|---" * (len(steps) + 2) + "|")
        for label, v in lines.items():
            at = dict(v["points"])
            spec = ".2f" if label in comp["arms"] else ".3f"
            cells = [cell(at.get(s), spec) for s in steps]
            out.append(f"| {label} | " + " | ".join(cells) + f" | {cell(v['mean'], spec)} |")
        out.append("")
    return "\n".join(out)


def plot(comp: dict[str, Any], path: Path) -> Path:
    """FID against fine-tune step, one line per arm (log scale: a baseline 3x off shares the
    axes), and beside it the ratios, with the target marked."""
    ratios, target = comp["ratios"], comp["target"]
    fig = Figure(figsize=(11 if ratios else 7, 4))
    axes = fig.subplots(1, 2 if ratios else 1, squeeze=False)[0]
    for label, v in comp["arms"].items():
        axes[0].plot(*zip(*v["points"], strict=True), marker="o", label=label)
    axes[0].set(xlabel="fine-tune step", ylabel="FID", yscale="log", title=comp["name"])
    axes[0].yaxis.set_major_formatter(FormatStrFormatter("%g"))
    axes[0].yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    for label, v in ratios.items():
        axes[-1].plot(*zip(*v["points"], strict=True), marker="o", label=label)
    if ratios:
        if target is not None:
            axes[1].axhline(target, color="k", linestyle="--", linewidth=1, label="target")
        axes[1].set(xlabel="fine-tune step", ylabel="FID ratio", title="ratios")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    return save_figure(fig, path)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", required=True, help="the comparison's name (letters, digits, -)")
    ap.add_argument("--arm", action="append", required=True, help="LABEL=GLOB of FID files")
    ap.add_argument("--ratio", action="append", default=[], help="LABEL_A/LABEL_B")
    ap.add_argument("--from", dest="start", type=int, default=0, help="means from this step")
    ap.add_argument("--to", dest="stop", type=int, default=None, help="... to this one")
    ap.add_argument("--target", type=float, default=None, help="ratio marked on the plot")
    ap.add_argument("--out", default=str(RESULTS), help="folder of the table and plots")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Build one comparison, merge it into the table, plot it."""
    args = _parser().parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*", args.name):
        raise OscsimError(f"--name must be letters, digits and '-', got {args.name!r}")
    arms = dict(_split(a, "=", "--arm") for a in args.arm)
    ratios = [_split(r, "/", "--ratio") for r in args.ratio]
    comp = comparison(args.name, arms, ratios, (args.start, args.stop), args.target)
    out = Path(args.out)
    merge_row(out / "fine_tune_curves.json", comp, ("name",), "fine-tune curves", markdown)
    plot(comp, out / f"fine_tune_curves-{args.name}.png")
    print(markdown([comp]))
    return 0


if __name__ == "__main__":
    run_script(main)
