"""Complex-envelope dynamics: what the exported circuit computes, amplitudes included.

The phase model (``oscsim.dynamics``) assumes that every cell keeps its free-running amplitude.
The circuit does not: a coupling bank loads both of its tanks, and a cell whose banks are
frustrated loses amplitude, which scales every coupling it sends. Averaging each ``lc`` cell's
tank equation over one cycle (the describing function of its tanh pair) gives, for the
differential amplitude z_i = A_i / A_ss normalised to the free amplitude A_ss and time t in
reference cycles, inside segment s:

    dz_i/dt = π/Q · (L · n(u* |z_i|) − 1) · z_i       tank loss against the pair's gain
              + 2π i (δ_i + δ_c(|z_i|)) z_i           tune capacitance; the cell's own offset
              + 2π σ_i conj(z_i)                      2·f_ref pump (parametric)
              + 2π Σ_j (k_ij z_j − |k_ij| z_i)        banks: pull towards ±z_j, load z_i
              + 2π (ρ_i − |ρ_i| z_i)                  bank to the reference clock (amplitude A_ss)

with θ_i = arg z_i. δ_c is the cell's measured frequency offset against its free-running one
(which the tune bias cancels) as its amplitude moves (``Tank.offsets``; zero unless measured:
the tanks' harmonics shift the frequency). n is the tanh pair's describing function normalised
to n(0) = 1, L the small-signal loop gain ``i_tail · r_loss / v_lin`` and u* = A_ss / v_lin the
free amplitude in units of the pair's linear range (L · n(u*) = 1). A cell whose banks all
disagree with its neighbours carries 2·Q·Σ|k| tank conductances of extra loss; when that is ≪ 1
the amplitudes stay at 1 and θ follows the phase model (tested), otherwise the two part ways,
and ngspice follows this one (``oscsim.validate`` reports both against the circuit).

Shapes follow ``oscsim.dynamics``: phases ``(batch, n_osc)`` in and out; internally the state
is ``[n_osc, 2·batch]`` (real parts, then imaginary parts): one sparse product per stage couples
both. On the CPU the velocity is one autograd node in fused C++ kernels (``oscsim.kernels``,
with an analytic backward), and no-grad rollouts take whole RK steps there; elsewhere it runs as
torch ops with an analytic backward for the sparse product.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import kernels
from .dynamics import phase_kicks, prepare_rollout, rollout_segments
from .sparse import CouplingPattern, sparse_mm
from .steppers import ExplicitRK

TWO_PI = 2.0 * math.pi
_TABLE_POINTS = 16384  # linear interpolation: n within ~2e-7
_TABLE_U_MAX = 64.0  # beyond: the hard-limit asymptote 4 / (π u)
_EPS = 1e-12  # keeps |z| differentiable at z = 0


def describing_function(u: np.ndarray, points: int = 256) -> np.ndarray:
    """n(u): fundamental of tanh(u cos φ) over u, normalised so that n(0) = 1 (float64).

    The trapezoid rule on a periodic integrand converges geometrically, so 256 points are exact
    to machine precision for the u this module tabulates.
    """
    u = np.asarray(u, dtype=np.float64)
    phi = (np.arange(points) + 0.5) * (TWO_PI / points)
    fundamental = np.tanh(np.multiply.outer(u, np.cos(phi))) @ np.cos(phi) * (2.0 / points)
    small = np.abs(u) < 1e-6
    return np.where(small, 1.0 - u**2 / 4.0, fundamental / np.where(small, 1.0, u))


@dataclass(frozen=True)
class Tank:
    """The oscillator cell as the envelope model sees it.

    Attributes:
        q: tank quality factor.
        loop_gain: small-signal loop gain ``i_tail · r_loss / v_lin`` (must exceed 1 to start).
        offsets: the cell's frequency offset per cycle against its free-running one (which the
            tune bias cancels) as its amplitude changes: pairs (|z|, offset), |z| increasing,
            interpolated linearly and held beyond the ends; measured in ngspice by
            ``oscsim.spice.calibrate.measure_offsets``. Empty: none (the averaged tank has
            none; the real one has, from its harmonics).

    The defaults are the ``lc`` cell's (``Tank.from_cell(LcCell())``).
    """

    q: float = 10.0
    loop_gain: float = 0.5e-3 * 10.0 / (TWO_PI * 1e9 * 1e-12) / 0.2
    offsets: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.q) and self.q > 0):
            raise ValueError(f"Tank.q must be a positive number, got {self.q}")
        if not (math.isfinite(self.loop_gain) and self.loop_gain > 1.0):
            raise ValueError(
                f"Tank.loop_gain must exceed 1 (a cell below that does not oscillate), "
                f"got {self.loop_gain}"
            )
        pairs = tuple((float(a), float(d)) for a, d in self.offsets)
        amps = [a for a, _ in pairs]
        if pairs and (
            not all(math.isfinite(v) for pair in pairs for v in pair)
            or amps[0] < 0
            or any(b <= a for a, b in itertools.pairwise(amps))
        ):
            raise ValueError(
                "Tank.offsets must be finite (amplitude, offset) pairs with amplitudes >= 0 "
                f"and increasing, got {self.offsets!r}"
            )
        object.__setattr__(self, "offsets", pairs)

    @classmethod
    def from_cell(cls, cell: object, offsets: tuple[tuple[float, float], ...] = ()) -> Tank:
        """The tank of an ``oscsim.spice.cells.LcCell`` (anything with q, i_tail_a,
        r_loss_ohm and v_lin_v), with measured ``offsets`` if given."""
        gain = float(cell.i_tail_a * cell.r_loss_ohm / cell.v_lin_v)
        return cls(float(cell.q), gain, offsets)

    @cached_property
    def free_u(self) -> float:
        """u* = A_ss / v_lin: where the pair's gain meets the tank's loss (bisection)."""
        lo, hi = 0.0, 4.0 * self.loop_gain / math.pi  # n(u) < 4 / (π u) for u > 0
        for _ in range(80):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self.loop_gain * describing_function(mid) > 1.0 else (lo, mid)
        return 0.5 * (lo + hi)

    @cached_property
    def _table(self) -> np.ndarray:
        """Rows (n, Δn, offset, Δoffset) on an even grid u_m in [0, _TABLE_U_MAX]: each value
        at u_m and its step to u_m+1 (the offsets as functions of |z| = u / u*); the last row,
        at _TABLE_U_MAX, has steps 0 (positions are clamped to it)."""
        u = np.linspace(0.0, _TABLE_U_MAX, _TABLE_POINTS + 1)
        n = describing_function(u)
        off = np.zeros_like(u)
        if self.offsets:
            amps, values = zip(*self.offsets, strict=True)
            off = np.interp(u / self.free_u, amps, values)
        steps = [np.append(np.diff(v), 0.0) for v in (n, off)]
        return np.stack([n, steps[0], off, steps[1]], axis=1)

    def _table_on(self, like: Tensor) -> Tensor:
        """The table as a tensor of ``like``'s dtype and device (converted once)."""
        key = (like.dtype, like.device)
        cache = self.__dict__.setdefault("_tables", {})
        if key not in cache:
            cache[key] = torch.as_tensor(self._table, dtype=like.dtype, device=like.device)
        return cache[key]

    def kernel_arrays(self, like: Tensor) -> kernels.TankArrays:
        """The table and constants of ``rates`` as the fused kernels read them."""
        return kernels.TankArrays(self._table_on(like), self._kernel_params)

    @cached_property
    def _kernel_params(self) -> Tensor:
        """float64 (u*/du, last table position, u*, table end in u, π/Q, L) for the kernels."""
        du = _TABLE_U_MAX / _TABLE_POINTS
        params = (self.free_u / du, _TABLE_POINTS, self.free_u, _TABLE_U_MAX)
        return torch.tensor((*params, math.pi / self.q, self.loop_gain), dtype=torch.float64)

    def rates(self, amplitude: Tensor) -> tuple[Tensor, Tensor | None]:
        """Per cycle, for normalised amplitudes |z| (any shape): the net gain
        π/Q · (L · n(u* · |z|) − 1) and the turning rate 2π · offset(|z|) (None without
        offsets).

        Both are interpolated linearly in one float64 table (one row gather; differentiable
        in |z|); n follows the hard-limit asymptote 4 / (π u) beyond it.
        """
        du = _TABLE_U_MAX / _TABLE_POINTS
        pos = (amplitude * (self.free_u / du)).clamp(max=_TABLE_POINTS)
        floor = pos.detach().floor()
        frac = pos - floor
        rows = F.embedding(floor.long(), self._table_on(amplitude))
        n = torch.addcmul(rows[..., 0], frac, rows[..., 1])
        u = amplitude * self.free_u
        n = torch.where(u >= _TABLE_U_MAX, 4.0 / (math.pi * u.clamp(min=_TABLE_U_MAX)), n)
        gain = (math.pi / self.q) * (self.loop_gain * n - 1.0)
        if not self.offsets:
            return gain, None
        return gain, TWO_PI * torch.addcmul(rows[..., 2], frac, rows[..., 3])


