"""benchmarks/fine_tune_curves.py: arms of a comparison joined from real `oscsim fid` files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import load_benchmark

from oscsim.atomic import write_json
from oscsim.errors import OscsimError
from oscsim.graph import build_graph
from oscsim.metrics import fid_of_source
from oscsim.model import AISGenerator, ModelConfig
from oscsim.modelfile import save_model

curves = load_benchmark("fine_tune_curves")
STEPS = {"a": (100, 200, 300), "b": (100, 300)}


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two arms of tiny demo models, each snapshot scored by FID on digits14 (64 images)."""
    tmp = tmp_path_factory.mktemp("curves")
    config = ModelConfig(segments=2, cycles_per_segment=1.0, steps_per_segment=2)
    for arm, steps in STEPS.items():
        for i, step in enumerate(steps):
            model = AISGenerator(build_graph("demo"), config, seed=10 * len(arm) + i)
            path = save_model(tmp / f"{arm}-{step}.pt", model, train_state={"step": step})
            write_json(tmp / f"{arm}-{step}.json", fid_of_source(path, "digits14", n=64))
    return tmp


def _fid(folder: Path, name: str) -> float:
    return json.loads((folder / f"{name}.json").read_text())["fid"]


def test_arms_ratios_and_means_come_from_the_files(scored: Path, tmp_path: Path) -> None:
    argv = ["--name", "pair", "--arm", f"A={scored}/a-*.json", "--arm", f"B={scored}/b-*.json"]
    argv += ["--ratio", "A/B", "--from", "100", "--to", "200", "--target", "3"]
    assert curves.main([*argv, "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "fine_tune_curves.json").read_text())["rows"]
    a = row["arms"]["A"]["points"]
    assert a == [[s, pytest.approx(_fid(scored, f"a-{s}"))] for s in STEPS["a"]]
    ratio = row["ratios"]["A/B"]["points"]  # only where both arms were scored
    assert [s for s, _ in ratio] == [100, 300]
    assert ratio[1][1] == pytest.approx(_fid(scored, "a-300") / _fid(scored, "b-300"))
    assert row["arms"]["A"]["mean"] == pytest.approx((a[0][1] + a[1][1]) / 2)  # 100 to 200
    assert row["arms"]["B"]["mean"] == pytest.approx(_fid(scored, "b-100"))
    assert row["target"] == 3 and row["window"] == [100, 200]
    assert (tmp_path / "fine_tune_curves-pair.png").stat().st_size > 0
    assert "| A/B |" in (tmp_path / "fine_tune_curves.md").read_text()
    solo = ["--name", "solo", "--arm", f"A={scored}/a-*.json", "--out", str(tmp_path)]
    assert curves.main(solo) == 0
    rows = json.loads((tmp_path / "fine_tune_curves.json").read_text())["rows"]
    assert sorted(r["name"] for r in rows) == ["pair", "solo"]  # merged by name


def test_bad_arguments_are_named(scored: Path, tmp_path: Path) -> None:
    out = ["--out", str(tmp_path)]
    with pytest.raises(OscsimError, match="no FID file matches"):
        curves.main(["--name", "x", "--arm", f"A={scored}/none-*.json", *out])
    with pytest.raises(OscsimError, match="--arm must look like A=B"):
        curves.main(["--name", "x", "--arm", f"{scored}/a-*.json", *out])
    with pytest.raises(OscsimError, match="no --arm labels"):
        curves.main(["--name", "x", "--arm", f"A={scored}/a-*.json", "--ratio", "A/C", *out])
    with pytest.raises(OscsimError, match="two files for step 100"):
        curves.main(["--name", "x", "--arm", f"A={scored}/*-100.json", *out])
    with pytest.raises(OscsimError, match="--name must be"):
        curves.main(["--name", "../x", "--arm", f"A={scored}/a-*.json", *out])
    stepless = save_model(tmp_path / "m.pt", AISGenerator(build_graph("demo"), seed=0))
    write_json(tmp_path / "stepless.json", {"fid": 1.0, "source": str(stepless)})
    with pytest.raises(OscsimError, match="records no training step"):
        curves.main(["--name", "x", "--arm", f"A={tmp_path}/stepless.json", *out])
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(OscsimError, match="not an `oscsim fid --json` result"):
        curves.main(["--name", "x", "--arm", f"A={tmp_path}/bad.json", *out])
