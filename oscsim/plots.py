"""Pictures people look at: sample grids and per-segment grids, written with matplotlib (Agg)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .atomic import atomic_path


def _tile(images: np.ndarray, ncol: int, pad: int = 1) -> np.ndarray:
    """Tile ``[N, H, W]`` images into one 2-D array, ``ncol`` per row, with grey padding."""
    n, h, w = images.shape
    nrow = math.ceil(n / ncol)
    out = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad), 0.5, dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, ncol)
        out[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + c * (w + pad) : pad + c * (w + pad) + w,
        ] = img
    return out


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG atomically (a viewer never sees half a file)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    return path


def save_image_grid(
    images: np.ndarray, path: str | Path, title: str = "", ncol: int | None = None
) -> Path:
    """Save ``[N, H, W]`` images in [0, 1] as one PNG grid (white = 1)."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"images must have shape [N, H, W], got {images.shape}")
    ncol = ncol or math.ceil(math.sqrt(len(images)))
    grid = _tile(images, ncol)
    fig = Figure(figsize=(max(3.0, grid.shape[1] / 30), max(3.0, grid.shape[0] / 30) + 0.4))
    ax = fig.add_subplot()
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def save_segment_grid(stages: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Save ``[S + 1, B, H, W]`` images (θ(0), then each segment boundary) as rows of a PNG."""
    stages = np.asarray(stages, dtype=np.float32)
    if stages.ndim != 4:
        raise ValueError(f"stages must have shape [S + 1, B, H, W], got {stages.shape}")
    n_rows, batch = stages.shape[:2]
    fig = Figure(figsize=(1.0 + 0.9 * n_rows, 0.9 * batch + 0.5))
    axes = fig.subplots(batch, n_rows, squeeze=False)
    for b in range(batch):
        for s in range(n_rows):
            ax = axes[b][s]
            ax.imshow(stages[s, b], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if b == 0:
                ax.set_title("θ(0)" if s == 0 else f"end of seg {s}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)
