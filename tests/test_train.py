"""WGAN-GP training: the penalty, the critic, the config, and resumable, reproducible runs."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from conftest import logged_losses
from torch import Tensor, nn

from oscsim import train as train_module
from oscsim.critic import Critic, gradient_penalty
from oscsim.errors import ModelFileError, OscsimError
from oscsim.graph import GraphSpec, build_graph
from oscsim.model import AISGenerator, ModelConfig
from oscsim.modelfile import load_model, save_model
from oscsim.train import average_path, iteration_fn, kept_snapshots, snapshot_path, train
from oscsim.train_config import PRESETS, TrainConfig, preset, with_defaults
from oscsim.train_outputs import LOSSES

CPU = torch.device("cpu")
TINY = TrainConfig(
    graph=GraphSpec(image_size=(6, 6), neighbourhood=8, hidden_stride=2, hidden_patch=4),
    model=ModelConfig(segments=2, cycles_per_segment=2.0, steps_per_segment=4),
    resize_data=True,
    steps=6,
    batch=8,
    n_critic=2,
    critic_width=8,
    checkpoint_every=3,
    n_samples=9,
    seed=5,
)


class _Linear(nn.Module):
    """D(x) = w · x: its gradient is w everywhere."""

    def __init__(self, w: Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: Tensor) -> Tensor:
        return (x * self.w).flatten(1).sum(1)


class _HalfSquare(nn.Module):
    """D(x) = ‖x‖² / 2: its gradient is x itself."""

    def forward(self, x: Tensor) -> Tensor:
        return 0.5 * (x**2).flatten(1).sum(1)


def test_gradient_penalty_of_a_linear_critic_is_its_norm_error() -> None:
    critic = _Linear(torch.full((2, 2), 1.5))  # ‖w‖ = 3 → (3 − 1)² = 4 for every sample
    real, fake = torch.rand(3, 2, 2), torch.rand(3, 2, 2)
    gp = gradient_penalty(critic, real, fake, torch.rand(3))
    assert gp.item() == pytest.approx(4.0, rel=1e-6)
    gp.backward()  # d gp / d w = 2 (‖w‖ − 1) w / ‖w‖ = 2 · 2 · 1.5 / 3 = 2 per entry
    assert torch.allclose(critic.w.grad, torch.full((2, 2), 2.0))


def test_gradient_penalty_interpolates_with_eps() -> None:
    real, fake = torch.ones(2, 2, 2), torch.zeros(2, 2, 2)
    # x̂ = ε · 1, ‖∇D(x̂)‖ = ‖x̂‖ = 2ε: ε = 0.25 → (0.5 − 1)² = 0.25, ε = 0.5 → 0; mean 0.125.
    gp = gradient_penalty(_HalfSquare(), real, fake, torch.tensor([0.25, 0.5]))
    assert gp.item() == pytest.approx(0.125, rel=1e-6)


@pytest.mark.parametrize("shape", [(6, 6), (14, 14), (28, 28)])
def test_critic_scores_each_image_without_batch_norm(shape: tuple[int, int]) -> None:
    critic = Critic(shape, width=8, layer_norm=True)
    images = torch.rand(5, *shape)
    scores = critic(images)
    assert scores.shape == (5,)
    assert torch.allclose(critic(images[2:3]), scores[2:3], atol=1e-6)  # no batch coupling
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    assert torch.equal(Critic(shape, 8, True).net[0].weight, critic.net[0].weight)  # seeded


def test_minibatch_std_critic_scores_groups_by_their_spread() -> None:
    """The head starts at zero (a plain critic's scores, once loaded), then adds a score that
    depends on how alike the images of each group of consecutive images are, and on no other
    group."""
    plain, critic = Critic((14, 14), 8), Critic((14, 14), 8, minibatch_std=4)
    critic.load_state_dict(plain.state_dict(), strict=False)
    images = torch.rand(8, 14, 14)
    assert torch.equal(critic(images), plain(images))
    nn.init.constant_(critic.diversity.weight, 1.0 / critic.diversity.in_features)  # mean std
    same = images[:1].expand(4, 14, 14)
    alike, diverse = critic(torch.cat([same, images[4:]])), critic(images)
    assert torch.allclose(alike[:4] - plain(same), torch.zeros(4), atol=1e-3)  # no spread
    assert (diverse[:4] > plain(images[:4]) + 1e-3).all()
    assert torch.equal(alike[4:], diverse[4:])  # the other group is scored as before
    with pytest.raises(ValueError, match="multiple of 4"):
        critic(images[:6])
    with pytest.raises(ValueError, match="group size >= 2"):
        Critic((14, 14), 8, minibatch_std=1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("steps", 0),
        ("batch", 2.5),
        ("lr_d", -1e-4),
        ("gp_weight", math.nan),
        ("betas", (0.5,)),
        ("consistency_weight", -1.0),
        ("consistency_weight", 1.0),  # without detuning noise the two renderings are equal
        ("mode_seeking_weight", -0.5),
        ("mode_seeking_weight", math.inf),
        ("ema_decay", 1.0),
        ("ema_decay", -0.1),
        ("keep_averages", True),  # with no average to keep (ema_decay 0)
        ("keep_averages", 1),
        ("seed", 1.5),
        ("critic_seed", True),
        ("critic_seed", "0"),
        ("critic_minibatch_std", 1),
        ("critic_minibatch_std", 3),  # does not divide the batch of 8
        ("critic_minibatch_std", -2),
    ],
)
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(TINY, **{field: value})


def test_presets_and_overrides() -> None:
    assert set(PRESETS) == {"demo", "mnist", "fashion"}
    demo = preset("demo", steps=7)
    assert demo.steps == 7 and demo.gp_weight == 10.0 and demo.n_critic == 5
    assert demo.model.segments == 4 and demo.model.cycles_per_segment == 16.0
    sigma = demo.model.sigma_init
    assert list(sigma) == sorted(sigma) and sigma[0] < sigma[-1]  # weak → strong SHIL
    with pytest.raises(ValueError, match="unknown training preset"):
        preset("cifar")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted 6-step run of TINY."""
    out = tmp_path_factory.mktemp("full")
    train(TINY, out, progress=False)
    return out


def test_run_writes_outputs_with_finitelogged_losses(full_run: Path) -> None:
    names = {p.relative_to(full_run).as_posix() for p in full_run.rglob("*") if p.is_file()}
    assert {"model.pt", "train_log.json", "losses.png"} <= names
    assert {"samples/step-000003.png", "samples/step-000006-segments.png"} <= names
    losses = logged_losses(full_run)
    assert losses["step"] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(v) for key in LOSSES for v in losses[key])
    assert all(v >= 0 for v in losses["gp"])
    content = torch.load(full_run / "model.pt", weights_only=True)
    state = content["train_state"]
    assert state["step"] == 6 and set(content["optimizer"]) == {"generator", "critic"}


