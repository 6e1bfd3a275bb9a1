"""The AIS phase velocity as one autograd node with an analytic backward.

For phases θ (layout ``[N, B]``), harmonics m with coefficients (a_m, b_m), s = sin mθ,
c = cos mθ, and the symmetric coupling matrix K (values per edge):

    f = δ + Σ_m [ a_m (c ⊙ Ks − s ⊙ Kc) + b_m (c ⊙ Kc + s ⊙ Ks) ] − σ ⊙ sin 2θ
          + ρ ⊙ Σ_m [ −a_m s + b_m c ]

(δ, σ, ρ and K already carry the factor 2π). The last line is ρ·H(0 − θ): coupling to the
reference clock, an oscillator pinned at phase 0. The forward pass runs one sparse product
K @ [s_1..s_M | c_1..c_M] and a few fused element-wise ops; the backward pass runs one sparse
product for dL/dθ and one sampled dense product (SDDMM) for dL/dk, and saves only [s|c] and
[Ks|Kc]: autograd never records the dozen element-wise ops per stage. For H = sin on the CPU
(every training run) the same node runs as fused C++ kernels (``oscsim.kernels``) when they
build: two sweeps over memory per stage instead of a dozen.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import kernels
from .sparse import CouplingPattern, sparse_mm

Coeffs = tuple[tuple[float, ...], tuple[float, ...]]
SINE: Coeffs = ((1.0,), (0.0,))


def _blocks(x: Tensor, b: int, m_max: int) -> tuple[list[Tensor], list[Tensor]]:
    """Split ``[N, 2·M·B]`` columns into the M sine blocks and the M cosine blocks."""
    return (
        [x[:, m * b : (m + 1) * b] for m in range(m_max)],
        [x[:, (m_max + m) * b : (m_max + m + 1) * b] for m in range(m_max)],
    )


def _trig(theta: Tensor, m_max: int) -> Tensor:
    """[sin θ, …, sin Mθ | cos θ, …, cos Mθ] as one ``[N, 2·M·B]`` tensor."""
    n, b = theta.shape
    x = theta.new_empty(n, 2 * m_max * b)
    sines, cosines = _blocks(x, b, m_max)
    for m in range(m_max):
        arg = theta if m == 0 else theta * (m + 1)
        torch.sin(arg, out=sines[m])
        torch.cos(arg, out=cosines[m])
    return x


def _reference_coupling(
    s: list[Tensor], c: list[Tensor], sin_c: tuple[float, ...], cos_c: tuple[float, ...]
) -> Tensor:
    """H(0 − θ) = Σ_m (−a_m sin mθ + b_m cos mθ): the pull of the phase-0 reference clock."""
    out = torch.zeros_like(s[0])
    for m in range(len(sin_c)):
        if sin_c[m]:
            out.add_(s[m], alpha=-sin_c[m])
        if cos_c[m]:
            out.add_(c[m], alpha=cos_c[m])
    return out


class _Drift(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx,
        theta: Tensor,
        k: Tensor,
        delta: Tensor,
        sigma: Tensor,
        rho: Tensor | None,
        pattern: CouplingPattern,
        mat: Tensor,
        coeffs: Coeffs,
    ) -> Tensor:
        sin_c, cos_c = coeffs
        m_max, b = len(sin_c), theta.shape[1]
        x = _trig(theta, m_max)
        y = sparse_mm(mat, x)
        s, c = _blocks(x, b, m_max)
        ks, kc = _blocks(y, b, m_max)
        # −σ sin 2θ = −2σ s₁c₁, folded into the first harmonic's c₁ ⊙ (a₁Ks₁ − 2σ s₁)
        out = torch.addcmul(
            ks[0] * sin_c[0] if sin_c[0] != 1.0 else ks[0], s[0], sigma[:, None], value=-2.0
        )
        out.mul_(c[0]).add_(delta[:, None])
        for m in range(m_max):
            if m > 0 and sin_c[m]:
                out.addcmul_(c[m], ks[m], value=sin_c[m])
            if sin_c[m]:
                out.addcmul_(s[m], kc[m], value=-sin_c[m])
            if cos_c[m]:
                out.addcmul_(c[m], kc[m], value=cos_c[m]).addcmul_(s[m], ks[m], value=cos_c[m])
        if rho is not None:
            out.addcmul_(_reference_coupling(s, c, sin_c, cos_c), rho[:, None])
        ctx.save_for_backward(x, y, sigma, rho)
        ctx.pattern, ctx.mat, ctx.coeffs = pattern, mat, coeffs
        return out

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, ...]:
        x, y, sigma, rho = ctx.saved_tensors
        pattern, mat, (sin_c, cos_c) = ctx.pattern, ctx.mat, ctx.coeffs
        m_max, b = len(sin_c), g.shape[1]
        s, c = _blocks(x, b, m_max)
        ks, kc = _blocks(y, b, m_max)
        # P_m = g(a c + b s), Q_m = g(b c − a s): dT_i/dKs_i and dT_i/dKc_i per harmonic.
        pq = torch.empty_like(x)
        p, q = _blocks(pq, b, m_max)
        direct = torch.zeros_like(g)
        for m in range(m_max):
            a, bb = sin_c[m], cos_c[m]
            torch.mul(c[m], a, out=p[m]).add_(s[m], alpha=bb).mul_(g)
            torch.mul(c[m], bb, out=q[m]).add_(s[m], alpha=-a).mul_(g)
            # ∂T_i/∂θ_i through s_i, c_i: m [a(−s Ks − c Kc) + b(c Ks − s Kc)]
            inner = torch.mul(c[m], ks[m]).mul_(bb).addcmul_(s[m], ks[m], value=-a)
            inner.addcmul_(c[m], kc[m], value=-a).addcmul_(s[m], kc[m], value=-bb)
            direct.add_(inner, alpha=float(m + 1))
        grad_theta = grad_k = grad_delta = grad_sigma = grad_rho = None
        if ctx.needs_input_grad[0]:
            r = sparse_mm(mat, pq)
            rp, rq = _blocks(r, b, m_max)
            grad_theta = direct.mul_(g)
            for m in range(m_max):
                grad_theta.addcmul_(c[m], rp[m], value=float(m + 1))
                grad_theta.addcmul_(s[m], rq[m], value=-float(m + 1))
            cos2 = torch.mul(c[0], c[0]).addcmul_(s[0], s[0], value=-1.0)
            grad_theta.addcmul_(g * cos2, sigma[:, None], value=-2.0)
            if rho is not None:  # d/dθ of ρ Σ_m (−a sin mθ + b cos mθ)
                slope = torch.zeros_like(g)
                for m in range(m_max):
                    slope.add_(c[m], alpha=-(m + 1) * sin_c[m])
                    slope.add_(s[m], alpha=-(m + 1) * cos_c[m])
                grad_theta.addcmul_(g * slope, rho[:, None])
        if ctx.needs_input_grad[1]:
            grad_k = _edge_gradient(pattern, mat, pq, x)
        if ctx.needs_input_grad[2]:
            grad_delta = g.sum(1)
        if ctx.needs_input_grad[3]:
            grad_sigma = -2.0 * (g * s[0] * c[0]).sum(1)
        if ctx.needs_input_grad[4]:
            grad_rho = (g * _reference_coupling(s, c, sin_c, cos_c)).sum(1)
        return grad_theta, grad_k, grad_delta, grad_sigma, grad_rho, None, None, None


class _SineDrift(torch.autograd.Function):
    """The same drift for ideal Kuramoto coupling H = sin (a₁ = 1, no other terms), in about
    half the element-wise passes: the case every training run uses. On the CPU it runs in the
    fused C++ kernels (``oscsim.kernels``) where they are built."""

    @staticmethod
    def forward(
        ctx,
        theta: Tensor,
        k: Tensor,
        delta: Tensor,
        sigma: Tensor,
        rho: Tensor | None,
        pattern: CouplingPattern,
        mat: Tensor,
    ) -> Tensor:
        ctx.pattern, ctx.mat = pattern, mat
        ctx.fused = kernels.supports(theta, mat)
        if ctx.fused:  # one sweep for sin/cos, one for the sparse sums and the velocity
            params = [t if t is None else t.detach().contiguous() for t in (delta, sigma, rho)]
            out, x, y = kernels.sine_drift_forward(theta.detach().contiguous(), mat, *params)
            ctx.save_for_backward(x, y, params[1], params[2])
            return out
        x = _trig(theta, 1)
        y = sparse_mm(mat, x)
        b = theta.shape[1]
        s, c, ks, kc = x[:, :b], x[:, b:], y[:, :b], y[:, b:]
        out = torch.addcmul(ks, s, sigma[:, None], value=-2.0).mul_(c)  # c (Ks − 2σ s)
        out.addcmul_(s, kc, value=-1.0).add_(delta[:, None])  # − s Kc + δ
        if rho is not None:
            out.addcmul_(s, rho[:, None], value=-1.0)  # ρ sin(0 − θ)
        ctx.save_for_backward(x, y, sigma, rho)
        return out

    @staticmethod
    def backward(ctx, g: Tensor) -> tuple[Tensor | None, ...]:
        if ctx.fused:
            return _fused_sine_backward(ctx, g)
        x, y, sigma, rho = ctx.saved_tensors
        pattern, mat, b = ctx.pattern, ctx.mat, g.shape[1]
        s, c, ks, kc = x[:, :b], x[:, b:], y[:, :b], y[:, b:]
        pq = torch.empty_like(x)
        p, q = pq[:, :b], pq[:, b:]
        torch.mul(g, c, out=p)  # P = g cos θ
        torch.mul(g, s, out=q).neg_()  # Q = −g sin θ
        grad_theta = grad_k = grad_delta = grad_sigma = grad_rho = None
        if ctx.needs_input_grad[0]:
            r = sparse_mm(mat, pq)
            # g(−s Ks − c Kc) − 2σ g cos 2θ − ρ g cos θ, then the neighbours' c K(P) − s K(Q)
            grad_theta = torch.mul(q, ks).addcmul_(p, kc, value=-1.0)
            cos2 = torch.mul(p, c).addcmul_(q, s)  # g (c² − s²)
            grad_theta.addcmul_(cos2, sigma[:, None], value=-2.0)
            if rho is not None:
                grad_theta.addcmul_(p, rho[:, None], value=-1.0)
            grad_theta.addcmul_(c, r[:, :b]).addcmul_(s, r[:, b:], value=-1.0)
        if ctx.needs_input_grad[1]:
            grad_k = _edge_gradient(pattern, mat, pq, x)
        if ctx.needs_input_grad[2]:
            grad_delta = g.sum(1)
        if ctx.needs_input_grad[3]:
            grad_sigma = 2.0 * (q * c).sum(1)
        if ctx.needs_input_grad[4]:
            grad_rho = q.sum(1)
        return grad_theta, grad_k, grad_delta, grad_sigma, grad_rho, None, None


def _edge_gradient(pattern: CouplingPattern, mat: Tensor, pq: Tensor, x: Tensor) -> Tensor:
    """dL/dk_e = Σ over both stored entries (i, j), (j, i) of (PQ @ Xᵀ)_ij, sampled (SDDMM)."""
    sampled = torch.sparse.sampled_addmm(mat, pq, x.transpose(0, 1), beta=0.0)
    return pattern.edge_sums(sampled.values())


def _fused_sine_backward(ctx, g: Tensor) -> tuple[Tensor | None, ...]:
    """``_SineDrift.backward`` in the fused C++ CPU kernels (``oscsim.kernels``)."""
    x, y, sigma, rho = ctx.saved_tensors
    needs = tuple(ctx.needs_input_grad[:5])
    grad_theta, entries, grad_delta, grad_sigma, grad_rho = kernels.sine_drift_backward(
        g.contiguous(), x, y, ctx.mat, sigma, rho, needs
    )
    grad_k = None if entries is None else ctx.pattern.edge_sums(entries)
    return grad_theta, grad_k, grad_delta, grad_sigma, grad_rho, None, None


def drift(
    theta: Tensor,
    k: Tensor,
    delta: Tensor,
    sigma: Tensor,
    rho: Tensor | None,
    pattern: CouplingPattern,
    mat: Tensor,
    coeffs: Coeffs,
) -> Tensor:
    """Phase velocity ``[N, B]`` for phases ``theta`` ``[N, B]``.

    Args:
        k: ``[E]`` couplings, delta/sigma/rho: ``[N]``, all pre-multiplied by 2π; ``rho=None``
            leaves the reference-clock coupling out.
        mat: ``pattern.matrix(k)`` (built once per segment by the caller).
        coeffs: (sin, cos) Fourier coefficients of H per harmonic.
    """
    if coeffs == SINE:
        return _SineDrift.apply(theta, k, delta, sigma, rho, pattern, mat)
    return _Drift.apply(theta, k, delta, sigma, rho, pattern, mat, coeffs)
