"""A digital baseline: a small DCGAN generator trained with the AIS models' WGAN-GP protocol.

It exposes what the training loop uses of an ``AISGenerator`` (``latent``, ``__call__``,
``image_shape``) so ``oscsim.train.train(..., digital=DigitalConfig())`` trains it with the same
critic, penalty, critic steps, batch and budget. Its files are versioned torch files like model
files (``format: oscsim-digital``), written atomically and read with ``weights_only=True``.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .atomic import write_json
from .container import read_container, write_container
from .errors import ModelFileError
from .plots import save_image_grid
from .train_config import TrainConfig
from .train_outputs import plot_losses
from .versions import versions

FORMAT = "oscsim-digital"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class DigitalConfig:
    """The digital generator's size and learning rate; checks itself when built.

    Attributes:
        latent_dim: size of the Gaussian latent vector.
        width: channels of the last transposed convolution (the first has 4 × width).
        lr: Adam learning rate (absolute; 1e-4 as in Gulrajani et al. 2017).
    """

    latent_dim: int = 64
    width: int = 16
    lr: float = 1e-4

    def __post_init__(self) -> None:
        for name in ("latent_dim", "width"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.lr, numbers.Real) and 0 < self.lr < 1):
            raise ValueError(f"lr must be a number in (0, 1), got {self.lr!r}")

    @classmethod
    def from_dict(cls, data: dict) -> DigitalConfig:
        """Rebuild from ``to_dict`` output; unknown keys are an error."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown digital config keys {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict:
        """JSON-safe dict."""
        return asdict(self)


class DigitalGenerator(nn.Module):
    """Latent ``z ~ N(0, I)`` ``[B, latent_dim]`` to images ``[B, H, W]`` in [0, 1].

    A linear layer to 4w × ⌈H/4⌉ × ⌈W/4⌉, two stride-2 4×4 transposed convolutions (4w → 2w
    → w channels, ReLU after each), a 3×3 convolution to one channel and a sigmoid, cropped to
    H × W. No batch norm (as the WGAN-GP generator of Gulrajani et al.), so every image depends
    on its own latent only.

    Args:
        image_shape: (H, W) of the images.
        config: size and learning rate.
        seed: seed of the weight initialisation (the global RNG is left untouched).
    """

    def __init__(
        self, image_shape: tuple[int, int], config: DigitalConfig | None = None, seed: int = 0
    ) -> None:
        super().__init__()
        h, w = (int(v) for v in image_shape)
        if min(h, w) < 1:
            raise ValueError(f"image sides must be positive, got {image_shape}")
        self.image_shape = (h, w)
        self.config = config = config or DigitalConfig()
        c = config.width
        self._base = (4 * c, -(-h // 4), -(-w // 4))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.project = nn.Linear(
                config.latent_dim, self._base[0] * self._base[1] * self._base[2]
            )
            self.net = nn.Sequential(
                nn.ReLU(),
                nn.ConvTranspose2d(4 * c, 2 * c, 4, stride=2, padding=1),
                nn.ReLU(),
                nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(c, 1, 3, padding=1),
                nn.Sigmoid(),
            )

    @property
    def n_params(self) -> int:
        """Number of trainable parameters (all float32)."""
        return sum(p.numel() for p in self.parameters())

    def latent(self, batch: int, generator: torch.Generator | None = None) -> Tensor:
        """Sample ``z ~ N(0, I)``, shape ``[batch, latent_dim]``, on the model's device."""
        z = torch.randn(batch, self.config.latent_dim, generator=generator)
        return z.to(self.project.weight.device)

    @staticmethod
    def latent_distance(a: Tensor, b: Tensor) -> Tensor:
        """Mean absolute difference of two latent batches, one value per pair."""
        return (a - b).abs().mean(dim=1)

    def forward(self, z: Tensor) -> Tensor:
        """Images ``[B, H, W]`` in [0, 1] from latents ``z`` ``[B, latent_dim]``."""
        x = self.net(self.project(z).reshape(len(z), *self._base))
        return x[:, 0, : self.image_shape[0], : self.image_shape[1]]

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Generate ``n`` images from fresh latent noise."""
        return self(self.latent(n, generator))


@dataclass
class DigitalFile:
    """What a digital generator file holds besides the generator itself."""

    model: DigitalGenerator
    optimizer: dict[str, Any] | None
    train_state: dict[str, Any]
    versions: dict[str, str]


def save_digital(
    path: str | Path,
    model: DigitalGenerator,
    optimizer: dict[str, Any] | None = None,
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (and optionally optimizer and training state) to ``path`` atomically."""
    content = {
        "image_shape": list(model.image_shape),
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer,
        "train_state": dict(train_state or {}),
    }
    return write_container(path, FORMAT, FORMAT_VERSION, content)


def load_digital(path: str | Path) -> DigitalFile:
    """Read a digital generator file; a bad file raises ModelFileError naming it."""
    path = Path(path)
    content = read_container(path, FORMAT, FORMAT_VERSION, "oscsim digital generator file")
    try:
        config = DigitalConfig.from_dict(content["config"])
        model = DigitalGenerator(tuple(content["image_shape"]), config)
        model.load_state_dict(content["state_dict"])
        return DigitalFile(model, content["optimizer"], content["train_state"], content["versions"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} is a damaged digital generator file: {exc}") from None


def write_digital_outputs(
    model: DigitalGenerator,
    history: dict[str, list[float]],
    config: TrainConfig,
    out_dir: Path,
    device: str,
) -> None:
    """Write this step's sample grid, ``train_log.json`` and ``losses.png`` (cf. write_outputs).

    The grid always uses the same latent noise (seeded by ``config.seed``).
    """
    step = history["step"][-1] if history["step"] else 0
    images = model.sample(config.n_samples, torch.Generator().manual_seed(config.seed))
    images = images.cpu().numpy()
    title = f"{config.dataset} · digital · step {step}"
    save_image_grid(images, out_dir / "samples" / f"step-{step:06d}.png", title=title)
    times = history["time_s"]
    log = {
        "step": step,
        "config": config.to_dict(),
        "digital": model.config.to_dict(),
        "params": model.n_params,
        "device": device,
        "seconds_per_iteration": sum(times) / len(times) if times else None,
        "mean_pixel": float(images.mean()),
        "history": history,
        "versions": versions(),
    }
    write_json(out_dir / "train_log.json", log)
    if history["step"]:
        plot_losses(history, out_dir / "losses.png")
