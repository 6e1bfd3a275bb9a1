"""Train the classifiers that oscsim's FID and KID use (oscsim/classifiers/<dataset>.pt).

Deterministic on CPU: one thread, fixed seeds, `torch.use_deterministic_algorithms`, a
seeded data order and seeded augmentation (random shifts, flips for Fashion-MNIST).
The last epoch's weights are kept (no selection on the test set); test accuracy on all
test images is recorded in the weight file with the recipe, wall time and versions.

    python scripts/train_classifiers.py                       # all three
    python scripts/train_classifiers.py --dataset mnist --data-dir /work/shared/data
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from oscsim.classifier import (
    CLASSIFIERS,
    WEIGHTS_DIR,
    CnnConfig,
    SmallCnn,
    predict,
    save_classifier,
)
from oscsim.data import load_dataset

SEED = 0


@dataclass(frozen=True)
class Recipe:
    """Training hyperparameters of one classifier (AdamW with a one-cycle schedule)."""

    epochs: int
    shift_px: int
    flip: bool = False
    batch_size: int = 128
    lr_max: float = 3e-3
    weight_decay: float = 5e-4


RECIPES = {
    "mnist": Recipe(epochs=4, shift_px=2),
    "fashion-mnist": Recipe(epochs=10, shift_px=2, flip=True),
    "digits14": Recipe(epochs=30, shift_px=1),
}


def augment(images: Tensor, shift_px: int, flip: bool, generator: torch.Generator) -> Tensor:
    """Shift each image [N, H, W] by up to ``shift_px`` pixels (zero fill), flip half if asked."""
    n, h, w = images.shape
    padded = F.pad(images, (shift_px,) * 4)
    dy, dx = torch.randint(0, 2 * shift_px + 1, (2, n, 1, 1), generator=generator)
    rows = dy + torch.arange(h).view(1, h, 1)
    cols = dx + torch.arange(w).view(1, 1, w)
    out = padded[torch.arange(n).view(n, 1, 1), rows, cols]
    if flip:
        mirrored = torch.rand(n, generator=generator) < 0.5
        out = torch.where(mirrored.view(n, 1, 1), out.flip(2), out)
    return out


def train(dataset: str, recipe: Recipe, data_dir: str | None, seed: int) -> tuple[SmallCnn, dict]:
    """Train one classifier; returns it and its record (accuracy, timing, recipe)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    data = load_dataset(dataset, "train", data_dir)
    images, labels = torch.from_numpy(data.as_float()), torch.from_numpy(data.labels)
    model = SmallCnn(CnnConfig(image_shape=data.image_shape))
    steps = recipe.epochs * -(-len(data) // recipe.batch_size)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=recipe.lr_max, weight_decay=recipe.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, recipe.lr_max, total_steps=steps)
    start, start_cpu = time.perf_counter(), time.process_time()
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(data), generator=generator)
        total_loss, correct = 0.0, 0
        for batch in order.split(recipe.batch_size):
            x = augment(images[batch], recipe.shift_px, recipe.flip, generator)
            logits = model(x)
            loss = F.cross_entropy(logits, labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(batch)
            correct += int((logits.argmax(1) == labels[batch]).sum())
        print(
            f"{dataset} epoch {epoch + 1}/{recipe.epochs}: loss {total_loss / len(data):.4f} "
            f"train acc {correct / len(data):.4f} ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    wall_s, cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
    test = load_dataset(dataset, "test", data_dir)
    hits = predict(model, torch.from_numpy(test.as_float())) == torch.from_numpy(test.labels)
    record = {
        "test_accuracy": float(hits.double().mean()),
        "n_test": len(test),
        "seed": seed,
        "train_wall_s": round(wall_s, 1),
        "train_cpu_s": round(cpu_s, 1),
        "recipe": asdict(recipe),
        "torch_threads": torch.get_num_threads(),
        "command": shlex.join(["python", "scripts/train_classifiers.py", *sys.argv[1:]]),
    }
    return model, record


def main(argv: Sequence[str] | None = None) -> int:
    """Train the requested classifiers and write their weight files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", choices=CLASSIFIERS, help="repeatable")
    parser.add_argument("--data-dir", help="folder holding the IDX data sets")
    parser.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for dataset in args.dataset or CLASSIFIERS:
        model, record = train(dataset, RECIPES[dataset], args.data_dir, args.seed)
        path = save_classifier(args.out_dir / f"{dataset}.pt", model, dataset, **record)
        n_params = sum(p.numel() for p in model.parameters())
        print(json.dumps({"file": str(path), "n_params": n_params, **record}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