def test_generator_and_critic_parameters_change(full_run: Path) -> None:
    state = torch.load(full_run / "model.pt", weights_only=True)
    initial = AISGenerator(build_graph(TINY.graph), TINY.model, seed=TINY.seed).state_dict()
    for name in ("k", "delta", "sigma"):
        assert not torch.equal(state["state_dict"][name], initial[name]), name
    critic0 = Critic(TINY.graph.image_size, TINY.critic_width, seed=TINY.seed + 1).state_dict()
    trained = state["train_state"]["critic"]
    weights = [k for k in critic0 if k.endswith("weight")]
    assert len(weights) >= 3 and all(not torch.equal(trained[k], critic0[k]) for k in weights)
    # The output bias cancels in D(real) − D(fake) and the penalty: its gradient is exactly 0.
    out_bias = [k for k in critic0 if k.endswith("bias")][-1]
    assert torch.equal(trained[out_bias], critic0[out_bias])


def test_same_seed_same_losses_and_other_seed_differs(full_run: Path, tmp_path: Path) -> None:
    train(TINY, tmp_path / "again", progress=False)
    assert logged_losses(tmp_path / "again") == logged_losses(full_run)
    train(dataclasses.replace(TINY, seed=6, steps=2), tmp_path / "other", progress=False)
    assert (
        logged_losses(tmp_path / "other")["critic_loss"]
        != logged_losses(full_run)["critic_loss"][:2]
    )


def test_resume_continues_to_the_uninterruptedlogged_losses(full_run: Path, tmp_path: Path) -> None:
    first = train(dataclasses.replace(TINY, steps=3), tmp_path, progress=False)
    assert first["step"] == 3
    summary = train(TINY, tmp_path, resume=True, progress=False)
    assert summary["resumed_from"] == 3 and summary["step"] == 6
    assert logged_losses(tmp_path) == logged_losses(
        full_run
    )  # bitwise: every state is restored exactly
    full = torch.load(full_run / "model.pt", weights_only=True)["state_dict"]
    resumed = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(full[k], resumed[k]) for k in full)


