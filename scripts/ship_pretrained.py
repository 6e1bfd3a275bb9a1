"""Ship a trained generator inside the package: strip the training state, record its quality.

    python scripts/ship_pretrained.py runs/demo/model.pt demo --dataset digits14 --n 2000
    python scripts/ship_pretrained.py runs/fashion/model.pt fashion --dataset fashion-mnist

writes ``oscsim/pretrained/<name>.pt`` (graph, config, parameters, codes, steps, versions, and
the training command and step in its train_state) and ``<name>.json`` with the FID/KID measured
here, so ``oscsim sample <name>`` and every other command that takes a model file accept the name.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from oscsim.atomic import write_json
from oscsim.classifier import weights_path
from oscsim.errors import run_script
from oscsim.metrics import fid_of_source
from oscsim.modelfile import PRETRAINED, load_model, save_model


def main(argv: list[str] | None = None) -> int:
    """Strip, save and evaluate one model."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="model.pt written by `oscsim train`")
    ap.add_argument("name", help="name to ship it under (demo, mnist, fashion)")
    ap.add_argument("--dataset", required=True, help="data set for the FID")
    ap.add_argument("--n", type=int, default=10000, help="samples for the FID")
    ap.add_argument("--command", default="", help="the training command, recorded")
    args = ap.parse_args(argv)
    weights_path(args.dataset)  # an unknown data set fails here, before anything is written
    trained = load_model(args.model)
    state = trained.train_state
    config = state.get("config", {})
    kept = {"step": state.get("step"), "train_config": config, "command": args.command}
    out = save_model(PRETRAINED / f"{args.name}.pt", trained.model, train_state=kept)
    result = fid_of_source(out, args.dataset, n=args.n, seed=0)
    result["source"] = Path(out).name
    write_json(PRETRAINED / f"{args.name}.json", {**kept, "quality": result})
    print(f"{out}: FID {result['fid']:.3f}, KID {result['kid']:.4f} over {args.n} samples")
    return 0


if __name__ == "__main__":
    run_script(main)
