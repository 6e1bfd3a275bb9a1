"""Ship a trained generator inside the package: strip the training state, record its quality.

    python scripts/ship_pretrained.py runs/demo/model.pt demo --dataset digits14 --n 2000
    python scripts/ship_pretrained.py runs/fashion/model.pt fashion --dataset fashion-mnist
    python scripts/ship_pretrained.py RUN/snapshots/step-005000-ema.pt mnist-ema --dataset mnist \
        --run RUN/model.pt
    python scripts/ship_pretrained.py RUN/model.pt demo-offsets --dataset digits14 --n 5000 \
        --out-dir benchmarks/models

writes ``oscsim/pretrained/<name>.pt`` (graph, config, parameters, codes, steps, versions, and
the training command and step in its train_state) and ``<name>.json`` with the FID/KID measured
here, so ``oscsim sample <name>`` and every other command that takes a model file accept the name.
``--out-dir`` writes the same pair elsewhere instead (``benchmarks/models/``: models that result
rows refer to without shipping them).
Snapshots and weight averages hold their run's training config; those written before they did
(the ones behind ``mnist-ema`` and ``fashion-ema``) hold none: ``--run`` names the run's
``model.pt`` to take it from.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from oscsim.atomic import write_json
from oscsim.classifier import weights_path
from oscsim.errors import OscsimError, run_script
from oscsim.metrics import fid_of_source
from oscsim.modelfile import PRETRAINED, load_model, save_model


def main(argv: list[str] | None = None) -> int:
    """Strip, save and evaluate one model."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="model.pt written by `oscsim train`")
    ap.add_argument("name", help="name to ship it under (demo, mnist, mnist-ema, ...)")
    ap.add_argument("--dataset", required=True, help="data set for the FID")
    ap.add_argument("--n", type=int, default=10000, help="samples for the FID")
    ap.add_argument("--command", default="", help="the training command, recorded")
    ap.add_argument("--run", help="the run's model.pt, for its training config (see above)")
    ap.add_argument("--out-dir", type=Path, help="write here instead of oscsim/pretrained/")
    args = ap.parse_args(argv)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", args.name):
        raise OscsimError(f"name {args.name!r}: use lower-case letters, digits and '-' only")
    weights_path(args.dataset)  # an unknown data set fails here, before anything is written
    trained = load_model(args.model)
    state, config = trained.train_state, trained.train_state.get("config")
    if args.run:
        run = load_model(args.run)
        if run.model.config != trained.model.config:
            raise OscsimError(f"{args.run} is not the run of {args.model}: their configs differ")
        config = run.train_state.get("config")
    if not config:
        raise OscsimError(
            f"{args.model} holds no training config: pass --run with its run's model.pt"
        )
    kept = {"step": state.get("step"), "train_config": config, "command": args.command}
    kept.update({k: state[k] for k in ("ema_from", "ema_decay") if k in state})
    folder = args.out_dir or PRETRAINED
    out = save_model(folder / f"{args.name}.pt", trained.model, train_state=kept)
    result = fid_of_source(out, args.dataset, n=args.n, seed=0)
    result["source"] = Path(out).name
    write_json(folder / f"{args.name}.json", {**kept, "quality": result})
    print(f"{out}: FID {result['fid']:.3f}, KID {result['kid']:.4f} over {args.n} samples")
    return 0


if __name__ == "__main__":
    run_script(main)