def shared_tank(q: float, loop_gain: float, offsets: Sequence[Sequence[float]] = ()) -> Tank:
    """One ``Tank`` per distinct (q, loop gain, offsets), so that its cached free amplitude and
    tables (about 0.1 s to compute) are built once per process rather than per rollout."""
    pairs = tuple(tuple(float(v) for v in pair) for pair in offsets)
    return _shared_tank(float(q), float(loop_gain), pairs)


@functools.lru_cache(maxsize=32)
def _shared_tank(q: float, loop_gain: float, offsets: tuple[tuple[float, ...], ...]) -> Tank:
    return Tank(q, loop_gain, offsets)


class _Coupling(torch.autograd.Function):
    """K @ state for the symmetric sparse K of edge values k, with the analytic backward
    (K is symmetric: grad_state = K @ grad; grad_k_e = Σ_b grad_i·state_j + grad_j·state_i)."""

    @staticmethod
    def forward(ctx, k: Tensor, state: Tensor, mat: Tensor, edges: Tensor) -> Tensor:
        ctx.save_for_backward(state)
        ctx.mat, ctx.edges = mat, edges
        return sparse_mm(mat, state)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None, None]:
        (state,) = ctx.saved_tensors
        grad = grad.contiguous()
        grad_state = sparse_mm(ctx.mat, grad) if ctx.needs_input_grad[1] else None
        grad_k = None
        if ctx.needs_input_grad[0]:
            i, j = ctx.edges
            grad_k = (grad[i] * state[j] + grad[j] * state[i]).sum(dim=1)
        return grad_k, grad_state, None, None