def test_resume_a_run_saved_before_a_model_field_existed(full_run: Path, tmp_path: Path) -> None:
    """Config fields added later (detuning_noise, consistency_weight) take their defaults."""
    content = torch.load(full_run / "model.pt", weights_only=True)
    for config in (content["train_state"]["config"]["model"], content["config"]):
        del config["detuning_noise"]
    for name in ("consistency_weight", "critic_seed", "mode_seeking_weight"):
        del content["train_state"]["config"][name]
    torch.save(content, tmp_path / "model.pt")
    summary = train(dataclasses.replace(TINY, steps=7), tmp_path, resume=True, progress=False)
    assert summary["resumed_from"] == 6 and summary["step"] == 7


def test_with_defaults_fills_the_fields_a_saved_config_lacks() -> None:
    saved = json.loads(json.dumps(TINY.to_dict()))
    del saved["critic_seed"], saved["model"]["detuning_noise"]
    assert with_defaults(saved) == json.loads(json.dumps(TINY.to_dict()))


def test_critic_seed_seeds_the_critic_and_the_draws_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``critic_seed`` equal to ``seed`` changes nothing; another one builds the critic from
    that seed while the generator keeps ``seed``'s initialisation."""
    two = dataclasses.replace(TINY, steps=2)
    train(two, tmp_path / "plain", progress=False)
    train(dataclasses.replace(two, critic_seed=TINY.seed), tmp_path / "same", progress=False)
    assert logged_losses(tmp_path / "same") == logged_losses(tmp_path / "plain")
    seeds: list[int] = []

    def critic(*args: object, seed: int, **kwargs: object) -> Critic:
        seeds.append(seed)
        return Critic(*args, seed=seed, **kwargs)

    monkeypatch.setattr(train_module, "Critic", critic)
    crossed = dataclasses.replace(two, seed=TINY.seed + 1, critic_seed=TINY.seed)
    train(crossed, tmp_path / "crossed", progress=False)
    assert seeds == [TINY.seed + 1]  # the critic of seed TINY.seed's run
    losses = logged_losses(tmp_path / "crossed")["critic_loss"]
    assert losses != logged_losses(tmp_path / "plain")["critic_loss"]  # another generator
    log = json.loads((tmp_path / "crossed" / "train_log.json").read_text())
    assert (log["config"]["seed"], log["config"]["critic_seed"]) == (TINY.seed + 1, TINY.seed)


def _params(path: Path) -> dict[str, Tensor]:
    return dict(load_model(path).model.named_parameters())


def test_weight_average_watches_the_run_without_changing_it(full_run: Path, tmp_path: Path) -> None:
    """The average is the mean of the iterates (then an EMA); the run itself is bit for bit the
    one without it, and an interrupted run resumes its average exactly."""
    averaged = dataclasses.replace(TINY, ema_decay=0.9)
    train(averaged, tmp_path / "ema", progress=False)
    assert logged_losses(tmp_path / "ema") == logged_losses(full_run)
    live, plain = _params(tmp_path / "ema" / "model.pt"), _params(full_run / "model.pt")
    assert all(torch.equal(live[k], plain[k]) for k in plain)
    file = load_model(average_path(tmp_path / "ema" / "model.pt"))
    assert file.optimizer is None
    config = load_model(tmp_path / "ema" / "model.pt").train_state["config"]
    assert file.train_state == {"step": 6, "config": config, "ema_from": 0, "ema_decay": 0.9}
    assert all(not torch.equal(v, live[k]) for k, v in file.model.named_parameters())
    train(dataclasses.replace(averaged, steps=1), tmp_path / "one", progress=False)
    initial = AISGenerator(build_graph(TINY.graph), TINY.model, seed=TINY.seed)
    one, mean = _params(tmp_path / "one" / "model.pt"), _params(tmp_path / "one" / "model-ema.pt")
    for name, value in initial.named_parameters():  # after one step: the mean of two iterates
        assert torch.allclose(mean[name], (value + one[name]) / 2, atol=1e-7), name
    train(dataclasses.replace(averaged, steps=3), tmp_path / "cut", progress=False)
    train(averaged, tmp_path / "cut", resume=True, progress=False)
    resumed, whole = _params(tmp_path / "cut" / "model-ema.pt"), _params(file.path)
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)


