"""Behaviour against circuit (DESIGN.md §5): the same latents through the model and ngspice.

For each latent θ(0) the behavioural model (in float64) and the exported circuit each give final
phases and an image. Metrics, over all latents:

- ``pixel_mae``: mean |pixel_behaviour − pixel_circuit| over visible pixels.
- ``sign_agreement``: fraction of pixels on the same side of 0.5.
- ``phase_error_deg``: circular RMS of the final phase differences, all oscillators, degrees.
- ``boundary_phase_error_deg``: the same at every segment end (where the mismatch starts).
- ``seconds_per_sample``: wall-clock seconds of the ngspice stage per latent (``processes`` at
  once, each run's time split with the runs beside it; export and readback not included), over
  every latent, including those a resumed run took from its folder (``simulated_now`` says how
  many ran in this call).
- ``tracking_fraction``: fraction of oscillators whose final phase is within 20° of the model's
  (an RMS error can come from a few oscillators that slipped to another branch).
- ``boundary_amplitude_v``: min, mean and max cell amplitude at every segment end.
- ``pump_threshold_ratio``: strongest SHIL strength over the cells' parametric threshold
  ``1/(2Q)``; at 1 or more an unloaded cell's amplitude runs away.
- ``envelope_model``: at time scale 1, the same metrics for the envelope model of the same
  codes and cell (``oscsim.envelope``) against the circuit, with the cell's frequency offset
  against its amplitude measured in ngspice (``cell_offsets_measured``,
  ``oscsim.spice.calibrate.measure_offsets``) when the gains are measured too: how much of the
  mismatch the cells' amplitude dynamics explain. None where it would be the model itself (an
  envelope model with the same cell and offsets).

By default two cell properties are measured first in ngspice and used by the export: the
free-running frequency offset δ0 (one free cell, ``measure_delta0``), cancelled by the tune
bias (without it a cell drifts about −0.34° per cycle against the model), and the coupling per
siemens (two cells pulling into phase, ``measure_k_per_siemens``: about 1 % above first order,
and a 1 % coupling error alone takes a trained demo model's agreement with itself to 0.97,
``oscsim.sensitivity``). The images are also saved as ``.npy`` (for FID later).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from .atomic import atomic_path, check_outputs_free
from .envelope import Tank
from .errors import OscsimError
from .graph import GraphSpec, build_graph
from .model import AISGenerator, ModelConfig
from .plots import save_figure
from .spice.calibrate import measure_offsets
from .spice.cells import LcCell
from .spice.export import export_model
from .spice.phase import wrap
from .spice.plan import CircuitGains, check_variant, get_cell
from .spice.raw import RawFile
from .spice.readback import CircuitPhases, differential, read_phases, readout
from .spice.run import run_each, run_netlist
from .versions import versions

_PLOT_OSCILLATORS = 4
OUTPUTS = ("behavioural.npy", "circuit.npy", "pairs.png", "trajectories.png", "waveforms.png")
CIRCUIT_DIR = "circuit"
"""Per-latent circuit results in a validation's folder (``sample_0000.npz`` ...), each with the
hash of its netlist: ``resume`` reuses them, so long validations survive interruptions and grow
across sessions."""


def _simulate_alone(
    model: AISGenerator,
    theta0: np.ndarray,
    cell: LcCell,
    timeout_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """One latent of a small calibration model through ngspice at first-order gains: times
    (cycles) and phases ``[T, N]``."""
    with tempfile.TemporaryDirectory(prefix="oscsim-calibrate-") as tmp:
        manifest = export_model(model, tmp, latent=theta0, variant="collapsed", cell=cell)
        raw = run_netlist(Path(tmp) / manifest["netlists"][0], timeout_s=timeout_s)
        phases = read_phases(raw, manifest, theta0)
    return phases.trajectory_s * float(manifest["f_ref_hz"]), phases.trajectory_rad


def measure_delta0(cell: str | LcCell = "lc", cycles: int = 32, timeout_s: float = 60.0) -> float:
    """Free-running frequency offset of one cell in ngspice, fraction of f_ref per cycle.

    One cell, no couplings, no bias, no SHIL, exported and simulated like any model; the slope of
    its phase against the reference clock after 8 cycles of settling.
    """
    config = ModelConfig(segments=1, cycles_per_segment=float(cycles), sigma_init=(0.0,))
    model = AISGenerator(build_graph(GraphSpec((1, 1))), config)
    t, theta = _simulate_alone(model, np.zeros(1), get_cell(cell), timeout_s)
    keep = t >= 8.0
    return float(np.polyfit(t[keep], theta[keep, 0], 1)[0] / (2.0 * math.pi))


K_CALIBRATION_CODE = 3
"""Bank code of the coupling-gain measurement (k per unit conductance is flat from code 3 on)."""


def measure_k_per_siemens(
    cell: str | LcCell = "lc", cycles: int = 48, timeout_s: float = 60.0
) -> float:
    """Coupling per siemens of bank conductance between two cells in ngspice, per cycle.

    Two cells joined by one bank at code ``K_CALIBRATION_CODE``, 100° apart, nothing else:
    the model says Δ = θ₂ − θ₁ follows tan(Δ/2) ∝ exp(−4πk·t), so the decay rate of
    log tan(Δ/2) (while 0.03 < |Δ| < 2 rad, after 2 cycles) is the circuit's k. The result
    replaces the first-order ``LcCell.k_per_siemens`` (79.6; ngspice gives 80.5).
    """
    base = get_cell(cell)
    config = ModelConfig(segments=1, cycles_per_segment=float(cycles), sigma_init=(0.0,))
    model = AISGenerator(build_graph(GraphSpec((1, 2))), config)
    with torch.no_grad():
        for name in model.param_names:
            getattr(model, name).zero_()
        model.k.fill_(K_CALIBRATION_CODE * model.steps()["k"])
    k_model = float(model.hardware_params()["k"][0, 0])
    t, theta = _simulate_alone(model, np.array([0.0, math.radians(100)]), base, timeout_s)
    delta = np.abs(wrap(theta[:, 1] - theta[:, 0]))
    keep = (t >= 2.0) & (delta > 0.03) & (delta < 2.0)
    if keep.sum() < 8:
        raise OscsimError(
            f"the two-cell coupling measurement did not lock as expected (|Δ| at the end "
            f"{math.degrees(delta[-1]):.1f}°); the {base.name} cell's coupling is not calibrated"
        )
    k_circuit = -np.polyfit(t[keep], np.log(np.tan(delta[keep] / 2)), 1)[0] / (4 * math.pi)
    return float(base.k_per_siemens * k_circuit / k_model)


def _behaviour(model: AISGenerator, theta0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float64 trajectory ``[T, n, N]`` of the exported codes × steps, and its times in cycles.

    Model noise is not applied (the circuit has none).
    """
    cfg, p = model.config, model.hardware_params()
    with torch.no_grad():
        traj = model.rollout(torch.from_numpy(theta0), p, return_trajectory=True).numpy()
    return traj, np.arange(traj.shape[0]) * (cfg.cycles_per_segment / cfg.steps_per_segment)


