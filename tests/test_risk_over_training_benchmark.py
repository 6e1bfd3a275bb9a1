"""benchmarks/risk_over_training.py: latent sensitivity of a run's snapshots, beside their FID."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import load_benchmark

from oscsim.errors import OscsimError
from oscsim.graph import GraphSpec, build_graph
from oscsim.model import AISGenerator, ModelConfig
from oscsim.modelfile import save_model

over = load_benchmark("risk_over_training")


def profile_row(source: str, n: int, draws: int) -> dict:
    """latent_risk's profile of one model file, as the benchmark should give it."""
    row = load_benchmark("latent_risk").profile_row(source, "detuning", 1e-3, n, draws, 2.0)
    return {k: v for k, v in row.items() if k != "model"}


def _snapshot(folder: Path, name: str, k_std: float) -> None:
    """A 4x4 4-bit model (2 segments of 8 cycles) with couplings of spread ``k_std``."""
    config = ModelConfig(segments=2, cycles_per_segment=8.0, steps_per_segment=16, k_init_std=k_std)
    model = AISGenerator(build_graph(GraphSpec((4, 4), hidden_stride=2)), config, seed=0)
    save_model(folder / name, model)


def test_every_snapshot_is_profiled_beside_its_fid(tmp_path: Path) -> None:
    snaps = tmp_path / "runs" / "mnist" / "ais-seed1" / "snapshots"
    snaps.mkdir(parents=True)
    for name, k_std in (("step-000020.pt", 0.001), ("step-000020-ema.pt", 0.02)):
        _snapshot(snaps, name, k_std)
    _snapshot(snaps, "step-000010.pt", 0.001)
    (snaps / "notes.pt").write_bytes(b"not a snapshot")  # not step-NNNNNN[-ema].pt: ignored
    out = tmp_path / "results"
    out.mkdir()
    rows = [
        {"dataset": "mnist", "model": "ais", "train_steps": 20, "fid": 30.0, "seed": 1},
        {"dataset": "mnist", "model": "ais-ema", "train_steps": 20, "fid": 25.0, "seed": 1},
        {"dataset": "mnist", "model": "ais-ema", "train_steps": 20, "fid": 99.0, "seed": 0},
    ]
    (out / "quality.json").write_text(json.dumps({"rows": rows, "versions": {}}))
    argv = ["--dataset", "mnist", "--model", "ais", "--seed", "1", "--n", "4", "--draws", "2"]
    assert over.main([*argv, "--work", str(tmp_path / "runs"), "--out", str(out)]) == 0
    stem = out / "risk_over_training-mnist-ais-seed1"
    results = json.loads(stem.with_suffix(".json").read_text())
    got = [(r["steps"], r["kind"], r["fid"]) for r in results["rows"]]
    assert got == [(10, "live", None), (20, "live", 30.0), (20, "averaged", 25.0)]
    assert results["rows"][0]["model"] == "ais-seed1/snapshots/step-000010.pt"
    live, strong = results["rows"][1], results["rows"][2]
    assert 0 < live["median_deg"] <= live["p90_deg"] <= live["max_deg"]
    assert strong == {**strong, **profile_row(str(snaps / "step-000020-ema.pt"), 4, 2)}
    assert strong["median_deg"] != live["median_deg"]  # each snapshot profiled, not one
    assert "| 20 | averaged | 25.00 |" in stem.with_suffix(".md").read_text()
    assert stem.with_suffix(".png").stat().st_size > 0 and "torch" in results["versions"]


def test_no_snapshots_and_bad_options_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "runs" / "mnist" / "ais" / "snapshots").mkdir(parents=True)
    argv = ["--dataset", "mnist", "--model", "ais", "--work", str(tmp_path / "runs")]
    with pytest.raises(OscsimError, match=r"no snapshots in .*ais/snapshots: train the run"):
        over.main([*argv, "--out", str(tmp_path)])
    with pytest.raises(OscsimError, match="--n must be at least 2 latents, got 1"):
        over.main([*argv, "--n", "1", "--out", str(tmp_path)])
