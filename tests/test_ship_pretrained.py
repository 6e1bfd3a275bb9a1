"""scripts/ship_pretrained.py: a run's model, snapshot or weight average shipped by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import load_benchmark

from oscsim.errors import OscsimError
from oscsim.graph import build_graph
from oscsim.model import AISGenerator, ModelConfig
from oscsim.modelfile import load_model, save_model

ship = load_benchmark("ship_pretrained", folder="scripts")


def _tiny(path: Path, state: dict) -> Path:
    """A 4-bit demo-graph generator small enough to score in a second."""
    config = ModelConfig(segments=2, cycles_per_segment=1.0, steps_per_segment=2, bits=4)
    return save_model(path, AISGenerator(build_graph("demo"), config, seed=0), train_state=state)


def test_average_ships_with_its_runs_config(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(ship, "PRETRAINED", tmp_path / "pretrained")
    (tmp_path / "pretrained").mkdir()
    average = _tiny(tmp_path / "avg.pt", {"step": 3, "ema_from": 1, "ema_decay": 0.9})
    with pytest.raises(OscsimError, match="no training config: pass --run"):
        ship.main([str(average), "tiny-ema", "--dataset", "digits14", "--n", "20"])
    assert not list((tmp_path / "pretrained").iterdir())  # nothing written on the error
    with pytest.raises(OscsimError, match="lower-case letters"):
        ship.main([str(average), "../elsewhere", "--dataset", "digits14"])
    other = ModelConfig(segments=3, cycles_per_segment=1.0, steps_per_segment=2, bits=4)
    stranger = save_model(tmp_path / "other.pt", AISGenerator(build_graph("demo"), other, seed=0))
    with pytest.raises(OscsimError, match="is not the run of"):
        ship.main([str(average), "tiny-ema", "--dataset", "digits14", "--run", str(stranger)])
    run = _tiny(tmp_path / "model.pt", {"step": 3, "config": {"dataset": "digits14", "seed": 5}})
    args = [str(average), "tiny-ema", "--dataset", "digits14", "--n", "20", "--run", str(run)]
    assert ship.main([*args, "--command", "train it"]) == 0
    record = json.loads((tmp_path / "pretrained" / "tiny-ema.json").read_text())
    assert record["train_config"] == {"dataset": "digits14", "seed": 5}
    assert (record["step"], record["ema_from"], record["ema_decay"]) == (3, 1, 0.9)
    assert record["command"] == "train it" and record["quality"]["n_samples"] == 20
    shipped = load_model(tmp_path / "pretrained" / "tiny-ema.pt")
    assert shipped.optimizer is None and shipped.train_state["train_config"]["seed"] == 5
    codes, expected = shipped.model.to_codes(), load_model(average).model.to_codes()
    assert codes.keys() == expected.keys()
    assert all(torch.equal(codes[k], expected[k]) for k in codes)  # the average, not the run


def test_average_that_keeps_its_config_ships_without_its_run(tmp_path: Path, monkeypatch) -> None:
    """Averages and snapshots written by ``oscsim train`` and ``quality.py`` hold the config."""
    monkeypatch.setattr(ship, "PRETRAINED", tmp_path)
    state = {"step": 3, "config": {"dataset": "digits14", "seed": 2}, "ema_from": 1}
    average = _tiny(tmp_path / "avg.pt", {**state, "ema_decay": 0.9})
    assert ship.main([str(average), "tiny-ema", "--dataset", "digits14", "--n", "20"]) == 0
    record = json.loads((tmp_path / "tiny-ema.json").read_text())
    assert record["train_config"] == state["config"] and record["ema_from"] == 1


def test_out_dir_writes_there_and_not_into_the_package(tmp_path: Path, monkeypatch) -> None:
    """``--out-dir`` keeps a benchmark's model (and its record) out of ``oscsim/pretrained``."""
    monkeypatch.setattr(ship, "PRETRAINED", tmp_path / "pretrained")
    (tmp_path / "pretrained").mkdir()
    run = _tiny(tmp_path / "model.pt", {"step": 3, "config": {"dataset": "digits14", "seed": 1}})
    argv = [str(run), "tiny", "--dataset", "digits14", "--n", "20"]
    assert ship.main([*argv, "--out-dir", str(tmp_path / "models")]) == 0
    assert not list((tmp_path / "pretrained").iterdir())
    record = json.loads((tmp_path / "models" / "tiny.json").read_text())
    assert record["step"] == 3 and record["quality"]["source"] == "tiny.pt"
    assert load_model(tmp_path / "models" / "tiny.pt").optimizer is None
