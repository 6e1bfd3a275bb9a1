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
"""

from __future__ import annotations

import math

import torch

from .errors import OscsimError
from .model import AISGenerator, coupling_mismatched, detuned
from .validate import fidelity_metrics, rms_deg
from .versions import versions

UNITS = {
    "phase": "rad",
    "detuning": "per cycle",
    "coupling": "relative",
    "coupling-gain": "relative",
}
"""The perturbation kinds and the unit of each one's size."""
KINDS = tuple(UNITS)


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
    if kind not in KINDS:
        raise OscsimError(f"unknown perturbation {kind!r}; choose one of {', '.join(KINDS)}")
    signed = kind == "coupling-gain"
    if not (math.isfinite(size) and (size > -1 if signed else size >= 0)):
        bound = "> -1" if signed else ">= 0"
        raise OscsimError(f"a {kind} perturbation must be a finite number {bound}, got {size}")
    if n < 1:
        raise OscsimError(f"n must be at least 1, got {n}")
    params = model.hardware_params()
    theta0 = model.latent(n, torch.Generator().manual_seed(seed)).double().cpu()
    noise = torch.Generator().manual_seed(seed + 1)
    moved_theta0, moved = theta0, params
    if kind == "phase":
        moved_theta0 = theta0 + size * torch.randn(theta0.shape, generator=noise).double()
    elif kind == "detuning":
        moved = detuned(params, size, noise)
    elif kind == "coupling":
        moved = coupling_mismatched(params, size, noise)
    else:
        moved = {**params, "k": params["k"] * (1 + size)}
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
