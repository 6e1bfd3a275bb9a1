"""Hardware-realisable integer codes with learned step size quantization (LSQ, Esser et al. 2020).

A parameter is stored in hardware as an integer code; its behavioural value is exactly
``code × step``. Coupling banks use sign-magnitude codes (three binary-weighted conductances and
a polarity switch: −7..+7 at 4 bits), detuning a two's-complement bias DAC (−8..+7), SHIL an
unsigned strength DAC (0..15). During training the rounding passes gradients straight through
and the step (one per parameter kind: the hardware LSB) is learned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

CodeKind = Literal["sign-magnitude", "twos-complement", "unsigned"]
_KINDS = ("sign-magnitude", "twos-complement", "unsigned")


@dataclass(frozen=True)
class CodeFormat:
    """An integer code format: ``bits`` wide, of one ``kind``; knows its code range."""

    bits: int
    kind: CodeKind

    def __post_init__(self) -> None:
        if isinstance(self.bits, bool) or not isinstance(self.bits, int) or not 2 <= self.bits <= 8:
            raise ValueError(f"bits must be an integer from 2 to 8, got {self.bits!r}")
        if self.kind not in _KINDS:
            raise ValueError(f"unknown code kind {self.kind!r}; choose one of {_KINDS}")

    @property
    def qmin(self) -> int:
        """Smallest code."""
        if self.kind == "sign-magnitude":
            return -(2 ** (self.bits - 1) - 1)
        return -(2 ** (self.bits - 1)) if self.kind == "twos-complement" else 0

    @property
    def qmax(self) -> int:
        """Largest code."""
        return 2**self.bits - 1 if self.kind == "unsigned" else 2 ** (self.bits - 1) - 1


class _RoundClamp(torch.autograd.Function):
    """round(clamp(x, lo, hi)) with a straight-through gradient inside [lo, hi], zero outside."""

    @staticmethod
    def forward(ctx, x: Tensor, lo: int, hi: int) -> Tensor:
        ctx.save_for_backward((x >= lo) & (x <= hi))
        return torch.round(torch.clamp(x, lo, hi))

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        (inside,) = ctx.saved_tensors
        return grad * inside, None, None


class _ScaleGrad(torch.autograd.Function):
    """Identity in the forward pass; multiplies the gradient by ``scale`` (LSQ's step gradient)."""

    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return x.clone()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return grad * ctx.scale, None


def codes_of(x: Tensor, step: Tensor | float, fmt: CodeFormat) -> Tensor:
    """The integer codes (int64) that ``x`` rounds to at this step: what an exporter builds."""
    return torch.round(torch.clamp(x.detach() / step, fmt.qmin, fmt.qmax)).to(torch.int64)


class LsqQuantizer(nn.Module):
    """Quantizes a tensor to ``code × step`` with one learned step (straight-through estimator).

    Args:
        fmt: the code format.
        init_max: the largest value representable at initialisation; step = init_max / qmax.
        limit: the largest value hardware can realise: the learned step stays at or below
            ``limit / top code`` (None: unbounded).
    """

    def __init__(self, fmt: CodeFormat, init_max: float, limit: float | None = None) -> None:
        super().__init__()
        if not (math.isfinite(init_max) and init_max > 0):
            raise ValueError(f"init_max must be a positive number, got {init_max}")
        if limit is not None and not (math.isfinite(limit) and limit >= init_max):
            raise ValueError(f"limit must be a number >= init_max ({init_max}), got {limit}")
        self.fmt = fmt
        top = max(abs(fmt.qmin), fmt.qmax)
        self.step = nn.Parameter(torch.tensor(init_max / top))
        self.max_step = math.inf if limit is None else limit / top

    def positive_step(self) -> Tensor:
        """The step, kept strictly positive (a learned step that collapses would divide by 0)
        and at most ``max_step``."""
        return self.step.abs().clamp(1e-8, self.max_step)

    def forward(self, x: Tensor) -> Tensor:
        """Return ``code × step`` with gradients for ``x`` (STE) and the step (LSQ)."""
        top = max(abs(self.fmt.qmin), self.fmt.qmax)
        step = _ScaleGrad.apply(self.positive_step(), 1.0 / math.sqrt(x.numel() * top))
        code = _RoundClamp.apply(x / step, self.fmt.qmin, self.fmt.qmax)
        return code * step

    def codes(self, x: Tensor) -> Tensor:
        """Integer codes of ``x``; ``forward(x) == codes(x) * step`` exactly."""
        return codes_of(x, self.positive_step().detach(), self.fmt)

    def extra_repr(self) -> str:
        return f"bits={self.fmt.bits}, kind={self.fmt.kind}, codes={self.fmt.qmin}..{self.fmt.qmax}"
