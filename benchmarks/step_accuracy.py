"""Is a trained model integrated accurately at the step it was trained with?

Training fixes RK4's step (``steps_per_segment``), and a generator trained at a step too coarse
for its couplings can learn to lean on the integration error: its images would then change
when it is integrated finely, and its circuit (which has no step) would draw something else.
The step is chosen for random couplings (``behavioural.py``'s step-size study); this checks
it for trained ones, whose couplings sit wherever training put them, on graphs of any degree.
Every model draws the same latents (seed 0) at its own step and at ``--refine`` times finer;
the rows give the pixel MAE and the largest pixel change between the two, and the share of
pixels on the same side of 0.5.

    python benchmarks/step_accuracy.py  # every shipped 28 x 28 model
    python benchmarks/step_accuracy.py --models RUN/snapshots/step-000900.pt --refine 8

Writes ``benchmarks/results/step_accuracy.{json,md}`` (rows merge by model, n and refine).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oscsim.atomic import merge_row
from oscsim.errors import OscsimError, run_script
from oscsim.modelfile import load_model, pretrained_names
from oscsim.sampling import draw_images

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 250
KEYS = ("model", "n", "refine")  # a row replaces the one equal on these


def shipped_28() -> list[str]:
    """Every shipped 28 x 28 model (all but the 14 x 14 demo): the default, never out of date."""
    return [n for n in pretrained_names() if load_model(n).model.image_shape == (28, 28)]


def measure(source: str, n: int, refine: int) -> dict[str, Any]:
    """One model's row: its images at its trained step against ``refine`` times finer."""
    model = load_model(source).model.eval()
    theta0 = model.latent(n, torch.Generator().manual_seed(0))
    start = time.perf_counter()
    finer = model.replaced(steps_per_segment=refine * model.config.steps_per_segment)
    coarse, fine = draw_images(model, theta0, BATCH), draw_images(finer, theta0, BATCH)
    graph = model.graph
    return {
        "model": source,
        "dynamics": model.config.dynamics,
        "n": n,
        "refine": refine,
        "steps_per_cycle": model.config.steps_per_segment / model.config.cycles_per_segment,
        "mean_degree": 2 * graph.number_of_edges() / graph.number_of_nodes(),
        "pixel_mae": float(np.mean(np.abs(coarse - fine))),
        "pixel_max": float(np.max(np.abs(coarse - fine))),
        "sign_agreement": float(np.mean((coarse > 0.5) == (fine > 0.5))),
        "seconds": time.perf_counter() - start,
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    lines = [
        "# Trained models at their training step against a finer one (RK4)",
        "",
        "| model | dynamics | n | steps per cycle | finer by | mean degree | pixel MAE "
        "| largest pixel change | sign agreement |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["model"], r["n"], r["refine"])):
        lines.append(
            f"| {r['model']} | {r['dynamics']} | {r['n']} | {r['steps_per_cycle']:g} "
            f"| {r['refine']} | {r['mean_degree']:.1f} | {r['pixel_mae']:.4f} "
            f"| {r['pixel_max']:.3f} | {r['sign_agreement']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure every model, merge the rows into the results and write JSON and markdown."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", help="files or names (default: shipped 28 x 28 ones)")
    ap.add_argument("--n", type=int, default=500, help="latents (images) per model")
    ap.add_argument("--refine", type=int, default=4, help="how many times finer the reference")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.n < 1 or args.refine < 2:
        raise OscsimError(f"need --n >= 1 and --refine >= 2, got {args.n} and {args.refine}")
    if args.threads:
        torch.set_num_threads(args.threads)
    for source in args.models or shipped_28():
        row = measure(source, args.n, args.refine)
        print(row, flush=True)
        rows = merge_row(args.out / "step_accuracy.json", row, KEYS, "step accuracy", markdown)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    run_script(main)