def test_weight_average_can_begin_when_a_run_resumes(full_run: Path, tmp_path: Path) -> None:
    train(dataclasses.replace(TINY, steps=3), tmp_path, progress=False)
    assert not average_path(tmp_path / "model.pt").exists()
    train(dataclasses.replace(TINY, ema_decay=0.5), tmp_path, resume=True, progress=False)
    assert logged_losses(tmp_path) == logged_losses(full_run)
    assert load_model(tmp_path / "model-ema.pt").train_state["ema_from"] == 3
    train(dataclasses.replace(TINY, steps=1), tmp_path, force=True, progress=False)
    assert not average_path(tmp_path / "model.pt").exists()  # not the overwritten run's


def test_kept_averages_are_each_checkpoints_average_across_a_resume(tmp_path: Path) -> None:
    kept = dataclasses.replace(TINY, ema_decay=0.9, keep_averages=True)
    train(dataclasses.replace(kept, steps=3), tmp_path / "cut", progress=False)
    at_3 = _params(tmp_path / "cut" / "model-ema.pt")
    train(kept, tmp_path / "cut", resume=True, progress=False)
    names = sorted(p.name for p in (tmp_path / "cut" / "snapshots").iterdir())
    assert names == ["step-000003-ema.pt", "step-000006-ema.pt"]
    for step, expected in ((3, at_3), (6, _params(tmp_path / "cut" / "model-ema.pt"))):
        file = snapshot_path(tmp_path / "cut", step, averaged=True)
        assert load_model(file).train_state["step"] == step
        assert all(torch.equal(v, expected[k]) for k, v in _params(file).items())
    train(dataclasses.replace(TINY, ema_decay=0.9), tmp_path / "plain", progress=False)
    assert not (tmp_path / "plain" / "snapshots").exists()
    train(dataclasses.replace(kept, steps=2), tmp_path / "cut", force=True, progress=False)
    fresh = [p.name for p in (tmp_path / "cut" / "snapshots").iterdir()]
    assert fresh == ["step-000002-ema.pt"]  # its own, not the overwritten run's


def test_kept_snapshots_lists_what_snapshot_path_names(tmp_path: Path) -> None:
    named = [snapshot_path(tmp_path, s, a) for s, a in ((20, True), (3, False), (20, False))]
    for path in [*named, tmp_path / "snapshots" / "notes.pt"]:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"")
    assert kept_snapshots(tmp_path) == [
        (3, False, named[1]),
        (20, False, named[2]),
        (20, True, named[0]),
    ]


def test_consistency_term_is_logged_and_trains(tmp_path: Path) -> None:
    model = dataclasses.replace(TINY.model, detuning_noise=0.01)
    config = dataclasses.replace(TINY, steps=2, model=model, consistency_weight=5.0)
    train(config, tmp_path, progress=False)
    consistency = logged_losses(tmp_path)["consistency"]
    assert len(consistency) == 2 and all(0.0 < v < 1.0 for v in consistency)
    resumed = train(dataclasses.replace(config, steps=3), tmp_path, resume=True, progress=False)
    assert resumed["step"] == 3 and len(logged_losses(tmp_path)["consistency"]) == 3


def test_mode_seeking_term_is_latent_over_image_distance_of_the_pairs() -> None:
    model = AISGenerator(build_graph(TINY.graph), TINY.model, seed=0)
    latent = torch.tensor([[0.0, 0.0], [0.0, math.pi], [math.pi / 2, 0.0], [0.0, 0.0]])
    images = torch.tensor([[[0.0, 1.0]], [[0.5, 0.5]], [[1.0, 1.0]], [[0.0, 0.0]]])
    # pairs (0, 2) and (1, 3): latent distances 0.5 and 1, pixel distances 0.5 and 0.5
    term = train_module.mode_seeking_term(model, latent, images)
    assert float(term) == pytest.approx(0.75 / (0.5 + 1e-5))
    assert torch.allclose(model.latent_distance(latent[:2], latent[2:]), torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="batch of at least 2"):
        train_module.mode_seeking_term(model, latent[:1], images[:1])
    with pytest.raises(ValueError, match="needs a batch of at least 2"):
        dataclasses.replace(TINY, batch=1, mode_seeking_weight=0.5)


def test_mode_seeking_gradient_pushes_the_pairs_apart() -> None:
    model = AISGenerator(build_graph(TINY.graph), TINY.model, seed=0)
    latent = model.latent(4, torch.Generator().manual_seed(0))
    images = torch.tensor([[[0.2, 0.4]], [[0.6, 0.6]], [[0.3, 0.5]], [[0.5, 0.5]]])
    images.requires_grad_(True)
    train_module.mode_seeking_term(model, latent, images).backward()
    step = images.detach() - 0.01 * images.grad  # a descent step moves each pair apart
    first, second = images.detach()[:2], images.detach()[2:]
    assert ((step[:2] - step[2:]).abs() > (first - second).abs()).all()


