"""How far a model's own images move under small perturbations: the ceiling of circuit fidelity.

A circuit never reproduces the behavioural model exactly: its cells start a little off θ(0)
and drift a little every cycle. When the model's dynamics amplify such errors, no circuit can
agree with it better than the model agrees with a slightly perturbed copy of itself.
``perturbed_agreement`` measures that with the metrics of ``oscsim validate``, for four kinds
of perturbation (ξ ~ N(0, 1); one chip has one mismatch pattern, so the static kinds draw one
ξ for all latents):

- ``"phase"``: θ(0) + size·ξ (rad; a fresh ξ per oscillator and latent): the cells' start-up
  error;
- ``"detuning"``: δ + size·ξ per oscillator in every segment (fraction of f_ref per cycle): a
  residual frequency error per cell, such as the lc cell's drift of 0.25 to 0.4° per cycle
  (7e-4 to 1.1e-3) once δ0 is cancelled;
- ``"coupling"``: k·(1 + size·ξ) per edge in every segment (relative): coupling resistor
  mismatch, or a coupling gain that varies from cell to cell (amplitude ratios);
- ``"coupling-gain"``: k·(1 + size) on every edge (relative): an error in the calibrated
  coupling per siemens, such as the 1.1 % between the lc cell's first-order 79.6 and the 80.5
  that ngspice gives (``oscsim.validate.measure_k_per_siemens``).

Both rollouts use the hardware values (codes × steps in float64) and no model noise.
``latent_sensitivity`` gives the same per latent, averaged over several patterns: which
latents a circuit is most likely to draw differently.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .errors import OscsimError
from .model import AISGenerator, coupling_mismatched, detuned
from .validate import fidelity_metrics, rms_deg, validation_latents
from .versions import versions

UNITS = {
    "phase": "rad",
    "detuning": "per cycle",
    "coupling": "relative",
    "coupling-gain": "relative",
}
"""The perturbation kinds and the unit of each one's size."""
KINDS = tuple(UNITS)


def _check(kind: str, size: float, n: int) -> None:
    """Reject an unknown kind, a size out of range or no latents, naming what to pass."""
    if kind not in KINDS:
        raise OscsimError(f"unknown perturbation {kind!r}; choose one of {', '.join(KINDS)}")
    signed = kind == "coupling-gain"
    if not (math.isfinite(size) and (size > -1 if signed else size >= 0)):
        bound = "> -1" if signed else ">= 0"
        raise OscsimError(f"a {kind} perturbation must be a finite number {bound}, got {size}")
    if n < 1:
        raise OscsimError(f"n must be at least 1, got {n}")


def _perturbed(
    theta0: Tensor, params: dict[str, Tensor], kind: str, size: float, noise: torch.Generator
) -> tuple[Tensor, dict[str, Tensor]]:
    """``theta0`` and ``params`` with one draw of the ``kind`` perturbation from ``noise``."""
    if kind == "phase":
        return theta0 + size * torch.randn(theta0.shape, generator=noise).double(), params
    if kind == "detuning":
        return theta0, detuned(params, size, noise)
    if kind == "coupling":
        return theta0, coupling_mismatched(params, size, noise)
    return theta0, {**params, "k": params["k"] * (1 + size)}


def perturbed_agreement(
    model: AISGenerator, kind: str, size: float, n: int = 64, seed: int = 0
) -> dict:
    """Agreement of ``model`` with itself under one perturbation, over ``n`` latents.

    Args:
        model: a quantized generator (its hardware values are used).
        kind: one of ``KINDS`` (the size's unit is ``UNITS[kind]``).
        size: the perturbation's standard deviation; for ``coupling-gain`` the relative gain
            error itself (> -1, may be negative).
        n: number of latents (``model.latent(n, seed)``, the latents ``oscsim validate`` uses).
        seed: seed of the latents and of ξ.

    Returns:
        ``sign_agreement``, ``pixel_mae``, ``phase_error_deg``, ``tracking_fraction`` (as in
        ``oscsim.validate``), ``boundary_divergence_deg`` (RMS phase difference at every
        segment end, comparable with validation's ``boundary_phase_error_deg``), the inputs and
        the versions.
    """
    _check(kind, size, n)
    params, theta0 = model.hardware_params(), validation_latents(model, n, seed)
    moved_theta0, moved = _perturbed(
        theta0, params, kind, size, torch.Generator().manual_seed(seed + 1)
    )
    with torch.no_grad():
        base = model.rollout(theta0, params, return_trajectory=True)
        other = model.rollout(moved_theta0, moved, return_trajectory=True)
    steps = model.config.steps_per_segment
    ends = range(steps, base.shape[0], steps)
    dphi = (other - base).numpy()
    pix_b, pix_o = model.readout(base[-1]).numpy(), model.readout(other[-1]).numpy()
    metrics = fidelity_metrics(pix_b, pix_o, dphi[-1])
    divergence = [rms_deg(dphi[i]) for i in ends]
    return {
        "kind": kind,
        "size": float(size),
        "n": n,
        "seed": seed,
        **metrics,
        "boundary_divergence_deg": divergence,
        "versions": versions(),
    }


def latent_sensitivity(
    model: AISGenerator, kind: str, size: float, n: int = 16, seed: int = 0, draws: int = 8
) -> dict:
    """How far each latent's image moves under a perturbation, averaged over ``draws`` patterns.

    A latent whose dynamics amplify small cell errors is one a circuit is likely to draw
    differently: this ranks the latents of ``oscsim validate`` by that risk in seconds, where
    the circuit takes most of an hour per latent (``benchmarks/latent_risk.py`` checks the
    ranking against the circuits simulated so far).

    Args:
        model, kind, size, n, seed: as in ``perturbed_agreement``; its pattern is the first draw.
        draws: independent perturbation patterns (chips) to average over.

    Returns:
        per latent (lists of ``n``): ``phase_error_deg`` (RMS over the oscillators of the final
        phase difference) and ``pixel_mae``, each the mean over the draws; the inputs and the
        versions.
    """
    _check(kind, size, n)
    if draws < 1:
        raise OscsimError(f"draws must be at least 1, got {draws}")
    params, theta0 = model.hardware_params(), validation_latents(model, n, seed)
    noise = torch.Generator().manual_seed(seed + 1)
    totals = {"phase_error_deg": np.zeros(n), "pixel_mae": np.zeros(n)}
    with torch.no_grad():
        base = model.rollout(theta0, params)
        pix_b = model.readout(base).numpy()
        for _ in range(draws):
            other = model.rollout(*_perturbed(theta0, params, kind, size, noise))
            dphi, pix_o = (other - base).numpy(), model.readout(other).numpy()
            per = [fidelity_metrics(pix_b[b], pix_o[b], dphi[b]) for b in range(n)]  # as validate
            for key, total in totals.items():
                total += [m[key] for m in per]
    return {
        "kind": kind,
        "size": float(size),
        "n": n,
        "seed": seed,
        "draws": draws,
        **{key: (total / draws).tolist() for key, total in totals.items()},
        "versions": versions(),
    }
