"""The fused C++ CPU kernels (sine drift, envelope drift) against the plain torch paths they
replace."""

from __future__ import annotations

import pytest
import torch

from oscsim import kernels
from oscsim.drift import SINE, drift
from oscsim.dynamics import integrate
from oscsim.envelope import Tank, integrate_envelope, segment_envelope_drift
from oscsim.sparse import CouplingPattern

F64 = torch.float64


def _problem(dtype: torch.dtype, n: int = 40, e: int = 90, b: int = 5, seed: int = 2):
    """Random phases [N, B], a random graph's pattern and matrix, and per-node parameters."""
    g = torch.Generator().manual_seed(seed)
    pairs = torch.combinations(torch.arange(n), 2)
    edges = pairs[torch.randperm(len(pairs), generator=g)[:e]].T.contiguous()
    pattern = CouplingPattern(edges, n)
    k = (0.6 * torch.randn(e, generator=g, dtype=F64)).to(dtype)
    theta = (20 * torch.rand(n, b, generator=g, dtype=F64) - 10).to(dtype)
    delta, sigma, rho = (0.3 * torch.randn(3, n, generator=g, dtype=F64)).to(dtype)
    return theta, k, delta, sigma, rho, pattern


def _drift_and_grads(theta, k, delta, sigma, rho, pattern, use_kernels: bool):
    """Drift values and the gradients of a fixed random weighting w.r.t. all five inputs."""
    leaves = [t.clone().requires_grad_() for t in (theta, k, delta, sigma)]
    leaves.append(None if rho is None else rho.clone().requires_grad_())
    mat = pattern.matrix(leaves[1])
    w = torch.randn(theta.shape, generator=torch.Generator().manual_seed(5), dtype=F64)
    if use_kernels:
        out = drift(*leaves, pattern, mat, SINE)
    else:
        with kernels.disabled():
            out = drift(*leaves, pattern, mat, SINE)
    (out * w.to(out.dtype)).sum().backward()
    return out.detach(), [None if t is None else t.grad for t in leaves]


def test_kernels_build_on_this_machine() -> None:
    """g++ is part of the set-up (scripts/install-system-deps.sh): the fast path must exist."""
    assert kernels.available(), kernels.why_unavailable()


@pytest.mark.parametrize("with_rho", [True, False])
def test_float64_values_and_gradients_equal_the_torch_path(with_rho: bool) -> None:
    theta, k, delta, sigma, rho, pattern = _problem(F64)
    rho = rho if with_rho else None
    fast = _drift_and_grads(theta, k, delta, sigma, rho, pattern, True)
    ref = _drift_and_grads(theta, k, delta, sigma, rho, pattern, False)
    _assert_equal_to_float64_rounding(fast, ref, ("theta", "k", "delta", "sigma", "rho"))


def _assert_equal_to_float64_rounding(fast, ref, names: tuple[str, ...]) -> None:
    """(values, gradients) of the kernels equal the torch path's within float64 rounding."""
    torch.testing.assert_close(fast[0], ref[0], rtol=0, atol=1e-13)
    for name, got, want in zip(names, fast[1], ref[1], strict=True):
        if want is None:
            assert got is None
            continue
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12, msg=f"d/d{name}")


def test_float32_is_as_accurate_as_the_torch_path() -> None:
    """Both float32 paths against the float64 drift of the same (rounded) inputs."""
    inputs32 = _problem(torch.float32)
    exact, exact_grads = _drift_and_grads(
        *(t.double() if isinstance(t, torch.Tensor) else t for t in inputs32), True
    )
    for use in (True, False):
        out, grads = _drift_and_grads(*inputs32, use)
        assert (out.double() - exact).abs().max() < 2e-5 * exact.abs().max()
        for got, want in zip(grads, exact_grads, strict=True):
            assert (got.double() - want).abs().max() < 2e-5 * want.abs().max()


def test_float32_sine_and_cosine_within_one_ulp() -> None:
    """The kernel's own float32 sin/cos over ±60 rad (unwrapped phases reach tens of rad)."""
    theta = torch.linspace(-60, 60, 100_001, dtype=F64).float()[None].contiguous()
    pattern = CouplingPattern(torch.zeros(2, 0, dtype=torch.long), 1)
    zero = torch.zeros(1)
    _, x, _ = kernels.sine_drift_forward(theta, pattern.matrix(torch.zeros(0)), zero, zero, zero)
    b, exact = theta.shape[1], theta.double()
    assert (x[:, :b].double() - exact.sin()).abs().max() < 1.2e-7
    assert (x[:, b:].double() - exact.cos()).abs().max() < 1.2e-7


