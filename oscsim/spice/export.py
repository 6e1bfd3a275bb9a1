"""Export an AIS generator to ngspice netlists (DESIGN.md §3) with a manifest for readback.

``plan`` turns the model into element values, ``render`` writes the text, this module writes
files: one ``.cir`` per latent, the ``.subckt`` files it includes (copied to ``cells/``, so an
export folder can be moved anywhere), ``latents.npy`` and ``manifest.json``.

The text is rendered directly through ``spice_float`` and ``Subckt.instance``; PySpice's
``Circuit`` is not used: it rewrites ``.include`` paths as absolute paths and writes floats by
``repr``, so its bytes would depend on the machine and checkout and no golden file could hold.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import torch

from oscsim.atomic import atomic_path, check_outputs_free, write_json
from oscsim.errors import OscsimError
from oscsim.model import AISGenerator
from oscsim.spice.cells import CELLS_DIR, LcCell
from oscsim.spice.plan import SUPPLIES, CircuitGains, CircuitPlan, check_variant, plan_circuit
from oscsim.spice.readback import MANIFEST_FORMAT
from oscsim.spice.render import includes, render_netlist
from oscsim.versions import versions

MANIFEST_VERSION = 1


def latent_matrix(model: AISGenerator, theta0: np.ndarray | torch.Tensor) -> np.ndarray:
    """Initial phases as float64 ``[n, N]`` from ``[N]`` or ``[n, N]``, checked."""
    values = theta0.detach().cpu().numpy() if torch.is_tensor(theta0) else theta0
    theta = np.asarray(values, dtype=np.float64)
    theta = theta.reshape(1, -1) if theta.ndim == 1 else theta
    if theta.ndim != 2 or theta.shape[1] != model.n_osc or not np.isfinite(theta).all():
        raise OscsimError(
            f"latent phases must be finite, shape [{model.n_osc}] or [n, {model.n_osc}] "
            f"(one per oscillator), got shape {tuple(np.shape(theta0))}"
        )
    return theta


def read_latents(path: str | Path) -> np.ndarray:
    """Initial phases ``[N]`` or ``[n, N]`` (rad) from a ``.npy`` file; OscsimError if bad."""
    try:
        return np.asarray(np.load(Path(path), allow_pickle=False), dtype=np.float64)
    except (OSError, ValueError, TypeError) as exc:
        raise OscsimError(
            f"cannot read latent file {path}: {exc}; save phases with numpy.save (float, [N] or "
            "[n, N])"
        ) from None


def copy_cells(paths: list[str], out_dir: str | Path) -> None:
    """Copy the included ``cells/<name>.subckt`` files from ``netlists/cells`` into ``out_dir``."""
    for rel in paths:
        source, target = CELLS_DIR / Path(rel).name, Path(out_dir) / rel
        if not (target.is_file() and target.read_bytes() == source.read_bytes()):
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(text.encode("ascii"))


def export_circuit(
    model: AISGenerator,
    theta0: np.ndarray | torch.Tensor,
    variant: str = "structural",
    cell: str | LcCell = "lc",
    out_dir: str | Path | None = None,
    *,
    gains: CircuitGains | None = None,
    name: str = "circuit",
) -> str:
    """Netlist text of ``model`` started from the initial phases ``theta0`` ``[N]`` (rad).

    With ``out_dir`` the netlist is also written as ``out_dir/<name>.cir`` and the cells it
    includes (``.include cells/<cell>.subckt``) are copied to ``out_dir/cells/``.
    """
    theta = latent_matrix(model, theta0)
    if theta.shape[0] != 1:
        raise OscsimError("export_circuit takes one latent [N]; use export_model for many")
    plan = plan_circuit(model, cell, gains)
    text = render_netlist(plan, theta[0], variant)
    if out_dir is not None:
        copy_cells(includes(plan, variant), out_dir)
        _write_text(Path(out_dir) / f"{name}.cir", text)
    return text


def export_model(
    model: AISGenerator,
    out_dir: str | Path,
    n: int = 1,
    seed: int = 0,
    latent: np.ndarray | torch.Tensor | None = None,
    variant: str = "structural",
    cell: str | LcCell = "lc",
    *,
    gains: CircuitGains | None = None,
    force: bool = False,
    latent_source: str | None = None,
) -> dict:
    """Write one netlist per latent (``sample_0000.cir`` ...), the cells, and ``manifest.json``.

    Args:
        model: a 4-bit quantized generator.
        out_dir: output folder (relocatable: includes are relative).
        n: number of latents drawn by ``model.latent(n, seed)`` when ``latent`` is None.
        seed: latent seed.
        latent: initial phases ``[N]`` or ``[n, N]`` (rad) to use instead.
        variant: ``"structural"`` or ``"collapsed"``.
        cell: oscillator cell name or object.
        gains: behavioural-to-circuit gains (default: the cell's first order).
        force: overwrite an earlier export in ``out_dir`` (its other netlists are removed).
        latent_source: the latents' origin for the manifest (default: the seed, or "given").

    Returns:
        The manifest (also written as ``manifest.json``); ``latents.npy`` holds the phases.
    """
    out_dir = Path(out_dir)
    check_variant(variant)
    check_outputs_free(out_dir, ("manifest.json",), force)
    if latent is None:
        if n < 1:
            raise OscsimError(f"n must be at least 1, got {n}")
        latent = model.latent(n, torch.Generator().manual_seed(seed))
        latent_source = latent_source or f"AISGenerator.latent(n={n}, seed={seed})"
    theta = latent_matrix(model, latent)
    plan = plan_circuit(model, cell, gains)
    copy_cells(includes(plan, variant), out_dir)
    files = [f"sample_{b:04d}.cir" for b in range(theta.shape[0])]
    for file, theta_b in zip(files, theta, strict=True):
        _write_text(out_dir / file, render_netlist(plan, theta_b, variant))
    for stale in sorted(out_dir.glob("sample_*.cir")):
        if stale.name not in files:
            stale.unlink()
    with atomic_path(out_dir / "latents.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, theta)
    manifest = build_manifest(plan, variant)
    manifest.update(
        netlists=files,
        latents="latents.npy",
        seed=seed,
        latent_source=latent_source or "given",
        model_config=model.config.to_dict(),
        versions=versions(),
    )
    write_json(out_dir / "manifest.json", manifest)
    return manifest


def build_manifest(plan: CircuitPlan, variant: str) -> dict:
    """What readback, energy and round-trip checks need to know about the netlists."""
    cell, sched = plan.cell, plan.schedule
    oscillators = [
        {"index": i, "role": role, "instance": f"xo{i}", "p": f"o{i}_p", "n": f"o{i}_n"}
        for i, role in enumerate(plan.roles)
    ]
    for pixel, i in enumerate(plan.visible.tolist()):
        oscillators[i]["pixel"] = pixel
    return {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "variant": variant,
        "cell": cell.subckt.name,
        "includes": includes(plan, variant),
        "f_ref_hz": cell.f_ref_hz,
        "segments": sched.segments,
        "cycles_per_segment": plan.cycles_per_segment,
        "breakpoints_s": list(sched.breakpoints_s),
        "transition_s": sched.transition_s,
        "t_stop_s": sched.t_stop_s,
        "oscillators": oscillators,
        "reference": {"instance": "xref", "p": "ref_p", "n": "ref_n", "line": "line"},
        "visible": plan.visible.tolist(),
        "image_shape": list(plan.image_shape),
        "edges": plan.edges.tolist(),
        "codes": {k: v.tolist() for k, v in plan.codes.items()},
        "steps": plan.steps,
        "gains": dataclasses.asdict(plan.gains),
        "elements": {
            "lc": cell.spice_params(),
            "bank_g_unit_s": plan.bank.g_s,
            "rho_g_unit_s": plan.rho_bank.g_s if plan.rho_bank else None,
            "r_on_ohm": plan.bank.r_on_ohm,
            "refclk": plan.refclk.spice_params(),
            "tune_v_per_code": plan.tune_v_per_code,
            "tune_offset_v": plan.tune_offset_v,
            "control_high_v": plan.bank.vdd_v,
            "shil_full_scale_code": plan.shil.max_code,
            "pump_threshold_ratio": plan.pump_threshold_ratio,
        },
        "supplies": {
            src: {
                "node": node,
                "volts": plan.supply_volts(domain),
                "domain": domain,
                "vector": f"i({src.lower()})",
            }
            for src, node, domain in SUPPLIES
        },
        "saved": plan.saved_vectors(),
    }
