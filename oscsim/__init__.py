"""oscsim: train coupled-oscillator image generators, export them to ngspice, measure them.

The front door re-exports the pipeline's main names; they load lazily, so ``oscsim --help``
does not pay for importing torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "load_dataset": "oscsim.data",
    "build_graph": "oscsim.graph",
    "GraphSpec": "oscsim.graph",
    "integrate": "oscsim.dynamics",
    "RK4": "oscsim.steppers",
    "Heun": "oscsim.steppers",
    "Euler": "oscsim.steppers",
    "AISGenerator": "oscsim.model",
    "ModelConfig": "oscsim.model",
    "save_model": "oscsim.modelfile",
    "load_model": "oscsim.modelfile",
    "train": "oscsim.train",
    "TrainConfig": "oscsim.train_config",
    "evaluate": "oscsim.metrics",
    "evaluate_features": "oscsim.metrics",
    "fid_of_source": "oscsim.metrics",
    "export_circuit": "oscsim.spice.export",
    "export_model": "oscsim.spice.export",
    "validate": "oscsim.validate",
    "read_raw": "oscsim.spice.raw",
    "run_netlist": "oscsim.spice.run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'oscsim' has no attribute {name!r}")
