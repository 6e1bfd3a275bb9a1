"""benchmarks/fine_tune.py: a quality.py model no preset describes, fine-tuned from its run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA, load_benchmark, logged_losses

from oscsim.errors import OscsimError
from oscsim.modelfile import load_model
from oscsim.train import train

quality = load_benchmark("quality")
fine_tune = load_benchmark("fine_tune")
STATIC = "oscillator-static-envelope"


def _argv(init_from: Path, out: Path, *extra: str) -> list[str]:
    return [
        *("--dataset", "mnist", "--model", STATIC, "--init-from", str(init_from)),
        *("--steps", "2", "--seed", "3", "--threads", "1", "--quiet", "--smoke"),
        *("--data-dir", str(SHARED_DATA), "--out", str(out), *extra),
    ]


@pytest.fixture(scope="module")
def static_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-step run of the static network, as quality.py trains it (tiny rollout)."""
    if not (SHARED_DATA / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"canonical MNIST files not found in {SHARED_DATA / 'mnist'}")
    out = tmp_path_factory.mktemp("static")
    config = quality.train_config("mnist", STATIC, 1, data_dir=str(SHARED_DATA), smoke=True)
    train(config, out, progress=False, threads=1)
    return out


def test_only_ais_models_with_runs_of_their_own_are_offered() -> None:
    assert STATIC in fine_tune.TUNABLE and "ais-4bit-envelope" in fine_tune.TUNABLE
    assert "digital-wgan-gp" not in fine_tune.TUNABLE
    assert not [name for name in fine_tune.TUNABLE if name.endswith("-ema")]


def test_fine_tune_keeps_the_model_adds_the_term_and_resumes(
    static_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ft"
    argv = _argv(static_run / "model.pt", out, "--mode-seeking-weight", "0.25")
    assert fine_tune.main(argv) == 0
    log = json.loads((out / "train_log.json").read_text())
    config = log["config"]
    assert log["step"] == 2 and config["seed"] == 3
    assert config["mode_seeking_weight"] == 0.25 and config["ema_decay"] == 0.995
    assert config["init_from"] == str(static_run / "model.pt")
    source = json.loads((static_run / "train_log.json").read_text())["config"]
    assert config["model"] == source["model"] and config["graph"] == source["graph"]
    assert config["model"]["segments"] == 1 and config["model"]["bits"] is None
    assert len(logged_losses(out)["mode_seeking"]) == 2
    assert load_model(out / "model-ema.pt").train_state["step"] == 2
    argv[argv.index("--steps") + 1] = "3"
    assert fine_tune.main([*argv, "--resume", "--keep-averages"]) == 0
    assert json.loads((out / "train_log.json").read_text())["step"] == 3
    assert [p.name for p in (out / "snapshots").iterdir()] == ["step-000003-ema.pt"]
    assert len(logged_losses(out)["mode_seeking"]) == 3


def test_a_model_of_another_kind_is_refused_by_name(static_run: Path, tmp_path: Path) -> None:
    """The static run's file (S = 1) does not start the headline model (S = 4)."""
    argv = _argv(static_run / "model.pt", tmp_path / "ft")
    argv[argv.index(STATIC)] = "ais-4bit-envelope"
    with pytest.raises(OscsimError, match=r"differs from this run's in .*segments"):
        fine_tune.main(argv)


def test_bad_values_are_named(static_run: Path, tmp_path: Path) -> None:
    argv = _argv(static_run / "model.pt", tmp_path / "ft", "--mode-seeking-weight", "-1")
    with pytest.raises(OscsimError, match="mode_seeking_weight"):
        fine_tune.main(argv)
    argv = _argv(static_run / "model.pt", tmp_path / "ft")
    argv[argv.index("--steps") + 1] = "0"
    with pytest.raises(OscsimError, match="steps"):
        fine_tune.main(argv)
