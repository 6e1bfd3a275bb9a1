"""Which classes do the generators draw, and how much of their FID is the classes' mix?

A generator that drops a mode (draws few sandals, few sixes) pays for it in FID however good
its images are. For each model (an oscsim model file, a shipped name or a digital baseline's
file) this draws ``--pool`` images from latent seed ``--seed``, the first ``--n`` being the
very images ``oscsim fid --seed`` and ``quality.py`` score, asks the data set's classifier
which class each one is, and scores two sets of ``--n`` with ``oscsim.metrics.evaluate``: the
first ``--n`` as drawn, and ``--n`` resampled from the pool with replacement so that every
class the pool holds is equally common. The gap between the two FIDs bounds what evening out
the classes could gain; the resample repeats images of rare classes (``distinct`` counts them),
so it is only an estimate, and a class the pool lacks stays lacking. From the other side,
``--n`` real training images resampled to the model's class mix (classes as the classifier
sees them) score what a generator with perfect images and this model's mix would: the part of
its FID that is the mix alone; the rest is the images.

    python benchmarks/class_coverage.py --dataset fashion-mnist --threads 2 \\
        --models fashion-ema benchmarks/models/fashion-ft400-offsets-ft200-ema.pt

Writes ``benchmarks/results/class_coverage.{json,md}`` (rows merge by data set, model, n, pool
and seed) and ``class_coverage-<data set>.png``: the classes' fractions of every model in the
data set's table against the test set's.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from tqdm import tqdm

from oscsim.atomic import merge_row
from oscsim.data import load_dataset
from oscsim.digital import load_digital
from oscsim.errors import ModelFileError, OscsimError, run_script
from oscsim.metrics import evaluate_features, features, predicted_classes
from oscsim.modelfile import load_model, resolve_model_path
from oscsim.plots import save_figure
from oscsim.sampling import draw_images
from oscsim.tables import cell

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = ("dataset", "model", "n", "pool", "seed")
CLASS_NAMES = {
    "fashion-mnist": (
        "T-shirt", "trouser", "pullover", "dress", "coat",
        "sandal", "shirt", "sneaker", "bag", "boot",
    ),
}  # fmt: skip


def resample_to_mix(
    classes: np.ndarray, n: int, rng: np.random.Generator, mix: np.ndarray | None = None
) -> np.ndarray:
    """``n`` indices into ``classes`` drawn with replacement so that each class present is
    equally likely, or, given ``mix`` (a share per class), has that share: an image's weight
    is its class's share over its class's count."""
    counts = np.bincount(classes)
    share = np.ones(len(counts)) if mix is None else np.asarray(mix, dtype=float)[: len(counts)]
    weights = share[classes] / counts[classes]
    return rng.choice(len(classes), n, replace=True, p=weights / weights.sum())


def label(source: str) -> str:
    """A model's name in the tables: its file's stem, or for a run's ``model.pt`` or
    ``model-ema.pt`` the run's folder (with ``-ema``), and for a run's snapshot the run's
    folder before the snapshot's stem (every run has a ``step-000900.pt``)."""
    path = Path(source)
    if path.stem in ("model", "model-ema"):
        return path.parent.name + path.stem[len("model") :]
    if path.parent.name == "snapshots":
        return f"{path.parent.parent.name}-{path.stem}"
    return path.stem


def generator(source: str) -> torch.nn.Module:
    """The generator in an oscsim model file (or shipped model), or in a digital one."""
    path = resolve_model_path(source)
    errors = []
    for load in (load_model, load_digital):
        try:
            return load(path).model
        except ModelFileError as exc:
            errors.append(str(exc))
    raise ModelFileError(
        f"{path} is neither an oscsim model file nor a digital generator file ({errors[0]})"
    )


