"""WGAN-GP training of an AIS generator with quantization-aware parameters, resumable.

Each iteration: one no-grad rollout of the generator makes the fakes of all ``n_critic``
critic steps at once (the generator does not change between them, and one wide batch runs the
sparse products faster than five narrow ones); then one generator step, backpropagating
through the ODE (optionally with segment checkpointing to bound memory). Every random draw
comes from one seeded CPU generator whose state, with both optimizers, the critic and the loss
history, is saved in ``model.pt``: a resumed run continues bit for bit where the interrupted
one stopped (on CPU).

The digital baseline (``oscsim.digital``) trains through the same loop: same critic, penalty,
batches and random draws; only how the generator is made, optimized, saved and shown differs
(``_Kind``).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from .critic import Critic, gradient_penalty
from .data import load_dataset
from .digital import (
    DigitalConfig,
    DigitalGenerator,
    load_digital,
    save_digital,
    write_digital_outputs,
)
from .errors import ModelFileError, OscsimError
from .graph import build_graph, get_spec
from .graph_io import graph_to_dict
from .model import AISGenerator
from .modelfile import load_model, save_model
from .train_config import INIT_FROM_FIELDS, RESUMABLE_FIELDS, TrainConfig, with_defaults
from .train_outputs import LOSSES, write_outputs

Generator = AISGenerator | DigitalGenerator


@dataclass
class _Run:
    """Everything a training run changes, i.e. everything a checkpoint must hold."""

    model: Generator
    critic: Critic
    opt_g: torch.optim.Adam
    opt_d: torch.optim.Adam
    rng: torch.Generator
    step: int
    history: dict[str, list[float]]
    average: Generator | None = None  # the generator's weight average (TrainConfig.ema_decay)
    average_from: int = 0  # the step the average began at


def default_threads() -> int:
    """Half the usable cores, 1 to 4: the sparse products gain little from more, and OpenMP
    threads that spin-wait against other processes on a shared machine slow everything down."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, (cores or 2) // 2))


def _device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OscsimError("CUDA is not available on this machine; use --device cpu")
    return device


def _load_images(config: TrainConfig, shape: tuple[int, int], device: torch.device) -> Tensor:
    """Training images ``[N, H, W]`` in [0, 1] at the graph's image size, on ``device``."""
    images = torch.from_numpy(load_dataset(config.dataset, "train", config.data_dir).as_float())
    have = tuple(images.shape[1:])
    if have != shape:
        if not config.resize_data or have[0] < shape[0] or have[1] < shape[1]:
            raise OscsimError(
                f"{config.dataset} images are {have[0]}x{have[1]} but the graph has "
                f"{shape[0]}x{shape[1]} pixels; pick a matching graph, or set resize_data to "
                f"area-average the images down"
            )
        images = F.adaptive_avg_pool2d(images[:, None], shape)[:, 0]
    return images.to(device)


def _generator_optimizer(model: AISGenerator, config: TrainConfig) -> torch.optim.Adam:
    """Adam with one group per parameter kind (and its quantizer step), lr scaled by its range."""
    groups = []
    for name in model.param_names:
        scale = config.lr_g * getattr(model.config, f"{name}_max")
        groups.append({"params": [getattr(model, name)], "lr": scale})
        if name in model.quantizers:
            params = list(model.quantizers[name].parameters())
            groups.append({"params": params, "lr": scale * config.lr_quant_scale})
    return torch.optim.Adam(groups, betas=config.betas)


@dataclass(frozen=True)
class _Kind:
    """What differs between generator kinds: how one is made, optimized, saved, read, shown."""

    make: Callable[[TrainConfig], Generator]
    optimizer: Callable[[Any, TrainConfig], torch.optim.Adam]
    save: Callable[[Path, Any, dict[str, Any], dict[str, Any]], object]
    load: Callable[[Path], tuple[Generator, dict[str, Any] | None, Any]]
    outputs: Callable[[Any, dict[str, list[float]], TrainConfig, Path, str], None]


def _load_ais(path: Path) -> tuple[AISGenerator, dict[str, Any] | None, Any]:
    saved = load_model(path)
    return saved.model, saved.optimizer, saved.train_state


_AIS = _Kind(
    make=lambda config: AISGenerator(build_graph(config.graph), config.model, seed=config.seed),
    optimizer=_generator_optimizer,
    save=lambda path, model, opt, state: save_model(path, model, optimizer=opt, train_state=state),
    load=_load_ais,
    outputs=write_outputs,
)