def test_mode_seeking_term_is_logged_and_trains(tmp_path: Path) -> None:
    config = dataclasses.replace(TINY, steps=2, mode_seeking_weight=0.5)
    train(config, tmp_path, progress=False)
    seeking = logged_losses(tmp_path)["mode_seeking"]
    assert len(seeking) == 2 and all(0.0 < v < math.inf for v in seeking)
    resumed = train(dataclasses.replace(config, steps=3), tmp_path, resume=True, progress=False)
    assert resumed["step"] == 3
    with pytest.raises(OscsimError, match="different configuration"):
        train(dataclasses.replace(TINY, steps=4), tmp_path, resume=True, progress=False)


def test_init_from_fine_tunes_a_model_under_another_cell_model(
    full_run: Path, tmp_path: Path
) -> None:
    """A run started from a model file begins at its parameters, may change how the cells are
    modelled, resumes without the file, and refuses a model whose parameters mean otherwise."""
    source = tmp_path / "source.pt"
    source.write_bytes((full_run / "model.pt").read_bytes())
    cells = dataclasses.replace(
        TINY.model, dynamics="envelope", tank_offsets=((0.5, 0.0), (1.5, 0.002))
    )
    config = dataclasses.replace(TINY, model=cells, init_from=str(source), ema_decay=0.9, steps=2)
    start = train_module._start(config, tmp_path / "x", False, False, CPU, train_module._AIS)
    assert start.model.config.tank.offsets == cells.tank_offsets
    theirs, critic = _params(source), load_model(source).train_state["critic"]
    assert all(torch.equal(v, theirs[k]) for k, v in start.model.named_parameters())
    assert all(torch.equal(v, critic[k]) for k, v in start.critic.state_dict().items())
    plain = tmp_path / "plain.pt"  # a model file without a run: a fresh critic
    save_model(plain, load_model(source).model)
    fresh = dataclasses.replace(config, init_from=str(plain))
    start = train_module._start(fresh, tmp_path / "x", False, False, CPU, train_module._AIS)
    assert all(torch.equal(v, theirs[k]) for k, v in start.model.named_parameters())
    assert not torch.equal(next(iter(start.critic.parameters())), next(iter(critic.values())))
    train(config, tmp_path / "tuned", progress=False)
    source.unlink()
    summary = train(
        dataclasses.replace(config, steps=3), tmp_path / "tuned", resume=True, progress=False
    )
    assert summary["step"] == 3
    log = json.loads((tmp_path / "tuned" / "train_log.json").read_text())
    assert log["config"]["init_from"] == str(source)
    tuned = _params(tmp_path / "tuned" / "model.pt")
    assert any(not torch.equal(v, theirs[k]) for k, v in tuned.items())
    with pytest.raises(ModelFileError, match="does not exist"):
        train(config, tmp_path / "gone", progress=False)
    other_graph = dataclasses.replace(TINY.graph, neighbourhood=4)
    for change, named in (
        ({"graph": other_graph}, "graph"),
        ({"model": dataclasses.replace(cells, bits=3)}, "bits"),
    ):
        bad = dataclasses.replace(config, init_from=str(full_run / "model.pt"), **change)
        with pytest.raises(OscsimError, match=f"differs from this run's in {named}"):
            train(bad, tmp_path / named, progress=False)
    with pytest.raises(ValueError, match="init_from must be"):
        dataclasses.replace(TINY, init_from="")
    wide = dataclasses.replace(config, init_from=str(full_run / "model.pt"), critic_width=4)
    with pytest.raises(OscsimError, match="its critic or optimizers do not fit"):
        train(wide, tmp_path / "wide", progress=False)


