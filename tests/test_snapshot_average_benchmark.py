"""benchmarks/snapshot_average.py: post-hoc averages of a run's snapshots, scored."""

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

average = load_benchmark("snapshot_average")
CONFIG = ModelConfig(segments=2, cycles_per_segment=1.0, steps_per_segment=2)


def _run(folder: Path, steps: tuple[int, ...]) -> Path:
    """A run folder whose snapshots are one untrained demo generator, shifted per step."""
    model = AISGenerator(build_graph("demo"), CONFIG, seed=0)
    for step in steps:
        with torch.no_grad():
            model.k.add_(0.001)
        save_model(folder / "snapshots" / f"step-{step:06d}-ema.pt", model,
                   train_state={"step": step})  # fmt: skip
        save_model(folder / "snapshots" / f"step-{step:06d}.pt", model)  # live: not averaged
    return folder


def test_snapshots_picks_the_window_in_step_order(tmp_path: Path) -> None:
    run = _run(tmp_path / "r", (50, 100, 150, 1000))
    names = [p.name for p in average.snapshots(run, 100, 1000)]
    assert names == ["step-000100-ema.pt", "step-000150-ema.pt", "step-001000-ema.pt"]
    with pytest.raises(OscsimError, match=r"holds 1 step-NNNNNN-ema\.pt file"):
        average.snapshots(run, 200, 1000)


def test_rows_and_the_saved_average_of_a_tiny_run(tmp_path: Path) -> None:
    run = _run(tmp_path / "r", (50, 100, 150))
    argv = ["--dataset", "digits14", "--n", "40", "--threads", "1", "--out", str(tmp_path / "o")]
    assert average.main([*argv, "--from", "50", "--to", "150", "--runs", str(run)]) == 0
    (row,) = json.loads((tmp_path / "o" / "snapshot_average.json").read_text())["rows"]
    assert row["snapshots"] == [f"step-{s:06d}-ema.pt" for s in (50, 100, 150)]
    assert row["fid_last"] > 0 and row["fid_average"] > 0
    assert row["ratio"] == pytest.approx(row["fid_average"] / row["fid_last"])
    assert row["model"] == "snapshot_average/r-50-150.pt"
    saved = load_model(tmp_path / "o" / row["model"])
    step_100 = load_model(run / "snapshots" / "step-000100-ema.pt").model
    assert torch.allclose(saved.model.k, step_100.k)  # the mean of three evenly shifted
    assert saved.train_state["step"] == 150 and len(saved.train_state["averaged"]) == 3
    assert (tmp_path / "o" / row["model"]).with_suffix(".png").stat().st_size > 0
    assert "| digits14 | r | 50–150 | 3 |" in (tmp_path / "o" / "snapshot_average.md").read_text()
    with pytest.raises(OscsimError, match="--from must be before --to"):
        average.main([*argv, "--from", "150", "--to", "50", "--runs", str(run)])
    with pytest.raises(OscsimError, match="holds 0"):
        average.main([*argv, "--from", "50", "--to", "150", "--runs", str(run), str(tmp_path)])