@dataclasses.dataclass(frozen=True)
class Waveforms:
    """V(p) − V(n) of the reference clock and a few cells over a sample's first and last cycles:
    what ``waveforms.png`` shows, kept without the whole raw file."""

    time_s: np.ndarray
    ref_v: np.ndarray
    cells_v: np.ndarray  # [T, k]

    @classmethod
    def from_raw(cls, raw: RawFile, manifest: dict, cycles: float = 3.0) -> Waveforms:
        """The first and last ``cycles`` reference cycles of ``raw``."""
        f_ref, t = float(manifest["f_ref_hz"]), raw.time
        cells, ref = differential(raw, manifest)
        keep = (t <= cycles / f_ref) | (t >= t[-1] - cycles / f_ref)
        return cls(t[keep], ref[keep], cells[keep, :_PLOT_OSCILLATORS])


@dataclasses.dataclass(frozen=True)
class LatentCircuit:
    """One latent's circuit result: its phases, the ngspice wall seconds it cost (its run's wall
    time split with the runs beside it, ``oscsim.spice.run.core_share``), and for the first
    latent its waveforms."""

    phases: CircuitPhases
    seconds: float
    waveforms: Waveforms | None = None


def _store(path: Path, netlist_sha256: str, result: LatentCircuit) -> None:
    """Write one latent's result atomically, with the hash of the netlist it came from. Only
    the first latent keeps its phase trajectory (the only one plotted)."""
    ph, wave = result.phases, result.waveforms
    arrays = {
        "netlist_sha256": np.array(netlist_sha256),
        "seconds": np.array(result.seconds),
        **{f: getattr(ph, f) for f in ("boundary_s", "boundary_rad", "amplitude_v")},
    }
    if wave is not None:
        arrays.update(trajectory_s=ph.trajectory_s, trajectory_rad=ph.trajectory_rad)
        arrays.update({f"wave_{f.name}": getattr(wave, f.name) for f in dataclasses.fields(wave)})
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _load_stored(path: Path, netlist_sha256: str | None) -> LatentCircuit | None:
    """A stored result of exactly this netlist (None: of any), else None (missing, other
    netlist, damaged)."""
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # fh: closed on errors
            if netlist_sha256 is not None and str(z["netlist_sha256"]) != netlist_sha256:
                return None
            empty = np.zeros(0)
            phases = CircuitPhases(
                boundary_s=z["boundary_s"],
                boundary_rad=z["boundary_rad"],
                amplitude_v=z["amplitude_v"],
                trajectory_s=z.get("trajectory_s", empty),
                trajectory_rad=z.get("trajectory_rad", empty),
            )
            wave = None
            if "wave_time_s" in z:
                wave = Waveforms(z["wave_time_s"], z["wave_ref_v"], z["wave_cells_v"])
            return LatentCircuit(phases, float(z["seconds"]), wave)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def _circuit(
    netlists: list[Path],
    manifest: dict,
    theta0: np.ndarray,
    processes: int,
    store: Path | None,
    **run: object,
) -> tuple[list[LatentCircuit], int]:
    """Per latent its result, and how many were simulated now.

    With ``store``, each latent's result is written there as soon as its ngspice run ends, and
    results already there for the same netlist text are used instead of simulating again.
    """
    digests = [hashlib.sha256(p.read_bytes()).hexdigest() for p in netlists]
    results: list[LatentCircuit | None] = [
        _load_stored(store / f"{p.stem}.npz", d) if store is not None else None
        for p, d in zip(netlists, digests, strict=True)
    ]
    todo = [i for i, r in enumerate(results) if r is None]
    for k, raw, seconds in run_each([netlists[i] for i in todo], processes, **run):
        i = todo[k]
        wave = Waveforms.from_raw(raw, manifest) if i == 0 else None
        results[i] = LatentCircuit(read_phases(raw, manifest, theta0[i]), seconds, wave)
        if store is not None:
            _store(store / f"{netlists[i].stem}.npz", digests[i], results[i])
    return [r for r in results if r is not None], len(todo)


