"""benchmarks/envelope_gap.py: a model rendered by its own dynamics and by the envelope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import load_benchmark

from oscsim.errors import OscsimError
from oscsim.graph import GraphSpec, build_graph
from oscsim.model import AISGenerator, ModelConfig
from oscsim.modelfile import save_model

gap = load_benchmark("envelope_gap")


def _model_file(path: Path, dynamics: str, dataset: str | None = "digits14") -> str:
    config = ModelConfig(
        segments=2, cycles_per_segment=8.0, steps_per_segment=16, k_init_std=0.03, dynamics=dynamics
    )
    model = AISGenerator(build_graph(GraphSpec((14, 14))), config, seed=0)
    state = {"train_config": {"dataset": dataset}} if dataset else {}
    return str(save_model(path, model, train_state=state))


def test_rows_for_a_phase_and_an_envelope_model_merge_into_the_results(tmp_path: Path) -> None:
    phase = _model_file(tmp_path / "phase.pt", "phase")
    envelope = _model_file(tmp_path / "envelope.pt", "envelope")
    gap.main(["--models", phase, envelope, "--n", "24", "--out", str(tmp_path)])
    gap.main(["--models", envelope, "--n", "24", "--out", str(tmp_path)])  # replaces its row
    rows = {r["model"]: r for r in json.loads((tmp_path / "envelope_gap.json").read_text())["rows"]}
    assert set(rows) == {phase, envelope}
    same = rows[envelope]  # an envelope model is its own envelope: identical renderings
    assert same["sign_agreement"] == 1.0 and same["pixel_mae"] == 0.0
    assert same["fid_own"] == same["fid_envelope"]
    strong = rows[phase]  # strong random couplings: the phase model and its envelope part
    assert strong["pixel_mae"] > 0.01 and strong["dataset"] == "digits14"
    assert "| phase | digits14 | 24 |" in (tmp_path / "envelope_gap.md").read_text()


def test_a_model_without_its_data_set_is_refused(tmp_path: Path) -> None:
    bare = _model_file(tmp_path / "bare.pt", "phase", dataset=None)
    with pytest.raises(OscsimError, match="names no training data set"):
        gap.main(["--models", bare, "--n", "4", "--out", str(tmp_path)])
