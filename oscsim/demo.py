"""The main job on the embedded default data: what ``make demo`` runs.

Today: the demo graph and a sample grid from a fresh (untrained) model. Later steps of the
pipeline (training, export, ngspice, validation, energy) join here as they land.
"""

from __future__ import annotations

from pathlib import Path

from .atomic import write_json
from .data import load_dataset
from .graph import build_graph, graph_stats
from .graph_io import draw_graph
from .model import AISGenerator, ModelConfig
from .modelfile import save_model
from .plots import save_image_grid
from .sampling import check_outputs_free, write_samples
from .versions import versions


def run_demo(out_dir: str | Path = "demo-output", seed: int = 0, force: bool = False) -> dict:
    """Run the demo pipeline into ``out_dir`` and return its JSON summary."""
    out_dir = Path(out_dir)
    check_outputs_free(out_dir, ("demo.json",), force)
    data = load_dataset("digits14", "train")
    save_image_grid(data.as_float()[:64], out_dir / "data.png", title="digits14 (training data)")
    graph = build_graph("demo")
    stats = graph_stats(graph)
    draw_graph(graph, out_dir / "graph.png")
    model = AISGenerator(graph, ModelConfig(), seed=seed)
    save_model(out_dir / "model-untrained.pt", model, train_state={"step": 0, "seed": seed})
    samples = write_samples(
        model, out_dir, n=64, seed=seed, source="untrained demo model", force=force
    )
    summary = {
        "data": {"name": data.name, "images": len(data), "shape": list(data.image_shape)},
        "graph": stats,
        "samples": {k: samples[k] for k in ("n", "seed", "mean_pixel", "binarised_fraction")},
        "files": sorted(p.name for p in out_dir.iterdir() if not p.name.startswith(".")),
        "versions": versions(),
    }
    write_json(out_dir / "demo.json", summary)
    return summary
