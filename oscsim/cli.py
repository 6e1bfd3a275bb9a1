"""Command line: one subcommand per pipeline step, each a few lines calling one library function.

Heavy imports (torch, matplotlib) happen inside the handlers so that ``oscsim --help`` is fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import TYPE_CHECKING

from .errors import OscsimError

if TYPE_CHECKING:
    from .model import AISGenerator
    from .train_config import TrainConfig


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def _cmd_data(args: argparse.Namespace) -> int:
    if args.action == "fetch":
        from .fetch import fetch

        print(fetch(args.name, args.dest, args.mirror or None, args.timeout_s, not args.quiet))
    else:
        from .data import dataset_info

        _print_json(dataset_info(args.name, data_dir=args.data_dir))
    return 0


def _cmd_graph(args: argparse.Namespace) -> int:
    from .graph import build_graph, graph_stats
    from .graph_io import draw_graph, save_graphml

    graph = build_graph(args.preset)
    if args.png:
        draw_graph(graph, args.png)
    if args.graphml:
        save_graphml(graph, args.graphml)
    if args.json or not (args.png or args.graphml):
        _print_json(graph_stats(graph))
    return 0


def _load_or_new(model: str | None, preset: str, seed: int) -> tuple[AISGenerator, str]:
    """A model from a file, or a fresh random one on a graph preset."""
    from .graph import build_graph
    from .model import AISGenerator, ModelConfig
    from .modelfile import load_model

    if model is None:
        return AISGenerator(build_graph(preset), ModelConfig(), seed=seed), f"random {preset}"
    return load_model(model).model, str(model)


def _cmd_sample(args: argparse.Namespace) -> int:
    from .sampling import write_samples

    model, source = _load_or_new(args.model, args.preset, args.seed)
    summary = write_samples(
        model, args.out, n=args.n, seed=args.seed, source=source, force=args.force
    )
    print(f"wrote {', '.join(summary['files'])} to {args.out}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .train_config import preset

    given = {"steps": args.steps, "batch": args.batch, "seed": args.seed, "data_dir": args.data_dir}
    given["checkpoint_every"] = args.checkpoint_every
    given["consistency_weight"] = args.consistency_weight
    given["mode_seeking_weight"] = args.mode_seeking_weight
    given["ema_decay"] = args.ema_decay
    given["keep_averages"] = args.keep_averages or None
    given["init_from"] = args.init_from
    for name in ("n_critic", "gp_weight", "lr_g", "lr_d", "critic_minibatch_std"):
        given[name] = getattr(args, name)
    try:
        config = preset(args.preset)
        model = {"detuning_noise": args.detuning_noise, "coupling_noise": args.coupling_noise}
        model = {k: v for k, v in {**model, "dynamics": args.dynamics}.items() if v is not None}
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, **model))
        config = dataclasses.replace(config, **{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        raise OscsimError(str(exc)) from None
    if args.cell_offsets == "measured":
        config = _with_measured_cell_offsets(config)
    return train_and_report(config, args)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """How a training run is carried out, not what it trains: device, threads, resume, force,
    progress (``train_and_report`` reads them)."""
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, help="torch CPU threads (default: half the cores, 1-4)")
    p.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    p.add_argument("--force", action="store_true", help="start over, overwriting a run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def train_and_report(config: TrainConfig, args: argparse.Namespace) -> int:
    """Train ``config`` into ``args.out`` as the flags of ``add_run_arguments`` say; print the
    run's summary (shared by ``oscsim train`` and scripts that build other configs)."""
    from .train import train

    summary = train(
        config,
        args.out,
        resume=args.resume,
        device=args.device,
        progress=not args.quiet,
        force=args.force,
        threads=args.threads,
    )
    _print_json(summary)
    return 0


def _with_measured_cell_offsets(config: TrainConfig) -> TrainConfig:
    """``config`` whose envelope model carries the ``lc`` cell's frequency offsets against its
    amplitude, measured in ngspice (``oscsim.spice.calibrate``: 13 short runs)."""
    from .spice.calibrate import measure_offsets
    from .spice.cells import LcCell

    if config.model.dynamics != "envelope":
        raise OscsimError("--cell-offsets measured needs --dynamics envelope")
    offsets = measure_offsets(LcCell())
    return dataclasses.replace(
        config, model=dataclasses.replace(config.model, tank_offsets=offsets)
    )


