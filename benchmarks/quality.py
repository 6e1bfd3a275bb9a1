"""Generative quality of the AIS generator, its baselines and ablations: FID and KID.

Every model trains with the same WGAN-GP protocol (critic, penalty, n_critic, batch) and the
same number of generator iterations, then draws ``--n-samples`` images from fixed latents
(seed 0) that are scored against the 10,000 test images on the penultimate features of
oscsim's shipped classifier (``oscsim.metrics``, DESIGN.md §6). A ``real-data`` row scores
that many training images the same way, so the numbers read in context.

Each row is merged into ``quality.json`` and ``quality.md`` as soon as it is done, with a sample
grid ``quality/<dataset>-<model>.png`` and the package versions it was computed with (rows from
another machine, a GPU one say, keep theirs); training runs live in ``--work`` and resume. Rows are
keyed by (data set, model, steps, training seed): a model scored at 1,000 and at 2,000 steps has
two rows, and a run trained on past a scored budget keeps a snapshot of it
(``snapshots/step-NNNNNN.pt``), so ablations can be compared with the headline model at the
budget they reached. ``--seed S`` (S ≠ 0) trains separate runs (``<model>-seedS``) whose rows
sit next to seed 0's, which is how the spread between training seeds is measured;
``--critic-seed C`` takes the critic and the batches from seed C instead (``-criticC`` runs), to
tell whether that spread comes from the generator or from its critic. Rerunning skips rows
already computed with the same configuration and sample count.

    python benchmarks/quality.py --steps 2000                      # every model, both data sets
    python benchmarks/quality.py --datasets mnist --models ais-4bit digital-wgan-gp --steps 50
    python benchmarks/quality.py --datasets mnist --models ais-4bit ais-4bit-static --steps 1000
    python benchmarks/quality.py --datasets mnist --models ais-4bit --steps 1000 --seed 1
    python benchmarks/quality.py --datasets mnist --models ais-4bit --seed 1 --critic-seed 0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from oscsim.atomic import locked_results, read_results, write_json, write_text
from oscsim.data import load_dataset
from oscsim.digital import DigitalConfig, DigitalFile, load_digital, save_digital
from oscsim.errors import OscsimError, run_script
from oscsim.graph import get_spec
from oscsim.metrics import evaluate
from oscsim.model import AISGenerator, ModelConfig
from oscsim.modelfile import ModelFile, load_model, save_model
from oscsim.plots import save_image_grid
from oscsim.sampling import draw_images
from oscsim.tables import cell
from oscsim.train import average_path, default_threads, snapshot_path, train
from oscsim.train_config import TrainConfig, preset, with_defaults
from oscsim.versions import versions

RESULTS = Path(__file__).resolve().parent / "results"
DATASETS = {"mnist": "mnist", "fashion": "fashion"}  # row name -> training preset
REAL = "real-data"
EVAL_SEED = 0  # latents of the scored samples (the same as `oscsim fid --seed 0`)
GRID = 64  # images in each row's sample grid
SMOKE_STEPS = 2  # --smoke: RK4 steps per segment (tests only)
# Every run keeps a weight average of its generator (TrainConfig.ema_decay) with this decay, a
# horizon of 200 iterations, a tenth of a 2,000-step run; it never changes the run itself.
EMA_DECAY = 0.995


@dataclass(frozen=True)
class Variant:
    """One model: the data set's training preset with a few fields changed.

    Attributes:
        about: what it is, for the markdown table.
        graph: ``GraphSpec`` fields to replace.
        model: ``ModelConfig`` fields to replace.
        static: one segment (S = 1) spanning the preset's whole integration time, its SHIL
            strength the mean of the preset's ramp (same total locking).
        split: each of the preset's segments cut into this many, each piece starting from the
            segment's SHIL strength: ``split`` times the time-varying parameters at the same
            integration time and RK4 steps, so at about the same training cost.
        digital: the digital baseline (``oscsim.digital``) instead of an AIS generator.
        average_of: score the weight average (``TrainConfig.ema_decay``) kept by this model's
            run rather than a run's live generator.
        train: ``TrainConfig`` fields to replace (the critic's, say): the protocol itself changed,
            for a pair of models trained again under it.
    """

    about: str
    graph: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    static: bool = False
    split: int = 1
    digital: bool = False
    average_of: str | None = None
    train: dict[str, Any] = field(default_factory=dict)


MODELS: dict[str, Variant] = {
    "digital-wgan-gp": Variant("digital DCGAN generator, float32", digital=True),
    "oscillator-static": Variant(
        "S = 1, no hidden oscillators, float: the 'no tricks' oscillator network",
        graph={"hidden_stride": 0},
        model={"bits": None},
        static=True,
    ),
    "ais-float": Variant("time-varying (S = 4), hidden, float", model={"bits": None}),
    "ais-4bit": Variant("time-varying (S = 4), hidden, 4-bit: the headline model"),
    "ais-4bit-nohidden": Variant("ais-4bit without hidden oscillators", graph={"hidden_stride": 0}),
    "ais-4bit-static": Variant("ais-4bit with S = 1", static=True),
    "ais-4bit-s8": Variant("ais-4bit with each segment split in two (S = 8)", split=2),
    "ais-2bit": Variant("ais-4bit at 2 bits", model={"bits": 2}),
    "ais-3bit": Variant("ais-4bit at 3 bits", model={"bits": 3}),
    "ais-6bit": Variant("ais-4bit at 6 bits", model={"bits": 6}),
    "ais-4bit-nbhd4": Variant("ais-4bit, 4-neighbour pixels", graph={"neighbourhood": 4}),
    "ais-4bit-nbhd8": Variant(
        "ais-4bit, 8-neighbour pixels, as in the mnist graph preset", graph={"neighbourhood": 8}
    ),
    "ais-4bit-radius2": Variant("ais-4bit, pixels within radius 2", graph={"neighbourhood": 2}),
    "ais-4bit-hidden1": Variant(
        "ais-4bit with a hidden oscillator per pixel (stride 1, 3 x 3 patches): 4x the hidden",
        graph={"hidden_stride": 1, "hidden_patch": 3},
    ),
}


def _as_envelope(name: str) -> Variant:
    """Model ``name`` trained as its circuit computes it: the envelope model."""
    variant = MODELS[name]
    about = f"{name} trained as its circuit computes it (envelope model, oscsim.envelope)"
    model = {**variant.model, "dynamics": "envelope"}
    return dataclasses.replace(variant, about=about, model=model)


MODELS |= {
    f"{name}-envelope": _as_envelope(name)
    for name in (
        "ais-4bit",
        "oscillator-static",
        "ais-4bit-radius2",
        "ais-4bit-s8",
        "ais-4bit-hidden1",
    )
}


def _with_critic(name: str, about: str, **critic: Any) -> Variant:
    """Model ``name`` trained against another critic (``TrainConfig`` fields ``critic``): is the
    critic what holds a model back?"""
    return dataclasses.replace(MODELS[name], about=f"{name} trained against {about}", train=critic)


MODELS |= {  # at 64 channels instead of 32 a step costs about 2.4x as much
    f"{name}-critic64-envelope": _with_critic(
        f"{name}-envelope",
        f"a critic of width 64 (the preset's: {TrainConfig.critic_width})",
        critic_width=64,
    )
    for name in ("ais-4bit", "oscillator-static")
}
MODELS |= {  # the remedy for dropped modes (Karras et al. 2018), from step 0; about 2 % per step
    f"{name}-mbstd4-envelope": _with_critic(
        f"{name}-envelope",
        "a critic that also sees the spread of each group of 4 images (minibatch std)",
        critic_minibatch_std=4,
    )
    for name in ("ais-4bit", "oscillator-static")
}


def _as_averaged(name: str) -> Variant:
    """Model ``name``'s weight average: its run's ``model-ema.pt``, not a run of its own."""
    about = f"{name}, generator weights averaged over its run (EMA {EMA_DECAY})"
    return dataclasses.replace(MODELS[name], about=about, average_of=name)


MODELS |= {
    f"{name}-ema": _as_averaged(name)
    for name in (
        "digital-wgan-gp",
        "oscillator-static",
        "ais-4bit",
        "oscillator-static-envelope",
        "ais-4bit-envelope",
        "ais-4bit-radius2-envelope",
        "ais-4bit-s8-envelope",
        "ais-4bit-hidden1-envelope",
        "ais-4bit-critic64-envelope",
        "oscillator-static-critic64-envelope",
        "ais-4bit-mbstd4-envelope",
        "oscillator-static-mbstd4-envelope",
    )
}


def _resegmented(
    model: ModelConfig, segments: int, sigma_init: tuple[float, ...] | None
) -> ModelConfig:
    """``model`` with the same integration time and RK4 steps cut into ``segments`` equal
    segments (which must divide the steps), starting from SHIL strengths ``sigma_init``."""
    return dataclasses.replace(
        model,
        segments=segments,
        cycles_per_segment=model.segments * model.cycles_per_segment / segments,
        steps_per_segment=model.segments * model.steps_per_segment // segments,
        sigma_init=sigma_init,
    )


def train_config(
    dataset: str,
    name: str,
    steps: int,
    seed: int = 0,
    data_dir: str | None = None,
    smoke: bool = False,
    critic_seed: int | None = None,
) -> TrainConfig:
    """The training run of model ``name`` on ``dataset`` ("mnist" or "fashion")."""
    variant = MODELS[name]
    base = preset(
        DATASETS[dataset], steps=steps, seed=seed, critic_seed=critic_seed, data_dir=data_dir
    )
    model = dataclasses.replace(base.model, **variant.model)
    if variant.static:
        ramp = model.sigma_init or (0.25 * model.sigma_max,)
        model = _resegmented(model, 1, (sum(ramp) / len(ramp),))
    if variant.split > 1:
        n = variant.split
        if model.steps_per_segment % n:
            raise OscsimError(
                f"{name}: {model.steps_per_segment} RK4 steps per segment do not split {n} ways"
            )
        ramp = model.sigma_init and tuple(s for s in model.sigma_init for _ in range(n))
        model = _resegmented(model, n * model.segments, ramp)
    if smoke and not variant.digital:
        step = model.cycles_per_segment / model.steps_per_segment
        model = dataclasses.replace(
            model, cycles_per_segment=SMOKE_STEPS * step, steps_per_segment=SMOKE_STEPS
        )
    # the preset's graph name stays when unchanged: `oscsim train --preset mnist` runs resume here
    graph = (
        dataclasses.replace(get_spec(base.graph), **variant.graph) if variant.graph else base.graph
    )
    return dataclasses.replace(base, graph=graph, model=model, **variant.train)


def _identity(dataset: str, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Everything that defines a row's numbers (JSON-plain), to skip or alias rows."""
    if name == REAL:
        return {"n_samples": args.n_samples}
    config = train_config(
        dataset, name, args.steps, args.seed, args.data_dir, args.smoke, args.critic_seed
    )
    config = dataclasses.replace(config, graph=get_spec(config.graph))  # names and specs alike
    digital = DigitalConfig().to_dict() if MODELS[name].digital else None
    plain = json.loads(json.dumps({"config": config.to_dict(), "digital": digital}))
    identity = {**plain, "n_samples": args.n_samples, "smoke": args.smoke and digital is None}
    return identity | ({"ema_decay": EMA_DECAY} if MODELS[name].average_of else {})


def _current(identity: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored row's identity with the training-config fields added since it was written at
    their defaults (``with_defaults``): a new option left unset does not make old rows stale."""
    if not identity or "config" not in identity:
        return identity
    return {**identity, "config": with_defaults(identity["config"])}


def _sample(model: torch.nn.Module, n: int, batch: int = 500) -> np.ndarray:
    """``n`` images of a generator from latents drawn at once from ``EVAL_SEED``."""
    model.eval()
    return draw_images(model, model.latent(n, torch.Generator().manual_seed(EVAL_SEED)), batch)


def _params(model: torch.nn.Module) -> tuple[int, int]:
    """(parameter count, bits to store them): AIS hardware parameters k, δ, σ, ρ (not the
    quantizer steps) at their bit width; the digital generator's weights at 32 bits."""
    if isinstance(model, AISGenerator):
        count = sum(getattr(model, name).numel() for name in model.param_names)
        return count, count * (model.config.bits or 32)
    count = sum(p.numel() for p in model.parameters())
    return count, 32 * count


def _score(images: np.ndarray, dataset: str, args: argparse.Namespace) -> dict[str, Any]:
    """FID, KID and KID std of images against the test split (``oscsim.metrics.evaluate``)."""
    name = preset(DATASETS[dataset]).dataset
    result = evaluate(images, name, "test", args.data_dir)
    keys = ("fid", "kid", "kid_std", "n_reference", "classifier_sha256")
    return {key: result[key] for key in keys}


def _grid(
    images: np.ndarray, dataset: str, name: str, fid: float, out: Path, steps: int | None = None
) -> str:
    """Write the row's sample grid; returns its path relative to ``out``. A model's grid is
    named for its budget too (``quality/<dataset>-<model>-<steps>.png``); ``name`` is the run
    name (``_run_name``)."""
    rel = f"quality/{dataset}-{name}" + ("" if steps is None else f"-{steps}") + ".png"
    title = f"{dataset} · {name}" + (f" · {steps} steps" if steps else "") + f" · FID {fid:.1f}"
    save_image_grid(images[:GRID], out / rel, title=title)
    return rel


def _run_name(name: str, seed: int, critic_seed: int | None = None) -> str:
    """A run's folder and grid name: the model's, with the training seed unless it is 0 and
    the critic's seed when it has its own."""
    return (
        name
        + ("" if seed == 0 else f"-seed{seed}")
        + ("" if critic_seed is None else f"-critic{critic_seed}")
    )


def _trained_model(
    run_dir: Path,
    config: TrainConfig,
    args: argparse.Namespace,
    digital: DigitalConfig | None,
    averaged: bool = False,
) -> tuple[Any, str | None, int | None, list[float]]:
    """The run's model file (or, ``averaged``, its weight average) at exactly ``--steps``:
    trained or resumed to it, or, when the run is already past it, the snapshot kept when it
    got there. Returns (model file, training device, threads, seconds of each iteration up to
    ``--steps``); a snapshot's threads are not known (``None``)."""
    saved, snapshot = run_dir / "model.pt", snapshot_path(run_dir, args.steps, averaged)
    if saved.exists():
        file = _load_run_file(saved, digital)
        if file.train_state["step"] > args.steps:
            if not snapshot.exists():
                raise OscsimError(
                    f"{run_dir} holds a run of {file.train_state['step']} steps, more than "
                    f"--steps {args.steps}, and no snapshot at {args.steps} ({snapshot}); choose "
                    f"another --work or the run's own --steps"
                )
            log = run_dir / "train_log.json"  # the run's device, as `oscsim train` logged it
            device = json.loads(log.read_text())["device"] if log.exists() else None
            times = file.train_state["history"]["time_s"][: args.steps]  # the run's own history
            kept = _load_run_file(snapshot, digital)
            return kept, device, None, times
    summary = train(
        config,
        run_dir,
        resume=saved.exists(),
        force=not saved.exists(),
        device=args.device,
        threads=args.threads,
        digital=digital,
    )
    file = _load_run_file(saved, digital)
    kept = average_path(saved)
    average = _load_run_file(kept, digital) if kept.exists() else None
    if average is not None and average.train_state["step"] != args.steps:
        average = None  # written before the run's last resumption, at another step
    for at, is_average in ((file, False), (average, True)):  # so any later row can score both
        path = snapshot_path(run_dir, args.steps, is_average)
        if at is not None and not path.exists():
            keep_snapshot(at, path)
    if averaged and average is None:
        raise OscsimError(
            f"{run_dir} kept no weight average at step {args.steps}: its average began when "
            f"the run was resumed at or after that step; score it at a later --steps"
        )
    times = file.train_state["history"]["time_s"]
    return average if averaged else file, summary["device"], summary["threads"], times


def _load_run_file(path: Path, digital: DigitalConfig | None) -> ModelFile | DigitalFile:
    """A run's model file or snapshot, read as the kind of generator the run trains."""
    return load_digital(path) if digital else load_model(path)


def keep_snapshot(file: ModelFile | DigitalFile, path: Path) -> None:
    """Write the generator of a run's model ``file`` to ``path`` with its step, training config
    (and a weight average's start and decay) only: a run trained on past a scored budget can
    still be scored (and shipped) there, and without the critic, optimizers and history the
    snapshot is about 25 times smaller than ``model.pt``."""
    save = save_digital if isinstance(file, DigitalFile) else save_model
    keys = ("step", "config", "ema_from", "ema_decay")
    save(
        path,
        file.model,
        train_state={k: file.train_state[k] for k in keys if k in file.train_state},
    )


def real_row(dataset: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """``n_samples`` random training images scored like a model's samples."""
    train_set = load_dataset(preset(DATASETS[dataset]).dataset, "train", args.data_dir)
    images = train_set.as_float()
    if args.n_samples > len(images):
        raise OscsimError(f"--n-samples {args.n_samples} exceeds the {len(images)} train images")
    pick = np.random.default_rng(EVAL_SEED).choice(len(images), args.n_samples, replace=False)
    images = images[np.sort(pick)]
    row = {"dataset": dataset, "model": REAL, **_score(images, dataset, args)}
    row.update(n_samples=args.n_samples, train_steps=0, wall_s=0.0, device=None, params=None)
    row.update(identity=_identity(dataset, REAL, args), about="training images vs test images")
    row["versions"] = versions()
    row["samples"] = _grid(images, dataset, REAL, row["fid"], out)
    return row


def model_row(dataset: str, name: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Train (or resume) model ``name`` to ``--steps`` (or take its snapshot there), sample and
    score it."""
    variant = MODELS[name]
    config = train_config(
        dataset, name, args.steps, args.seed, args.data_dir, args.smoke, args.critic_seed
    )
    if args.checkpoint_every:  # how often a run saves, not what it computes: not in the identity
        config = dataclasses.replace(config, checkpoint_every=args.checkpoint_every)
    config = dataclasses.replace(config, ema_decay=EMA_DECAY)  # only watches: not in the identity
    digital = DigitalConfig() if variant.digital else None
    run_name = _run_name(variant.average_of or name, args.seed, args.critic_seed)
    run_dir = Path(args.work) / dataset / run_name
    averaged = variant.average_of is not None
    file, device, threads, times = _trained_model(run_dir, config, args, digital, averaged)
    model = file.model.to(args.device)
    start = time.perf_counter()
    images = _sample(model, args.n_samples)
    row = {"dataset": dataset, "model": name, **_score(images, dataset, args)}
    params, bits = _params(model)
    row.update(
        seed=args.seed,
        critic_seed=args.critic_seed,
        n_samples=args.n_samples,
        train_steps=args.steps,
        wall_s=float(sum(times)),
        s_per_iteration=float(np.mean(times)),
        eval_s=time.perf_counter() - start,
        device=device,
        threads=threads,
        params=params,
        param_bits=bits,
        about=variant.about,
        identity=_identity(dataset, name, args),
        versions=versions(),
    )
    if averaged:
        row.update(ema_from=file.train_state["ema_from"], ema_decay=file.train_state["ema_decay"])
    grid_name = _run_name(name, args.seed, args.critic_seed)
    row["samples"] = _grid(images, dataset, grid_name, row["fid"], out, args.steps)
    return row


def row_key(row: dict[str, Any]) -> tuple[str, str, int, int, int | None]:
    """Rows are unique per (data set, model, training steps, training seed, critic seed);
    rows written before seeds were keyed were all seed 0, with no critic seed of their own."""
    seeds = int(row.get("seed", 0)), row.get("critic_seed")
    return row["dataset"], row["model"], int(row["train_steps"]), *seeds


def _order(row: dict[str, Any]) -> tuple[int, bool, int, int, bool, int, int]:
    """Table order: data set, real data first, then budgets from the longest, then models
    (a weight average right after its model), then seeds."""
    names = [REAL, *MODELS]
    datasets = list(DATASETS)
    variant = MODELS.get(row["model"])
    model = (variant and variant.average_of) or row["model"]
    return (
        datasets.index(row["dataset"]) if row["dataset"] in datasets else len(datasets),
        row["model"] != REAL,
        -int(row["train_steps"]),
        names.index(model) if model in names else len(names),
        model != row["model"],
        int(row.get("seed", 0)),
        -1 if row.get("critic_seed") is None else int(row["critic_seed"]),
    )


def _seeds(row: dict[str, Any]) -> str:
    """The training seeds a table row names, where they differ from seed 0 for everything."""
    seed, critic = int(row.get("seed", 0)), row.get("critic_seed")
    if critic is not None:
        return f" (seed {seed}, critic seed {critic})"
    return f" (seed {seed})" if seed else ""


def markdown(results: dict[str, Any]) -> str:
    """The results as a markdown table, one row per (data set, model)."""
    lines = [
        "# Generative quality: baselines and ablations",
        "",
        "FID and KID of each model's samples (latent seed 0) against the 10,000 test images, on "
        "the penultimate features of oscsim's shipped classifier (not Inception: the numbers "
        "compare within this table only). Every model trains with the same WGAN-GP protocol "
        "and number of generator iterations; compare rows of the same steps (a longer run "
        "keeps a snapshot of each shorter budget it was scored at). `real-data` scores training "
        "images the same way. "
        "Parameters: AIS hardware parameters (k, δ, σ, ρ per segment) at their bit width, the "
        "digital generator's float32 weights. Wall time: training iterations only.",
        "",
        "| data | model | FID | KID ×10³ | params | param kbit | steps | train s | s/iter | "
        "device | what |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for row in sorted(results["rows"], key=_order):
        kbit = None if row.get("param_bits") is None else row["param_bits"] / 1000
        what = row.get("about", "")
        model = row["model"] + _seeds(row)
        if row.get("alias_of"):
            what += f" (= {row['alias_of']}, not retrained)"
            notes.append(
                f"- {row['dataset']}: `{row['model']}` is the same configuration as "
                f"`{row['alias_of']}` (identical training configuration): it was trained "
                f"once and this row repeats its numbers."
            )
        if row.get("ema_from") is not None:
            what += f" from step {row['ema_from']}"
        if row.get("identity", {}).get("smoke"):
            what += " [smoke: shortened rollout]"
        lines.append(
            f"| {row['dataset']} | [{model}]({row['samples']}) | {row['fid']:.2f} | "
            f"{1e3 * row['kid']:.2f} | {cell(row['params'], ',')} | {cell(kbit, '.1f')} | "
            f"{row['train_steps']} | {row['wall_s']:.0f} | "
            f"{cell(row.get('s_per_iteration'), '.2f')} | {row['device'] or '–'} | {what} |"
        )
    return "\n".join([*lines, "", *notes]).rstrip() + "\n"


def _merge(row: dict[str, Any], out: Path) -> None:
    """Add ``row`` to ``quality.json``/``.md`` as they are on disk now, under a file lock, so
    several runs of this script (other models, other data sets) can share one ``--out``."""
    with locked_results(out / "quality.json", "quality") as results:
        rows = {row_key(r): r for r in results["rows"]}
        rows[row_key(row)] = row
        results["rows"] = sorted(rows.values(), key=_order)
        results["versions"] = versions()
        write_json(out / "quality.json", results)
        write_text(out / "quality.md", markdown(results))


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    ap.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    ap.add_argument("--steps", type=int, default=2000, help="generator iterations, every model")
    ap.add_argument("--n-samples", type=int, default=10_000, help="images scored per row")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--threads", type=int, default=default_threads(), help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0, help="training seed of every model")
    ap.add_argument(
        "--critic-seed",
        type=int,
        help="seed of the critic and the batches instead of --seed (TrainConfig.critic_seed)",
    )
    ap.add_argument("--data-dir", default=None, help="folder searched first for the data sets")
    ap.add_argument("--work", default="runs/quality", help="training runs (resumed on rerun)")
    ap.add_argument(
        "--checkpoint-every", type=int, help="save runs this often (default: the preset's)"
    )
    ap.add_argument("--out", default=str(RESULTS), help="quality.json, quality.md, grids")
    ap.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tests: tiny rollout
    return ap


def main(argv: list[str] | None = None) -> int:
    """Train, sample and score every requested (data set, model); merge rows as they finish."""
    args = _parser().parse_args(argv)
    if args.steps < 1 or args.n_samples < 2:
        raise OscsimError("--steps must be at least 1 and --n-samples at least 2")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    results = read_results(out / "quality.json", "quality")
    rows = {row_key(r): r for r in results["rows"]}
    models = list(dict.fromkeys(args.models))
    plan = [(d, m) for d in args.datasets for m in (REAL, *models)]
    bar = tqdm(plan, unit="row")
    for dataset, name in bar:
        bar.set_description(f"{dataset} {name}")
        key = (0, 0, None) if name == REAL else (args.steps, args.seed, args.critic_seed)
        identity, old = _identity(dataset, name, args), rows.get((dataset, name, *key))
        if old is not None and _current(old.get("identity")) == identity:
            continue
        earlier = models[: models.index(name)] if name in models else []
        twin = next((m for m in earlier if _identity(dataset, m, args) == identity), None)
        if name == REAL:
            row = real_row(dataset, args, out)
        elif twin is not None:
            row = {**rows[(dataset, twin, *key)], "model": name, "alias_of": twin}
            row["about"] = MODELS[name].about
        else:
            row = model_row(dataset, name, args, out)
        rows[row_key(row)] = row
        _merge(row, out)
        tqdm.write(f"{dataset} {name}: FID {row['fid']:.2f}, KID {row['kid']:.4f}")
    return 0


if __name__ == "__main__":
    run_script(main)
