"""benchmarks/quality.py: the model table, and one tiny end-to-end sweep that reruns for free."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import SHARED_DATA, load_benchmark

from oscsim.digital import load_digital
from oscsim.errors import OscsimError
from oscsim.graph import build_graph, get_spec, graph_stats
from oscsim.modelfile import load_model

ROW_KEYS = {"dataset", "model", "fid", "kid", "n_samples", "train_steps", "wall_s", "device"}
MODELS = ["digital-wgan-gp", "ais-4bit", "ais-4bit-nbhd8"]


quality = load_benchmark("quality")


def _argv(tmp: Path, models: list[str] = MODELS, steps: int = 1, n: int = 64) -> list[str]:
    return [
        *("--datasets", "mnist", "--models", *models, "--steps", str(steps), "--n-samples", str(n)),
        *("--threads", "1", "--work", str(tmp / "work"), "--out", str(tmp / "out"), "--smoke"),
        *("--data-dir", str(SHARED_DATA)),
    ]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One sweep: real data, the digital baseline, ais-4bit and its 8-neighbour alias."""
    if not (SHARED_DATA / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"canonical MNIST files not found in {SHARED_DATA / 'mnist'}")
    tmp = tmp_path_factory.mktemp("quality")
    assert quality.main(_argv(tmp)) == 0
    return tmp


def test_every_model_is_a_valid_config_and_only_nbhd8_repeats_another() -> None:
    configs = {name: quality.train_config("mnist", name, steps=5) for name in quality.MODELS}
    assert all(c.steps == 5 and c.dataset == "mnist" for c in configs.values())
    head = configs["ais-4bit"]
    static = configs["oscillator-static"].model
    assert static.segments == 1 and static.bits is None
    assert static.cycles_per_segment == head.model.segments * head.model.cycles_per_segment
    assert configs["oscillator-static"].graph.hidden_stride == 0
    assert configs["ais-4bit-nohidden"].graph.hidden_stride == 0
    assert [configs[f"ais-{b}bit"].model.bits for b in (2, 3, 6)] == [2, 3, 6]
    for name in ("ais-4bit", "oscillator-static"):  # the same model, trained as its circuit
        twin = configs[f"{name}-envelope"]
        assert twin.model.dynamics == "envelope" and twin.graph == configs[name].graph
        assert dataclasses.replace(twin.model, dynamics="phase") == configs[name].model
    for name in ("ais-4bit-envelope", "oscillator-static-envelope"):  # the protocol changed
        base = configs[name]
        wide = configs[name.replace("-envelope", "-critic64-envelope")]
        assert wide.critic_width == 64 != base.critic_width
        assert dataclasses.replace(wide, critic_width=base.critic_width) == base
        mbstd = configs[name.replace("-envelope", "-mbstd4-envelope")]
        assert mbstd.critic_minibatch_std == 4 and not base.critic_minibatch_std
        assert dataclasses.replace(mbstd, critic_minibatch_std=0) == base
    split = configs["ais-4bit-s8"].model  # twice the segments, the same time and RK4 steps
    assert split.segments == 2 * head.model.segments == 8
    assert split.segments * split.cycles_per_segment == static.cycles_per_segment
    assert (
        split.segments * split.steps_per_segment
        == head.model.segments * head.model.steps_per_segment
    )
    assert split.sigma_init[::2] == split.sigma_init[1::2] == head.model.sigma_init
    assert build_graph(configs["ais-4bit-radius2"].graph).number_of_edges() > (
        build_graph(head.graph).number_of_edges()
    )
    hidden = {  # hidden1: a hidden oscillator per pixel, four times the preset's
        name: graph_stats(build_graph(configs[name].graph))["hidden"]
        for name in ("ais-4bit", "ais-4bit-hidden1")
    }
    assert hidden["ais-4bit-hidden1"] == 28 * 28 == 4 * hidden["ais-4bit"]
    assert head.graph == "mnist"  # an unchanged graph keeps the preset name: CLI runs resume
    resolved = {n: dataclasses.replace(c, graph=get_spec(c.graph)) for n, c in configs.items()}
    same = [
        n
        for n, c in resolved.items()
        if c == resolved["ais-4bit"]
        and not quality.MODELS[n].digital
        and not quality.MODELS[n].average_of
    ]
    assert same == ["ais-4bit", "ais-4bit-nbhd8"]


