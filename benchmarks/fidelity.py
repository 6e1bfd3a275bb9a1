"""Circuit against behaviour for a shipped model, and what the mismatch is made of.

For each ``--time-scales`` value the model is exported (collapsed by default) with every rate
divided by that factor and the simulated time multiplied by it (``CircuitGains.time_scale``):
the behavioural trajectory is the same, but couplings and SHIL pumps load each tank that many
times less. If the mismatch shrinks with the time scale, it comes from strong loading (the
amplitude spread the phase model ignores); what remains is the cells' own error per cycle.
Per row: the fidelity metrics of ``oscsim validate``, the phase error at every segment end, the
cell amplitude range, ngspice seconds per sample, and the PNGs (image pairs, phase
trajectories, waveforms) under ``fidelity/<model>-<variant>-ts<scale>-kcal/n<n>-seed<seed>/``,
one folder per row, so a row of fewer latents never overwrites a larger one's. For a phase model at
time scale 1 the last column holds the envelope model of the same codes (``oscsim.envelope``:
each cell's amplitude too) against the same circuit: what the cells' amplitude dynamics explain.

    python benchmarks/fidelity.py --model demo --n 64                    # the issue's bar
    python benchmarks/fidelity.py --model demo --n 2 --time-scales 1 2 4  # the loading study
    python benchmarks/fidelity.py --model demo --n 2 --without sigma k     # one term off at a time
    python benchmarks/fidelity.py --model demo --sensitivity --no-circuit  # the model's own ceiling

``--sensitivity`` adds the model's agreement with a perturbed copy of itself
(``oscsim.sensitivity``: θ(0) moved by ε rad, every cell detuned by ε per cycle, every
coupling off by a random relative ε, or all couplings by one relative ε), over
``--sensitivity-n`` latents: no circuit can agree with the model better than that, at the
circuit's own error. Behavioural only, seconds per row.

``--without KIND`` adds rows with one parameter kind (k, delta, sigma, rho) set to zero in the
model, so behaviour and circuit both lose that term: what the mismatch is without SHIL, without
couplings (independent cells: the cells' own calibration), and so on.

Each latent's circuit result is kept beside the rows (``circuit-seed<seed>/sample_NNNN.npz``,
with the hash of its netlist) as soon as it is simulated: an interrupted row, or a row of another
``--n``, simulates only what is missing (``oscsim validate --resume``).
Rows merge into ``fidelity.json`` / ``fidelity.md`` as each finishes; rerunning skips rows
already measured with the same model, n, seed, variant, time scale, switched-off term and
measured coupling per siemens (column "k per S"; "-": rows from before that calibration, at the
first-order 79.6, kept for comparison; their PNGs are in the folders without ``-kcal``).

``--compare-variants`` adds, per time scale, the structural circuit against the collapsed one
over the latents of both ``--n`` rows (``oscsim.validate.compare_circuits``): what collapsing
each bank into one conductance changes in what the readout sees. It simulates nothing:

    python benchmarks/fidelity.py --model mnist --n 16 --compare-variants --no-circuit
"""

from __future__ import annotations

import argparse
import json
from copy import deepcopy
from pathlib import Path
from typing import Any

import torch

from oscsim.atomic import locked_results, read_results, write_json, write_text
from oscsim.errors import OscsimError, run_script
from oscsim.model import AISGenerator
from oscsim.modelfile import load_model
from oscsim.sensitivity import UNITS, perturbed_agreement
from oscsim.validate import compare_circuits, measure_k_per_siemens, validate
from oscsim.versions import versions

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = ("pixel_mae", "sign_agreement", "phase_error_deg", "boundary_phase_error_deg")
KEYS += ("tracking_fraction", "pump_threshold_ratio")
KEYS += ("boundary_amplitude_v", "seconds_per_sample", "processes", "delta0_measured_per_cycle")
KEYS += ("k_per_siemens_measured", "envelope_model")


def _key(row: dict[str, Any]) -> tuple:
    """A row's identity: a rerun replaces it. Rows from before the coupling calibration (no
    measured k per siemens) stay beside the calibrated ones."""
    return (
        row["model"],
        row["n"],
        row["seed"],
        row["variant"],
        row["time_scale"],
        row["without"],
        row.get("k_per_siemens_measured"),
    )


def without(model: AISGenerator, kind: str | None) -> AISGenerator:
    """A copy of ``model`` with every parameter of ``kind`` zero (code 0); the model if None."""
    if kind is None:
        return model
    if kind not in model.param_names:
        raise OscsimError(f"--without {kind!r}: choose among {', '.join(model.param_names)}")
    copy = deepcopy(model)
    with torch.no_grad():
        getattr(copy, kind).zero_()
    return copy


