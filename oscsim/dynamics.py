"""Behavioural AIS phase dynamics (DESIGN.md §1): the functional core ``integrate``.

In the frame rotating at f_ref, with time t counted in reference cycles, inside segment s:

    dθ_i/dt = 2π [ δ_i(s) + Σ_{j∈N(i)} k_ij(s) · H(θ_j − θ_i) − σ_i(s) · sin 2θ_i
                   + ρ_i(s) · H(0 − θ_i) ]

ρ couples each oscillator to the reference clock (phase 0) through the same kind of bank as
k. DESIGN.md's equation has no ρ; without it the dynamics are invariant under θ → θ + π
(differences and sin 2θ do not change) while the readout (1 − cos θ)/2 inverts, so a
generator could only produce a distribution symmetric under black ↔ white: mean pixel 0.5.

H(x) = Σ_m a_m sin(m x) + b_m cos(m x) (default: sin x). The sum over neighbours uses the
identities sin(m(θ_j − θ_i)) = cos mθ_i · sin mθ_j − sin mθ_i · cos mθ_j (and the cosine one),
so one sparse product K @ [sin mθ, cos mθ] per stage gives every harmonic; no N×N matrix.
The phase velocity is one autograd node with an analytic backward (``oscsim.drift``).

Shapes: phases ``(batch, n_osc)`` in rad; internally ``(n_osc, batch)`` so that the sparse
product runs over contiguous rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint as _checkpoint

from . import kernels
from .drift import SINE, drift
from .sparse import CouplingPattern
from .steppers import ExplicitRK, get_method

TWO_PI = 2.0 * math.pi
Harmonics = Tensor | Sequence[Sequence[float]] | None


def harmonic_coefficients(harmonics: Harmonics) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Normalise H's Fourier coefficients to ``(sin_coeffs, cos_coeffs)`` for m = 1..M.

    Args:
        harmonics: ``[M, 2]`` rows ``(a_m, b_m)``: sine and cosine coefficient of harmonic m;
            ``None`` for ideal Kuramoto coupling H(x) = sin x.
    """
    if harmonics is None:
        return (1.0,), (0.0,)
    rows = torch.as_tensor(harmonics, dtype=torch.float64).reshape(-1, 2)
    if rows.shape[0] == 0 or not torch.isfinite(rows).all():
        raise ValueError("harmonics must be a non-empty [M, 2] array of finite (sin, cos) pairs")
    return tuple(rows[:, 0].tolist()), tuple(rows[:, 1].tolist())


@dataclass(frozen=True)
class SegmentDrift:
    """The phase velocity (rad per cycle) inside one segment, callable on ``[N, B]`` phases.

    Attributes:
        k: ``[E]`` couplings; delta, sigma, rho: ``[N]`` detuning, SHIL strength and
            reference-clock coupling (``rho`` may be None); all times 2π.
        mat: ``pattern.matrix(k)``, built once per segment.
    """

    k: Tensor
    delta: Tensor
    sigma: Tensor
    rho: Tensor | None
    pattern: CouplingPattern
    mat: Tensor
    coeffs: tuple[tuple[float, ...], tuple[float, ...]]

    def __call__(self, theta: Tensor) -> Tensor:
        return drift(
            theta, self.k, self.delta, self.sigma, self.rho, self.pattern, self.mat, self.coeffs
        )

    def fused_stepper(self, theta: Tensor, stepper: ExplicitRK) -> kernels.RKStepper | None:
        """Whole RK steps in the fused CPU kernels, where they apply (H = sin, no autograd)."""
        if torch.is_grad_enabled() or self.coeffs != SINE or not kernels.supports(theta, self.mat):
            return None
        return kernels.RKStepper(stepper.a, stepper.b, theta)

    def step_in_place(self, fused: kernels.RKStepper, theta: Tensor, h: float) -> None:
        """One step of ``fused`` on ``theta`` under this segment's parameters."""
        params = (
            t if t is None else t.detach().contiguous() for t in (self.delta, self.sigma, self.rho)
        )
        fused.step(theta, h, self.mat, *params)


def segment_drift(
    k: Tensor,
    delta: Tensor,
    sigma: Tensor,
    rho: Tensor | None,
    pattern: CouplingPattern,
    coeffs: tuple[tuple[float, ...], tuple[float, ...]],
) -> SegmentDrift:
    """The phase velocity inside one segment, with every rate multiplied by 2π.

    Args:
        k: ``[E]`` couplings; delta, sigma, rho: ``[N]`` detuning, SHIL strength and
            reference-clock coupling (per cycle; ``rho`` may be None).
    """
    k2 = TWO_PI * k
    rho2 = None if rho is None else TWO_PI * rho
    return SegmentDrift(
        k2, TWO_PI * delta, TWO_PI * sigma, rho2, pattern, pattern.matrix(k2), coeffs
    )