def test_results_do_not_depend_on_the_thread_count() -> None:
    theta, k, delta, sigma, rho, pattern = _problem(torch.float32, n=300, e=1500, b=16)
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(_drift_and_grads(theta, k, delta, sigma, rho, pattern, True))
    finally:
        torch.set_num_threads(before)
    (out1, grads1), (out2, grads2) = results
    assert torch.equal(out1, out2)
    assert all(torch.equal(a, b) for a, b in zip(grads1, grads2, strict=True))


def test_rollout_gradcheck_through_the_kernels() -> None:
    theta, k, delta, sigma, rho, pattern = _problem(F64, n=6, e=8, b=2)
    s = 2
    inputs = (
        theta.T.contiguous(),
        0.3 * k.repeat(s, 1),
        delta.repeat(s, 1),
        sigma.repeat(s, 1),
        rho.repeat(s, 1),
    )
    inputs = tuple(t.clone().requires_grad_() for t in inputs)

    def fn(th, kk, dd, ss, rr):
        return integrate(th, pattern.edges, kk, dd, ss, 1.0, 3, rho=rr, pattern=pattern)

    assert torch.autograd.gradcheck(fn, inputs)


def test_disabled_and_environment_switch_fall_back_to_torch(monkeypatch) -> None:
    with kernels.disabled():
        assert not kernels.available()
        assert "switched off" in kernels.why_unavailable()
    assert kernels.available()
    monkeypatch.setenv("OSCSIM_CPU_KERNELS", "0")
    assert not kernels.available()
    theta = torch.zeros(3, 2)
    mat = CouplingPattern(torch.tensor([[0], [1]]), 3).matrix(torch.ones(1))
    assert not kernels.supports(theta, mat)


