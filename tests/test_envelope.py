"""The envelope model against a dense complex reference, the phase model's limit, closed forms
and its own gradients."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from oscsim.dynamics import integrate
from oscsim.envelope import Tank, describing_function, integrate_envelope, shared_tank
from oscsim.errors import OscsimError
from oscsim.graph import GraphSpec, build_graph
from oscsim.model import AISGenerator, ModelConfig
from oscsim.spice.cells import LcCell
from oscsim.spice.plan import CircuitGains, plan_circuit

F64 = torch.float64


def _problem(n: int = 12, e: int = 24, s: int = 2, b: int = 3, scale: float = 1.0, seed: int = 2):
    """A random graph with couplings, detuning, SHIL and ρ of about ``scale`` × trained size."""
    g = torch.Generator().manual_seed(seed)
    pairs = torch.combinations(torch.arange(n), 2)
    edges = pairs[torch.randperm(len(pairs), generator=g)[:e]].T.contiguous()
    k = scale * 0.03 * torch.randn(s, e, generator=g, dtype=F64)
    delta = scale * 0.01 * torch.randn(s, n, generator=g, dtype=F64)
    sigma = scale * 0.02 * torch.rand(s, n, generator=g, dtype=F64)
    rho = scale * 0.01 * torch.randn(s, n, generator=g, dtype=F64)
    theta0 = 2 * math.pi * torch.rand(b, n, generator=g, dtype=F64)
    return theta0, edges, k, delta, sigma, rho


def _dense_reference(theta0, edges, k, delta, sigma, rho, cycles, steps, tank):
    """Complex RK4 with a dense coupling matrix and the describing function by quadrature."""
    n = theta0.shape[1]
    z = np.exp(1j * theta0.numpy())
    u_free, h = tank.free_u, cycles / steps
    for s in range(k.shape[0]):
        mat = np.zeros((n, n))
        mat[edges[0], edges[1]] = k[s].numpy()
        mat[edges[1], edges[0]] = k[s].numpy()
        load = np.abs(mat).sum(1) + np.abs(rho[s].numpy())

        def f(z, s=s, mat=mat, load=load):
            a = np.abs(z)
            gain = math.pi / tank.q * (tank.loop_gain * describing_function(a * u_free) - 1)
            out = gain * z + 2 * math.pi * (1j * delta[s].numpy() * z + sigma[s].numpy() * z.conj())
            return out + 2 * math.pi * (z @ mat.T - load * z + rho[s].numpy())

        for _ in range(steps):
            k1 = f(z)
            k2 = f(z + h / 2 * k1)
            k3 = f(z + h / 2 * k2)
            k4 = f(z + h * k3)
            z = z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return z


def test_describing_function_limits_and_the_lc_cells_free_amplitude() -> None:
    assert describing_function(np.array([0.0]))[0] == 1.0
    u = np.array([1e-3, 0.05])
    assert np.allclose(describing_function(u), 1 - u**2 / 4, atol=1e-8)
    big = np.array([200.0, 1000.0])
    assert np.allclose(describing_function(big) * math.pi * big / 4, 1, rtol=5e-3)
    tank = Tank.from_cell(LcCell())
    assert tank == Tank()
    assert tank.loop_gain * describing_function(tank.free_u) == pytest.approx(1.0, abs=1e-12)
    assert tank.free_u * LcCell().v_lin_v == pytest.approx(0.9957, abs=1e-4)
    with pytest.raises(ValueError, match="loop_gain must exceed 1"):
        Tank(q=10, loop_gain=0.9)


def test_sparse_envelope_equals_the_dense_complex_reference() -> None:
    theta0, edges, k, delta, sigma, rho = _problem(scale=3.0)
    tank = Tank(q=8.0, loop_gain=3.0)
    out, amp = integrate_envelope(
        theta0, edges, k, delta, sigma, 6.0, 48, tank, rho=rho, return_amplitude=True
    )
    z = _dense_reference(theta0, edges, k, delta, sigma, rho, 6.0, 48, tank)
    assert np.abs(amp.numpy() * np.exp(1j * out.numpy()) - z).max() < 1e-6
    assert np.abs(amp.numpy() - 1).max() > 0.05  # strong enough to move the amplitudes


@torch.no_grad()
def test_weak_coupling_converges_to_the_phase_model_and_strong_coupling_does_not() -> None:
    """At the same phase movement (time × rates fixed) the two models part by an angle that
    shrinks in proportion to the rates: the phase model is the envelope's weak-coupling limit."""

    def gap(scale: float) -> tuple[float, float]:
        theta0, edges, k, delta, sigma, rho = _problem(scale=scale)
        cycles = 4.0 / scale
        steps = max(int(2 * cycles), 64)  # the tank's own rate (~π/Q per cycle) needs h ≤ 1/2
        phase = integrate(theta0, edges, k, delta, sigma, cycles, steps, rho=rho)
        env, amp = integrate_envelope(
            theta0, edges, k, delta, sigma, cycles, steps, rho=rho, return_amplitude=True
        )
        d = torch.remainder(env - phase + math.pi, 2 * math.pi) - math.pi
        return math.degrees(d.abs().max().item()), (amp - 1).abs().max().item()

    weak, medium, strong = gap(0.02), gap(0.2), gap(1.0)
    assert weak[0] < 4.0 and weak[1] < 0.06
    assert 6 < medium[0] / weak[0] < 14  # first order in the rates
    assert strong[0] > 90 and strong[1] > 0.5


