"""Small CNN classifiers whose penultimate features oscsim's FID and KID are computed on.

Inception weights cannot be downloaded here, so oscsim ships one classifier per data set
(``oscsim/classifiers/<dataset>.pt``, trained by ``scripts/train_classifiers.py``). A weight
file is a plain dict read with ``torch.load(weights_only=True)``: format tag, architecture
hyperparameters, state dict, test accuracy, seed, data set, image shape and versions.

Images: float [N, H, W] in [0, 1], white digit on black (the data sets' ``as_float()``).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .container import read_container, write_container
from .errors import ModelFileError, OscsimError

FORMAT = "oscsim-classifier"
FORMAT_VERSION = 1
CLASSIFIERS = ("mnist", "fashion-mnist", "digits14")
WEIGHTS_DIR = Path(__file__).resolve().parent / "classifiers"
_RETRAIN = "reinstall oscsim, or retrain it with `python scripts/train_classifiers.py --dataset {}`"


@dataclass(frozen=True)
class CnnConfig:
    """Architecture of `SmallCnn`: conv widths, feature width, classes, input shape.

    Layout: conv-pool-conv-pool-conv (3x3, batch norm, ReLU), a 3x3 adaptive average pool,
    a fully connected feature layer of ``features`` units (batch norm, ReLU: every unit stays
    alive and the features stay O(1), as the KID kernel assumes), dropout (training only),
    then the logits. A 28x28 input costs about 7.5M multiply-adds.
    """

    image_shape: tuple[int, int]
    channels: tuple[int, int, int] = (32, 64, 128)
    features: int = 128
    dropout: float = 0.25
    num_classes: int = 10
    name: str = "smallcnn-v1"

    def __post_init__(self) -> None:
        if len(self.channels) != 3 or min(self.channels) < 1 or self.features < 1:
            raise ValueError(f"bad CnnConfig: three positive channels and features, got {self}")
        if min(self.image_shape) < 4:
            raise ValueError(f"image_shape must be at least 4x4, got {self.image_shape}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CnnConfig:
        """Rebuild from `to_dict` output."""
        data = dict(data)
        data["image_shape"] = tuple(data["image_shape"])
        data["channels"] = tuple(data["channels"])
        return cls(**data)


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class SmallCnn(nn.Module):
    """A ~250k-parameter CNN: `features()` gives the penultimate layer, `forward()` the logits."""

    def __init__(self, config: CnnConfig) -> None:
        super().__init__()
        self.config = config
        c1, c2, c3 = config.channels
        self.trunk = nn.Sequential(
            *_conv(1, c1),
            nn.MaxPool2d(2),
            *_conv(c1, c2),
            nn.MaxPool2d(2),
            *_conv(c2, c3),
            nn.AdaptiveAvgPool2d(3),
            nn.Flatten(),
            nn.Linear(9 * c3, config.features, bias=False),
            nn.BatchNorm1d(config.features),
            nn.ReLU(),
        )
        self.head = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(config.features, config.num_classes)
        )

    def features(self, images: Tensor) -> Tensor:
        """Penultimate activations ``[N, features]`` of images ``[N, H, W]`` in [0, 1]."""
        return self.trunk((2.0 * images - 1.0).unsqueeze(1))

    def forward(self, images: Tensor) -> Tensor:
        """Logits ``[N, num_classes]`` of images ``[N, H, W]`` in [0, 1]."""
        return self.head(self.features(images))


@dataclass
class ClassifierFile:
    """A loaded classifier (in eval mode) and what its weight file records about it."""

    model: SmallCnn
    dataset: str
    test_accuracy: float
    sha256: str
    meta: dict[str, Any]


def weights_path(dataset: str) -> Path:
    """Where the shipped classifier of ``dataset`` lives; unknown names raise OscsimError."""
    if dataset not in CLASSIFIERS:
        raise OscsimError(
            f"no classifier for data set {dataset!r}; FID/KID are available for: "
            f"{', '.join(CLASSIFIERS)}"
        )
    return WEIGHTS_DIR / f"{dataset}.pt"


def save_classifier(path: str | Path, model: SmallCnn, dataset: str, **meta: Any) -> Path:
    """Write a classifier weight file atomically; ``meta`` adds e.g. test_accuracy, seed."""
    content = {
        "arch": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "dataset": dataset,
        "image_shape": list(model.config.image_shape),
        "n_params": sum(p.numel() for p in model.parameters()),
        **meta,
    }
    return write_container(path, FORMAT, FORMAT_VERSION, content)


def read_classifier(path: str | Path) -> ClassifierFile:
    """Load a classifier weight file; missing, foreign or damaged files raise ModelFileError."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"classifier weight file {path} does not exist")
    raw = path.read_bytes()
    content = read_container(path, FORMAT, FORMAT_VERSION, "oscsim classifier file", raw)
    try:
        model = SmallCnn(CnnConfig.from_dict(content["arch"]))
        model.load_state_dict(content["state_dict"])
        dataset, accuracy = str(content["dataset"]), float(content["test_accuracy"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} is a damaged classifier file: {exc}") from None
    meta = {k: v for k, v in content.items() if k != "state_dict"}
    return ClassifierFile(model.eval(), dataset, accuracy, hashlib.sha256(raw).hexdigest(), meta)


@cache
def shipped_classifier(dataset: str) -> ClassifierFile:
    """The shipped classifier of ``dataset``, loaded once per process."""
    path = weights_path(dataset)
    try:
        loaded = read_classifier(path)
    except ModelFileError as exc:
        raise ModelFileError(f"{exc}; {_RETRAIN.format(dataset)}") from None
    if loaded.dataset != dataset:
        raise ModelFileError(
            f"{path} holds a classifier for {loaded.dataset}, not {dataset}; "
            + _RETRAIN.format(dataset)
        )
    return loaded


def load_classifier(dataset: str) -> SmallCnn:
    """The shipped classifier of ``dataset`` in eval mode (shared: do not train it)."""
    return shipped_classifier(dataset).model


@torch.no_grad()
def predict(model: SmallCnn, images: Tensor, batch_size: int = 500) -> Tensor:
    """Class predictions ``[N]`` of float images ``[N, H, W]`` in [0, 1], in eval mode."""
    model.eval()
    return torch.cat([model(b).argmax(1) for b in images.split(batch_size)])