class _FusedEnvelope(torch.autograd.Function):
    """``EnvelopeDrift`` as one node in the fused CPU kernels: the forward pass saves only its
    input state; the backward pass recomputes the rates and runs one sparse product for dL/dz
    and one sampled one for dL/dk."""

    @staticmethod
    def forward(
        ctx,
        state: Tensor,
        k: Tensor,
        load: Tensor,
        delta: Tensor,
        sigma: Tensor,
        rho: Tensor | None,
        f: EnvelopeDrift,
    ) -> Tensor:
        # k and the columns are inputs only so that autograd routes their gradients; the
        # kernels read their values from f.kernel_segment (flattened once per segment)
        state = state.detach().contiguous()
        ctx.save_for_backward(state)
        ctx.f = f
        return kernels.envelope_drift_forward(state, f.kernel_segment)

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, ...]:
        (state,) = ctx.saved_tensors
        needs = tuple(ctx.needs_input_grad[:6])  # False for rho = None
        grads = kernels.envelope_drift_backward(g.contiguous(), state, ctx.f.kernel_segment, needs)
        grad_state, entries, *columns = grads
        grad_k = None if entries is None else ctx.f.pattern.edge_sums(entries)
        columns = [None if t is None else t[:, None] for t in columns]
        return (grad_state, grad_k, *columns, None)


@dataclass(frozen=True)
class EnvelopeDrift:
    """dz/dt inside one segment, callable on the state ``[N, 2B]`` (real parts, then imaginary
    parts, side by side so that one sparse product couples both); rates times 2π."""

    tank: Tank
    k: Tensor  # [E]
    mat: Tensor  # CSR K of k
    pattern: CouplingPattern
    load: Tensor  # [N, 1]: Σ|k| + |ρ| of each cell
    delta: Tensor  # [N, 1]
    sigma: Tensor  # [N, 1]
    rho: Tensor | None  # [N, 1]

    def __call__(self, state: Tensor) -> Tensor:
        if kernels.supports(state, self.mat):
            return _FusedEnvelope.apply(state, self.k, *self.columns, self)
        b = state.shape[1] // 2
        x, y = state[:, :b], state[:, b:]
        own, turn = self.tank.rates(torch.sqrt(x * x + y * y + _EPS))
        own = own - self.load
        rot = self.delta if turn is None else self.delta + turn
        pulled = _Coupling.apply(self.k, state, self.mat, self.pattern.edges)
        dx = (own + self.sigma) * x - rot * y + pulled[:, :b]
        dy = (own - self.sigma) * y + rot * x + pulled[:, b:]
        if self.rho is not None:
            dx = dx + self.rho
        return torch.cat([dx, dy], dim=1)

    @cached_property
    def kernel_segment(self) -> kernels.EnvelopeSegment:
        """This segment's parameters as the fused kernels read them (built once)."""
        flat = [None if t is None else t.detach().reshape(-1).contiguous() for t in self.columns]
        tank = self.tank.kernel_arrays(self.load)
        return kernels.EnvelopeSegment(self.mat, tank, *flat)

    @property
    def columns(self) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """(load, delta, sigma, rho), each ``[N, 1]`` (rho may be None)."""
        return self.load, self.delta, self.sigma, self.rho

    def fused_stepper(self, state: Tensor, stepper: ExplicitRK) -> kernels.EnvelopeRKStepper | None:
        """Whole RK steps in the fused CPU kernels, where they apply (no autograd)."""
        if torch.is_grad_enabled() or not kernels.supports(state, self.mat):
            return None
        return kernels.EnvelopeRKStepper(stepper.a, stepper.b, state)

    def step_in_place(self, fused: kernels.EnvelopeRKStepper, state: Tensor, h: float) -> None:
        """One step of ``fused`` on ``state`` under this segment's parameters."""
        fused.step(state, h, self.kernel_segment)


