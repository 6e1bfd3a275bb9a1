"""What a training checkpoint shows people: sample grids, per-segment grids, log and loss plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from .atomic import write_json
from .model import AISGenerator
from .plots import save_figure, save_image_grid, save_segment_grid
from .train_config import TrainConfig
from .versions import versions

LOSSES = ("critic_loss", "wasserstein", "gp", "gen_loss")
_SEGMENT_ROWS = 8


def _smooth(values: list[float]) -> np.ndarray:
    """Moving average over about 2% of the run (at least one point) to show the trend."""
    width = max(1, len(values) // 50)
    return np.convolve(np.asarray(values, dtype=float), np.ones(width) / width, mode="valid")


def plot_losses(history: dict[str, list[float]], path: str | Path) -> Path:
    """Plot the W-distance estimate, the critic and generator losses and the GP to a PNG."""
    steps = np.asarray(history["step"], dtype=float)
    fig = Figure(figsize=(7.0, 7.0))
    axes = fig.subplots(3, 1, sharex=True)
    panels = (
        (("wasserstein",), "W-distance estimate", "linear"),
        (("critic_loss", "gen_loss"), "loss", "linear"),
        (("gp",), "gradient penalty", "log"),
    )
    for ax, (keys, label, scale) in zip(axes, panels, strict=True):
        for key in keys:
            line = ax.plot(steps, history[key], alpha=0.3, linewidth=0.8)[0]
            trend = _smooth(history[key])
            ax.plot(steps[len(steps) - len(trend) :], trend, color=line.get_color(), label=key)
        ax.set_ylabel(label)
        ax.set_yscale(scale if min(history[keys[0]], default=1.0) > 0 else "linear")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    axes[-1].set_xlabel("generator iteration")
    return save_figure(fig, path)


def write_outputs(
    model: AISGenerator,
    history: dict[str, list[float]],
    config: TrainConfig,
    out_dir: Path,
    device: str,
) -> None:
    """Write the sample and per-segment grids of this step, ``train_log.json``, ``losses.png``.

    The grids always use the same latent noise (seeded by ``config.seed``) so that grids of
    successive checkpoints show how the same samples evolve.
    """
    step = history["step"][-1] if history["step"] else 0
    theta0 = model.latent(config.n_samples, torch.Generator().manual_seed(config.seed))
    stages = model.segment_images(theta0).cpu().numpy()
    title = f"{config.dataset} · step {step}"
    save_image_grid(stages[-1], out_dir / "samples" / f"step-{step:06d}.png", title=title)
    save_segment_grid(
        stages[:, :_SEGMENT_ROWS], out_dir / "samples" / f"step-{step:06d}-segments.png", title
    )
    times = history["time_s"]
    log = {
        "step": step,
        "config": config.to_dict(),
        "device": device,
        "seconds_per_iteration": sum(times) / len(times) if times else None,
        "mean_pixel": float(stages[-1].mean()),
        "binarised_fraction": float(((stages[-1] < 0.1) | (stages[-1] > 0.9)).mean()),
        "history": history,
        "versions": versions(),
    }
    write_json(out_dir / "train_log.json", log)
    if history["step"]:
        plot_losses(history, out_dir / "losses.png")