TRACKING_DEG = 20.0
"""An oscillator tracks the model when its final phase is within this many degrees."""


def _amplitude_ranges(amplitude_v: np.ndarray) -> list[dict[str, float]]:
    """Min, mean and max cell amplitude at each segment end over ``[n, S, N]`` amplitudes.

    The phase model assumes every cell at one amplitude; the spread shows how far coupling and
    pump loading move the circuit from that (netlists/cells/README.md).
    """
    return [
        {"min": float(a.min()), "mean": float(a.mean()), "max": float(a.max())}
        for a in np.moveaxis(amplitude_v, 1, 0)
    ]


def validation_latents(model: AISGenerator, n: int, seed: int) -> torch.Tensor:
    """The ``n`` latents of ``seed`` that validation simulates (float64, CPU): the first ``n``
    of any larger ``n``, so rows of different ``n`` share their latents."""
    return model.latent(n, torch.Generator().manual_seed(seed)).double().cpu()


def rms_deg(dphi: np.ndarray) -> float:
    """Root mean square of wrapped phase differences (rad), in degrees."""
    return math.degrees(float(np.sqrt(np.mean(np.square(wrap(dphi))))))


def fidelity_metrics(pix_b: np.ndarray, pix_c: np.ndarray, dphi: np.ndarray) -> dict[str, float]:
    """Fidelity numbers from pixels ``[..., H, W]`` and phase differences ``[..., N]`` (rad)."""
    return {
        "pixel_mae": float(np.mean(np.abs(pix_b - pix_c))),
        "sign_agreement": float(np.mean((pix_b > 0.5) == (pix_c > 0.5))),
        "phase_error_deg": rms_deg(dphi),
        "tracking_fraction": float(np.mean(np.abs(wrap(dphi)) < math.radians(TRACKING_DEG))),
    }


