"""The AIS generator module and its model file."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from oscsim.dynamics import integrate
from oscsim.errors import ModelFileError
from oscsim.graph import GraphSpec, build_graph
from oscsim.model import AISGenerator, ModelConfig, coupling_mismatched, detuned
from oscsim.modelfile import (
    PRETRAINED,
    average_model_files,
    load_model,
    pretrained_names,
    save_model,
)

TINY = GraphSpec(image_size=(4, 4), neighbourhood=4, hidden_stride=2, hidden_patch=2)
FAST = ModelConfig(segments=2, cycles_per_segment=2.0, steps_per_segment=4)


@pytest.fixture
def model() -> AISGenerator:
    return AISGenerator(build_graph(TINY), FAST, seed=3)


def test_forward_shapes_and_range(model: AISGenerator) -> None:
    images = model.sample(5, torch.Generator().manual_seed(0))
    assert images.shape == (5, 4, 4)
    assert images.min() >= 0 and images.max() <= 1


def test_readout_maps_phase_to_pixel_by_visible_index(model: AISGenerator) -> None:
    theta = torch.zeros(1, model.n_osc)
    theta[0, model.visible[5]] = math.pi
    pixels = model.readout(theta)
    assert pixels[0, 1, 1] == 1.0 and pixels.sum() == 1.0


def test_forward_equals_functional_core_with_code_times_step(model: AISGenerator) -> None:
    theta0 = model.latent(3, torch.Generator().manual_seed(1))
    codes, steps = model.to_codes(), model.steps()
    expected = integrate(
        theta0,
        model.edges,
        codes["k"] * steps["k"],
        codes["delta"] * steps["delta"],
        codes["sigma"] * steps["sigma"],
        2.0,
        4,
    )
    assert torch.equal(model.phases(theta0), expected)


def test_codes_lie_in_hardware_ranges(model: AISGenerator) -> None:
    codes = model.to_codes()
    assert codes["k"].abs().max() <= 7
    assert codes["delta"].min() >= -8 and codes["delta"].max() <= 7
    assert codes["sigma"].min() >= 0 and codes["sigma"].max() <= 15
    assert codes["k"].shape == (2, model.edges.shape[1])


def test_training_step_moves_parameters_and_steps(model: AISGenerator) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss = model(model.latent(4, torch.Generator().manual_seed(0))).mean()
    loss.backward()
    opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert {"k", "sigma", "quantizers.k.step", "quantizers.sigma.step"} <= changed


def test_float_model_has_no_codes() -> None:
    model = AISGenerator(build_graph(TINY), ModelConfig(segments=2, bits=None), seed=0)
    with pytest.raises(ValueError, match="float parameters"):
        model.to_codes()
    assert model.effective()["sigma"].min() >= 0


def test_config_validates_itself() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        ModelConfig(method="dopri5")
    with pytest.raises(ValueError, match="one value per segment"):
        ModelConfig(segments=3, sigma_init=(0.1, 0.2))
    with pytest.raises(ValueError, match="bits"):
        ModelConfig(bits=12)
    with pytest.raises(ValueError, match="unknown model config keys"):
        ModelConfig.from_dict({"segmentz": 3})


def test_model_file_round_trip(model: AISGenerator, tmp_path) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    path = save_model(tmp_path / "m.pt", model, optimizer=opt.state_dict(), train_state={"step": 7})
    loaded = load_model(path)
    theta0 = model.latent(2, torch.Generator().manual_seed(5))
    assert torch.equal(loaded.model(theta0), model(theta0))
    assert loaded.train_state == {"step": 7}
    assert loaded.versions["torch"] == torch.__version__
    for name, codes in model.to_codes().items():
        assert torch.equal(loaded.model.to_codes()[name], codes)
    assert list(tmp_path.iterdir()) == [path]  # no temp files left behind


def test_model_file_errors(model: AISGenerator, tmp_path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ModelFileError, match="not a readable oscsim model file"):
        load_model(junk)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ModelFileError, match="not an oscsim model file"):
        load_model(foreign)
    good = save_model(tmp_path / "good.pt", model)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="not a readable"):
        load_model(truncated)
    content = torch.load(good, weights_only=True)
    content["codes"]["k"][0, 0] += 1
    torch.save(content, tmp_path / "tampered.pt")
    with pytest.raises(ModelFileError, match="disagree"):
        load_model(tmp_path / "tampered.pt")
    content["format_version"] = 99
    torch.save(content, tmp_path / "newer.pt")
    with pytest.raises(ModelFileError, match="format version 99; this oscsim reads version 1"):
        load_model(tmp_path / "newer.pt")


def test_average_of_model_files_is_the_mean_of_their_parameters(
    model: AISGenerator, tmp_path
) -> None:
    first = save_model(tmp_path / "a.pt", model, train_state={"step": 1})
    with torch.no_grad():
        for value in model.parameters():
            value.mul_(3.0)
    second = save_model(tmp_path / "b.pt", model, train_state={"step": 2})
    averaged = average_model_files([first, second])
    for name, value in averaged.model.named_parameters():
        assert torch.allclose(value, 2.0 * dict(load_model(first).model.named_parameters())[name])
    assert averaged.train_state == {"step": 2, "averaged": [str(first), str(second)]}
    again = load_model(save_model(tmp_path / "avg.pt", averaged.model))
    assert all(
        torch.equal(again.model.to_codes()[k], v) for k, v in averaged.model.to_codes().items()
    )
    single = average_model_files([first]).model.state_dict()
    assert all(torch.equal(v, single[k]) for k, v in load_model(first).model.state_dict().items())


def test_average_of_model_files_refuses_different_models(model: AISGenerator, tmp_path) -> None:
    first = save_model(tmp_path / "a.pt", model)
    other = AISGenerator(build_graph(TINY), dataclasses.replace(FAST, segments=3), seed=3)
    second = save_model(tmp_path / "b.pt", other)
    with pytest.raises(ModelFileError, match="differ in their config"):
        average_model_files([first, second])
    with pytest.raises(ModelFileError, match="at least one"):
        average_model_files([])


def test_model_moves_between_dtypes(model: AISGenerator) -> None:
    model64 = model.double()
    out = model64(model64.latent(2, torch.Generator().manual_seed(0)))
    assert out.dtype == torch.float64


def test_without_reference_injection_images_come_in_inverted_pairs() -> None:
    """θ → θ + π leaves every term but ρ unchanged and inverts the readout (why ρ exists)."""
    graph = build_graph(TINY)
    theta0 = 2 * math.pi * torch.rand(4, graph.number_of_nodes(), dtype=torch.float64)
    plain = AISGenerator(graph, ModelConfig(segments=2, reference_injection=False), seed=1)
    plain = plain.double()
    assert plain.param_names == ("k", "delta", "sigma")
    ones = torch.ones(4, 4, 4, dtype=torch.float64)
    assert torch.allclose(plain(theta0) + plain(theta0 + math.pi), ones)
    biased = AISGenerator(graph, ModelConfig(segments=2), seed=1).double()
    with torch.no_grad():
        biased.rho.fill_(0.01)
    assert biased.to_codes()["rho"].min() > 0
    pairs = biased(theta0) + biased(theta0 + math.pi)
    assert (pairs - 1).abs().max() > 0.1


def test_unknown_model_name_lists_the_shipped_ones(tmp_path) -> None:
    with pytest.raises(ModelFileError, match="not a shipped model"):
        load_model("no-such-model")


@pytest.mark.parametrize("bits", [4, None])
def test_sigma_limit_bounds_shil_strength(bits: int | None) -> None:
    config = ModelConfig(sigma_max=0.02, sigma_limit=0.025, bits=bits)
    model = AISGenerator(build_graph(GraphSpec((3, 3))), config, seed=0)
    with torch.no_grad():
        model.sigma.fill_(1.0)  # far beyond the limit
        if bits is not None:
            model.quantizers["sigma"].step.fill_(1.0)
    assert model.effective()["sigma"].max().item() == pytest.approx(0.025)
    with pytest.raises(ValueError, match="sigma_limit"):
        ModelConfig(sigma_max=0.03, sigma_limit=0.025)


@pytest.mark.parametrize("noise", [{"detuning_noise": 0.01}, {"coupling_noise": 0.1}])
def test_mismatch_noise_acts_in_training_mode_only(noise: dict[str, float]) -> None:
    graph = build_graph(GraphSpec((3, 3)))
    config = ModelConfig(segments=2, cycles_per_segment=4.0, steps_per_segment=8, k_init_std=0.02)
    plain = AISGenerator(graph, config, seed=1)
    noisy = AISGenerator(graph, dataclasses.replace(config, **noise), seed=1)
    theta0 = plain.latent(4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        noisy.eval()
        assert torch.equal(noisy(theta0), plain.eval()(theta0))
        noisy.train()
        first, second = noisy(theta0), noisy(theta0)
    assert not torch.allclose(first, second)  # a new mismatch pattern every call
    (name,) = noise
    with pytest.raises(ValueError, match=f"{name} must be >= 0"):
        ModelConfig(**{name: -1.0})


def test_detuning_noise_is_one_static_detuning_per_oscillator() -> None:
    """With every parameter zero the phases move by 2π·d·T exactly, d the drawn detuning."""
    graph = build_graph(GraphSpec((3, 3)))
    config = ModelConfig(segments=2, cycles_per_segment=4.0, steps_per_segment=8)
    noisy = AISGenerator(graph, dataclasses.replace(config, detuning_noise=0.01), seed=1)
    theta0 = noisy.latent(4, torch.Generator().manual_seed(0))
    for name in noisy.param_names:
        with torch.no_grad():
            getattr(noisy, name).zero_()
    gen = torch.Generator().manual_seed(5)
    moved = noisy.phases(theta0, noise_generator=gen)
    d = 0.01 * torch.randn(noisy.n_osc, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(moved - theta0, 2 * math.pi * d * 8.0, atol=1e-5)


def test_coupling_mismatch_scales_each_edge_and_nothing_else() -> None:
    params = {"k": torch.ones(2, 5), "delta": torch.zeros(2, 3)}
    moved = coupling_mismatched(params, 0.1, torch.Generator().manual_seed(2))
    xi = torch.randn(5, generator=torch.Generator().manual_seed(2))
    assert (
        torch.equal(moved["k"], (1 + 0.1 * xi).expand(2, 5)) and moved["delta"] is params["delta"]
    )
    zero = {"k": torch.zeros(2, 5)}  # a relative error of nothing is nothing
    assert torch.equal(coupling_mismatched(zero, 0.5)["k"], zero["k"])


@pytest.mark.parametrize(
    ("name", "side"),
    [
        ("demo", 14),
        ("mnist", 28),
        ("fashion", 28),
        ("mnist-ema", 28),
        ("mnist-ema-5600", 28),
        ("fashion-ema", 28),
        ("mnist-offsets", 28),
        ("mnist-offsets-5900", 28),
        ("fashion-offsets", 28),
        ("fashion-offsets-5300", 28),
        ("fashion-offsets-ms-6300", 28),
    ],
)
def test_shipped_models_load_by_name_with_their_quality(name: str, side: int) -> None:
    assert name in pretrained_names()
    model = load_model(name).model
    assert model.config.bits == 4 and model.image_shape == (side, side)
    images = model.sample(2, torch.Generator().manual_seed(0))
    assert images.shape == (2, side, side) and 0.0 <= images.min() <= images.max() <= 1.0
    record = json.loads((PRETRAINED / f"{name}.json").read_text())
    assert math.isfinite(record["quality"]["fid"]) and record["quality"]["n_samples"] >= 5000
    # the -offsets models were trained with their circuit's measured cell offsets, and keep them
    assert bool(model.config.tank_offsets) == ("-offsets" in name)


def test_detuned_adds_one_static_pattern_to_delta_only() -> None:
    params = {"k": torch.zeros(2, 5), "delta": torch.ones(2, 3, dtype=torch.float64)}
    moved = detuned(params, 0.01, torch.Generator().manual_seed(4))
    xi = torch.randn(3, generator=torch.Generator().manual_seed(4)).double()
    assert moved["k"] is params["k"] and torch.equal(params["delta"], torch.ones(2, 3))
    assert moved["delta"].dtype == torch.float64
    assert torch.allclose(moved["delta"], 1.0 + 0.01 * xi.expand(2, 3))


def test_replaced_keeps_the_parameters_and_changes_only_the_named_fields() -> None:
    config = ModelConfig(segments=2, cycles_per_segment=1.0, steps_per_segment=2, bits=4)
    model = AISGenerator(build_graph("demo"), config, seed=0).eval()
    finer = model.replaced(steps_per_segment=8)
    assert finer.config == dataclasses.replace(config, steps_per_segment=8) and not finer.training
    envelope = model.as_envelope()
    assert envelope.config.dynamics == "envelope" and envelope.config.segments == 2
    for twin in (finer, envelope):
        assert all(
            torch.equal(a, b) for a, b in zip(twin.parameters(), model.parameters(), strict=True)
        )
