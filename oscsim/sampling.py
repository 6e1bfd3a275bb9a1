"""Sampling a generator to files: a PNG grid, the per-segment grid, the images as .npy, and JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .atomic import atomic_path, check_outputs_free, write_json
from .errors import OscsimError
from .model import AISGenerator
from .plots import save_image_grid, save_segment_grid
from .versions import versions

OUTPUTS = ("samples.png", "samples.npy", "segments.png", "samples.json")


def draw_images(model: torch.nn.Module, latent: Tensor, batch: int = 500) -> np.ndarray:
    """A generator's images ``[N, H, W]`` (float32, on the CPU) from ``latent``, drawn
    ``batch`` latents at a time without autograd: memory bounded for any N."""
    with torch.no_grad():
        images = torch.cat([model(chunk) for chunk in latent.split(batch)])
    return images.float().cpu().numpy()


def write_samples(
    model: AISGenerator,
    out_dir: str | Path,
    n: int = 64,
    seed: int = 0,
    source: str = "",
    force: bool = False,
) -> dict:
    """Sample ``n`` images with latent seed ``seed`` and write them under ``out_dir``.

    Returns the JSON summary (also written as ``samples.json``).
    """
    if n < 1:
        raise OscsimError(f"--n must be at least 1, got {n}")
    out_dir = Path(out_dir)
    check_outputs_free(out_dir, OUTPUTS, force)
    model.eval()
    theta0 = model.latent(n, torch.Generator().manual_seed(seed))
    stages = model.segment_images(theta0).cpu().numpy()
    images = stages[-1]
    save_image_grid(images, out_dir / "samples.png", title=f"{source} · seed {seed}")
    save_segment_grid(stages[:, :8], out_dir / "segments.png", title="per-segment view")
    with atomic_path(out_dir / "samples.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, images.astype(np.float32))
    summary = {
        "source": source,
        "n": n,
        "seed": seed,
        "image_shape": list(images.shape[1:]),
        "mean_pixel": float(images.mean()),
        "binarised_fraction": float(((images < 0.1) | (images > 0.9)).mean()),
        "config": model.config.to_dict(),
        "files": list(OUTPUTS),
        "versions": versions(),
    }
    write_json(out_dir / "samples.json", summary)
    return summary
