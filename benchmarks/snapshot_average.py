"""Does a longer weight average help? Post-hoc averages of a run's snapshots, scored against
the run's last snapshot in the same protocol.

A run with ``--ema-decay`` keeps an exponential average of its generator and saves it every
``--checkpoint-every`` steps (``snapshots/step-NNNNNN-ema.pt``). The mean of those saved
between ``--from`` and ``--to`` is an average over a longer window than the decay's; this
script forms it with ``oscsim.modelfile.average_model_files`` (parameters averaged in float,
codes re-quantized), saves it, and scores it and the window's last snapshot on the same
``--n`` latents (``oscsim fid --seed``). Give both arms of a comparison (the AIS run and the
static one) the same window, so that a gain of the average is not a gain of one arm only.

    python benchmarks/snapshot_average.py --dataset fashion-mnist --from 300 --to 600 \\
        --runs benchmarks/runs/envelope/fashion-offsets-ms-ft1000 \\
               benchmarks/runs/envelope/fashion-static-ms-ft600

Writes ``benchmarks/results/snapshot_average.{json,md}`` (rows merge by data set, run, window,
n and seed), each average as ``snapshot_average/<run>-<from>-<to>.pt`` and a grid of its
first 64 images beside it (``.png``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from class_coverage import add_scoring_arguments
from tqdm import tqdm

from oscsim.atomic import merge_row
from oscsim.errors import OscsimError, run_script
from oscsim.metrics import fid_of_source
from oscsim.modelfile import average_model_files, save_model
from oscsim.plots import save_image_grid
from oscsim.sampling import draw_images
from oscsim.train import kept_snapshots

KEYS = ("dataset", "run", "from", "to", "n", "seed")


def snapshots(run: Path, start: int, stop: int) -> list[Path]:
    """The run's averaged-generator snapshots saved at steps ``start`` to ``stop`` (both
    included), in step order; a clear error when the window holds fewer than two."""
    found = [p for step, averaged, p in kept_snapshots(run) if averaged and start <= step <= stop]
    if len(found) < 2:
        raise OscsimError(
            f"{run}/snapshots holds {len(found)} step-NNNNNN-ema.pt file(s) from step {start} to "
            f"{stop}; averaging needs two (train with --ema-decay and --checkpoint-every)"
        )
    return found


def measure(
    run: Path,
    dataset: str,
    window: tuple[int, int],
    n: int,
    seed: int,
    data_dir: str | None,
    out: Path,
) -> dict[str, Any]:
    """One run's row: FID and KID of the window's last snapshot and of the mean of its
    snapshots, on the same latents, and their ratio (average over last)."""
    start, stop = window
    files = snapshots(run, start, stop)
    averaged = average_model_files(files)
    path = save_model(out / f"{run.name}-{start}-{stop}.pt", averaged.model, None,
                      averaged.train_state)  # fmt: skip
    model = averaged.model.eval()
    grid = draw_images(model, model.latent(64, torch.Generator().manual_seed(seed)))
    save_image_grid(grid, path.with_suffix(".png"), f"{run.name}: mean of {len(files)} snapshots")
    last, mean = (fid_of_source(p, dataset, n, seed, data_dir) for p in (files[-1], path))
    return {
        "dataset": dataset,
        "run": run.name,
        "from": start,
        "to": stop,
        "n": n,
        "seed": seed,
        "snapshots": [p.name for p in files],
        "fid_last": last["fid"],
        "kid_last": last["kid"],
        "fid_average": mean["fid"],
        "kid_average": mean["kid"],
        "ratio": mean["fid"] / last["fid"],
        "class_entropy_last": last["class_entropy"],
        "class_entropy_average": mean["class_entropy"],
        "model": f"{out.name}/{path.name}",  # beside the results, wherever they are
        "versions": mean["versions"],
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    """One table: a run and window per line, the last snapshot's FID against the average's."""
    lines = [
        "# Post-hoc averages of a run's snapshots against its last one",
        "",
        "| data set | run | window | snapshots | FID, last | FID, average | average / last | "
        "class entropy, last → average |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["dataset"], r["run"], r["from"], r["to"])):
        lines.append(
            f"| {r['dataset']} | {r['run']} | {r['from']}–{r['to']} | {len(r['snapshots'])} | "
            f"{r['fid_last']:.2f} | {r['fid_average']:.2f} | {r['ratio']:.3f} | "
            f"{r['class_entropy_last']:.3f} → {r['class_entropy_average']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Average and score every run's window, merge the rows, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", type=Path, required=True, help="run folders")
    ap.add_argument("--from", dest="start", type=int, required=True, help="first step averaged")
    ap.add_argument("--to", dest="stop", type=int, required=True, help="last step averaged")
    add_scoring_arguments(ap)
    args = ap.parse_args(argv)
    if args.start >= args.stop:
        raise OscsimError(f"--from must be before --to, got {args.start} and {args.stop}")
    for run in args.runs:
        snapshots(run, args.start, args.stop)  # every run checked before the first is scored
    if args.threads:
        torch.set_num_threads(args.threads)
    for run in tqdm(args.runs, desc="runs", unit="run"):
        window = (args.start, args.stop)
        row = measure(run, args.dataset, window, args.n, args.seed, args.data_dir,
                      args.out / "snapshot_average")  # fmt: skip
        rows = merge_row(args.out / "snapshot_average.json", row, KEYS, "averages", markdown)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    run_script(main)
