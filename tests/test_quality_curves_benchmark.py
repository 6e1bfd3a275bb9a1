"""benchmarks/quality_curves.py: the targets' ratios over training, read from quality.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import load_benchmark

from oscsim.errors import OscsimError

curves = load_benchmark("quality_curves")
NAMES = {"ais": "ais", "static": "static", "digital": "digital"}


def _row(model: str, steps: int, fid: float, seed: int = 0, critic: int | None = None) -> dict:
    return {
        "dataset": "mnist",
        "model": model,
        "train_steps": steps,
        "fid": fid,
        "seed": seed,
        "critic_seed": critic,
    }


def _rows() -> list[dict[str, Any]]:
    """Seed 0's AIS run improves by 2 FID per 100 steps from 60 against a static one level at
    60, averaged a little better; seed 1 has no digital run of its own; one crossed-seed row."""
    rows = []
    for steps in (100, 200, 300, 400):
        ais = 60.0 - 2.0 * steps / 100
        rows += [_row("ais", steps, ais), _row("ais-ema", steps, ais - 1.0)]
        rows += [_row("static", steps, 60.0), _row("static-ema", steps, 60.0)]
        rows += [_row("digital", steps, 40.0), _row("digital-ema", steps, 40.0)]
    rows += [_row("ais", 200, 30.0, seed=1), _row("static", 200, 45.0, seed=1)]
    rows += [_row("ais", 400, 99.0, critic=1), _row("ais-ema", 400, 99.0, critic=1)]
    return rows


def test_curve_takes_one_runs_budgets_in_order_without_crossed_seeds() -> None:
    rows = list(reversed(_rows()))
    assert curves.curve(rows, "mnist", "ais", 0) == [
        (100, 58.0),
        (200, 56.0),
        (300, 54.0),
        (400, 52.0),
    ]
    assert curves.curve(rows, "mnist", "ais", 1) == [(200, 30.0)]
    assert curves.curve(rows, "fashion", "ais", 0) == []


def test_ratio_only_at_shared_budgets() -> None:
    assert curves.ratio([(100, 6.0), (200, 9.0)], [(200, 3.0), (300, 1.0)]) == [(200, 3.0)]


def test_pace_is_the_least_squares_slope_per_100_steps() -> None:
    line = [(s, 50.0 - 0.5 * s / 100) for s in range(200, 1200, 200)]
    assert curves.pace(line, last=3) == pytest.approx(-0.5)
    noisy = [(100, 10.0), (200, 0.0), (300, 10.0), (400, 0.0), (500, 10.0)]
    assert curves.pace(noisy, last=5) == pytest.approx(0.0, abs=1e-12)
    assert curves.pace(line[:2], last=5) is None


def test_steps_to_the_target_at_a_pace() -> None:
    assert curves.steps_to(30.0, 20.0, -0.5) == 2000
    assert curves.steps_to(20.0, 20.0, 1.0) == 0
    assert curves.steps_to(30.0, 20.0, 0.0) is None
    assert curves.steps_to(30.0, 20.0, None) is None


def test_summary_compares_the_pair_and_falls_back_to_seed_0s_digital_run() -> None:
    rows = _rows()
    zero = curves.summary(rows, "mnist", 0, NAMES, last=3)
    live = zero["live"]
    assert live["steps"] == 400 and live["ratio"] == pytest.approx(60.0 / 52.0)
    assert live["needs"] == pytest.approx(20.0) and live["pace_per_100"] == pytest.approx(-2.0)
    assert live["steps_to_target"] == 1600
    assert zero["averaged"]["ais_fid"] == pytest.approx(51.0)
    assert live["ais_over_digital"][0] == (100, pytest.approx(58.0 / 40.0))
    one = curves.summary(rows, "mnist", 1, NAMES, last=3)
    assert one["digital_seed"] == 0 and one["live"]["ratio"] == pytest.approx(1.5)
    assert one["live"]["pace_per_100"] is None and one["live"]["steps_to_target"] is None
    assert "steps" not in one["averaged"]  # seed 1 scored no averages


def test_main_writes_json_markdown_and_a_plot_per_data_set(tmp_path: Path) -> None:
    quality = tmp_path / "quality.json"
    quality.write_text(json.dumps({"rows": _rows()}))
    argv = ["--quality", str(quality), "--out", str(tmp_path / "out"), "--last", "3"]
    assert curves.main([*argv, "--ais", "ais", "--static", "static", "--digital", "digital"]) == 0
    result = json.loads((tmp_path / "out" / "quality_curves.json").read_text())
    assert [(r["dataset"], r["seed"]) for r in result["rows"]] == [("mnist", 0), ("mnist", 1)]
    assert "torch" in result["versions"]
    table = (tmp_path / "out" / "quality_curves.md").read_text()
    assert "| mnist | 0 | live | 4 | 400 | 1.15× | 52.00 | 20.00 | -2.00 | 1,600 | 1.45× |" in table
    assert (tmp_path / "out" / "quality_curves-mnist.png").stat().st_size > 10_000


def test_main_names_what_is_missing(tmp_path: Path) -> None:
    quality = tmp_path / "quality.json"
    quality.write_text(json.dumps({"rows": _rows()}))
    with pytest.raises(OscsimError, match="no budget where both ais-4bit-envelope"):
        curves.main(["--quality", str(quality), "--out", str(tmp_path / "out")])
    with pytest.raises(OscsimError, match="--last must be at least 3"):
        curves.main(["--quality", str(quality), "--out", str(tmp_path / "out"), "--last", "2"])