def test_a_split_that_leaves_a_fraction_of_an_rk4_step_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(quality.MODELS, "ais-4bit-s12", quality.Variant("3 ways", split=3))
    with pytest.raises(OscsimError, match="32 RK4 steps per segment do not split 3 ways"):
        quality.train_config("mnist", "ais-4bit-s12", steps=5)


def test_sweep_writes_rows_in_the_schema(sweep: Path) -> None:
    results = json.loads((sweep / "out" / "quality.json").read_text())
    assert set(results) == {"rows", "versions"} and "torch" in results["versions"]
    rows = {row["model"]: row for row in results["rows"]}
    assert list(rows) == [quality.REAL, *MODELS]
    for row in rows.values():
        assert ROW_KEYS | {"params"} <= set(row) and row["dataset"] == "mnist"
        assert row["fid"] >= 0 and row["n_samples"] == 64
        assert row["versions"]["torch"] == results["versions"]["torch"]  # each row's own
        assert (sweep / "out" / row["samples"]).is_file()
    assert rows["ais-4bit"]["train_steps"] == 1 and rows["ais-4bit"]["wall_s"] > 0
    assert rows["ais-4bit"]["params"] == rows["ais-4bit"]["param_bits"] // 4
    assert rows["digital-wgan-gp"]["params"] == 244_993
    assert rows[quality.REAL]["params"] is None and rows[quality.REAL]["train_steps"] == 0
    alias = rows["ais-4bit-nbhd8"]
    assert alias["alias_of"] == "ais-4bit" and alias["fid"] == rows["ais-4bit"]["fid"]
    assert not (sweep / "work" / "mnist" / "ais-4bit-nbhd8").exists()  # not trained twice
    table = (sweep / "out" / "quality.md").read_text()
    assert table.count("| mnist |") == 4 and "not retrained" in table