def measure(
    source: str,
    dataset: str,
    n: int,
    pool: int,
    seed: int,
    data_dir: str | None,
    real: tuple[np.ndarray, np.ndarray],
) -> dict[str, Any]:
    """One model's row: FID, KID and class fractions of its first ``n`` images, of ``n``
    resampled from ``pool`` to even classes, and of ``n`` real training images (``real``:
    their features and classes) resampled to the model's class mix."""
    model = generator(source).eval()
    rng = torch.Generator().manual_seed(seed)
    latent = torch.cat([model.latent(n, rng), model.latent(pool - n, rng)])  # first n as scored
    feats = features(draw_images(model, latent), dataset)
    classes = predicted_classes(feats, dataset)
    pick = resample_to_mix(classes, n, np.random.default_rng(seed))
    drawn, even = (evaluate_features(feats[i], dataset, "test", data_dir) for i in (slice(n), pick))
    real_feats, real_classes = real
    mixed = resample_to_mix(real_classes, n, np.random.default_rng(seed), drawn["class_fractions"])
    at_mix = evaluate_features(real_feats[mixed], dataset, "test", data_dir)
    return {
        "dataset": dataset,
        "model": label(source),
        "source": str(resolve_model_path(source)),
        "n": n,
        "pool": pool,
        "seed": seed,
        **{k: drawn[k] for k in ("fid", "kid", "class_fractions", "class_entropy")},
        "fid_balanced": even["fid"],
        "kid_balanced": even["kid"],
        "fid_real_at_mix": at_mix["fid"],
        "classes_in_pool": int(np.unique(classes).size),
        "distinct": int(np.unique(pick).size),
        "versions": drawn["versions"],
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    """One table per data set: a model per line, its FIDs, class entropy and rarest class."""
    lines = ["# Class coverage: the classes generators draw, and FID with classes evened", ""]
    for dataset in sorted({r["dataset"] for r in rows}):
        names = CLASS_NAMES.get(dataset)
        lines += [
            f"## {dataset}",
            "",
            f"![class fractions](class_coverage-{dataset}.png)",
            "",
            "| model | n | FID | FID, classes evened | FID of real images at its class mix | "
            "class entropy | rarest class | commonest class | distinct in the evened set |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sorted((r for r in rows if r["dataset"] == dataset), key=lambda r: r["fid"]):
            f = np.asarray(r["class_fractions"])
            lo, hi = (_class(int(i), names, f[i]) for i in (f.argmin(), f.argmax()))
            lines.append(
                f"| {r['model']} | {r['n']:,} | {r['fid']:.2f} | {r['fid_balanced']:.2f} | "
                f"{cell(r.get('fid_real_at_mix'))} | {r['class_entropy']:.3f} | {lo} | {hi} | "
                f"{r['distinct']:,} |"
            )
        lines.append("")
    return "\n".join(lines)


def _class(index: int, names: tuple[str, ...] | None, fraction: float) -> str:
    name = names[index] if names else str(index)
    return f"{name} ({100 * fraction:.1f} %)"


def plot(rows: list[dict[str, Any]], reference: np.ndarray, path: Path) -> Path:
    """Grouped bars: each row's class fractions, the test set's as a step line."""
    k = len(reference)
    names = CLASS_NAMES.get(rows[0]["dataset"], tuple(str(i) for i in range(k)))
    fig = Figure(figsize=(8.0, 3.6))
    ax = fig.subplots()
    width = 0.8 / len(rows)
    for j, r in enumerate(rows):
        x = np.arange(k) - 0.4 + (j + 0.5) * width
        label = f"{r['model']}: FID {r['fid']:.1f}, evened {r['fid_balanced']:.1f}"
        ax.bar(x, r["class_fractions"], width, label=label)
    ax.step(np.arange(k + 1) - 0.5, [*reference, reference[-1]], where="post", color="k",
            linewidth=1, label="test set")  # fmt: skip
    ax.set_xticks(np.arange(k), names, fontsize=8)
    ax.set_ylabel("fraction of images")
    ax.set_title(f"{rows[0]['dataset']}: classes of the generated images", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path)


def add_scoring_arguments(ap: argparse.ArgumentParser) -> None:
    """The options of a script that scores generators as ``oscsim fid`` does: data set, images,
    latent seed, data folder, threads and the results folder."""
    ap.add_argument("--dataset", required=True, help="mnist, fashion-mnist or digits14")
    ap.add_argument("--n", type=int, default=10_000, help="images scored (10,000)")
    ap.add_argument("--seed", type=int, default=0, help="latent seed (as `oscsim fid --seed`)")
    ap.add_argument("--data-dir", help="folder holding the data set files")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=RESULTS)


def main(argv: list[str] | None = None) -> int:
    """Measure every model, merge its row into the results, write JSON, markdown and plot."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True, help="model files or shipped names")
    ap.add_argument("--pool", type=int, default=30_000, help="images the evened set is drawn from")
    add_scoring_arguments(ap)
    args = ap.parse_args(argv)
    if not 2 <= args.n <= args.pool:
        raise OscsimError(f"need 2 <= --n <= --pool, got --n {args.n} and --pool {args.pool}")
    twice = sorted(name for name, k in Counter(map(label, args.models)).items() if k > 1)
    if twice:
        raise OscsimError(
            f"--models: two files would share the row {', '.join(twice)} (a row is named after "
            f"its file); copy one to another name, or measure each with its own --out"
        )
    if args.threads:
        torch.set_num_threads(args.threads)
    test = load_dataset(args.dataset, "test", args.data_dir)
    reference = np.bincount(test.labels) / len(test.labels)
    train = features(load_dataset(args.dataset, "train", args.data_dir).as_float(), args.dataset)
    real = (train, predicted_classes(train, args.dataset))  # the same for every model: once
    for source in tqdm(args.models, desc="models", unit="model"):
        row = measure(source, args.dataset, args.n, args.pool, args.seed, args.data_dir, real)
        rows = merge_row(args.out / "class_coverage.json", row, KEYS, "coverage", markdown)
    ours = sorted((r for r in rows if r["dataset"] == args.dataset), key=lambda r: r["fid"])
    plot(ours, reference, args.out / f"class_coverage-{args.dataset}.png")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    run_script(main)