def segment_steps(
    cycles_per_segment: float, steps_per_segment: int, noise: float
) -> tuple[int, float]:
    """(steps, step size in cycles) of one segment; a ValueError names a bad argument."""
    steps = steps_per_segment
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise ValueError(f"steps_per_segment must be a positive integer, got {steps}")
    if not (math.isfinite(cycles_per_segment) and cycles_per_segment > 0):
        raise ValueError(f"cycles_per_segment must be positive, got {cycles_per_segment}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    return int(steps), float(cycles_per_segment) / int(steps)


def phase_kicks(
    noise: float, h: float, steps: int, like: Tensor, generator: torch.Generator | None
) -> Tensor | None:
    """One segment's phase-noise kicks ``noise·sqrt(h)·ξ``, ``[steps, *like.shape]`` (None
    without noise), drawn on the generator's device and moved to ``like``'s."""
    if noise == 0:
        return None
    where = generator.device if generator is not None else like.device
    xi = torch.randn((steps, *like.shape), generator=generator, dtype=like.dtype, device=where)
    return (noise * math.sqrt(h)) * xi.to(like.device)


def check_inputs(
    theta0: Tensor, k: Tensor, delta: Tensor, sigma: Tensor, rho: Tensor | None, n_edges: int
) -> None:
    """Raise a ValueError that names the argument whose shape, dtype or device is off."""
    if theta0.dim() != 2 or not theta0.dtype.is_floating_point:
        raise ValueError(f"theta0 must be a float tensor [batch, n_osc], got {tuple(theta0.shape)}")
    n = theta0.shape[1]
    if k.dim() != 2 or k.shape[1] != n_edges:
        raise ValueError(f"k must have shape [segments, {n_edges}], got {tuple(k.shape)}")
    s = k.shape[0]
    named = [("delta", delta), ("sigma", sigma)] + ([("rho", rho)] if rho is not None else [])
    for name, t in named:
        if tuple(t.shape) != (s, n):
            raise ValueError(f"{name} must have shape [{s}, {n}], got {tuple(t.shape)}")
    for name, t in [("k", k), *named]:
        if t.dtype != theta0.dtype or t.device != theta0.device:
            raise ValueError(
                f"{name} is {t.dtype} on {t.device} but theta0 is {theta0.dtype} on "
                f"{theta0.device}; convert all tensors to one dtype and device"
            )


class SegmentVelocity(Protocol):
    """One segment's velocity as ``rollout_segments`` drives it (``SegmentDrift``,
    ``oscsim.envelope.EnvelopeDrift``): callable on a state, and able to take whole fused steps
    in place where its kernels apply."""

    def __call__(self, state: Tensor) -> Tensor: ...

    def fused_stepper(self, state: Tensor, stepper: ExplicitRK) -> Any: ...

    def step_in_place(self, fused: Any, state: Tensor, h: float) -> None: ...


def prepare_rollout(
    theta0: Tensor,
    edges: Tensor,
    k: Tensor,
    delta: Tensor,
    sigma: Tensor,
    rho: Tensor | None,
    cycles_per_segment: float,
    steps_per_segment: int,
    noise: float,
    method: str | ExplicitRK,
    pattern: CouplingPattern | None,
) -> tuple[ExplicitRK, int, float, CouplingPattern]:
    """Check a rollout's arguments (a ValueError names the bad one) and resolve them:
    (stepper, steps per segment, step size, coupling pattern on ``theta0``'s device)."""
    stepper = get_method(method)
    steps, h = segment_steps(cycles_per_segment, steps_per_segment, noise)
    if pattern is None:
        pattern = CouplingPattern(edges, theta0.shape[1])
    check_inputs(theta0, k, delta, sigma, rho, pattern.n_edges)
    if pattern.device != theta0.device:
        pattern = pattern.to(theta0.device)
    return stepper, steps, h, pattern


def rollout_segments(
    state: Tensor,
    velocities: Iterable[SegmentVelocity],
    stepper: ExplicitRK,
    h: float,
    steps: int,
    draw_kicks: Callable[[], Tensor | None],
    kick: Callable[[Tensor, Tensor], Tensor],
    keep: list[Tensor] | None,
    checkpoint: bool,
) -> Tensor:
    """Integrate ``steps`` steps of each segment's velocity in turn from ``state``.

    Each segment's noise kicks are drawn (``draw_kicks``) before it runs and applied after
    every step (``kick(state, kicks[n])``); every state is appended to ``keep`` if given. With
    ``checkpoint`` (under autograd, no ``keep``) each segment is recomputed in the backward
    pass instead of storing its stages.
    """
    for f in velocities:
        kicks = draw_kicks()
        if checkpoint and keep is None and torch.is_grad_enabled():
            state = _checkpoint(
                _rollout, state, f, stepper, h, steps, kicks, kick, None, use_reentrant=False
            )
        else:
            state = _rollout(state, f, stepper, h, steps, kicks, kick, keep)
    return state


def _rollout(
    state: Tensor,
    f: SegmentVelocity,
    stepper: ExplicitRK,
    h: float,
    n_steps: int,
    kicks: Tensor | None,
    kick: Callable[[Tensor, Tensor], Tensor],
    keep: list[Tensor] | None,
) -> Tensor:
    """Take ``n_steps`` steps; apply the pre-drawn noise ``kicks[n]`` after step n.

    Without autograd the steps run whole in the fused CPU kernels where they apply, in place
    on a copy of ``state`` (the caller's tensor is never changed).
    """
    fused = f.fused_stepper(state, stepper)
    if fused is not None:
        state = state.clone()
    for n in range(n_steps):
        if fused is not None:
            f.step_in_place(fused, state, h)
        else:
            state = stepper.step(f, state, h)
        if kicks is not None:
            state = kick(state, kicks[n])
        if keep is not None:
            keep.append(state if fused is None else state.clone())
    return state


def integrate(
    theta0: Tensor,
    edges: Tensor,
    k: Tensor,
    delta: Tensor,
    sigma: Tensor,
    cycles_per_segment: float,
    steps_per_segment: int,
    method: str | ExplicitRK = "rk4",
    harmonics: Harmonics = None,
    noise: float = 0.0,
    generator: torch.Generator | None = None,
    return_trajectory: bool = False,
    *,
    rho: Tensor | None = None,
    pattern: CouplingPattern | None = None,
    checkpoint: bool = False,
) -> Tensor:
    """Integrate the AIS phase dynamics over S piecewise-constant segments.

    Args:
        theta0: initial phases ``[B, N]`` (rad).
        edges: ``[2, E]`` long tensor, each undirected edge once.
        k: couplings ``[S, E]``; delta, sigma: ``[S, N]``; all in units of f_ref (per cycle).
        cycles_per_segment: segment length L_s in reference cycles.
        steps_per_segment: whole number of fixed steps per segment (boundaries are exact).
        method: ``"rk4"``, ``"heun"``, ``"euler"`` or a stepper value (``RK4()``).
        harmonics: ``[M, 2]`` Fourier coefficients (sin, cos) of H; ``None`` for sin.
        noise: phase-noise strength in rad per sqrt(cycle): after each deterministic step
            ``noise·sqrt(h)·ξ`` is added (Euler–Maruyama for ``method="euler"``).
        generator: torch generator for the noise.
        return_trajectory: return every step ``[S·steps + 1, B, N]`` instead of the final phases.
        rho: ``[S, N]`` coupling of each oscillator to the phase-0 reference clock (or None).
        pattern: a prebuilt ``CouplingPattern`` of ``edges`` (saves rebuilding it per call).
        checkpoint: recompute each segment in the backward pass instead of storing its stages.

    Returns:
        Final phases ``[B, N]`` (unwrapped), or the trajectory.
    """
    stepper, steps, h, pattern = prepare_rollout(
        theta0, edges, k, delta, sigma, rho, cycles_per_segment, steps_per_segment, noise,
        method, pattern,
    )  # fmt: skip
    coeffs = harmonic_coefficients(harmonics)
    theta = theta0.transpose(0, 1).contiguous()
    keep = [theta] if return_trajectory else None
    velocities = (
        segment_drift(k[s], delta[s], sigma[s], None if rho is None else rho[s], pattern, coeffs)
        for s in range(k.shape[0])
    )
    theta = rollout_segments(
        theta, velocities, stepper, h, steps,
        partial(phase_kicks, noise, h, steps, theta, generator), torch.add, keep, checkpoint,
    )  # fmt: skip
    if keep is not None:
        return torch.stack(keep).transpose(1, 2)
    return theta.transpose(0, 1)