def test_trajectory_is_unwrapped_from_theta0_and_ends_at_the_final_phases() -> None:
    theta0, edges, k, delta, sigma, rho = _problem()
    traj = integrate_envelope(
        theta0, edges, k, delta, sigma, 4.0, 16, rho=rho, return_trajectory=True
    )
    final = integrate_envelope(theta0, edges, k, delta, sigma, 4.0, 16, rho=rho)
    assert traj.shape == (2 * 16 + 1, *theta0.shape)
    assert torch.equal(traj[0], theta0)
    assert torch.allclose(torch.cos(traj[-1]), torch.cos(final), atol=1e-12)
    assert torch.allclose(torch.sin(traj[-1]), torch.sin(final), atol=1e-12)


def test_pumped_cell_amplitude_and_locking_follow_the_closed_forms() -> None:
    """One cell under a pump σ below threshold: phase locks to 0, and its amplitude sits where
    the tank's net gain equals −2πσ (the pump's gain at θ = 0)."""
    tank, sigma_v = Tank(), 0.02
    theta0 = torch.tensor([[0.4]], dtype=F64)
    no_edges = torch.zeros(2, 0, dtype=torch.long)
    phase, amp = integrate_envelope(
        theta0,
        no_edges,
        torch.zeros(1, 0, dtype=F64),
        torch.zeros(1, 1, dtype=F64),
        torch.full((1, 1), sigma_v, dtype=F64),
        200.0,
        800,
        return_amplitude=True,
    )
    assert abs(phase.item()) < 1e-6
    gain = tank.rates(amp[0])[0].item()
    assert gain == pytest.approx(-2 * math.pi * sigma_v, abs=1e-6)
    assert amp.item() > 1.1  # the pump raises the amplitude (ngspice: A0 / (1 − σ/σ_th) roughly)


def test_gradients_match_finite_differences() -> None:
    theta0, edges, k, delta, sigma, rho = _problem(n=5, e=6, s=2, b=1, scale=2.0)
    inputs = [t.clone().requires_grad_() for t in (theta0, k, delta, sigma, rho)]

    def f(theta0, k, delta, sigma, rho):
        phases, amp = integrate_envelope(
            theta0, edges, k, delta, sigma, 1.0, 3, rho=rho, return_amplitude=True
        )
        return torch.cos(phases), amp

    assert torch.autograd.gradcheck(f, inputs, atol=1e-6)


def test_checkpointed_segments_give_the_same_gradients() -> None:
    theta0, edges, k, delta, sigma, rho = _problem()
    grads = []
    for checkpoint in (False, True):
        kk = k.clone().requires_grad_()
        out = integrate_envelope(
            theta0, edges, kk, delta, sigma, 4.0, 8, rho=rho, checkpoint=checkpoint
        )
        torch.cos(out).sum().backward()
        grads.append(kk.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-12)