def test_a_missing_compiler_is_reported_not_raised(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(kernels, "_state", {"lib": None, "why": None, "tried": False, "off": False})
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    assert not kernels.available()
    assert "no C++ compiler" in kernels.why_unavailable()
    assert "apt-get install g++" in kernels.why_unavailable()
    theta, k, delta, sigma, rho, pattern = _problem(F64, n=5, e=6, b=2)
    out = drift(theta, k, delta, sigma, rho, pattern, pattern.matrix(k), SINE)
    with kernels.disabled():
        assert torch.equal(
            out, drift(theta, k, delta, sigma, rho, pattern, pattern.matrix(k), SINE)
        )


def test_a_failing_build_names_the_source(monkeypatch, tmp_path) -> None:
    """A compiler that rejects the source (here: /bin/false) leaves a one-line reason."""
    monkeypatch.setattr(kernels, "_state", {"lib": None, "why": None, "tried": False, "off": False})
    monkeypatch.setenv("OSCSIM_CACHE", str(tmp_path))
    monkeypatch.setenv("CXX", "false")
    assert not kernels.available()
    assert "sine_drift.cpp" in kernels.why_unavailable()
    assert not list(tmp_path.rglob("*.so"))


@pytest.mark.parametrize("method", ["rk4", "heun", "euler"])
def test_no_grad_rollout_in_whole_fused_steps_equals_the_torch_path(method: str) -> None:
    """Without autograd whole RK steps run in the kernels, in place on a private copy."""
    theta, k, delta, sigma, rho, pattern = _problem(F64, n=30, e=70, b=3)
    s = 3
    params = (0.2 * k.repeat(s, 1), delta.repeat(s, 1), sigma.repeat(s, 1))
    theta0 = theta.T.contiguous()
    kwargs = {"method": method, "rho": rho.repeat(s, 1), "pattern": pattern}
    before = theta0.clone()
    with torch.no_grad():
        fused = integrate(theta0, pattern.edges, *params, 2.0, 10, **kwargs)
        traj = integrate(theta0, pattern.edges, *params, 2.0, 10, return_trajectory=True, **kwargs)
        one = integrate(theta0[:1], pattern.edges, *params, 2.0, 10, **kwargs)
        noisy = integrate(
            theta0, pattern.edges, *params, 2.0, 10, noise=0.1,
            generator=torch.Generator().manual_seed(1), **kwargs,
        )  # fmt: skip
        with kernels.disabled():
            ref = integrate(theta0, pattern.edges, *params, 2.0, 10, **kwargs)
            ref_traj = integrate(
                theta0, pattern.edges, *params, 2.0, 10, return_trajectory=True, **kwargs
            )
            ref_noisy = integrate(
                theta0, pattern.edges, *params, 2.0, 10, noise=0.1,
                generator=torch.Generator().manual_seed(1), **kwargs,
            )  # fmt: skip
    assert torch.equal(theta0, before)  # the caller's phases are never written
    torch.testing.assert_close(fused, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(traj, ref_traj, rtol=0, atol=1e-12)
    torch.testing.assert_close(one, ref[:1], rtol=0, atol=1e-12)
    torch.testing.assert_close(noisy, ref_noisy, rtol=0, atol=1e-12)
    assert traj.shape == (31, 3, 30) and torch.equal(traj[-1], fused)


OFFSETS = ((0.2, 1e-3), (0.6, -2e-4), (1.0, 0.0), (1.3, 3e-4))


def _envelope_and_grads(tank: Tank, dtype: torch.dtype, with_rho: bool, use_kernels: bool):
    """Envelope velocity of random states (some amplitudes past the table's end, where n
    follows the hard-limit asymptote, some near 0) and the gradients of a fixed weighting."""
    _, k, delta, sigma, rho, pattern = _problem(F64, n=40, e=90, b=6)
    g = torch.Generator().manual_seed(3)
    state = torch.randn(40, 12, generator=g, dtype=F64) * torch.rand(40, 1, generator=g) * 2
    state[0, :3] *= 40.0  # |z| · u* beyond the table
    state[1, :2] *= 1e-4
    leaves = [t.to(dtype).clone().requires_grad_() for t in (state, 0.05 * k, delta, sigma)]
    leaves.append(rho.to(dtype).clone().requires_grad_() if with_rho else None)
    f = segment_envelope_drift(tank, pattern, *leaves[1:])
    w = torch.randn(state.shape, generator=torch.Generator().manual_seed(5), dtype=F64).to(dtype)
    if use_kernels:
        out = f(leaves[0])
    else:
        with kernels.disabled():
            out = f(leaves[0])
    (out * w).sum().backward()
    return out.detach(), [None if t is None else t.grad for t in leaves]


@pytest.mark.parametrize("offsets", [(), OFFSETS], ids=["no-offsets", "offsets"])
@pytest.mark.parametrize("with_rho", [True, False])
def test_envelope_velocity_and_gradients_equal_the_torch_path(offsets, with_rho: bool) -> None:
    tank = Tank(offsets=offsets)
    fast = _envelope_and_grads(tank, F64, with_rho, True)
    ref = _envelope_and_grads(tank, F64, with_rho, False)
    _assert_equal_to_float64_rounding(fast, ref, ("z", "k", "delta", "sigma", "rho"))


def test_envelope_float32_is_as_accurate_as_the_torch_path() -> None:
    tank = Tank(offsets=OFFSETS)
    exact, exact_grads = _envelope_and_grads(tank, F64, True, True)
    for use in (True, False):
        out, grads = _envelope_and_grads(tank, torch.float32, True, use)
        assert (out.double() - exact).abs().max() < 2e-5 * exact.abs().max()
        for got, want in zip(grads, exact_grads, strict=True):
            assert (got.double() - want).abs().max() < 2e-5 * want.abs().max()


@pytest.mark.parametrize("method", ["rk4", "heun", "euler"])
def test_no_grad_envelope_rollout_in_whole_fused_steps_equals_the_torch_path(method) -> None:
    theta, k, delta, sigma, rho, pattern = _problem(F64, n=30, e=70, b=3)
    s, tank = 3, Tank(offsets=OFFSETS)
    params = (0.05 * k.repeat(s, 1), 0.1 * delta.repeat(s, 1), 0.1 * sigma.repeat(s, 1))
    theta0 = theta.T.contiguous()
    kwargs = {"method": method, "rho": 0.1 * rho.repeat(s, 1), "pattern": pattern}

    def run(**extra):
        return integrate_envelope(
            theta0, pattern.edges, *params, 2.0, 10, tank, return_amplitude=True,
            **kwargs, **extra,
        )  # fmt: skip

    def noisy():
        return run(noise=0.1, generator=torch.Generator().manual_seed(1))

    before = theta0.clone()
    with torch.no_grad():
        fused, traj, kicked = run(), run(return_trajectory=True), noisy()
        with kernels.disabled():
            ref, ref_traj, ref_kicked = run(), run(return_trajectory=True), noisy()
    assert torch.equal(theta0, before)
    for got, want in ((fused, ref), (traj, ref_traj), (kicked, ref_kicked)):
        for a, b in zip(got, want, strict=True):  # phases, amplitudes
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    assert traj[0].shape == (31, 3, 30)


def test_envelope_results_do_not_depend_on_the_thread_count() -> None:
    tank = Tank(offsets=OFFSETS)
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(_envelope_and_grads(tank, torch.float32, True, True))
    finally:
        torch.set_num_threads(before)
    (out1, grads1), (out2, grads2) = results
    assert torch.equal(out1, out2)
    assert all(torch.equal(a, b) for a, b in zip(grads1, grads2, strict=True))
