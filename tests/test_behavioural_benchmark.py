"""benchmarks/behavioural.py: the FLOP count behind the critic's time floor."""

from __future__ import annotations

import torch
from conftest import load_benchmark

from oscsim.critic import Critic, gradient_penalty

behavioural = load_benchmark("behavioural")


def test_flop_count_of_a_matrix_product_and_a_convolution() -> None:
    with behavioural.FlopCount() as counter:
        torch.randn(4, 6) @ torch.randn(6, 5)
    assert counter.flops == 2 * 4 * 6 * 5
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    with behavioural.FlopCount() as counter:
        conv(torch.randn(2, 3, 5, 5))
    assert counter.flops == 2 * (2 * 5 * 5) * 8 * (3 * 3 * 3)


def test_flop_count_sees_the_gradient_penalty_double_backward() -> None:
    """The penalty's create_graph backward and the loss backward through it are counted (torch's
    FlopCounterMode refuses autograd.grad through a leaf)."""
    critic = Critic((8, 8), width=4)
    real, fake, eps = torch.rand(3, 8, 8), torch.rand(3, 8, 8), torch.rand(3)
    with behavioural.FlopCount() as forward:
        critic(real)
    with behavioural.FlopCount() as penalty:
        gradient_penalty(critic, real, fake, eps).backward()
    assert penalty.flops > 3 * forward.flops > 0
