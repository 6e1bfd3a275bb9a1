"""From an exported circuit's raw file back to phases and pixels (DESIGN.md §5).

Each oscillator's phase is measured against the simulated reference clock (``phase_at`` with
``ref``), so the circuit's phase is in the same rotating frame as the behavioural model's. At
every segment end the estimate uses the last cycles of that segment only (``window_cycles``,
never across a boundary); the trajectory has a point every half cycle (one-cycle estimates),
for plots against the behavioural trajectory. Pixels are ``(1 − cos θ)/2`` of the visible
oscillators in pixel order, the behavioural model's readout.

Shapes: phases ``(n_times, n_osc)`` in rad; pixels ``(..., H, W)`` in [0, 1].
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from oscsim.errors import SpiceError
from oscsim.spice.phase import demodulate, phase_at, wrap
from oscsim.spice.raw import RawFile

MANIFEST_FORMAT = "oscsim-circuit"


@dataclass(frozen=True)
class CircuitPhases:
    """Phases of one simulated sample against the reference clock.

    Attributes:
        boundary_s: ``(S,)`` segment ends, s.
        boundary_rad: ``(S, N)`` phase of each oscillator at each segment end, in (−π, π].
        amplitude_v: ``(S, N)`` differential amplitude at each segment end, V.
        trajectory_s: ``(T,)`` trajectory times, s (0 first when the latent was given).
        trajectory_rad: ``(T, N)`` phases, unwrapped in time (from the latent when given).
    """

    boundary_s: np.ndarray
    boundary_rad: np.ndarray
    amplitude_v: np.ndarray
    trajectory_s: np.ndarray
    trajectory_rad: np.ndarray

    @property
    def final_rad(self) -> np.ndarray:
        """``(N,)`` phases at the end of the last segment."""
        return self.boundary_rad[-1]


def load_manifest(out_dir: str | Path) -> dict:
    """The ``manifest.json`` of an export folder; SpiceError if missing or not a manifest."""
    path = Path(out_dir) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SpiceError(f"cannot read {path}: {exc}; export the model first") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise SpiceError(f"{path} is not an oscsim circuit manifest")
    return manifest


def boundary_window(manifest: dict, window_cycles: int = 4) -> int:
    """Cycles per phase estimate that fit inside one segment (at least 1)."""
    cycles = float(manifest["cycles_per_segment"])
    fit = math.floor(cycles - 0.25 + 1e-9)
    if fit < 1:
        raise SpiceError(f"segments of {cycles:g} cycles are too short to read a phase (>= 1.25)")
    return max(1, min(window_cycles, fit))


def differential(raw: RawFile, manifest: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(n_t, N)`` cell and ``(n_t,)`` refclk differential voltages ``V(p) − V(n)``, V."""
    cells = np.stack(
        [raw[f"v({o['p']})"] - raw[f"v({o['n']})"] for o in manifest["oscillators"]], axis=1
    )
    ref = manifest["reference"]
    return cells, raw[f"v({ref['p']})"] - raw[f"v({ref['n']})"]


def read_phases(
    raw: RawFile,
    manifest: dict,
    theta0: np.ndarray | None = None,
    window_cycles: int = 4,
) -> CircuitPhases:
    """Phases of every oscillator at every segment end, and over time, from one raw file.

    Args:
        raw: the transient of one exported netlist.
        manifest: the export's manifest (node names, f_ref, breakpoints).
        theta0: the sample's latent ``(N,)``; anchors the unwrapped trajectory at t = 0.
        window_cycles: cycles per boundary estimate (capped by the segment length).
    """
    f_ref = float(manifest["f_ref_hz"])
    t, (cells, ref) = raw.time, differential(raw, manifest)
    if t[-1] < float(manifest["t_stop_s"]) * (1 - 1e-9):
        raise SpiceError(
            f"{raw.path}: the transient stops at {t[-1]:.4g} s, before the last segment"
        )
    ends = np.asarray(manifest["breakpoints_s"][1:], dtype=np.float64)
    window = boundary_window(manifest, window_cycles)
    amp, phase = demodulate(t, cells, ends, f_ref, window)
    _, ref_phase = demodulate(t, ref, ends, f_ref, window)
    n_half = round(2 * float(manifest["t_stop_s"]) * f_ref)
    times = np.arange(3, n_half + 1) / (2 * f_ref)
    traj = phase_at(t, cells, times, f_ref, window_cycles=1, ref=ref)
    if theta0 is not None:
        times = np.concatenate([[0.0], times])
        traj = np.concatenate([np.asarray(theta0, dtype=np.float64)[None], traj])
    return CircuitPhases(
        boundary_s=ends,
        boundary_rad=wrap(phase - ref_phase),
        amplitude_v=amp,
        trajectory_s=times,
        trajectory_rad=np.unwrap(traj, axis=0),
    )


def readout(theta: np.ndarray, manifest: dict) -> np.ndarray:
    """Pixels ``(1 − cos θ)/2`` of the visible oscillators, ``(..., H, W)``."""
    theta = np.asarray(theta, dtype=np.float64)
    visible = np.asarray(manifest["visible"], dtype=np.int64)
    pixels = 0.5 * (1.0 - np.cos(theta[..., visible]))
    return pixels.reshape(*theta.shape[:-1], *manifest["image_shape"])
