"""One self-contained model file: graph, config, parameters, codes, steps, optimizer and versions.

Files are written atomically (temp file + rename) and read with ``torch.load(weights_only=True)``:
they hold only tensors, numbers, strings, lists and dicts, never pickled code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .container import read_container, write_container
from .errors import ModelFileError
from .graph_io import graph_from_dict, graph_to_dict
from .model import AISGenerator, ModelConfig

PRETRAINED = Path(__file__).resolve().parent / "pretrained"
FORMAT = "oscsim-model"
FORMAT_VERSION = 1


@dataclass
class ModelFile:
    """What a model file holds besides the generator itself."""

    model: AISGenerator
    optimizer: dict[str, Any] | None = None
    train_state: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    path: Path | None = None


def save_model(
    path: str | Path,
    model: AISGenerator,
    optimizer: dict[str, Any] | None = None,
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (and optionally optimizer and training state) to ``path`` atomically."""
    content: dict[str, Any] = {
        "graph": graph_to_dict(model.graph),
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "codes": None,
        "steps": None,
        "optimizer": optimizer,
        "train_state": dict(train_state or {}),
    }
    if model.quantizers:
        content["codes"] = {k: v.to(torch.int16).cpu() for k, v in model.to_codes().items()}
        content["steps"] = model.steps()
    return write_container(path, FORMAT, FORMAT_VERSION, content)


def pretrained_names() -> list[str]:
    """Names of the models shipped in the package (``oscsim sample demo``)."""
    return sorted(p.stem for p in PRETRAINED.glob("*.pt"))


def resolve_model_path(name_or_path: str | Path) -> Path:
    """A model file path, or the shipped model of that name; a clear error if neither exists."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = PRETRAINED / f"{name_or_path}.pt"
    if path.suffix == "" and len(path.parts) == 1 and shipped.is_file():
        return shipped
    names = ", ".join(pretrained_names()) or "none"
    raise ModelFileError(
        f"model file {path} does not exist and is not a shipped model (shipped: {names}); "
        f"train one with `oscsim train`"
    )


def load_model(path: str | Path) -> ModelFile:
    """Read a model file (or a shipped model by name); bad files raise ModelFileError."""
    path = resolve_model_path(path)
    content = read_container(path, FORMAT, FORMAT_VERSION, "oscsim model file")
    try:
        graph = graph_from_dict(content["graph"])
        model = AISGenerator(graph, ModelConfig.from_dict(content["config"]))
        model.load_state_dict(content["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} is a damaged oscsim model file: {exc}") from None
    if content["codes"] is not None:
        stored = {k: v.to(torch.int64) for k, v in content["codes"].items()}
        if any(not torch.equal(stored[k], v) for k, v in model.to_codes().items()):
            raise ModelFileError(f"{path}: stored codes disagree with its parameters (damaged)")
    return ModelFile(
        model=model,
        optimizer=content["optimizer"],
        train_state=content["train_state"],
        versions=content["versions"],
        path=path,
    )


def average_model_files(paths: list[str | Path]) -> ModelFile:
    """The mean of several model files' generators (a post-hoc weight average, e.g. of a run's
    snapshots): parameters averaged in float as the training's own average does, codes then
    re-quantized; graph, config and training state are the last file's. The files must share
    graph and config, or a ModelFileError says which differs."""
    if not paths:
        raise ModelFileError("averaging needs at least one model file")
    files = [load_model(p) for p in paths]
    last = files[-1]
    for f in files[:-1]:
        for what, mine, theirs in (
            ("config", f.model.config.to_dict(), last.model.config.to_dict()),
            ("graph", graph_to_dict(f.model.graph), graph_to_dict(last.model.graph)),
        ):
            if mine != theirs:
                raise ModelFileError(
                    f"{f.path} and {last.path} differ in their {what}: only snapshots of one "
                    f"model can be averaged"
                )
    params = [dict(f.model.named_parameters()) for f in files]
    with torch.no_grad():
        for name, value in last.model.named_parameters():
            value.copy_(torch.stack([p[name] for p in params]).mean(0))
    last.train_state = {**last.train_state, "averaged": [str(f.path) for f in files]}
    last.optimizer = None
    return last