def test_noise_is_seeded() -> None:
    theta0, edges, k, delta, sigma, rho = _problem()

    def run(seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return integrate_envelope(
            theta0, edges, k, delta, sigma, 4.0, 8, rho=rho, noise=0.1, generator=g
        )

    assert torch.equal(run(3), run(3))
    assert not torch.allclose(run(3), run(4))


def test_bad_inputs_name_the_argument() -> None:
    theta0, edges, k, delta, sigma, _ = _problem()
    with pytest.raises(ValueError, match="delta must have shape"):
        integrate_envelope(theta0, edges, k, delta[:, :3], sigma, 4.0, 8)
    with pytest.raises(ValueError, match="steps_per_segment"):
        integrate_envelope(theta0, edges, k, delta, sigma, 4.0, 0)


def _tiny_model(**config) -> AISGenerator:
    graph = build_graph(GraphSpec((3, 3), neighbourhood=8))
    return AISGenerator(graph, ModelConfig(cycles_per_segment=4.0, steps_per_segment=8, **config))


def test_an_envelope_model_trains_and_keeps_its_dynamics_in_its_config() -> None:
    model = _tiny_model(dynamics="envelope", k_init_std=0.02)
    phase = _tiny_model(k_init_std=0.02)
    theta0 = model.latent(4, torch.Generator().manual_seed(0))
    images = model(theta0)
    images.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert not torch.allclose(images, phase(theta0))
    again = ModelConfig.from_dict(model.config.to_dict())
    assert again == model.config and again.tank == Tank()
    with pytest.raises(ValueError, match="dynamics must be one of"):
        ModelConfig(dynamics="kuramoto")
    with pytest.raises(ValueError, match="harmonics must be None"):
        ModelConfig(dynamics="envelope", harmonics=((1.0, 0.0), (0.1, 0.0)))


def test_export_refuses_an_envelope_model_on_another_tank_or_time_scale() -> None:
    model = _tiny_model(dynamics="envelope")
    plan_circuit(model)  # the lc cell it was trained for
    other = dataclasses.replace(LcCell(), q=5.0)
    with pytest.raises(OscsimError, match="trained for a tank with Q = 10"):
        plan_circuit(model, cell=other)
    slow = CircuitGains.first_order(LcCell(), time_scale=2.0)
    with pytest.raises(OscsimError, match="time scale 1"):
        plan_circuit(model, gains=slow)


def test_measured_offsets_turn_a_cell_at_its_amplitudes_rate() -> None:
    """A free cell sits at |z| = 1, so it turns at offset(1); a table that is flat at c turns it
    at 2π·c per cycle, one that is zero at 1 not at all."""
    theta0 = torch.tensor([[0.4]], dtype=F64)
    no_edges = torch.zeros(2, 0, dtype=torch.long)
    zeros = torch.zeros(1, 1, dtype=F64)

    def final(offsets) -> float:
        out = integrate_envelope(
            theta0,
            no_edges,
            torch.zeros(1, 0, dtype=F64),
            zeros,
            zeros,
            10.0,
            40,
            Tank(offsets=offsets),
        )
        return out.item()

    assert final(((0.0, 1e-3), (2.0, 1e-3))) == pytest.approx(0.4 + 2 * math.pi * 1e-2, abs=1e-9)
    # the table's grid (|z| steps of 8e-4) smooths the knot at 1: 1e-5 rad over 10 cycles
    assert final(((0.5, 5e-4), (1.0, 0.0))) == pytest.approx(0.4, abs=3e-5)
    assert Tank(offsets=[[0.5, 1e-4], [1, 0]]).offsets == ((0.5, 1e-4), (1.0, 0.0))
    with pytest.raises(ValueError, match="amplitudes >= 0 and increasing"):
        Tank(offsets=((1.0, 0.0), (0.5, 1e-4)))


def test_models_share_one_tank_so_its_tables_are_built_once() -> None:
    """ModelConfig.tank is the same instance for the same cell: the free amplitude and the
    describing-function table (about 0.1 s) are not rebuilt for every rollout."""
    a = ModelConfig(dynamics="envelope").tank
    assert a is ModelConfig(dynamics="envelope").tank is shared_tank(Tank.q, Tank.loop_gain)
    assert a == Tank()
    offsets = ((0.5, 1e-4), (1.0, 0.0))
    b = ModelConfig(dynamics="envelope", tank_offsets=offsets).tank
    assert b is not a and b.offsets == offsets and b is shared_tank(Tank.q, Tank.loop_gain, offsets)
