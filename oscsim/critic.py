"""The WGAN-GP critic: a small CNN without batch norm, and the gradient penalty.

Batch norm would make each critic output depend on the rest of its batch, which breaks the
per-sample gradient norm the penalty constrains (Gulrajani et al. 2017); the critic uses layer
norm (``GroupNorm`` with one group: statistics over channels and pixels of one image) or none.
The one batch statistic it may read, on request, is the minibatch standard deviation (Karras et
al., ICLR 2018, used there with this very penalty): how much small groups of images differ, the
signal a critic of single images lacks to punish a generator that drops modes. It couples only
the few images of a group, and starts at zero.
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
        minibatch_std: group size G of the minibatch standard deviation (0: none). Each run of
            G consecutive images in a batch (all real or all fake in training) is scored with
            a linear read-out of the per-feature standard deviations over its group added to
            each image's score. That head starts at zero, so a critic trained without it loads
            and scores exactly as before (``load_state_dict(strict=False)``).
    """

    def __init__(
        self,
        image_shape: tuple[int, int],
        width: int = 32,
        layer_norm: bool = False,
        seed: int = 0,
        minibatch_std: int = 0,
    ) -> None:
        super().__init__()
        if width < 1 or min(image_shape) < 1:
            raise ValueError(
                f"critic width and image sides must be positive: {width}, {image_shape}"
            )
        if minibatch_std < 0 or minibatch_std == 1:
            raise ValueError(
                f"minibatch_std must be 0 (off) or a group size >= 2, not {minibatch_std}"
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
        self.group = int(minibatch_std)
        self.diversity = nn.Linear(channels * h * w, 1) if self.group else None
        if self.diversity is not None:
            nn.init.zeros_(self.diversity.weight)
            nn.init.zeros_(self.diversity.bias)

    def forward(self, images: Tensor) -> Tensor:
        """Scores ``[B]``; pixels are mapped from [0, 1] to [−1, 1] first."""
        x = 2.0 * images[:, None] - 1.0
        if self.diversity is None:
            return self.net(x).squeeze(1)
        features = self.net[:-1](x)
        score = self.net[-1](features) + self.diversity(group_std(features, self.group))
        return score.squeeze(1)


def group_std(features: Tensor, group: int) -> Tensor:
    """Per-feature standard deviation over each run of ``group`` consecutive rows of
    ``features`` ``[B, D]``, repeated for every row of its run: ``[B, D]``."""
    b = features.shape[0]
    if b % group:
        raise ValueError(
            f"a batch of {b} images does not split into minibatch-std groups of {group}: "
            f"use a batch size that is a multiple of {group}"
        )
    grouped = features.reshape(b // group, group, -1)
    std = (grouped.var(dim=1, unbiased=False) + 1e-8).sqrt()
    return std.repeat_interleave(group, dim=0)


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