def validate(
    model: AISGenerator,
    n: int = 8,
    variant: str = "collapsed",
    out_dir: str | Path | None = None,
    seed: int = 0,
    processes: int | None = None,
    *,
    cell: str | LcCell = "lc",
    gains: CircuitGains | None = None,
    time_scale: float = 1.0,
    timeout_s: float = 600.0,
    progress: bool = False,
    force: bool = False,
    resume: bool = False,
    store: str | Path | None = None,
) -> dict:
    """Compare the model with its exported circuit on ``n`` latents drawn with ``seed``.

    Args:
        model: a 4-bit quantized generator.
        n: number of latents.
        variant: ``"structural"`` or ``"collapsed"``.
        out_dir: folder for the netlists (``netlists/``), images (``.npy``) and PNGs
            (``pairs.png``, ``trajectories.png``, ``waveforms.png``); default: a temporary
            folder, nothing kept.
        seed: latent seed (``model.latent(n, seed)``).
        processes: ngspice processes at once (default: all cores).
        cell: oscillator cell.
        gains: behavioural-to-circuit gains; default first order with δ0 measured and cancelled
            and the coupling per siemens measured (``measure_delta0``,
            ``measure_k_per_siemens``).
        time_scale: circuit cycles per model cycle for the default gains (``CircuitGains``).
        timeout_s: limit per ngspice run, s.
        progress: show a progress bar.
        force: overwrite an earlier validation in ``out_dir`` (its circuit results too).
        resume: keep the per-latent circuit results of an earlier validation in ``out_dir``
            (``circuit/``) whose netlists are unchanged and simulate only the other latents:
            an interrupted run, or more latents than before, costs only what is new.
        store: folder of those per-latent results instead of ``out_dir/circuit``, so that
            validations of other ``n`` can share them while each keeps its own ``out_dir``.

    Returns:
        The metrics (module docstring), ``per_latent`` values, the gains, files and versions.
    """
    if n < 1:
        raise OscsimError(f"n must be at least 1, got {n}")
    check_variant(variant)
    workers = processes or os.cpu_count() or 1
    if store is not None:
        store = Path(store)
    elif out_dir is not None:
        store = Path(out_dir) / CIRCUIT_DIR
    if not resume:
        if out_dir is not None:
            check_outputs_free(Path(out_dir), (*OUTPUTS, "netlists"), force)
        if store is not None:  # earlier circuit results are work too: kept unless forced
            check_outputs_free(store.parent, (store.name,), force)
            shutil.rmtree(store, ignore_errors=True)
    cell_obj = get_cell(cell)
    measured: dict[str, object] = {"delta0": None, "k_per_siemens": None, "offsets": ()}
    if gains is None:
        measured = {
            "delta0": measure_delta0(cell_obj),
            "k_per_siemens": measure_k_per_siemens(cell_obj),
            "offsets": measure_offsets(cell_obj) if time_scale == 1.0 else (),
        }
        first = CircuitGains.first_order(cell_obj, measured["delta0"], time_scale)
        gains = dataclasses.replace(first, k_per_siemens=measured["k_per_siemens"])
    theta0 = validation_latents(model, n, seed).numpy()
    traj, traj_cycles = _behaviour(model, theta0)
    steps = model.config.steps_per_segment
    with tempfile.TemporaryDirectory(prefix="oscsim-validate-") as tmp:
        work = Path(out_dir) if out_dir is not None else Path(tmp)
        folder = work / "netlists"
        manifest = export_model(
            model, folder, latent=theta0, variant=variant, cell=cell_obj, gains=gains, force=True
        )
        paths = [folder / name for name in manifest["netlists"]]
        latents, simulated = _circuit(
            paths, manifest, theta0, workers, store, timeout_s=timeout_s, progress=progress
        )
    circuit = [r.phases for r in latents]
    final_c = np.stack([c.final_rad for c in circuit])
    bounds_c = np.stack([c.boundary_rad for c in circuit], axis=1)
    dphi_bounds = bounds_c - traj[steps::steps]
    pix_b, pix_c = readout(traj[-1], manifest), readout(final_c, manifest)
    envelope, traj_e = None, None
    tank = Tank.from_cell(cell_obj, measured["offsets"])
    if gains.time_scale == 1.0 and (model.config.dynamics == "phase" or tank != model.config.tank):
        traj_e = _behaviour(model.as_envelope(tank), theta0)[0]
        bounds_e = traj_e[steps::steps]
        pix_e = readout(bounds_e[-1], manifest)
        envelope = {
            **fidelity_metrics(pix_e, pix_c, bounds_c[-1] - bounds_e[-1]),
            "boundary_phase_error_deg": [rms_deg(d) for d in bounds_c - bounds_e],
        }
    result = {
        "n": n,
        "variant": variant,
        "seed": seed,
        "cell": manifest["cell"],
        **fidelity_metrics(pix_b, pix_c, dphi_bounds[-1]),
        "boundary_phase_error_deg": [rms_deg(d) for d in dphi_bounds],
        "seconds_per_sample": float(np.mean([r.seconds for r in latents])),
        "processes": workers,
        "simulated_now": simulated,
        "delta0_measured_per_cycle": measured["delta0"],
        "k_per_siemens_measured": measured["k_per_siemens"],
        "cell_offsets_measured": [list(pair) for pair in measured["offsets"]] or None,
        "gains": manifest["gains"],
        "pump_threshold_ratio": manifest["elements"]["pump_threshold_ratio"],
        "mean_amplitude_v": float(np.mean([c.amplitude_v[-1].mean() for c in circuit])),
        "boundary_amplitude_v": _amplitude_ranges(np.stack([c.amplitude_v for c in circuit])),
        "per_latent": [fidelity_metrics(pix_b[b], pix_c[b], dphi_bounds[-1, b]) for b in range(n)],
        "envelope_model": envelope,
        "model_config": model.config.to_dict(),
        "versions": versions(),
        "files": [],
    }
    if out_dir is not None:
        result["files"] = _write_outputs(
            Path(out_dir),
            pix_b,
            pix_c,
            traj,
            traj_cycles,
            latents[0],
            manifest,
            None if traj_e is None else traj_e[:, 0],
        )
    return result


