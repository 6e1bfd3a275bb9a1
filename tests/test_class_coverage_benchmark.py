"""benchmarks/class_coverage.py: the classes a generator draws, and its FID with them evened."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import load_benchmark

from oscsim.digital import DigitalConfig, DigitalGenerator, save_digital
from oscsim.errors import ModelFileError, OscsimError
from oscsim.graph import build_graph
from oscsim.model import AISGenerator, ModelConfig
from oscsim.modelfile import save_model

coverage = load_benchmark("class_coverage")


def test_resample_to_mix_evens_the_classes() -> None:
    classes = np.array([0] * 90 + [1] * 9 + [2])
    pick = coverage.resample_to_mix(classes, 3000, np.random.default_rng(0))
    share = np.bincount(classes[pick], minlength=3) / len(pick)
    np.testing.assert_allclose(share, 1 / 3, atol=0.03)


def test_resample_to_a_given_mix_gives_that_mix() -> None:
    classes = np.array([0] * 90 + [1] * 9 + [2])
    mix = np.array([0.1, 0.3, 0.6])
    pick = coverage.resample_to_mix(classes, 4000, np.random.default_rng(1), mix)
    share = np.bincount(classes[pick], minlength=3) / len(pick)
    np.testing.assert_allclose(share, mix, atol=0.03)


def test_label_names_runs_by_their_folder() -> None:
    assert coverage.label("runs/fashion/oscillator-static/model-ema.pt") == "oscillator-static-ema"
    assert coverage.label("runs/x/model.pt") == "x"
    assert coverage.label("fashion-ema") == "fashion-ema"
    snapshot = "runs/fashion/ais-4bit-envelope-seed1/snapshots/step-000900-ema.pt"
    assert coverage.label(snapshot) == "ais-4bit-envelope-seed1-step-000900-ema"


def test_two_models_that_would_share_a_row_are_refused_before_any_work(tmp_path: Path) -> None:
    files = ["runs/a/generator.pt", "other/generator.pt"]  # both rows would be "generator"
    with pytest.raises(OscsimError, match="share the row generator"):
        coverage.main(["--dataset", "digits14", "--out", str(tmp_path), "--models", *files])
    assert not any(tmp_path.iterdir())


def test_rows_table_and_plot_of_untrained_generators(tmp_path: Path) -> None:
    """An AIS and a digital generator on digits14 with few images: a row each with the first
    n images' scores and the evened set's, merged into the results, with the table and plot."""
    config = ModelConfig(segments=2, cycles_per_segment=1.0, steps_per_segment=2)
    digital = DigitalGenerator((14, 14), DigitalConfig(width=4, latent_dim=8))
    paths = [
        str(save_model(tmp_path / "m0.pt", AISGenerator(build_graph("demo"), config, seed=0))),
        str(save_digital(tmp_path / "m1.pt", digital)),
    ]
    argv = [*("--dataset", "digits14", "--n", "40", "--pool", "80", "--threads", "1")]
    assert coverage.main([*argv, "--models", *paths, "--out", str(tmp_path / "out")]) == 0
    rows = json.loads((tmp_path / "out" / "class_coverage.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["m0", "m1"]
    for r in rows:
        assert r["n"] == 40 and r["pool"] == 80 and sum(r["class_fractions"]) == pytest.approx(1)
        assert 0 <= r["class_entropy"] <= 1 and r["fid"] > 0 and r["fid_balanced"] > 0
        assert 0 <= r["fid_real_at_mix"] < r["fid"]  # real images beat untrained ones
        assert 1 <= r["distinct"] <= 40 and 1 <= r["classes_in_pool"] <= 10
    md = (tmp_path / "out" / "class_coverage.md").read_text()
    assert "## digits14" in md and "| m0 | 40 |" in md
    assert (tmp_path / "out" / "class_coverage-digits14.png").stat().st_size > 0
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="neither an oscsim model file nor a digital"):
        coverage.generator(str(tmp_path / "junk.pt"))
    with pytest.raises(OscsimError, match="--n <= --pool"):
        coverage.main([*argv, "--models", paths[0], "--pool", "10"])
