"""The WGAN-GP critic: a small CNN without batch norm, and the gradient penalty.

Batch norm would make each critic output depend on the rest of its batch, which breaks the
per-sample gradient norm the penalty constrains (Gulrajani et al. 2017); the critic uses layer
norm (``GroupNorm`` with one group: statistics over channels and pixels of one image) or none.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_MIN_DOWNSAMPLE_SIDE = 6


class Critic(nn.Module):
    """Images ``[B, H, W]`` in [0, 1] to one unbounded score each, ``[B]``.

    A 3×3 convolution, then stride-2 4×4 convolutions (doubling the channels) while the smaller
    side is at least 6 pixels: 14×14 → 7×7 → 3×3, 28×28 → 14×14 → 7×7 → 3×3, 8×8 → 4×4 (one).
    A linear layer reads the final feature map out.

    Args:
        image_shape: (H, W) of the images.
        width: channels of the first convolution.
        layer_norm: normalise each image's activations after every downsampling convolution.
        seed: seed of the weight initialisation (the global RNG is left untouched).
    """

    def __init__(
        self, image_shape: tuple[int, int], width: int = 32, layer_norm: bool = False, seed: int = 0
    ) -> None:
        super().__init__()
        if width < 1 or min(image_shape) < 1:
            raise ValueError(
                f"critic width and image sides must be positive: {width}, {image_shape}"
            )
        h, w = image_shape
        self.image_shape = (int(h), int(w))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            layers: list[nn.Module] = [nn.Conv2d(1, width, 3, padding=1), nn.LeakyReLU(0.2)]
            channels = width
            while min(h, w) >= _MIN_DOWNSAMPLE_SIDE:
                layers.append(nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1))
                channels, h, w = 2 * channels, h // 2, w // 2
                if layer_norm:
                    layers.append(nn.GroupNorm(1, channels))
                layers.append(nn.LeakyReLU(0.2))
            layers += [nn.Flatten(), nn.Linear(channels * h * w, 1)]
            self.net = nn.Sequential(*layers)

    def forward(self, images: Tensor) -> Tensor:
        """Scores ``[B]``; pixels are mapped from [0, 1] to [−1, 1] first."""
        return self.net(2.0 * images[:, None] - 1.0).squeeze(1)


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
    """WGAN-GP penalty E[(‖∇D(x̂)‖₂ − 1)²] at x̂ = ε·real + (1 − ε)·fake.

    Args:
        critic: maps ``[B, H, W]`` images to ``[B]`` scores.
        real, fake: ``[B, H, W]`` images; ``fake`` should carry no generator graph.
        eps: ``[B]`` interpolation weights, usually U[0, 1).

    Returns:
        The scalar penalty, differentiable with respect to the critic's parameters.
    """
    e = eps.reshape(-1, *([1] * (real.dim() - 1)))
    mixed = (e * real + (1.0 - e) * fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()