def compare_circuits(
    reference: str | Path,
    other: str | Path,
    stores: tuple[str | Path, str | Path] | None = None,
) -> dict:
    """Two validations' circuits against each other (structural against collapsed, say), over
    the latents both ``--out`` folders hold: the fidelity metrics with ``other`` in the
    circuit's place (``sign_agreement`` of all ``pixels``), the phase difference at every
    segment end and its largest value. Both must hold the same latents of the same model.
    ``stores``: their per-latent results when kept elsewhere (``validate``'s ``store``)."""
    folders = (Path(reference), Path(other))
    kept = tuple(f / CIRCUIT_DIR for f in folders) if stores is None else tuple(map(Path, stores))
    try:
        behaviour = [np.load(f / "behavioural.npy") for f in folders]
        pixels = [np.load(f / "circuit.npy") for f in folders]
    except (OSError, ValueError) as exc:
        raise OscsimError(
            f"cannot read a validation there ({exc}): compare folders written by "
            "oscsim validate --out"
        ) from None
    n = min(len(p) for p in pixels)
    stored = [[_load_stored(f / f"sample_{i:04d}.npz", None) for i in range(n)] for f in kept]
    missing = [f for f, latents in zip(kept, stored, strict=True) if None in latents]
    if missing:
        raise OscsimError(
            f"cannot read a validation there: {missing[0]} lacks a latent result "
            "(compare folders written by oscsim validate --out)"
        )
    bounds = [np.stack([r.phases.boundary_rad for r in latents]) for latents in stored]
    if behaviour[0][:n].shape != behaviour[1][:n].shape or not np.allclose(
        behaviour[0][:n], behaviour[1][:n], atol=1e-4
    ):
        raise OscsimError(
            f"{reference} and {other} hold different latents or models (their behavioural "
            "images differ): validate both with the same model and seed"
        )
    dphi = bounds[1] - bounds[0]
    return {
        "n": n,
        **fidelity_metrics(pixels[0][:n], pixels[1][:n], dphi[:, -1]),
        "boundary_phase_error_deg": [rms_deg(d) for d in np.moveaxis(dphi, 1, 0)],
        "max_phase_difference_deg": math.degrees(float(np.abs(wrap(dphi)).max())),
        "pixels": int(pixels[0][:n].size),
    }


def fidelity_failures(
    result: dict, min_sign_agreement: float | None = None, max_pixel_mae: float | None = None
) -> list[str]:
    """Which fidelity bars a validation result misses (empty when it passes)."""
    failures = []
    if min_sign_agreement is not None and result["sign_agreement"] < min_sign_agreement:
        failures.append(
            f"sign_agreement {result['sign_agreement']:.4f} < required {min_sign_agreement:g}"
        )
    if max_pixel_mae is not None and result["pixel_mae"] > max_pixel_mae:
        failures.append(f"pixel_mae {result['pixel_mae']:.4f} > allowed {max_pixel_mae:g}")
    return failures


