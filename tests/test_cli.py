"""The command line, called in-process through ``main(argv)``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from oscsim.cli import main
from oscsim.graph import GraphSpec, build_graph
from oscsim.model import AISGenerator, ModelConfig
from oscsim.modelfile import load_model, save_model


def test_help_lists_subcommands(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("data", "graph", "sample", "demo"):
        assert cmd in out


def test_version(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("oscsim ")


@pytest.mark.parametrize(("preset", "nodes", "edges"), [("demo", 245, 1534), ("mnist", 980, 6588)])
def test_graph_json(capsys, preset: str, nodes: int, edges: int) -> None:
    assert main(["graph", "--preset", preset, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert set(stats) == {"nodes", "edges", "visible", "hidden", "mean_degree", "max_degree"}
    assert (stats["nodes"], stats["edges"]) == (nodes, edges)


def test_graph_png_and_unknown_preset(tmp_path, capsys) -> None:
    assert main(["graph", "--preset", "demo", "--png", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").stat().st_size > 1000
    assert main(["graph", "--preset", "nope"]) == 2
    assert "demo" in capsys.readouterr().err


def test_sample_fresh_model_and_refuses_to_overwrite(tmp_path, capsys) -> None:
    out = tmp_path / "s"
    assert main(["sample", "--n", "6", "--out", str(out)]) == 0
    images = np.load(out / "samples.npy")
    assert images.shape == (6, 14, 14) and images.dtype == np.float32
    meta = json.loads((out / "samples.json").read_text())
    assert meta["n"] == 6 and "torch" in meta["versions"]
    assert main(["sample", "--n", "6", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["sample", "--n", "6", "--out", str(out), "--force"]) == 0
    assert np.array_equal(np.load(out / "samples.npy"), images)  # same seed, same images


def test_sample_from_model_file(tmp_path) -> None:
    spec = GraphSpec(image_size=(4, 4), neighbourhood=8)
    path = save_model(tmp_path / "m.pt", AISGenerator(build_graph(spec), ModelConfig(segments=2)))
    assert main(["sample", str(path), "--n", "3", "--out", str(tmp_path / "o")]) == 0
    assert np.load(tmp_path / "o" / "samples.npy").shape == (3, 4, 4)


def test_sample_bad_model_file_is_a_clear_error(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_text("hello")
    assert main(["sample", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not a readable oscsim model file" in capsys.readouterr().err


def test_data_info_digits14(capsys) -> None:
    assert main(["data", "info", "digits14"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "digits14"


def test_demo_runs_end_to_end(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--circuit-latents", "0"]) == 0
    summary = json.loads((out / "demo.json").read_text())
    assert summary["graph"]["nodes"] == 245
    for name in ("graph.png", "data.png", "trained/samples.png", "trained/segments.png"):
        assert (out / name).exists(), name
    # the shipped model generates digits far closer to the data than an untrained one
    assert summary["trained"]["fid"] < 0.5 * summary["untrained"]["fid"]


def test_sample_shipped_model_by_name(tmp_path) -> None:
    assert main(["sample", "demo", "--n", "4", "--out", str(tmp_path)]) == 0
    meta = json.loads((tmp_path / "samples.json").read_text())
    assert meta["source"] == "demo" and meta["config"]["reference_injection"]


def test_front_door_names_resolve() -> None:
    import oscsim

    for name in oscsim.__all__:
        assert getattr(oscsim, name) is not None
    with pytest.raises(AttributeError):
        oscsim.no_such_name  # noqa: B018


def _tiny_model_file(tmp_path):
    spec = GraphSpec(image_size=(2, 2), neighbourhood=8)
    config = ModelConfig(segments=2, cycles_per_segment=4.0, steps_per_segment=8)
    return save_model(tmp_path / "tiny.pt", AISGenerator(build_graph(spec), config, seed=1))


def test_export_writes_netlists_and_manifest(tmp_path, capsys) -> None:
    model = _tiny_model_file(tmp_path)
    out = tmp_path / "net"
    assert main(["export", str(model), "--out", str(out), "--n", "2"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["netlists"]) == 2
    assert (out / "sample_0001.cir").read_text().startswith("oscsim structural netlist")
    assert main(["export", str(model), "--out", str(out)]) == 2  # refuses to overwrite
    assert "--force" in capsys.readouterr().err


@pytest.mark.ngspice
def test_validate_exit_status_follows_the_fidelity_bar(tmp_path) -> None:
    model = str(_tiny_model_file(tmp_path))
    args = ["validate", model, "--n", "1", "--quiet", "--json", str(tmp_path / "v.json")]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    result = json.loads((tmp_path / "v.json").read_text())
    assert 0.0 <= result["sign_agreement"] <= 1.0
    assert main([*args, "--out", str(tmp_path / "b"), "--min-sign-agreement", "1.01"]) == 1
    assert main([*args, "--out", str(tmp_path / "a"), "--resume"]) == 0  # nothing to simulate
    assert json.loads((tmp_path / "v.json").read_text())["simulated_now"] == 0


@pytest.mark.ngspice
def test_validate_timeout_is_a_clear_error(tmp_path, capsys) -> None:
    model = str(_tiny_model_file(tmp_path))
    assert main(["validate", model, "--n", "1", "--quiet", "--timeout-s", "0.01"]) == 2
    assert "ngspice timed out after 0.01 s" in capsys.readouterr().err


def test_train_writes_a_checkpoint_every_given_steps(tmp_path, capsys) -> None:
    argv = ["train", "--preset", "demo", "--steps", "2", "--checkpoint-every", "1"]
    argv += ["--out", str(tmp_path / "run"), "--threads", "1", "--quiet"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["step"] == 2
    log = json.loads((tmp_path / "run" / "train_log.json").read_text())
    assert log["config"]["checkpoint_every"] == 1
    assert sorted(p.name for p in (tmp_path / "run" / "samples").glob("step-*[0-9].png")) == [
        "step-000001.png",
        "step-000002.png",
    ]


def test_train_for_mismatch_from_the_command_line(tmp_path, capsys) -> None:
    argv = ["train", "--preset", "demo", "--steps", "1", "--out", str(tmp_path / "run")]
    argv += ["--threads", "1", "--quiet", "--consistency-weight", "2"]
    assert main(argv) == 2
    assert "consistency_weight needs ModelConfig.detuning_noise or" in capsys.readouterr().err
    assert main([*argv, "--detuning-noise", "0.001", "--coupling-noise", "0.02"]) == 0
    log = json.loads((tmp_path / "run" / "train_log.json").read_text())
    assert log["config"]["consistency_weight"] == 2.0
    assert log["config"]["model"]["detuning_noise"] == 0.001
    assert log["config"]["model"]["coupling_noise"] == 0.02
    assert len(log["history"]["consistency"]) == 1
    assert main([*argv[:-2], "--mode-seeking-weight", "0.25", "--force"]) == 0
    log = json.loads((tmp_path / "run" / "train_log.json").read_text())
    assert log["config"]["mode_seeking_weight"] == 0.25
    assert len(log["history"]["mode_seeking"]) == 1


def test_train_keeps_each_checkpoints_average_when_asked(tmp_path, capsys) -> None:
    argv = ["train", "--preset", "demo", "--steps", "2", "--checkpoint-every", "1"]
    argv += ["--out", str(tmp_path / "run"), "--threads", "1", "--quiet", "--keep-averages"]
    assert main(argv) == 2
    assert "keep_averages keeps the weight average's snapshots" in capsys.readouterr().err
    assert main([*argv, "--ema-decay", "0.9"]) == 0
    kept = sorted(p.name for p in (tmp_path / "run" / "snapshots").iterdir())
    assert kept == ["step-000001-ema.pt", "step-000002-ema.pt"]


def test_train_takes_the_wgan_gp_settings_from_the_command_line(tmp_path, capsys) -> None:
    argv = ["train", "--preset", "demo", "--steps", "1", "--out", str(tmp_path / "run")]
    argv += ["--threads", "1", "--quiet", "--n-critic", "2", "--gp-weight", "5"]
    assert main([*argv, "--lr-g", "-0.1"]) == 2
    assert "lr_g must be a positive finite number, got -0.1" in capsys.readouterr().err
    assert main([*argv, "--critic-minibatch-std", "3"]) == 2
    assert "group size >= 2 that divides the batch (64), got 3" in capsys.readouterr().err
    assert main([*argv, "--lr-g", "0.003", "--lr-d", "2e-5", "--critic-minibatch-std", "4"]) == 0
    config = json.loads((tmp_path / "run" / "train_log.json").read_text())["config"]
    assert (config["n_critic"], config["gp_weight"]) == (2, 5.0)
    assert (config["lr_g"], config["lr_d"], config["critic_minibatch_std"]) == (0.003, 2e-5, 4)


@pytest.mark.ngspice
def test_train_an_envelope_model_with_the_cells_measured_offsets(tmp_path, capsys) -> None:
    argv = ["train", "--preset", "demo", "--steps", "1", "--out", str(tmp_path / "run")]
    argv += ["--threads", "1", "--quiet", "--cell-offsets", "measured"]
    assert main(argv) == 2
    assert "--cell-offsets measured needs --dynamics envelope" in capsys.readouterr().err
    assert main([*argv, "--dynamics", "envelope"]) == 0
    offsets = json.loads((tmp_path / "run" / "train_log.json").read_text())["config"]["model"][
        "tank_offsets"
    ]
    amplitudes = [a for a, _ in offsets]
    assert len(offsets) >= 8 and amplitudes == sorted(amplitudes)
    assert max(abs(d) for _, d in offsets) > 1e-5  # the cell's offset moves with its amplitude
    model = load_model(tmp_path / "run" / "model.pt").model
    assert model.config.tank.offsets == tuple(map(tuple, offsets))
    tune = [*argv[:6], str(tmp_path / "tuned"), *argv[7:], "--dynamics", "envelope"]
    assert main([*tune, "--init-from", "demo"]) == 0  # the shipped model, to the measured cell
    log = json.loads((tmp_path / "tuned" / "train_log.json").read_text())
    assert log["config"]["init_from"] == "demo" and log["config"]["model"]["tank_offsets"]
    assert main([*tune, "--init-from", "mnist", "--force"]) == 2
    assert "cannot start from" in capsys.readouterr().err
