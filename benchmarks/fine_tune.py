"""Fine-tune a quality.py run of any model from its ``model.pt``: ``oscsim train --init-from``
for the models no preset describes (the static network, the ablations).

The run keeps the model's protocol as quality.py trains it (graph, segments, bits, critic,
learning rates) and starts from the file's generator, critic and optimizers; what a fine-tune
changes is given here: its steps and seed, a fresh weight average (``--ema-decay``) and the
mode-seeking term (``--mode-seeking-weight``). That is how a remedy tried on the AIS generator
is given to its baseline too, so the pair is compared on equal terms. The run folder is the
same as ``oscsim train`` writes (``model.pt``, ``model-ema.pt``, ``train_log.json``, grids), and
``--resume`` continues it.

    python benchmarks/fine_tune.py --dataset mnist --model oscillator-static-envelope \\
        --init-from benchmarks/runs/quality/mnist/oscillator-static-envelope-seed2/model.pt \\
        --seed 2 --steps 600 --ema-decay 0.995 --mode-seeking-weight 0.25 --threads 1 \\
        --out benchmarks/runs/envelope/mnist-static-seed2-ms-ft600
"""

from __future__ import annotations

import argparse
import dataclasses

from quality import DATASETS, MODELS, train_config

from oscsim.cli import add_run_arguments, train_and_report
from oscsim.errors import OscsimError, run_script
from oscsim.train_config import TrainConfig

TUNABLE = [name for name, v in MODELS.items() if not (v.digital or v.average_of)]
"""Models with an AIS generator and a run of their own (the digital one has no init_from)."""


def fine_tune_config(args: argparse.Namespace) -> TrainConfig:
    """Model ``args.model``'s quality.py training config, started from ``args.init_from``."""
    given = {
        "init_from": args.init_from,
        "checkpoint_every": args.checkpoint_every,
        "ema_decay": args.ema_decay,
        "keep_averages": args.keep_averages,
        "mode_seeking_weight": args.mode_seeking_weight,
    }
    try:
        config = train_config(
            args.dataset, args.model, args.steps, args.seed, args.data_dir, smoke=args.smoke
        )
        return dataclasses.replace(config, **given)
    except ValueError as exc:
        raise OscsimError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=list(DATASETS), required=True)
    ap.add_argument("--model", choices=TUNABLE, required=True, help="quality.py model name")
    ap.add_argument("--init-from", required=True, help="that model's run's model.pt")
    ap.add_argument("--steps", type=int, required=True, help="generator iterations of this run")
    ap.add_argument("--seed", type=int, default=0, help="training seed (the run's own, usually)")
    ap.add_argument("--checkpoint-every", type=int, default=50)
    ap.add_argument("--ema-decay", type=float, default=0.995, help="fresh weight average")
    ap.add_argument(
        "--keep-averages", action="store_true", help="keep each checkpoint's average (snapshots/)"
    )
    ap.add_argument("--mode-seeking-weight", type=float, default=0.0, help="MSGAN term (0: off)")
    ap.add_argument("--data-dir", default=None, help="folder searched first for the data sets")
    ap.add_argument("--out", required=True, help="run folder")
    add_run_arguments(ap)
    ap.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tests: tiny rollout
    return ap


def main(argv: list[str] | None = None) -> int:
    """Train the fine-tune; print its summary as JSON."""
    args = _parser().parse_args(argv)
    return train_and_report(fine_tune_config(args), args)


if __name__ == "__main__":
    run_script(main)
