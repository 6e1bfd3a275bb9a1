"""Shared fixtures: fixed seeds, paths to the shared data sets."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("OSCSIM_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def shared_mnist() -> Path:
    """The canonical MNIST IDX files of ../shared/data/mnist (skips if absent)."""
    path = SHARED_DATA / "mnist"
    if not (path / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"canonical MNIST files not found in {path}")
    return path


def load_benchmark(name: str, folder: str = "benchmarks") -> ModuleType:
    """The script ``<folder>/<name>.py`` as a module (registered, so dataclasses resolve)."""
    spec = importlib.util.spec_from_file_location(f"{name}_{folder}", REPO / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def logged_losses(run_dir: Path) -> dict[str, list[float]]:
    """Step numbers and losses of a training run, as its ``train_log.json`` records them."""
    from oscsim.train_outputs import LOSSES

    history = json.loads((run_dir / "train_log.json").read_text())["history"]
    return {
        key: history[key]
        for key in ("step", *LOSSES, "consistency", "mode_seeking")
        if key in history
    }
