"""The main job on the embedded default data: what ``make demo`` runs.

The embedded digits14 data and the demo graph; the shipped demo generator (trained by
``oscsim train --preset demo``): sample grids, per-segment views and its FID against the
digits14 test images, next to a fresh untrained model for contrast; then the same generator as
an ngspice circuit (collapsed lc netlist) for ``circuit_latents`` latents, compared with the
behavioural model from the same initial phases. Energy per image joins here when it lands.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .atomic import check_outputs_free, write_json
from .data import load_dataset
from .graph import build_graph, graph_stats
from .graph_io import draw_graph
from .metrics import evaluate
from .model import AISGenerator
from .modelfile import load_model
from .plots import save_image_grid
from .sampling import write_samples
from .validate import validate
from .versions import versions

FID_SAMPLES = 1000


def run_demo(
    out_dir: str | Path = "demo-output",
    seed: int = 0,
    force: bool = False,
    circuit_latents: int = 1,
) -> dict:
    """Run the demo pipeline into ``out_dir`` and return its JSON summary.

    ``circuit_latents=0`` skips ngspice (about 3 minutes per latent on 2 cores).
    """
    out_dir = Path(out_dir)
    check_outputs_free(out_dir, ("demo.json",), force)
    data = load_dataset("digits14", "train")
    save_image_grid(data.as_float()[:64], out_dir / "data.png", title="digits14 (training data)")
    graph = build_graph("demo")
    draw_graph(graph, out_dir / "graph.png")
    trained = load_model("demo").model
    untrained = AISGenerator(graph, trained.config, seed=seed)
    summary: dict = {"data": {"name": data.name, "images": len(data)}, "graph": graph_stats(graph)}
    for name, model in (("trained", trained), ("untrained", untrained)):
        sub = out_dir / name
        samples = write_samples(
            model, sub, n=64, seed=seed, source=f"{name} demo model", force=force
        )
        images = model.sample(FID_SAMPLES, torch.Generator().manual_seed(seed)).numpy()
        quality = evaluate(images, "digits14", "test")
        summary[name] = {
            "mean_pixel": samples["mean_pixel"],
            "fid": quality["fid"],
            "kid": quality["kid"],
            "fid_samples": FID_SAMPLES,
        }
    if circuit_latents > 0:
        fidelity = validate(
            trained,
            n=circuit_latents,
            variant="collapsed",
            out_dir=out_dir / "circuit",
            seed=seed,
            force=force,
            progress=True,
        )
        keys = ("pixel_mae", "sign_agreement", "phase_error_deg", "seconds_per_sample")
        summary["circuit"] = {"latents": circuit_latents, **{k: fidelity[k] for k in keys}}
    summary["files"] = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*.png"))
    summary["versions"] = versions()
    write_json(out_dir / "demo.json", summary)
    return summary