def _digital_kind(arch: DigitalConfig) -> _Kind:
    """A digital generator of ``arch`` at the graph's image size, Adam at ``arch.lr``."""

    def load(path: Path) -> tuple[DigitalGenerator, dict[str, Any] | None, Any]:
        saved = load_digital(path)
        if saved.model.config != arch:
            raise OscsimError(
                f"cannot resume {path}: it holds a digital generator {saved.model.config}, "
                f"not {arch}; resume with the same DigitalConfig or choose another --out"
            )
        return saved.model, saved.optimizer, saved.train_state

    return _Kind(
        make=lambda config: DigitalGenerator(
            get_spec(config.graph).image_size, arch, seed=config.seed
        ),
        optimizer=lambda model, config: torch.optim.Adam(
            model.parameters(), lr=arch.lr, betas=config.betas
        ),
        save=save_digital,
        load=load,
        outputs=write_digital_outputs,
    )


def _build(config: TrainConfig, model: Generator, device: torch.device, kind: _Kind) -> _Run:
    """A run at step 0 around ``model``: the critic and the run's draws seeded from
    ``config.critic_seed``, or ``config.seed`` when that is None."""
    model = model.to(device).train()
    if isinstance(model, AISGenerator):
        model.checkpoint_segments = config.checkpoint_segments
    seed = config.seed if config.critic_seed is None else config.critic_seed
    critic = Critic(
        model.image_shape,
        config.critic_width,
        config.critic_layer_norm,
        seed=seed + 1,
        minibatch_std=config.critic_minibatch_std,
    ).to(device)
    opt_d = torch.optim.Adam(critic.parameters(), lr=config.lr_d, betas=config.betas)
    rng = torch.Generator().manual_seed(seed + 2)
    history: dict[str, list[float]] = {key: [] for key in ("step", *LOSSES, "time_s")}
    return _Run(model, critic, kind.optimizer(model, config), opt_d, rng, 0, history)


def _start_average(run: _Run, config: TrainConfig, kind: _Kind, state: dict | None) -> None:
    """Give ``run`` a weight average: the saved one (``state``), else the live generator now."""
    live = run.model
    average = kind.make(config).to(next(live.parameters()).device).eval().requires_grad_(False)
    average.load_state_dict(live.state_dict() if state is None else state["state_dict"])
    run.average = average
    run.average_from = run.step if state is None else int(state["from"])


@torch.no_grad()
def _update_average(run: _Run, decay: float) -> None:
    """Fold the live generator into the average after its ``run.step``-th update: the plain
    mean of the iterates since the average began, until that mean spans ``1 / (1 − decay)``
    of them, then an exponential moving average with ``decay``."""
    t = run.step - run.average_from
    keep = min(decay, t / (t + 1))
    live = dict(run.model.named_parameters())
    for name, value in run.average.named_parameters():
        value.lerp_(live[name].detach(), 1.0 - keep)


def _plain(data: Any) -> Any:
    """JSON round trip: tuples become lists, so saved and current configs compare equal."""
    return json.loads(json.dumps(data))


def _load_critic_and_optimizers(run: _Run, state: dict, optimizer: dict) -> None:
    """Put a saved run's critic and both optimizer states into ``run`` (resuming it, or
    starting a fine-tune from it). The moment estimates come from the saved run; learning
    rates and betas stay this run's, which a fine-tune may have changed (``load_state_dict``
    would silently bring back the saved ones). A saved critic without the minibatch-std head
    fits one with it: the head stays at zero and the critic's Adam state starts afresh."""
    added = _critic_head_added(run.critic, state["critic"])
    run.critic.load_state_dict(state["critic"], strict=not added)
    pairs = [(run.opt_g, optimizer["generator"])]
    if not added:
        pairs.append((run.opt_d, optimizer["critic"]))
    for opt, saved in pairs:
        ours = [{k: g[k] for k in ("lr", "betas")} for g in opt.param_groups]
        opt.load_state_dict(saved)
        for group, settings in zip(opt.param_groups, ours, strict=True):
            group.update(settings)


def _critic_head_added(critic: Critic, saved: dict) -> bool:
    """Whether ``saved`` is exactly ``critic``'s state less its minibatch-std head."""
    ours = set(critic.state_dict())
    head = {k for k in ours if k.startswith("diversity.")}
    return bool(head) and set(saved) == ours - head


