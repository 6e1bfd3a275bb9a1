"""benchmarks/latent_risk.py: circuit error per latent against behavioural sensitivity."""

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
from oscsim.modelfile import load_model, save_model
from oscsim.sensitivity import latent_sensitivity

risk = load_benchmark("latent_risk")
N = 6


def _model(seed: int) -> AISGenerator:
    """A 4x4 4-bit model with strong random couplings (2 segments of 8 cycles)."""
    config = ModelConfig(segments=2, cycles_per_segment=8.0, steps_per_segment=16, k_init_std=0.02)
    return AISGenerator(build_graph(GraphSpec((4, 4), hidden_stride=2)), config, seed=seed)


def _row(
    results: Path, model_path: Path, circuit_deg: list[float], shift: float = 0.0, **changes: object
) -> dict:
    """A fidelity row as ``benchmarks/fidelity.py`` writes it, with the model's own behavioural
    images stored beside it and the given per-latent circuit errors."""
    model = load_model(model_path).model
    theta0 = model.latent(N, torch.Generator().manual_seed(0)).double()
    with torch.no_grad():
        pixels = model.readout(model.rollout(theta0, model.hardware_params())).numpy()
    folder = results / "fidelity" / f"{model_path.stem}-{len(circuit_deg)}"
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "behavioural.npy", (pixels[: len(circuit_deg)] + shift).astype(np.float32))
    row = {
        "model": str(model_path),
        "n": len(circuit_deg),
        "seed": 0,
        "variant": "collapsed",
        "time_scale": 1.0,
        "without": None,
        "k_per_siemens_measured": 80.48,
        "files": [f"fidelity/{folder.name}/behavioural.npy"],
        "per_latent": [{"phase_error_deg": d, "pixel_mae": d / 500} for d in circuit_deg],
    }
    return {**row, **changes}


def test_circuit_errors_are_paired_with_sensitivity_per_latent(tmp_path: Path) -> None:
    """A circuit whose error per latent follows the sensitivity ranks 1.0 and its worst latent
    is the most sensitive; smaller, structural and uncalibrated rows are not used; a model that
    no longer draws its stored images is skipped by name."""
    res = tmp_path / "res"
    good, changed = tmp_path / "good.pt", tmp_path / "changed.pt"
    save_model(good, _model(1))
    save_model(changed, _model(2))
    sens = latent_sensitivity(_model(1), "detuning", 1e-3, n=N, draws=8)["phase_error_deg"]
    circuit = [3 * s for s in sens]
    rows = [
        _row(res, good, circuit[:3]),
        _row(res, good, circuit),
        _row(res, good, circuit[::-1], variant="structural"),
        _row(res, good, circuit[::-1], k_per_siemens_measured=None),
        _row(res, good, circuit[::-1], without="k"),
        _row(res, changed, circuit, shift=0.1),
    ]
    rows.append({**rows[-1], "seed": 1, "files": []})
    (res / "fidelity.json").write_text(json.dumps({"rows": rows}))
    argv = ["--out", str(res), "--threads", "1", "--profile", str(good), "--profile-n", "16"]
    assert risk.main(argv) == 0
    results = json.loads((res / "latent_risk.json").read_text())
    used, skipped, unstored = results["rows"]
    assert used["model"] == str(good) and used["n"] == N
    assert used["spearman"] == pytest.approx(1.0)
    assert used["its_sensitivity_rank"] == 1 and used["circuit_phase_error_deg"] == circuit
    assert used["sensitivity_phase_deg"] == pytest.approx(sens)
    assert "shipped again" in skipped["skipped"] and skipped["model"] == str(changed)
    assert "not stored" in unstored["skipped"] and unstored["seed"] == 1
    pooled = results["pooled"]
    assert pooled["latents"] == N and pooled["models"] == 1 and pooled["spearman"] == 1.0
    assert pooled["worst_most_sensitive"] == 1 and pooled["ranked_models"] == 1
    assert results["settings"]["kind"] == "detuning" and "torch" in results["versions"]
    table = (res / "latent_risk.md").read_text()
    assert "| 1.00 |" in table and "skipped" in table
    assert (res / "latent_risk.png").stat().st_size > 0
    (profile,) = results["profile"]
    assert profile["model"] == str(good) and profile["n"] == 16
    assert (
        0 < profile["median_deg"] <= profile["p90_deg"] <= profile["p99_deg"] <= profile["max_deg"]
    )
    assert 0 <= profile["share_flagged"] < 0.5
    assert f"| {good} | {profile['median_deg']:.1f} |" in table


def test_no_circuit_rows_and_bad_options_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(OscsimError, match=r"run benchmarks/fidelity\.py first"):
        risk.main(["--out", str(tmp_path)])
    with pytest.raises(OscsimError, match="--flag must be above 1"):
        risk.main(["--out", str(tmp_path), "--flag", "1"])
    with pytest.raises(OscsimError, match="--profile-n must be at least 2"):
        risk.main(["--out", str(tmp_path), "--profile-n", "0"])