def _write_outputs(
    out_dir: Path,
    pix_b: np.ndarray,
    pix_c: np.ndarray,
    traj: np.ndarray,
    traj_cycles: np.ndarray,
    first: LatentCircuit,
    manifest: dict,
    envelope: np.ndarray | None = None,
) -> list[str]:
    """Images as ``.npy`` and the three PNGs (``envelope``: latent 0's envelope-model
    trajectory, for a phase model); returns the file names."""
    for name, images in (("behavioural.npy", pix_b), ("circuit.npy", pix_c)):
        with atomic_path(out_dir / name) as tmp, open(tmp, "wb") as fh:
            np.save(fh, images.astype(np.float32))
    save_figure(_pairs_figure(pix_b, pix_c), out_dir / "pairs.png")
    model_cycle_hz = float(manifest["f_ref_hz"]) / float(manifest["gains"]["time_scale"])
    save_figure(
        _trajectory_figure(traj[:, 0], traj_cycles, first.phases, model_cycle_hz, envelope),
        out_dir / "trajectories.png",
    )
    if first.waveforms is not None:
        save_figure(_waveform_figure(first.waveforms, manifest), out_dir / "waveforms.png")
    return list(OUTPUTS)


def _pairs_figure(pix_b: np.ndarray, pix_c: np.ndarray, limit: int = 8) -> Figure:
    """Behavioural images (top row) over circuit images (bottom row)."""
    count = min(limit, len(pix_b))
    fig = Figure(figsize=(1.2 * count + 0.6, 2.8))
    axes = fig.subplots(2, count, squeeze=False)
    for b in range(count):
        for row, (images, label) in enumerate(((pix_b, "behaviour"), (pix_c, "circuit"))):
            ax = axes[row][b]
            ax.imshow(images[b], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if b == 0:
                ax.set_ylabel(label, fontsize=8)
    return fig


def _trajectory_figure(
    traj: np.ndarray,
    traj_cycles: np.ndarray,
    circuit: CircuitPhases,
    model_cycle_hz: float,
    envelope: np.ndarray | None = None,
) -> Figure:
    """Phase over time of latent 0's oscillators that end farthest from the circuit: model
    (lines), its envelope (dashed, for a phase model) and circuit (dots).

    Time is in model cycles: circuit seconds times ``model_cycle_hz`` (f_ref / time_scale).
    """
    fig = Figure(figsize=(7.0, 3.6))
    ax = fig.add_subplot()
    off = np.abs(wrap(traj[-1] - circuit.trajectory_rad[-1]))
    for i in np.argsort(-off, kind="stable")[:_PLOT_OSCILLATORS]:
        (line,) = ax.plot(traj_cycles, np.degrees(traj[:, i]), label=f"oscillator {i}")
        if envelope is not None:
            ax.plot(traj_cycles, np.degrees(envelope[:, i]), "--", color=line.get_color(), lw=1)
        circuit_rad = circuit.trajectory_rad[:, i]
        circuit_rad = circuit_rad + 2 * np.pi * np.round(
            (traj[0, i] - circuit_rad[0]) / (2 * np.pi)
        )
        ax.plot(
            circuit.trajectory_s * model_cycle_hz,
            np.degrees(circuit_rad),
            ".",
            ms=2,
            color=line.get_color(),
        )
    ax.set_xlabel("time (model cycles)")
    ax.set_ylabel("phase (deg)")
    dashed = ", envelope model (dashed)" if envelope is not None else ""
    ax.set_title(
        f"latent 0, the oscillators farthest off: behaviour (lines){dashed}, circuit (dots)",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    return fig


def _waveform_figure(wave: Waveforms, manifest: dict, cycles: float = 3.0) -> Figure:
    """V(p) − V(n) of a few cells and the refclk over the first and last few cycles."""
    f_ref, t = float(manifest["f_ref_hz"]), wave.time_s
    fig = Figure(figsize=(8.0, 3.2))
    axes = fig.subplots(1, 2, sharey=True)
    traces = [("refclk", wave.ref_v)]
    traces += [(f"oscillator {i}", wave.cells_v[:, i]) for i in range(wave.cells_v.shape[1])]
    windows = ((0.0, cycles / f_ref), (t[-1] - cycles / f_ref, t[-1]))
    for ax, (lo, hi) in zip(axes, windows, strict=True):
        keep = (t >= lo) & (t <= hi)
        for label, v in traces:
            ax.plot(t[keep] * f_ref, v[keep], lw=1.5 if label == "refclk" else 0.8, label=label)
        ax.set_xlabel("time (reference cycles)")
    axes[0].set_ylabel("V(p) − V(n) (V)")
    axes[0].legend(fontsize=7)
    return fig
