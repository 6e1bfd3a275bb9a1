"""benchmarks/seed_spread.py: runs of one model side by side, joined from what quality.py wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA, load_benchmark

from oscsim.errors import OscsimError

quality = load_benchmark("quality")
spread = load_benchmark("seed_spread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tiny ais-4bit runs scored by quality.py at 2 steps, live and averaged: seed 0, and
    seed 0's generator against seed 1's critic and batches."""
    if not (SHARED_DATA / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"canonical MNIST files not found in {SHARED_DATA / 'mnist'}")
    tmp = tmp_path_factory.mktemp("spread")
    argv = [
        *("--datasets", "mnist", "--models", "ais-4bit", "ais-4bit-ema", "--steps", "2"),
        *("--n-samples", "64", "--threads", "1", "--smoke", "--data-dir", str(SHARED_DATA)),
        *("--work", str(tmp / "work"), "--out", str(tmp / "out")),
    ]
    assert quality.main(argv) == 0
    assert quality.main([*argv, "--critic-seed", "1"]) == 0
    return tmp


def _argv(tmp: Path, *runs: str, steps: int = 2, window: int = 1) -> list[str]:
    folders = [str(tmp / "work" / "mnist" / r) for r in runs]
    return [
        *("--model", "ais-4bit", "--steps", str(steps), "--window", str(window)),
        *("--quality", str(tmp / "out" / "quality.json"), "--out", str(tmp / "spread")),
        *("--runs", *folders),
    ]


def test_rows_join_each_runs_fids_and_critic_windows(runs: Path) -> None:
    """Every run's row carries its seeds from its log, its live and averaged FIDs from
    quality.json and the negated critic loss per window; a rerun replaces, never duplicates."""
    argv = _argv(runs, "ais-4bit", "ais-4bit-critic1")
    assert spread.main(argv) == 0
    assert spread.main(argv) == 0
    rows = json.loads((runs / "spread" / "seed_spread.json").read_text())["rows"]
    scored = json.loads((runs / "out" / "quality.json").read_text())["rows"]
    assert [(r["run"], r["seed"], r["critic_seed"]) for r in rows] == [
        ("ais-4bit", 0, None),
        ("ais-4bit-critic1", 0, 1),
    ]
    for row in rows:
        fids = {
            r["model"]: r["fid"]
            for r in scored
            if r.get("critic_seed") == row["critic_seed"] and r["model"].startswith("ais-4bit")
        }
        assert (row["fid"], row["fid_averaged"]) == (fids["ais-4bit"], fids["ais-4bit-ema"])
        log = json.loads((runs / "work" / "mnist" / row["run"] / "train_log.json").read_text())
        assert row["critic"] == [-c for c in log["history"]["critic_loss"][:2]]
    assert rows[0]["critic"] != rows[1]["critic"]  # another critic saw the same generator
    table = (runs / "spread" / "seed_spread.md").read_text()
    assert "| ais-4bit-critic1 | seed 0, critic seed 1 |" in table and "| 0–1 | 1–2 |" in table
    name = spread.plot_name("mnist", "ais-4bit", 2, 1)
    assert f"]({name})" in table and (runs / "spread" / name).stat().st_size > 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"runs": ("missing",)}, "not a training run"),
        ({"steps": 3}, "reached step 2, not 3"),
        ({"model": "ais-2bit"}, "score ais-4bit with benchmarks/quality.py"),
        ({"steps": 0}, "--steps must be a positive budget"),
        ({"window": 0}, "--window 0 must be positive"),
        ({"window": 3, "steps": 2}, "divide --steps 2"),
    ],
)
def test_what_it_cannot_join_is_a_clear_error(
    runs: Path, change: dict[str, object], message: str
) -> None:
    argv = _argv(
        runs,
        *change.get("runs", ("ais-4bit",)),
        steps=int(change.get("steps", 2)),
        window=int(change.get("window", 1)),
    )
    if "model" in change:
        argv[1] = str(change["model"])
    with pytest.raises(OscsimError, match=message):
        spread.main(argv)


def test_rank_correlation_orders_not_values() -> None:
    assert spread.rank_correlation([1.0, 2.0, 3.0], [10.0, 40.0, 90.0]) == pytest.approx(1.0)
    assert spread.rank_correlation([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert spread.rank_correlation([1.0, 2.0, 3.0], [10.0, 30.0, 20.0]) == pytest.approx(0.5)
