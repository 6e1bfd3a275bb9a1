"""What trained models draw as circuits: each rendered by its own dynamics and by the envelope.

The envelope model (``oscsim.envelope``: every cell's amplitude too) is what ngspice computes
at trained coupling strengths (``benchmarks/fidelity.py``, last column: 0.9994 of the pixels on
the demo model's circuit), and it costs seconds where a circuit sample costs minutes to hours.
So for every model, from the same latents and the same codes (codes × steps, float32), this
measures how far its own (training) dynamics and the envelope part: sign agreement and pixel
MAE between the two renderings, and FID/KID of each against the test set. For a phase-trained
model the envelope columns are a prediction of its circuit; for an envelope-trained one the two
renderings are the same.

    python benchmarks/envelope_gap.py                               # demo, mnist, fashion
    python benchmarks/envelope_gap.py --models demo benchmarks/models/demo-envelope.pt --n 5000

Writes ``benchmarks/results/envelope_gap.{json,md}`` (rows merge by model and n).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from oscsim.atomic import merge_row
from oscsim.errors import OscsimError, run_script
from oscsim.metrics import evaluate
from oscsim.model import AISGenerator
from oscsim.modelfile import load_model

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 250


def render(model: AISGenerator, theta0: torch.Tensor, params: dict, desc: str) -> tuple:
    """Images ``[n, H, W]`` of ``model`` under ``params`` from ``theta0``, and the seconds."""
    out, t0 = [], time.perf_counter()
    with torch.no_grad():
        for start in tqdm(range(0, len(theta0), BATCH), desc=desc, leave=False):
            phases = model.rollout(theta0[start : start + BATCH], params)
            out.append(model.readout(phases).numpy())
    return np.concatenate(out), time.perf_counter() - t0


def measure(source: str, n: int, seed: int, data_dir: str | None) -> dict[str, Any]:
    """One model's row: agreement of the two renderings and the FID of each."""
    loaded = load_model(source)
    model = loaded.model.eval()
    dataset = loaded.train_state.get("train_config", {}).get("dataset")
    if dataset is None:
        raise OscsimError(f"{source}: the model file names no training data set")
    params = {k: v.float() for k, v in model.hardware_params().items()}
    theta0 = model.latent(n, torch.Generator().manual_seed(seed)).float()
    own, own_s = render(model, theta0, params, f"{source} own")
    if model.config.dynamics == "envelope":  # its own rendering is the envelope
        env, env_s = own, own_s
    else:
        env, env_s = render(model.as_envelope(), theta0, params, f"{source} envelope")
    scores = {
        name: evaluate(images, dataset, "test", data_dir)
        for name, images in (("own", own), ("envelope", env))
    }
    return {
        "model": source,
        "dynamics": model.config.dynamics,
        "dataset": dataset,
        "n": n,
        "seed": seed,
        "sign_agreement": float(np.mean((own > 0.5) == (env > 0.5))),
        "pixel_mae": float(np.mean(np.abs(own - env))),
        "fid_own": scores["own"]["fid"],
        "kid_own": scores["own"]["kid"],
        "fid_envelope": scores["envelope"]["fid"],
        "kid_envelope": scores["envelope"]["kid"],
        "seconds_own": own_s,
        "seconds_envelope": env_s,
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    lines = [
        "# Trained models rendered by their own dynamics and by the envelope (circuit)",
        "",
        "| model | trained as | data | n | sign agreement | pixel MAE | FID own | FID envelope "
        "| KID×10³ own | KID×10³ envelope | s own | s envelope |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["dataset"], r["model"], r["n"])):
        lines.append(
            f"| {r['model']} | {r['dynamics']} | {r['dataset']} | {r['n']} "
            f"| {r['sign_agreement']:.3f} | {r['pixel_mae']:.3f} | {r['fid_own']:.1f} "
            f"| {r['fid_envelope']:.1f} | {1e3 * r['kid_own']:.0f} "
            f"| {1e3 * r['kid_envelope']:.0f} | {r['seconds_own']:.0f} "
            f"| {r['seconds_envelope']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Measure every model, merge the rows into the results and write JSON and markdown."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["demo", "mnist", "fashion"])
    ap.add_argument("--n", type=int, default=10000, help="latents (images) per model")
    ap.add_argument("--seed", type=int, default=0, help="latent seed")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument("--data-dir", help="folder holding the data sets")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.n < 2:
        raise OscsimError(f"--n must be at least 2 (FID needs two images), got {args.n}")
    if args.threads:
        torch.set_num_threads(args.threads)
    for source in args.models:
        row = measure(source, args.n, args.seed, args.data_dir)
        print(row, flush=True)
        rows = merge_row(
            args.out / "envelope_gap.json", row, ("model", "n"), "envelope gap", markdown
        )
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    run_script(main)
