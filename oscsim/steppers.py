"""Fixed-step explicit Runge–Kutta steppers as frozen values: a Butcher tableau on one engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

Drift = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class ExplicitRK:
    """An explicit Runge–Kutta method given by its Butcher tableau (autonomous systems only).

    Subclasses set ``name``, ``order``, ``a`` (lower-triangular rows, one per stage) and ``b``.
    """

    name: ClassVar[str]
    order: ClassVar[int]
    a: ClassVar[tuple[tuple[float, ...], ...]]
    b: ClassVar[tuple[float, ...]]

    def step(self, f: Drift, y: Tensor, h: float) -> Tensor:
        """Advance ``y`` by one step of size ``h`` under ``dy/dt = f(y)``."""
        stages: list[Tensor] = []
        for row in self.a:
            yi = y
            for aij, kj in zip(row, stages, strict=False):
                if aij:
                    yi = torch.add(yi, kj, alpha=h * aij)
            stages.append(f(yi))
        out = y
        for bi, ki in zip(self.b, stages, strict=True):
            if bi:
                out = torch.add(out, ki, alpha=h * bi)
        return out


@dataclass(frozen=True)
class Euler(ExplicitRK):
    """Forward Euler (Euler–Maruyama when the integrator adds noise); order 1."""

    name = "euler"
    order = 1
    a = ((),)
    b = (1.0,)


@dataclass(frozen=True)
class Heun(ExplicitRK):
    """Heun's method (explicit trapezoid); order 2."""

    name = "heun"
    order = 2
    a = ((), (1.0,))
    b = (0.5, 0.5)


@dataclass(frozen=True)
class RK4(ExplicitRK):
    """The classic fourth-order Runge–Kutta method."""

    name = "rk4"
    order = 4
    a = ((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0))
    b = (1 / 6, 1 / 3, 1 / 3, 1 / 6)


METHODS: dict[str, ExplicitRK] = {m.name: m for m in (RK4(), Heun(), Euler())}


def get_method(method: str | ExplicitRK) -> ExplicitRK:
    """Resolve a stepper given by name or as a value; unknown names list the valid ones."""
    if isinstance(method, ExplicitRK):
        return method
    try:
        return METHODS[method]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown integration method {method!r}; choose one of {sorted(METHODS)}"
        ) from None