def _resume(config: TrainConfig, path: Path, device: torch.device, kind: _Kind) -> _Run:
    """Rebuild the run saved in ``path``; refuse if it was trained with another config."""
    model, optimizer, state = kind.load(path)
    if not isinstance(state, dict) or "history" not in state or optimizer is None:
        raise ModelFileError(
            f"{path} holds a model but no training state (not written by `oscsim train`); "
            f"start a new run in another folder"
        )
    old, new = with_defaults(_plain(state["config"])), _plain(config.to_dict())
    changed = [k for k in new if k not in RESUMABLE_FIELDS and old.get(k) != new[k]]
    if changed:
        diffs = "; ".join(f"{k}: was {old.get(k)!r}, now {new[k]!r}" for k in changed)
        raise OscsimError(f"cannot resume {path} with a different configuration ({diffs})")
    try:
        run = _build(config, model, device, kind)
        _load_critic_and_optimizers(run, state, optimizer)
        run.rng.set_state(state["rng"]["train"])
        torch.set_rng_state(state["rng"]["torch"])
        if device.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(state["rng"]["cuda"], device)
        run.step, run.history = int(state["step"]), state["history"]
        if config.ema_decay > 0 and state.get("ema") is not None:
            _start_average(run, config, kind, state["ema"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} has a damaged training state: {exc}") from None
    return run


def _cpu(obj: Any) -> Any:
    """Copy of nested dicts/lists with every tensor detached and on the CPU."""
    if isinstance(obj, Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def average_path(path: str | Path) -> Path:
    """Where a run whose ``model.pt`` is ``path`` keeps its generator's weight average."""
    return Path(path).with_name("model-ema.pt")


def snapshot_path(run_dir: str | Path, steps: int, averaged: bool = False) -> Path:
    """Where a run's model file (or its weight average's) at ``steps`` is kept once the run
    trains on past it."""
    return Path(run_dir) / "snapshots" / f"step-{steps:06d}{'-ema' if averaged else ''}.pt"


_SNAPSHOT = re.compile(r"step-(\d{6})(-ema)?\.pt")  # the names snapshot_path gives


def kept_snapshots(run_dir: str | Path) -> list[tuple[int, bool, Path]]:
    """(steps, averaged, file) of every snapshot ``snapshot_path`` named in the run, by steps,
    live first; other files in its snapshots folder are left out."""
    found = [
        (m, p)
        for p in (Path(run_dir) / "snapshots").glob("*.pt")
        if (m := _SNAPSHOT.fullmatch(p.name))
    ]
    return sorted((int(m[1]), m[2] is not None, p) for m, p in found)


def _save(run: _Run, config: TrainConfig, path: Path, device: torch.device, kind: _Kind) -> None:
    """Write the whole run to ``path`` atomically (tensors, numbers, strings, lists, dicts), and
    its weight average, if kept, to ``average_path(path)`` as a model file of its own (and to
    ``snapshot_path(.., averaged=True)`` too with ``config.keep_averages``)."""
    rng = {"train": run.rng.get_state(), "torch": torch.get_rng_state(), "cuda": None}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    plain_config = _plain(config.to_dict())
    state = {
        "step": run.step,
        "config": plain_config,
        "critic": _cpu(run.critic.state_dict()),
        "rng": rng,
        "history": run.history,
        "ema": None,
    }
    if run.average is not None:
        state["ema"] = {"state_dict": _cpu(run.average.state_dict()), "from": run.average_from}
        about = {
            "step": run.step,
            "config": plain_config,
            "ema_from": run.average_from,
            "ema_decay": config.ema_decay,
        }
        kind.save(average_path(path), run.average, None, about)
        if config.keep_averages:
            kind.save(snapshot_path(path.parent, run.step, True), run.average, None, about)
    optimizers = {"generator": _cpu(run.opt_g.state_dict()), "critic": _cpu(run.opt_d.state_dict())}
    kind.save(path, run.model, optimizers, state)


def wgan_gp_iteration(
    model: Generator,
    critic: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    images: Tensor,
    config: TrainConfig,
    rng: torch.Generator,
) -> dict[str, float]:
    """``config.n_critic`` critic steps and one generator step; returns the iteration's losses.

    Args:
        model: the generator (``latent(n, rng)``, ``model(latent)`` → ``[B, H, W]`` in [0, 1]).
        critic: scores ``[B, H, W]`` images; opt_g, opt_d: the two optimizers.
        images: the training images ``[N, H, W]`` on the training device.
        config: batch, n_critic and gp_weight are used.
        rng: the CPU generator every random draw (batches, ε, latents) comes from.
    """
    b, device = config.batch, images.device
    index = torch.randint(len(images), (config.n_critic, b), generator=rng).to(device)
    eps = torch.rand(config.n_critic, b, generator=rng).to(device)
    with torch.no_grad():
        fakes = model(model.latent(config.n_critic * b, rng))
    fakes = fakes.reshape(config.n_critic, b, *model.image_shape)
    sums = dict.fromkeys(("critic_loss", "wasserstein", "gp"), 0.0)
    for i in range(config.n_critic):
        real, fake = images[index[i]], fakes[i]
        scores = critic(torch.cat([real, fake]))
        w_dist = scores[:b].mean() - scores[b:].mean()
        gp = gradient_penalty(critic, real, fake, eps[i])
        loss = config.gp_weight * gp - w_dist
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
        for key, value in zip(sums, (loss, w_dist, gp), strict=True):
            sums[key] += float(value.detach()) / config.n_critic
    critic.requires_grad_(False)
    latent = model.latent(b, rng)
    images = model(latent)
    gen_loss = -critic(images).mean()
    extra = {}
    loss = gen_loss
    if config.consistency_weight > 0:  # the same latents under another mismatch pattern
        consistency = (model(latent) - images).square().mean()
        loss = gen_loss + config.consistency_weight * consistency
        extra["consistency"] = float(consistency.detach())
    if config.mode_seeking_weight > 0:
        seeking = mode_seeking_term(model, latent, images)
        loss = loss + config.mode_seeking_weight * seeking
        extra["mode_seeking"] = float(seeking.detach())
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()
    critic.requires_grad_(True)
    return {**sums, "gen_loss": float(gen_loss.detach()), **extra}


def mode_seeking_term(model: Generator, latent: Tensor, images: Tensor) -> Tensor:
    """MSGAN's mode-seeking term (Mao et al., CVPR 2019): latent over image distance of pairs.

    Pairs the batch's first half with its second. Minimising the ratio asks two different
    latents for two different images, which the critic alone does not ask for once a
    generator has dropped a mode.
    """
    half = len(latent) // 2
    if half == 0:
        raise ValueError("the mode-seeking term needs a batch of at least 2 images")
    d_latent = model.latent_distance(latent[:half], latent[half : 2 * half]).mean()
    d_image = (images[:half] - images[half : 2 * half]).abs().mean()
    return d_latent / (d_image + 1e-5)


def _iteration(run: _Run, images: Tensor, config: TrainConfig) -> dict[str, float]:
    """One WGAN-GP iteration of ``run``."""
    return wgan_gp_iteration(run.model, run.critic, run.opt_g, run.opt_d, images, config, run.rng)


def _start(
    config: TrainConfig,
    out_dir: Path,
    resume: bool,
    force: bool,
    device: torch.device,
    kind: _Kind,
) -> _Run:
    """Resume the run in ``out_dir``, or start a fresh one where that loses no earlier work."""
    path = out_dir / "model.pt"
    if resume:
        if not path.exists():
            raise OscsimError(f"nothing to resume: {path} does not exist; run without --resume")
        return _resume(config, path, device, kind)
    if (path.exists() or (out_dir / "train_log.json").exists()) and not force:
        raise OscsimError(
            f"{out_dir} already holds a training run; pass --resume to continue it, --force to "
            f"start over (overwriting it), or choose another --out"
        )
    average_path(path).unlink(missing_ok=True)  # an earlier run's average, overwritten too
    for _, averaged, kept in kept_snapshots(out_dir):  # and the averages it kept
        if averaged:
            kept.unlink()
    torch.manual_seed(config.seed)
    run = _build(config, kind.make(config), device, kind)
    if config.init_from is not None:
        _init_from(run, config)
    return run


def _init_from(run: _Run, config: TrainConfig) -> None:
    """Start ``run``'s generator from ``config.init_from``, and, when that file is a training
    run's ``model.pt``, its critic and both optimizers too: a fine-tune that begins where the
    run ended, not against an untrained critic. A clear error if the parameters mean otherwise."""
    source = load_model(config.init_from)
    theirs, ours = source.model.config.to_dict(), config.model.to_dict()
    changed = [
        k for k in ours if k not in INIT_FROM_FIELDS and _plain(theirs[k]) != _plain(ours[k])
    ]
    if graph_to_dict(source.model.graph) != graph_to_dict(run.model.graph):
        changed.insert(0, "graph")
    if changed:
        raise OscsimError(
            f"cannot start from {source.path}: its model differs from this run's in "
            f"{', '.join(changed)}; only {', '.join(INIT_FROM_FIELDS)} may change (use the "
            f"preset that model was trained with)"
        )
    run.model.load_state_dict(source.model.state_dict())
    state = source.train_state
    if not (isinstance(state, dict) and "critic" in state and source.optimizer is not None):
        return
    try:
        _load_critic_and_optimizers(run, state, source.optimizer)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise OscsimError(
            f"cannot start from {source.path}: its critic or optimizers do not fit this run's "
            f"({exc}); use the critic settings it was trained with"
        ) from None


def _kind(digital: DigitalConfig | None) -> _Kind:
    return _AIS if digital is None else _digital_kind(digital)


def iteration_fn(
    config: TrainConfig, device: str = "cpu", digital: DigitalConfig | None = None
) -> Callable[[], dict[str, float]]:
    """One training iteration of a fresh run, as a callable (for benchmarks to time)."""
    dev, kind = _device(device), _kind(digital)
    run = _build(config, kind.make(config), dev, kind)
    images = _load_images(config, run.model.image_shape, dev)
    return lambda: _iteration(run, images, config)


def train(
    config: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    device: str = "cpu",
    progress: bool = True,
    force: bool = False,
    threads: int | None = None,
    digital: DigitalConfig | None = None,
) -> dict[str, Any]:
    """Train an AIS generator (or the digital baseline) as a WGAN-GP into ``out_dir``.

    Returns the run's summary.

    Every ``config.checkpoint_every`` iterations and at the end it writes ``model.pt`` (the
    generator with critic, optimizers, RNG states and loss history in its training state),
    ``model-ema.pt`` when ``config.ema_decay`` > 0 (the generator's weight average, a plain
    model file whose training state names its step, training config, ``ema_from`` and
    ``ema_decay``; with ``config.keep_averages`` also ``snapshots/step-NNNNNN-ema.pt``),
    ``train_log.json``, ``losses.png`` and ``samples/step-NNNNNN[-segments].png``. A fresh run
    seeds torch's global RNG with ``config.seed`` (model noise draws from it); torch's thread
    count is set for the run and restored afterwards.

    Args:
        config: the run.
        out_dir: output folder; must not hold another run unless ``resume`` or ``force``.
        resume: continue the run saved in ``out_dir/model.pt`` up to ``config.steps``.
        device: "cpu" or "cuda" (bitwise reproducibility is promised on CPU only).
        progress: show a tqdm bar with the losses.
        force: start a fresh run even if ``out_dir`` holds one (it is overwritten).
        threads: torch CPU threads during training (default ``default_threads()``).
        digital: train a ``DigitalGenerator`` of this size instead, at the graph's image size
            (``config.model`` is then unused); ``model.pt`` is then a digital generator file
            (``oscsim.digital.load_digital``) and the grids show samples only.
    """
    if digital is not None and config.init_from is not None:
        raise OscsimError(
            "init_from starts an AIS generator from a model file; not the digital one"
        )
    out_dir, dev, kind = Path(out_dir), _device(device), _kind(digital)
    saved_threads, n_threads = torch.get_num_threads(), threads or default_threads()
    torch.set_num_threads(n_threads)
    try:
        run = _start(config, out_dir, resume, force, dev, kind)
        resumed_from = run.step
        if config.ema_decay > 0 and run.average is None:
            _start_average(run, config, kind, None)
        images = _load_images(config, run.model.image_shape, dev)
        bar = tqdm(total=config.steps, initial=run.step, disable=not progress, unit="it")
        with bar:
            while run.step < config.steps:
                start = time.perf_counter()
                losses = _iteration(run, images, config)
                run.step += 1
                if run.average is not None:
                    _update_average(run, config.ema_decay)
                for key, value in (("step", run.step), *losses.items()):
                    run.history.setdefault(key, []).append(value)
                run.history["time_s"].append(time.perf_counter() - start)
                bar.update(1)
                bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
                if run.step % config.checkpoint_every == 0 or run.step == config.steps:
                    _save(run, config, out_dir / "model.pt", dev, kind)
                    kind.outputs(run.model, run.history, config, out_dir, dev.type)
        if run.step == resumed_from:
            kind.outputs(run.model, run.history, config, out_dir, dev.type)
    finally:
        torch.set_num_threads(saved_threads)
    times = run.history["time_s"][resumed_from:]
    return {
        "out_dir": str(out_dir),
        "step": run.step,
        "resumed_from": resumed_from,
        "final": {k: run.history[k][-1] for k in LOSSES} if run.history["step"] else {},
        "seconds_per_iteration": sum(times) / len(times) if times else None,
        "device": dev.type,
        "threads": n_threads,
    }
