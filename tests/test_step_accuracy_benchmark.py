"""benchmarks/step_accuracy.py: a trained model at its own RK4 step against a finer one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import load_benchmark

from oscsim.errors import OscsimError
from oscsim.graph import GraphSpec, build_graph
from oscsim.model import AISGenerator, ModelConfig
from oscsim.modelfile import save_model

accuracy = load_benchmark("step_accuracy")


def _model_file(path: Path, steps: int) -> str:
    """Strong random couplings over 8 cycles per segment, integrated in ``steps`` RK4 steps."""
    config = ModelConfig(
        segments=2, cycles_per_segment=8.0, steps_per_segment=steps, k_init_std=0.03
    )
    return str(save_model(path, AISGenerator(build_graph(GraphSpec((14, 14))), config, seed=0)))


def test_a_coarse_step_shows_and_a_fine_one_does_not(tmp_path: Path) -> None:
    coarse = _model_file(tmp_path / "coarse.pt", steps=6)
    fine = _model_file(tmp_path / "fine.pt", steps=64)
    argv = ["--models", coarse, fine, "--n", "16", "--out", str(tmp_path)]
    assert accuracy.main(argv) == 0
    assert accuracy.main([*argv[:2], "--n", "16", "--out", str(tmp_path)]) == 0  # replaces
    rows = {
        r["model"]: r for r in json.loads((tmp_path / "step_accuracy.json").read_text())["rows"]
    }
    assert set(rows) == {coarse, fine}
    assert rows[fine]["pixel_mae"] < 1e-3 and rows[fine]["sign_agreement"] > 0.999
    assert rows[coarse]["pixel_mae"] > 10 * rows[fine]["pixel_mae"]
    assert rows[fine]["steps_per_cycle"] == 8 and rows[fine]["refine"] == 4
    assert "| 16 | 8 | 4 |" in (tmp_path / "step_accuracy.md").read_text()


def test_a_reference_no_finer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OscsimError, match="--refine >= 2"):
        accuracy.main(["--models", "demo", "--refine", "1", "--out", str(tmp_path)])


def test_the_default_models_are_the_shipped_28_by_28_ones() -> None:
    names = accuracy.shipped_28()
    assert {"mnist", "fashion-ema", "mnist-offsets", "fashion-offsets"} <= set(names)
    assert "demo" not in names  # 14 x 14
