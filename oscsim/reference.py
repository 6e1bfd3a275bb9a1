"""Dense reference implementations of the AIS drift, for tests and benchmarks only.

Slow by design: they materialise the N×N coupling matrix. The package never uses them to train.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .dynamics import TWO_PI, Harmonics, harmonic_coefficients
from .sparse import CouplingPattern, dense_matrix
from .steppers import ExplicitRK, get_method


def dense_integrate(
    theta0: Tensor,
    edges: Tensor,
    k: Tensor,
    delta: Tensor,
    sigma: Tensor,
    cycles_per_segment: float,
    steps_per_segment: int,
    method: str | ExplicitRK = "rk4",
    harmonics: Harmonics = None,
    pairwise: bool = False,
    rho: Tensor | None = None,
) -> Tensor:
    """Same contract as ``dynamics.integrate`` (deterministic part), with a dense N×N matrix.

    ``pairwise=True`` evaluates H(θ_j − θ_i) for every pair directly from the definition
    (B×N×N work) instead of the matmul identity, as an independent check of that identity.
    """
    stepper = get_method(method)
    pattern = CouplingPattern(edges, theta0.shape[1])
    sin_c, cos_c = harmonic_coefficients(harmonics)
    h = cycles_per_segment / steps_per_segment
    theta = theta0
    for s in range(k.shape[0]):
        mat = dense_matrix(k[s], pattern)
        d, sg = delta[s], sigma[s]
        r = torch.zeros_like(d) if rho is None else rho[s]

        def f(
            th: Tensor, mat: Tensor = mat, d: Tensor = d, sg: Tensor = sg, r: Tensor = r
        ) -> Tensor:
            cpl = torch.zeros_like(th)
            for m, (a, b) in enumerate(zip(sin_c, cos_c, strict=True), start=1):
                cpl = cpl + r * (a * torch.sin(-m * th) + b * torch.cos(-m * th))
            if pairwise:
                diff = th[:, None, :] - th[:, :, None]  # [B, i, j] = θ_j − θ_i
                for m, (a, b) in enumerate(zip(sin_c, cos_c, strict=True), start=1):
                    hm = a * torch.sin(m * diff) + b * torch.cos(m * diff)
                    cpl = cpl + (mat[None] * hm).sum(-1)
            else:
                for m, (a, b) in enumerate(zip(sin_c, cos_c, strict=True), start=1):
                    sm, cm = torch.sin(m * th), torch.cos(m * th)
                    ks, kc = sm @ mat, cm @ mat  # mat is symmetric
                    cpl = cpl + a * (cm * ks - sm * kc) + b * (cm * kc + sm * ks)
            return TWO_PI * (d + cpl - sg * torch.sin(2 * th))

        for _ in range(steps_per_segment):
            theta = stepper.step(f, theta, h)
    return theta