def _fmt(value: float | None, spec: str) -> str:
    """A number, or '-' for a row measured before the column existed."""
    return "-" if value is None else format(value, spec)


def _envelope_cell(row: dict[str, Any]) -> str:
    """The envelope model against the same circuit: sign agreement, MAE; per boundary."""
    env = row.get("envelope_model")
    if env is None:
        return "-"
    bounds = ", ".join(f"{x:.0f}" for x in env["boundary_phase_error_deg"])
    return f"{env['sign_agreement']:.3f}, {env['pixel_mae']:.3f}; {bounds}"


def markdown(rows: list[dict[str, Any]]) -> str:
    """The results as a markdown table."""
    lines = [
        "| model | variant | without | time scale | k per S | n | sign agreement | pixel MAE "
        "| phase error (deg) | per boundary (deg) | tracking within 20° "
        "| amplitude min-max at end (V) | s/sample "
        "| envelope model vs circuit: sign, MAE; per boundary (deg) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = ("model", "variant", "without", "time_scale", "n", "seed")
    for r in sorted(
        rows, key=lambda r: tuple(r[k] or "" if k == "without" else r[k] for k in order)
    ):
        amp = r["boundary_amplitude_v"][-1]
        bounds = ", ".join(f"{x:.0f}" for x in r["boundary_phase_error_deg"])
        lines.append(
            f"| {r['model']} | {r['variant']} | {r['without'] or '-'} | {r['time_scale']:g} "
            f"| {_fmt(r.get('k_per_siemens_measured'), '.2f')} | {r['n']} "
            f"| {r['sign_agreement']:.3f} | {r['pixel_mae']:.3f} | {r['phase_error_deg']:.1f} "
            f"| {bounds} | {_fmt(r.get('tracking_fraction'), '.2f')} "
            f"| {amp['min']:.2f}-{amp['max']:.2f} | {r['seconds_per_sample']:.0f} "
            f"| {_envelope_cell(r)} |"
        )
    return "\n".join(lines) + "\n"


SENSITIVITY_SIZES = {
    "phase": (0.003, 0.01, 0.03, 0.1, 0.3),
    "detuning": (1e-4, 3e-4, 1e-3, 3e-3),
    "coupling": (0.01, 0.03, 0.1, 0.3),
    "coupling-gain": (-0.05, -0.02, 0.02, 0.05),
}
"""The perturbations of ``--sensitivity``, per kind (``oscsim.sensitivity.UNITS``)."""


def sensitivity_markdown(rows: list[dict[str, Any]]) -> str:
    """The sensitivity rows as a markdown table."""
    lines = [
        "| model | perturbation | size | n | sign agreement | pixel MAE "
        "| divergence per segment end (deg) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["model"], r["kind"], r["size"])):
        unit = UNITS[r["kind"]]
        ends = ", ".join(f"{x:.1f}" for x in r["boundary_divergence_deg"])
        lines.append(
            f"| {r['model']} | {r['kind']} | {r['size']:g} {unit} | {r['n']} "
            f"| {r['sign_agreement']:.3f} | {r['pixel_mae']:.3f} | {ends} |"
        )
    return "\n".join(lines) + "\n"


def variants_markdown(rows: list[dict[str, Any]]) -> str:
    """The structural-against-collapsed rows as a markdown table."""
    lines = [
        "| model | time scale | latents | phase difference RMS (deg) | per segment end (deg) "
        "| largest (deg) | pixel MAE | pixels changing side |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["model"], r["time_scale"])):
        ends = ", ".join(f"{x:.3f}" for x in r["boundary_phase_error_deg"])
        lines.append(
            f"| {r['model']} | {r['time_scale']:g} | {r['n']} | {r['phase_error_deg']:.3f} "
            f"| {ends} | {r['max_phase_difference_deg']:.2f} | {r['pixel_mae']:.1e} "
            f"| {round((1.0 - r['sign_agreement']) * r['pixels'])} of {r['pixels']} |"
        )
    return "\n".join(lines) + "\n"


def _write(results: dict[str, Any], out: Path) -> None:
    """Save the JSON and the markdown tables atomically."""
    results["versions"] = versions()
    write_json(out / "fidelity.json", results)
    tables = markdown(results["rows"])
    if results.get("sensitivity"):
        tables += "\n" + sensitivity_markdown(results["sensitivity"])
    if results.get("variants"):
        tables += "\n" + variants_markdown(results["variants"])
    write_text(out / "fidelity.md", tables)


def sensitivity_rows(model: AISGenerator, name: str, n: int, seed: int) -> list[dict[str, Any]]:
    """``perturbed_agreement`` over ``SENSITIVITY_SIZES``, labelled ``name``."""
    sizes = [(kind, s) for kind, values in SENSITIVITY_SIZES.items() for s in values]
    rows = [{"model": name, **perturbed_agreement(model, k, s, n, seed)} for k, s in sizes]
    for row in rows:
        row.pop("versions")
    return rows


def _folders(
    out: Path, model: str, variant: str, scale: float, n: int, seed: int, kind: str | None = None
) -> tuple[Path, Path]:
    """A row's own folder (PNGs, images, netlists) and the per-latent circuit results it
    shares with the rows of other n (same model, variant, time scale, term and latent seed)."""
    name = f"{Path(model).stem}-{variant}-ts{scale:g}-kcal" + (f"-no{kind}" if kind else "")
    base = out / "fidelity" / name
    return base / f"n{n}-seed{seed}", base / f"circuit-seed{seed}"


def variant_rows(
    out: Path, model: str, scales: list[float], n: int, seed: int
) -> list[dict[str, Any]]:
    """Structural against collapsed per time scale, from the n-latent rows' stored results."""
    rows = []
    for scale in scales:
        (ref, ref_store), (other, other_store) = (
            _folders(out, model, v, scale, n, seed) for v in ("collapsed", "structural")
        )
        compared = compare_circuits(ref, other, (ref_store, other_store))
        rows.append({"model": model, "time_scale": scale, **compared})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="demo", help="model file or shipped name")
    p.add_argument("--n", type=int, default=8, help="latents per row")
    p.add_argument("--seed", type=int, default=0, help="latent seed")
    p.add_argument("--variant", default="collapsed", choices=["structural", "collapsed"])
    p.add_argument("--time-scales", type=float, nargs="+", default=[1.0])
    p.add_argument("--without", nargs="+", default=[], help="also rows without k/delta/sigma/rho")
    p.add_argument("--processes", type=int, help="ngspice processes at once (default: cores)")
    p.add_argument("--timeout-s", type=float, default=600.0, help="limit per ngspice run, s")
    p.add_argument("--sensitivity", action="store_true", help="also the perturbation rows")
    p.add_argument("--no-circuit", action="store_true", help="only the sensitivity rows")
    p.add_argument("--sensitivity-n", type=int, default=64, help="latents per sensitivity row")
    p.add_argument("--compare-variants", action="store_true", help="structural vs collapsed")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    model = load_model(args.model).model
    path = args.out / "fidelity.json"
    results = read_results(path, "fidelity")
    if args.sensitivity:
        rows = sensitivity_rows(model, args.model, args.sensitivity_n, args.seed)
        with locked_results(path, "fidelity") as now:
            kept = [r for r in now.get("sensitivity", []) if r["model"] != args.model]
            now["sensitivity"] = kept + rows
            _write(now, args.out)
        print(sensitivity_markdown(rows))
    jobs = [(scale, None) for scale in args.time_scales]
    jobs += [(args.time_scales[0], kind) for kind in args.without]
    if args.no_circuit:
        jobs = []
    k_per_siemens = measure_k_per_siemens() if jobs else None  # what validate will measure
    for scale, kind in jobs:
        row = {"model": args.model, "n": args.n, "seed": args.seed, "variant": args.variant}
        row.update(time_scale=scale, without=kind, k_per_siemens_measured=k_per_siemens)
        if any(_key(r) == _key(row) for r in results["rows"]):
            print(f"skip (done): {row}")
            continue
        folder, store = _folders(args.out, args.model, args.variant, scale, args.n, args.seed, kind)
        folder.mkdir(parents=True, exist_ok=True)
        result = validate(
            without(model, kind),
            n=args.n,
            variant=args.variant,
            out_dir=folder,
            seed=args.seed,
            processes=args.processes,
            time_scale=scale,
            timeout_s=args.timeout_s,
            progress=True,
            resume=True,
            store=store,
        )
        row.update({k: result[k] for k in KEYS})
        row["files"] = [str((folder / f).relative_to(args.out)) for f in result["files"]]
        row["per_latent"] = result["per_latent"]
        print(json.dumps({k: v for k, v in row.items() if k != "per_latent"}))
        with locked_results(path, "fidelity") as now:  # with what other runs wrote meanwhile
            now["rows"] = [r for r in now["rows"] if _key(r) != _key(row)] + [row]
            _write(now, args.out)
    if args.compare_variants:
        rows = variant_rows(args.out, args.model, args.time_scales, args.n, args.seed)
        with locked_results(path, "fidelity") as now:
            done = {(r["model"], r["time_scale"]) for r in rows}
            kept = [r for r in now.get("variants", []) if (r["model"], r["time_scale"]) not in done]
            now["variants"] = kept + rows
            _write(now, args.out)
        print(variants_markdown(rows))
    return 0


if __name__ == "__main__":
    run_script(main)