def test_rerun_skips_finished_rows(sweep: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = json.loads((sweep / "out" / "quality.json").read_text())["rows"]

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished row was recomputed")

    monkeypatch.setattr(quality, "train", fail)
    monkeypatch.setattr(quality, "evaluate", fail)
    assert quality.main(_argv(sweep)) == 0
    assert json.loads((sweep / "out" / "quality.json").read_text())["rows"] == before


def test_refuses_a_foreign_results_file(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "quality.json").write_text("[1, 2]")
    with pytest.raises(OscsimError, match="not a quality results file"):
        quality.main(_argv(tmp_path))


def test_rows_merge_into_what_is_on_disk(tmp_path: Path) -> None:
    """Two runs sharing --out: each row merges into the file as it is now, so neither run's
    rows are lost, and a row measured again replaces the old one."""
    row = {"dataset": "mnist", "fid": 1.0, "kid": 0.0, "params": None, "train_steps": 1}
    row.update(wall_s=1.0, device="cpu", samples="x.png", n_samples=2)
    quality._merge({**row, "model": "ais-4bit"}, tmp_path)
    quality._merge({**row, "model": "digital-wgan-gp"}, tmp_path)
    quality._merge({**row, "model": "ais-4bit", "fid": 2.0}, tmp_path)
    rows = json.loads((tmp_path / "quality.json").read_text())["rows"]
    assert [(r["model"], r["fid"]) for r in rows] == [("digital-wgan-gp", 1.0), ("ais-4bit", 2.0)]
    assert (tmp_path / "quality.md").read_text().count("| mnist |") == 2


def test_a_longer_run_keeps_the_shorter_budget_scorable(
    sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training ais-4bit on to 2 steps adds a row beside the 1-step one; the 1-step budget is
    then scored again from the snapshot kept at step 1, without training."""
    shutil.copytree(sweep, tmp_path, dirs_exist_ok=True)
    assert quality.main([*_argv(tmp_path, ["ais-4bit"], steps=2), "--checkpoint-every", "1"]) == 0
    run = tmp_path / "work" / "mnist" / "ais-4bit"
    assert json.loads((run / "train_log.json").read_text())["config"]["checkpoint_every"] == 1
    assert quality.snapshot_path(run, 1).is_file() and quality.snapshot_path(run, 2).is_file()
    kept = load_model(quality.snapshot_path(run, 1))  # the generator, its step and config
    config = load_model(run / "model.pt").train_state["config"]
    assert kept.optimizer is None and sorted(kept.train_state) == ["config", "step"]
    assert kept.train_state["step"] == 1 and kept.train_state["config"]["model"] == config["model"]
    assert quality.snapshot_path(run, 1).stat().st_size < (run / "model.pt").stat().st_size / 5
    rows = json.loads((tmp_path / "out" / "quality.json").read_text())["rows"]
    assert [r["train_steps"] for r in rows if r["model"] == "ais-4bit"] == [2, 1]
    assert (tmp_path / "out" / "quality" / "mnist-ais-4bit-2.png").is_file()

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a snapshot budget was trained again")

    monkeypatch.setattr(quality, "train", fail)
    assert quality.main(_argv(tmp_path, ["ais-4bit"], steps=1, n=32)) == 0  # scored again
    rows = json.loads((tmp_path / "out" / "quality.json").read_text())["rows"]
    assert [r["n_samples"] for r in rows if r["model"] == "ais-4bit"] == [64, 32]


def test_a_digital_snapshot_keeps_the_generator_alone(sweep: Path, tmp_path: Path) -> None:
    run = sweep / "work" / "mnist" / "digital-wgan-gp"
    file = load_digital(run / "model.pt")
    quality.keep_snapshot(file, tmp_path / "step-000001.pt")
    kept = load_digital(tmp_path / "step-000001.pt")
    assert kept.optimizer is None
    assert kept.train_state == {k: file.train_state[k] for k in ("step", "config")}
    for a, b in zip(kept.model.parameters(), file.model.parameters(), strict=True):
        assert a.equal(b)


def test_another_training_seed_is_its_own_run_and_row(sweep: Path, tmp_path: Path) -> None:
    """``--seed 1`` trains a separate run beside seed 0's and adds a row next to it, so the
    spread between seeds can be read in one table; seed 0's run and row stay as they were."""
    shutil.copytree(sweep, tmp_path, dirs_exist_ok=True)
    seed0 = tmp_path / "work" / "mnist" / "ais-4bit" / "model.pt"
    before = seed0.read_bytes()
    assert quality.main([*_argv(tmp_path, ["ais-4bit"]), "--seed", "1"]) == 0
    assert seed0.read_bytes() == before
    assert (tmp_path / "work" / "mnist" / "ais-4bit-seed1" / "model.pt").is_file()
    rows = json.loads((tmp_path / "out" / "quality.json").read_text())["rows"]
    ais = {r.get("seed", 0): r for r in rows if r["model"] == "ais-4bit"}
    assert sorted(ais) == [0, 1] and ais[1]["fid"] != ais[0]["fid"]
    assert ais[1]["samples"] == "quality/mnist-ais-4bit-seed1-1.png"
    assert (
        "[ais-4bit (seed 1)](quality/mnist-ais-4bit-seed1-1.png)"
        in (tmp_path / "out" / "quality.md").read_text()
    )


def test_a_critic_seed_is_its_own_run_and_row_and_old_rows_stay_current(
    sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--seed 1 --critic-seed 0`` (seed 1's generator against seed 0's critic and batches)
    trains its own run and row beside seed 1's; rows written before the option existed (no
    ``critic_seed`` in their identity) still count as computed."""
    shutil.copytree(sweep, tmp_path, dirs_exist_ok=True)
    argv = [*_argv(tmp_path, ["ais-4bit"]), "--seed", "1", "--critic-seed", "0"]
    assert quality.main(argv) == 0
    run = tmp_path / "work" / "mnist" / "ais-4bit-seed1-critic0"
    config = json.loads((run / "train_log.json").read_text())["config"]
    assert (config["seed"], config["critic_seed"]) == (1, 0)
    results = json.loads((tmp_path / "out" / "quality.json").read_text())
    row = next(r for r in results["rows"] if r.get("critic_seed") == 0)
    assert (row["model"], row["seed"]) == ("ais-4bit", 1)
    assert row["samples"] == "quality/mnist-ais-4bit-seed1-critic0-1.png"
    table = (tmp_path / "out" / "quality.md").read_text()
    assert "[ais-4bit (seed 1, critic seed 0)](quality/mnist-ais-4bit-seed1-critic0-1.png)" in table
    for r in results["rows"]:  # the others as written before critic seeds existed
        if r.get("critic_seed") is None:
            r.get("identity", {}).get("config", {}).pop("critic_seed", None)
    (tmp_path / "out" / "quality.json").write_text(json.dumps(results))

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished row was recomputed")

    monkeypatch.setattr(quality, "train", fail)
    monkeypatch.setattr(quality, "evaluate", fail)
    assert quality.main(_argv(tmp_path)) == 0
    assert quality.main(argv) == 0


def test_an_averaged_row_scores_the_weight_average_of_its_models_run(
    sweep: Path, tmp_path: Path
) -> None:
    """``ais-4bit-ema`` trains no run of its own: it scores the weight average that
    ``ais-4bit``'s run keeps, at the same budget, and says where the average began."""
    shutil.copytree(sweep, tmp_path, dirs_exist_ok=True)
    assert quality.main(_argv(tmp_path, ["ais-4bit", "ais-4bit-ema"], steps=2)) == 0
    run = tmp_path / "work" / "mnist" / "ais-4bit"
    assert not (run.parent / "ais-4bit-ema").exists()
    live = load_model(quality.snapshot_path(run, 2)).model
    kept = load_model(quality.snapshot_path(run, 2, averaged=True))
    config = load_model(run / "model.pt").train_state["config"]  # shippable without its run
    assert kept.train_state == {
        "step": 2,
        "config": config,
        "ema_from": 0,
        "ema_decay": quality.EMA_DECAY,
    }
    assert not torch.equal(kept.model.k, live.k)
    rows = json.loads((tmp_path / "out" / "quality.json").read_text())["rows"]
    ema = next(r for r in rows if r["model"] == "ais-4bit-ema")
    base = next(r for r in rows if r["model"] == "ais-4bit" and r["train_steps"] == 2)
    assert ema["ema_from"] == 0 and ema["train_steps"] == 2 and ema["fid"] != base["fid"]
    assert ema["wall_s"] == base["wall_s"]  # the same run's iterations
    assert ema["samples"] == "quality/mnist-ais-4bit-ema-2.png"
    assert [r["model"] for r in rows if r["train_steps"] == 2] == ["ais-4bit", "ais-4bit-ema"]
    assert "from step 0" in (tmp_path / "out" / "quality.md").read_text()


def test_an_average_begun_after_the_budget_is_a_clear_error(sweep: Path, tmp_path: Path) -> None:
    shutil.copytree(sweep, tmp_path, dirs_exist_ok=True)
    run = tmp_path / "work" / "mnist" / "ais-4bit"
    (run / "model-ema.pt").unlink()
    quality.snapshot_path(run, 1, averaged=True).unlink()
    with pytest.raises(OscsimError, match="kept no weight average at step 1"):
        quality.main(_argv(tmp_path, ["ais-4bit-ema"], steps=1))
