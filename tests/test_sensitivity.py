"""The model's agreement with a perturbed copy of itself (the ceiling of circuit fidelity)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import load_benchmark

from oscsim.errors import OscsimError
from oscsim.graph import GraphSpec, build_graph
from oscsim.model import AISGenerator, ModelConfig
from oscsim.modelfile import save_model
from oscsim.sensitivity import KINDS, latent_sensitivity, perturbed_agreement


def _model() -> AISGenerator:
    """A 4x4 4-bit model with strong random couplings and some SHIL (2 segments of 8 cycles)."""
    config = ModelConfig(segments=2, cycles_per_segment=8.0, steps_per_segment=16, k_init_std=0.02)
    model = AISGenerator(build_graph(GraphSpec((4, 4), hidden_stride=2)), config, seed=3)
    with torch.no_grad():
        model.sigma[1].fill_(0.02)
    return model


@pytest.mark.parametrize("kind", KINDS)
def test_no_perturbation_agrees_exactly(kind: str) -> None:
    row = perturbed_agreement(_model(), kind, 0.0, n=4)
    assert row["sign_agreement"] == 1.0 and row["pixel_mae"] == 0.0
    assert row["boundary_divergence_deg"] == [0.0, 0.0]
    assert row["kind"] == kind and row["n"] == 4 and "torch" in row["versions"]


@pytest.mark.parametrize(
    ("kind", "small", "large"),
    [
        ("phase", 1e-3, 0.5),
        ("detuning", 1e-5, 0.02),
        ("coupling", 1e-3, 0.5),
        ("coupling-gain", 1e-3, 0.5),
    ],
)
def test_larger_perturbations_move_the_images_more(kind: str, small: float, large: float) -> None:
    model = _model()
    a, b = (perturbed_agreement(model, kind, size, n=8) for size in (small, large))
    assert 0.0 < a["boundary_divergence_deg"][0] < b["boundary_divergence_deg"][0]
    assert a["pixel_mae"] < b["pixel_mae"]
    assert a["sign_agreement"] >= b["sign_agreement"]
    assert len(a["boundary_divergence_deg"]) == model.config.segments


def test_phase_perturbation_of_size_eps_starts_at_eps() -> None:
    """With every parameter zero the phases do not move: a θ(0) perturbation of std ε
    stays ε RMS (0.573° for 0.01 rad), so the divergence is the phase error itself."""
    model = _model()
    with torch.no_grad():
        for name in model.param_names:
            getattr(model, name).zero_()
    row = perturbed_agreement(model, "phase", 0.01, n=64)
    assert row["boundary_divergence_deg"][0] == pytest.approx(0.573, rel=0.05)


@pytest.mark.parametrize("kind", ["coupling", "coupling-gain"])
def test_coupling_perturbations_scale_k_only(kind: str) -> None:
    """They move a coupled model's images, and leave those of an uncoupled one (same δ, σ, ρ)
    exactly where they were."""
    model = _model()
    assert perturbed_agreement(model, kind, 0.5, n=8)["pixel_mae"] > 0.0
    with torch.no_grad():
        model.k.zero_()
    assert perturbed_agreement(model, kind, 0.5, n=8)["pixel_mae"] == 0.0


def test_bad_requests_are_clear_errors() -> None:
    with pytest.raises(OscsimError, match="unknown perturbation 'thermal'"):
        perturbed_agreement(_model(), "thermal", 0.1)
    with pytest.raises(OscsimError, match="phase perturbation must be a finite number >= 0"):
        perturbed_agreement(_model(), "phase", -1.0)
    with pytest.raises(OscsimError, match=r"coupling-gain perturbation must be .* > -1"):
        perturbed_agreement(_model(), "coupling-gain", -1.0)
    with pytest.raises(OscsimError, match="n must be at least 1"):
        perturbed_agreement(_model(), "phase", 0.1, n=0)


def test_latent_sensitivity_of_one_draw_is_perturbed_agreement_per_latent() -> None:
    """Its first pattern is ``perturbed_agreement``'s: over the latents the per-latent numbers
    give back that function's pixel MAE and RMS phase error."""
    model = _model()
    whole = perturbed_agreement(model, "detuning", 2e-3, n=8)
    per = latent_sensitivity(model, "detuning", 2e-3, n=8, draws=1)
    assert len(per["phase_error_deg"]) == len(per["pixel_mae"]) == 8
    assert np.mean(per["pixel_mae"]) == pytest.approx(whole["pixel_mae"], rel=1e-9)
    rms = np.sqrt(np.mean(np.square(per["phase_error_deg"])))
    assert rms == pytest.approx(whole["phase_error_deg"], rel=1e-9)
    assert per["draws"] == 1 and "torch" in per["versions"]


def test_latent_sensitivity_ranks_latents_and_grows_with_the_perturbation() -> None:
    model = _model()
    small, large = (latent_sensitivity(model, "detuning", s, n=8, draws=4) for s in (1e-4, 1e-2))
    assert all(
        0 < a < b for a, b in zip(small["phase_error_deg"], large["phase_error_deg"], strict=True)
    )
    assert len(set(small["phase_error_deg"])) == 8  # latents differ in how much they amplify
    still = latent_sensitivity(model, "phase", 0.0, n=3)
    assert still["phase_error_deg"] == [0.0] * 3 and still["pixel_mae"] == [0.0] * 3
    with pytest.raises(OscsimError, match="draws must be at least 1"):
        latent_sensitivity(model, "phase", 0.1, draws=0)
    with pytest.raises(OscsimError, match="unknown perturbation"):
        latent_sensitivity(model, "heat", 0.1)


def test_fidelity_benchmark_sensitivity_rows_without_circuit(tmp_path: Path) -> None:
    bench = load_benchmark("fidelity")
    save_model(tmp_path / "tiny.pt", _model())
    argv = ["--model", str(tmp_path / "tiny.pt"), "--sensitivity", "--no-circuit"]
    argv += ["--sensitivity-n", "4", "--out", str(tmp_path / "res")]
    assert bench.main(argv) == 0
    assert bench.main(argv) == 0  # a rerun replaces the model's rows, it does not add to them
    results = json.loads((tmp_path / "res" / "fidelity.json").read_text())
    assert results["rows"] == [] and "torch" in results["versions"]
    rows = results["sensitivity"]
    assert len(rows) == sum(map(len, bench.SENSITIVITY_SIZES.values()))
    assert {r["kind"] for r in rows} == set(KINDS) and all(r["n"] == 4 for r in rows)
    table = (tmp_path / "res" / "fidelity.md").read_text()
    for kind, sizes in bench.SENSITIVITY_SIZES.items():
        assert table.count(f"| {kind} |") == len(sizes)
