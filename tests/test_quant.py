"""Integer code formats, straight-through rounding and learned step size."""

from __future__ import annotations

import pytest
import torch

from oscsim.quant import CodeFormat, LsqQuantizer, codes_of


@pytest.mark.parametrize(
    ("bits", "kind", "lo", "hi"),
    [
        (4, "sign-magnitude", -7, 7),
        (4, "twos-complement", -8, 7),
        (4, "unsigned", 0, 15),
        (2, "sign-magnitude", -1, 1),
        (8, "unsigned", 0, 255),
        (3, "twos-complement", -4, 3),
    ],
)
def test_code_ranges(bits: int, kind: str, lo: int, hi: int) -> None:
    fmt = CodeFormat(bits, kind)
    assert (fmt.qmin, fmt.qmax) == (lo, hi)


@pytest.mark.parametrize("bad", [1, 9, 4.0, True])
def test_bits_out_of_range_rejected(bad) -> None:
    with pytest.raises(ValueError, match="bits must be an integer from 2 to 8"):
        CodeFormat(bad, "unsigned")


def test_unknown_kind_rejected() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        CodeFormat(4, "gray")


@pytest.mark.parametrize("kind", ["sign-magnitude", "twos-complement", "unsigned"])
def test_forward_is_exactly_code_times_step(kind: str) -> None:
    q = LsqQuantizer(CodeFormat(4, kind), init_max=0.1)
    x = 0.2 * torch.randn(1000)
    codes = q.codes(x)
    assert codes.dtype == torch.int64
    assert codes.min() >= q.fmt.qmin and codes.max() <= q.fmt.qmax
    assert torch.equal(q(x), codes.float() * q.positive_step().detach())
    # every representable value is reachable and nothing else is produced
    assert set(torch.unique(codes).tolist()) <= set(range(q.fmt.qmin, q.fmt.qmax + 1))


def test_straight_through_gradient_inside_range_only() -> None:
    q = LsqQuantizer(CodeFormat(4, "sign-magnitude"), init_max=0.7)  # step 0.1
    x = torch.tensor([0.04, 0.26, -0.5, 0.9, -2.0], requires_grad=True)
    q(x).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_step_gradient_is_lsq() -> None:
    fmt = CodeFormat(4, "sign-magnitude")
    q = LsqQuantizer(fmt, init_max=0.7)
    x = torch.tensor([0.04, 0.26, 0.9])
    q(x).sum().backward()
    s = 0.1
    expected = (round(0.04 / s) - 0.04 / s) + (round(0.26 / s) - 0.26 / s) + fmt.qmax
    scale = 1.0 / (3 * fmt.qmax) ** 0.5
    assert q.step.grad.item() == pytest.approx(expected * scale, rel=1e-5)


def test_learned_step_fits_a_distribution() -> None:
    torch.manual_seed(0)
    x = 0.05 * torch.randn(4000)
    q = LsqQuantizer(CodeFormat(4, "sign-magnitude"), init_max=1.0)
    opt = torch.optim.Adam(q.parameters(), lr=0.01)
    before = (q(x) - x).pow(2).mean().item()
    for _ in range(200):
        opt.zero_grad()
        (q(x) - x).pow(2).mean().backward()
        opt.step()
    after = (q(x) - x).pow(2).mean().item()
    assert after < 0.1 * before


def test_codes_of_clamps() -> None:
    fmt = CodeFormat(3, "unsigned")
    assert codes_of(torch.tensor([-1.0, 0.26, 100.0]), 0.1, fmt).tolist() == [0, 3, 7]


def test_bad_init_max() -> None:
    with pytest.raises(ValueError, match="init_max"):
        LsqQuantizer(CodeFormat(4, "unsigned"), init_max=0.0)


def test_limit_caps_the_learned_step() -> None:
    q = LsqQuantizer(CodeFormat(4, "unsigned"), init_max=0.015, limit=0.025)
    opt = torch.optim.SGD(q.parameters(), lr=0.01)
    x = torch.full((100,), 1.0)  # far above the range: LSQ pushes the step up
    for _ in range(50):
        opt.zero_grad()
        q(x).sum().neg().backward()
        opt.step()
    assert q.step.item() > 0.025 / 15  # the raw parameter grew ...
    assert q.positive_step().item() == pytest.approx(0.025 / 15)  # ... the step did not
    assert q(x).max().item() == pytest.approx(0.025)
    with pytest.raises(ValueError, match="limit"):
        LsqQuantizer(CodeFormat(4, "unsigned"), init_max=0.03, limit=0.025)