def _cmd_fid(args: argparse.Namespace) -> int:
    from .atomic import write_json
    from .metrics import fid_of_source

    result = fid_of_source(args.source, args.dataset, args.n, args.seed, args.data_dir)
    _print_json(result)
    if args.json:
        write_json(args.json, result)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    summary = run_demo(
        args.out, seed=args.seed, force=args.force, circuit_latents=args.circuit_latents
    )
    _print_json({k: v for k, v in summary.items() if k not in ("files", "versions")})
    print(f"demo results in {args.out}/ ({len(summary['files'])} files)")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .modelfile import load_model
    from .spice.export import export_model, read_latents
    from .spice.plan import CircuitGains, get_cell

    manifest = export_model(
        load_model(args.model).model,
        args.out,
        n=args.n,
        seed=args.seed,
        latent=read_latents(args.latent) if args.latent else None,
        variant=args.variant,
        gains=CircuitGains.first_order(get_cell("lc"), args.delta0, args.time_scale),
        force=args.force,
        latent_source=args.latent,
    )
    print(
        f"wrote {len(manifest['netlists'])} {args.variant} netlists and manifest.json to {args.out}"
    )
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .atomic import write_json
    from .modelfile import load_model
    from .validate import fidelity_failures, validate

    result = validate(
        load_model(args.model).model,
        n=args.n,
        variant=args.variant,
        out_dir=args.out,
        seed=args.seed,
        processes=args.processes,
        time_scale=args.time_scale,
        timeout_s=args.timeout_s,
        progress=not args.quiet,
        force=args.force,
        resume=args.resume,
    )
    if args.json:
        write_json(args.json, result)
    keys = ("n", "variant", "pixel_mae", "sign_agreement", "phase_error_deg", "seconds_per_sample")
    _print_json({k: result[k] for k in keys})
    failures = fidelity_failures(result, args.min_sign_agreement, args.max_pixel_mae)
    for failure in failures:
        print(f"oscsim validate: fidelity bar failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _time_scale_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="circuit cycles per model cycle: every rate divided by it, weaker loading (1)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``oscsim`` command."""
    parser = argparse.ArgumentParser(
        prog="oscsim",
        description="Train coupled-oscillator image generators, export them to ngspice, measure.",
    )
    parser.add_argument(
        "--version", action="version", version=f"oscsim {metadata.version('oscsim')}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("data", help="fetch or inspect data sets (mnist, fashion-mnist, digits14)")
    p.add_argument("action", choices=["fetch", "info"])
    p.add_argument("name", help="data set name")
    p.add_argument("--data-dir", help="folder holding the data set (info)")
    p.add_argument("--dest", help="download folder (fetch; default ~/.cache/oscsim/NAME)")
    p.add_argument("--mirror", action="append", help="base URL to download from (repeatable)")
    p.add_argument("--timeout-s", type=float, default=60.0, help="per-request timeout (fetch)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (fetch)")
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("graph", help="build a graph preset: stats as JSON, a drawing, GraphML")
    p.add_argument("--preset", default="demo", help="graph preset (demo, mnist)")
    p.add_argument("--json", action="store_true", help="print stats as JSON")
    p.add_argument("--png", help="draw the graph to this PNG file")
    p.add_argument("--graphml", help="save the graph as GraphML")
    p.set_defaults(func=_cmd_graph)

    p = sub.add_parser("sample", help="sample images from a model file or a fresh random model")
    p.add_argument("model", nargs="?", help="model file (default: a fresh random model)")
    p.add_argument("--preset", default="demo", help="graph preset of a fresh model")
    p.add_argument("--n", type=int, default=64, help="number of images")
    p.add_argument("--seed", type=int, default=0, help="latent (and fresh-model) seed")
    p.add_argument("--out", default="samples", help="output folder")
    p.add_argument("--force", action="store_true", help="overwrite earlier results")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("train", help="train a generator as a WGAN-GP (resumable)")
    p.add_argument("--preset", default="demo", choices=["demo", "mnist", "fashion"])
    p.add_argument("--out", default="train-output", help="output folder")
    p.add_argument("--steps", type=int, help="total generator iterations (default: preset's)")
    p.add_argument("--batch", type=int, help="images per step (default: preset's, 64)")
    p.add_argument(
        "--checkpoint-every", type=int, help="steps between model files and grids (preset's)"
    )
    p.add_argument("--seed", type=int, help="seed of the whole run (default: preset's, 0)")
    p.add_argument("--data-dir", help="folder holding the data set files")
    p.add_argument("--n-critic", type=int, help="critic steps per generator step (5)")
    p.add_argument("--gp-weight", type=float, help="gradient-penalty weight (10)")
    p.add_argument(
        "--lr-g",
        type=float,
        help="generator Adam learning rate, a fraction of each parameter kind's range (0.01)",
    )
    p.add_argument("--lr-d", type=float, help="critic Adam learning rate (1e-4)")
    p.add_argument(
        "--critic-minibatch-std",
        type=int,
        metavar="G",
        help="critic sees the spread of groups of G images, against dropped modes (0: off)",
    )
    p.add_argument(
        "--detuning-noise",
        type=float,
        help="train for mismatch: random static detuning per oscillator, per cycle (0)",
    )
    p.add_argument(
        "--coupling-noise",
        type=float,
        help="train for mismatch: random static relative error per coupling (0)",
    )
    p.add_argument(
        "--dynamics",
        choices=["phase", "envelope"],
        help="behavioural model: phase (DESIGN.md) or envelope (amplitudes too: what the "
        "circuit computes; default: the preset's, phase)",
    )
    p.add_argument(
        "--cell-offsets",
        choices=["none", "measured"],
        default="none",
        help="envelope dynamics: carry the lc cell's frequency offset against its amplitude, "
        "measured in ngspice before training (about 10 s; default none)",
    )
    p.add_argument(
        "--consistency-weight",
        type=float,
        help="weight of the same-latent consistency term under mismatch (0; needs a noise)",
    )
    p.add_argument(
        "--mode-seeking-weight",
        type=float,
        help="weight of the mode-seeking term (MSGAN): asks different latents for different "
        "images, against dropped modes (0: off)",
    )
    p.add_argument(
        "--ema-decay",
        type=float,
        help="also keep a weight average of the generator in model-ema.pt, with this decay "
        "(0: none, the default; 0.995 averages about the last 200 iterations)",
    )
    p.add_argument(
        "--keep-averages",
        action="store_true",
        help="also keep each checkpoint's weight average as snapshots/step-NNNNNN-ema.pt "
        "(the points of FID curves and post-hoc averages; needs --ema-decay)",
    )
    p.add_argument(
        "--init-from",
        metavar="MODEL",
        help="start the generator from this model file or shipped name (fine-tuning it, e.g. "
        "with --cell-offsets measured; same preset); from a run's model.pt its critic too",
    )
    add_run_arguments(p)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("fid", help="FID and KID of a model's samples or a .npy of images")
    p.add_argument("source", metavar="MODEL_OR_NPY", help="model file, or .npy images [N, H, W]")
    p.add_argument("--dataset", required=True, help="mnist, fashion-mnist or digits14")
    p.add_argument("--n", type=int, help="images: model default 10000, .npy default all")
    p.add_argument("--seed", type=int, default=0, help="latent seed of a model's samples")
    p.add_argument("--json", help="also write the result to this JSON file")
    p.add_argument("--data-dir", help="folder holding the data set")
    p.set_defaults(func=_cmd_fid)

    p = sub.add_parser("demo", help="run the pipeline on the embedded digits14 data")
    p.add_argument("--out", default="demo-output", help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="overwrite earlier results")
    p.add_argument(
        "--circuit-latents",
        type=int,
        default=1,
        help="latents simulated in ngspice (0 skips the circuit step)",
    )
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("export", help="export a model to ngspice netlists, one per latent")
    p.add_argument("model", help="model file")
    p.add_argument("--out", required=True, help="output folder (netlists, cells/, manifest.json)")
    p.add_argument("--variant", default="structural", choices=["structural", "collapsed"])
    latent = p.add_mutually_exclusive_group()
    latent.add_argument("--seed", type=int, default=0, help="latent seed")
    latent.add_argument("--latent", help=".npy file of initial phases, [N] or [n, N], rad")
    p.add_argument("--n", type=int, default=1, help="number of latents drawn with --seed")
    p.add_argument(
        "--delta0", type=float, default=0.0, help="cell frequency offset per cycle to cancel"
    )
    _time_scale_option(p)
    p.add_argument("--force", action="store_true", help="overwrite an earlier export")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("validate", help="compare a model with its ngspice circuit")
    p.add_argument("model", help="model file")
    p.add_argument("--n", type=int, default=8, help="number of latents")
    p.add_argument("--variant", default="collapsed", choices=["structural", "collapsed"])
    p.add_argument("--seed", type=int, default=0, help="latent seed")
    p.add_argument("--processes", type=int, help="ngspice processes at once (default: all cores)")
    p.add_argument("--json", help="write the full result to this JSON file")
    p.add_argument("--out", help="folder for netlists, images and plots")
    p.add_argument("--min-sign-agreement", type=float, help="exit 1 below this fraction")
    p.add_argument("--max-pixel-mae", type=float, help="exit 1 above this pixel error")
    _time_scale_option(p)
    p.add_argument("--timeout-s", type=float, default=600.0, help="limit per ngspice run, s (600)")
    p.add_argument("--force", action="store_true", help="overwrite an earlier validation in --out")
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the circuit results of an earlier validation in --out for latents whose "
        "netlist is unchanged; simulate only the others (interrupted runs, more latents)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``oscsim``; returns the exit status (2 for a user-fixable error)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OscsimError as exc:
        print(f"oscsim {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