def test_init_from_keeps_the_moments_but_takes_this_runs_learning_rates(
    full_run: Path, tmp_path: Path
) -> None:
    """A fine-tune at lower learning rates (a decay phase) runs at them, not at the saved
    run's, which loading the optimizer state would otherwise bring back."""
    source = full_run / "model.pt"
    config = dataclasses.replace(
        TINY, init_from=str(source), lr_g=TINY.lr_g / 4, lr_d=TINY.lr_d / 4, betas=(0.0, 0.99)
    )
    start = train_module._start(config, tmp_path / "x", False, False, CPU, train_module._AIS)
    saved = load_model(source).optimizer
    fresh = train_module._generator_optimizer(start.model, config)
    for opt, fresh_groups, key in (
        (start.opt_g, fresh.param_groups, "generator"),
        (start.opt_d, [{"lr": config.lr_d}], "critic"),
    ):
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in fresh_groups]
        assert all(g["betas"] == (0.0, 0.99) for g in opt.param_groups)
        moments = [v["exp_avg"] for v in opt.state_dict()["state"].values()]
        theirs = [v["exp_avg"] for v in saved[key]["state"].values()]
        assert moments and all(torch.equal(a, b) for a, b in zip(moments, theirs, strict=True))


def test_init_from_adds_a_minibatch_std_head_to_the_saved_critic(
    full_run: Path, tmp_path: Path
) -> None:
    """A fine-tune with the minibatch-std critic from a run without it keeps that run's critic
    and generator moments; the new head starts at zero with the critic's Adam state afresh.
    The run trains, moves the head and resumes."""
    source = full_run / "model.pt"
    config = dataclasses.replace(TINY, init_from=str(source), critic_minibatch_std=4, steps=2)
    start = train_module._start(config, tmp_path / "x", False, False, CPU, train_module._AIS)
    saved, critic = load_model(source), start.critic.state_dict()
    assert all(torch.equal(v, critic[k]) for k, v in saved.train_state["critic"].items())
    assert not critic["diversity.weight"].any() and not start.opt_d.state_dict()["state"]
    assert len(start.opt_g.state_dict()["state"]) == len(saved.optimizer["generator"]["state"])
    train(config, tmp_path / "tuned", progress=False)
    state = load_model(tmp_path / "tuned" / "model.pt").train_state
    assert state["critic"]["diversity.weight"].abs().sum() > 0
    resumed = train(
        dataclasses.replace(config, steps=3), tmp_path / "tuned", resume=True, progress=False
    )
    assert resumed["step"] == 3
    with pytest.raises(OscsimError, match="critic_minibatch_std"):
        train(dataclasses.replace(TINY, steps=3), tmp_path / "tuned", resume=True, progress=False)


def test_refuses_to_overwrite_a_run_unless_forced(full_run: Path) -> None:
    before = (full_run / "model.pt").read_bytes()
    with pytest.raises(OscsimError, match="already holds a training run"):
        train(TINY, full_run, progress=False)
    assert (full_run / "model.pt").read_bytes() == before


def test_resume_needs_a_run_and_the_same_config(full_run: Path, tmp_path: Path) -> None:
    with pytest.raises(OscsimError, match="nothing to resume"):
        train(TINY, tmp_path, resume=True, progress=False)
    with pytest.raises(OscsimError, match="batch: was 8, now 4"):
        train(dataclasses.replace(TINY, batch=4), full_run, resume=True, progress=False)


def test_truncated_model_file_on_resume_is_a_clear_error(full_run: Path, tmp_path: Path) -> None:
    data = (full_run / "model.pt").read_bytes()
    (tmp_path / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"model\.pt is not a readable .*truncated"):
        train(TINY, tmp_path, resume=True, progress=False)


def test_resume_from_a_plain_model_file_is_a_clear_error(tmp_path: Path) -> None:
    save_model(tmp_path / "model.pt", AISGenerator(build_graph(TINY.graph), TINY.model))
    with pytest.raises(ModelFileError, match="no training state"):
        train(TINY, tmp_path, resume=True, progress=False)


def test_force_starts_over(tmp_path: Path) -> None:
    config = dataclasses.replace(TINY, steps=1)
    train(config, tmp_path, progress=False)
    summary = train(config, tmp_path, force=True, progress=False)
    assert summary["resumed_from"] == 0 and logged_losses(tmp_path)["step"] == [1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trains_on_cuda(tmp_path: Path) -> None:
    summary = train(dataclasses.replace(TINY, steps=2), tmp_path, device="cuda", progress=False)
    assert summary["device"] == "cuda"
    assert all(math.isfinite(v) for v in summary["final"].values())


def test_iteration_fn_runs_one_iteration_per_call() -> None:
    step = iteration_fn(TINY)
    first, second = step(), step()
    assert set(first) == set(LOSSES)
    assert all(math.isfinite(v) for v in (*first.values(), *second.values()))
    assert first != second  # the critic and generator moved between the calls