def segment_envelope_drift(
    tank: Tank,
    pattern: CouplingPattern,
    k: Tensor,
    delta: Tensor,
    sigma: Tensor,
    rho: Tensor | None,
) -> EnvelopeDrift:
    """The envelope's velocity inside one segment (k: ``[E]``; delta, sigma, rho: ``[N]``)."""
    k2 = TWO_PI * k
    i, j = pattern.edges
    load = torch.zeros(pattern.n_osc, dtype=k.dtype, device=k.device)
    load = load.index_add(0, i, k2.abs()).index_add(0, j, k2.abs())
    if rho is not None:
        load = load + TWO_PI * rho.abs()

    def column(t: Tensor | None) -> Tensor | None:
        return None if t is None else TWO_PI * t[:, None]

    mat = pattern.matrix(k2)
    return EnvelopeDrift(
        tank, k2, mat, pattern, load[:, None], column(delta), column(sigma), column(rho)
    )


def _rotate(state: Tensor, kick: Tensor) -> Tensor:
    """Every z of ``state`` ``[N, 2B]`` turned by the phase ``kick`` ``[N, B]`` (phase noise,
    as in the phase model)."""
    b = state.shape[1] // 2
    c, s = torch.cos(kick), torch.sin(kick)
    x, y = state[:, :b], state[:, b:]
    return torch.cat([c * x - s * y, s * x + c * y], dim=1)


def _polar(states: Tensor) -> tuple[Tensor, Tensor]:
    """(arg z, |z|) of states ``[..., N, 2B]``, each ``[..., N, B]``."""
    b = states.shape[-1] // 2
    x, y = states[..., :b], states[..., b:]
    return torch.atan2(y, x), torch.sqrt(x * x + y * y)


def _unwrapped(angle: Tensor, theta0: Tensor) -> Tensor:
    """Angles ``[T, N, B]`` (angle 0 at ``theta0``) unwrapped along T."""
    step = torch.diff(angle, dim=0)
    step = torch.remainder(step + math.pi, TWO_PI) - math.pi
    start = theta0.transpose(0, 1)[None]
    return torch.cat([start, start + torch.cumsum(step, dim=0)])


def integrate_envelope(
    theta0: Tensor,
    edges: Tensor,
    k: Tensor,
    delta: Tensor,
    sigma: Tensor,
    cycles_per_segment: float,
    steps_per_segment: int,
    tank: Tank | None = None,
    method: str | ExplicitRK = "rk4",
    noise: float = 0.0,
    generator: torch.Generator | None = None,
    return_trajectory: bool = False,
    *,
    rho: Tensor | None = None,
    pattern: CouplingPattern | None = None,
    checkpoint: bool = False,
    return_amplitude: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Integrate the envelope dynamics over S piecewise-constant segments from free amplitude.

    Arguments as ``oscsim.dynamics.integrate`` (every rate per reference cycle), plus ``tank``
    (default ``Tank()``, the ``lc`` cell) and ``return_amplitude``: also return |z| (amplitude
    over the free amplitude), shaped like the phases.

    Returns:
        Final phases ``[B, N]`` (arg z, in (−π, π]) or the trajectory ``[S·steps + 1, B, N]``
        (unwrapped along time from ``theta0``), and with ``return_amplitude`` the amplitudes.
    """
    tank = tank or shared_tank(Tank.q, Tank.loop_gain)
    stepper, steps, h, pattern = prepare_rollout(
        theta0, edges, k, delta, sigma, rho, cycles_per_segment, steps_per_segment, noise,
        method, pattern,
    )  # fmt: skip
    theta = theta0.transpose(0, 1)
    state = torch.cat([torch.cos(theta), torch.sin(theta)], dim=1).contiguous()
    keep = [state] if return_trajectory else None
    velocities = (
        segment_envelope_drift(
            tank, pattern, k[s], delta[s], sigma[s], None if rho is None else rho[s]
        )
        for s in range(k.shape[0])
    )
    state = rollout_segments(
        state, velocities, stepper, h, steps,
        partial(phase_kicks, noise, h, steps, theta, generator), _rotate, keep, checkpoint,
    )  # fmt: skip
    if keep is not None:
        angle, amplitude = _polar(torch.stack(keep))
        phases, amplitude = _unwrapped(angle, theta0).transpose(1, 2), amplitude.transpose(1, 2)
    else:
        angle, amplitude = _polar(state)
        phases, amplitude = angle.transpose(0, 1), amplitude.transpose(0, 1)
    return (phases, amplitude) if return_amplitude else phases
