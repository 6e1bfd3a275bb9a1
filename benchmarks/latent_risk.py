"""Does the behavioural model's own sensitivity predict which latents its circuit gets wrong?

A circuit takes most of an hour per latent; the behavioural model integrates a latent under a
perturbation in milliseconds. ``oscsim.sensitivity.latent_sensitivity`` measures, per latent,
how far the final phases move when every cell is detuned by a random ε per cycle (by default
1e-3, the lc cell's residual drift of 7e-4 to 1.1e-3 per cycle), averaged over ``--draws``
mismatch patterns. This script sets that number beside the phase error each circuit simulated
so far really had (``fidelity.json``: collapsed circuits at time scale 1 with the measured
coupling per siemens, the row of most latents per model and seed) and reports the rank
correlation per model and over all latents, and how well a simple screen (a latent more than
``--flag`` times its model's median sensitivity) finds the latents whose circuit error is more
than that many times its model's median circuit error.

A row is used only if the model file still draws the images stored beside it
(``behavioural.npy``): a model shipped again under the same name after its circuit ran is
skipped and named. ``--profile`` then gives, with no circuit, each model's sensitivity over
``--profile-n`` latents (median, 90th and 99th percentiles, and the share above ``--flag``
times the median): how heavy its tail of latents a circuit may get wrong is.

    python benchmarks/latent_risk.py  # the circuit rows, and every shipped model profiled
    python benchmarks/latent_risk.py --kind phase --size 0.03 --profile

Writes ``benchmarks/results/latent_risk.{json,md,png}`` (rewritten on each run: seconds).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter
from scipy.stats import spearmanr
from tqdm import tqdm

from oscsim.atomic import read_results, write_json, write_text
from oscsim.errors import OscsimError, run_script
from oscsim.model import AISGenerator
from oscsim.modelfile import load_model, pretrained_names
from oscsim.plots import save_figure
from oscsim.sensitivity import KINDS, UNITS, latent_sensitivity
from oscsim.validate import validation_latents
from oscsim.versions import versions

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
MIN_RANKED = 4  # fewest latents a per-model rank correlation is given for
STORED_TOLERANCE = 1e-4  # largest pixel difference to the stored behavioural images


def circuit_rows(fidelity: dict[str, Any]) -> list[dict[str, Any]]:
    """The calibrated collapsed rows at time scale 1 with every term, the largest n per model
    and latent seed, in the order they were first measured."""
    best: dict[tuple[str, int], dict[str, Any]] = {}
    for row in fidelity["rows"]:
        if (
            row["variant"] == "collapsed"
            and row["time_scale"] == 1.0
            and row["without"] is None
            and row.get("k_per_siemens_measured") is not None
        ):
            key = (row["model"], row["seed"])
            if key not in best or row["n"] > best[key]["n"]:
                best[key] = row
    return list(best.values())


def _load(source: str) -> AISGenerator:
    """A model by shipped name, or by file path relative to the repository or absolute."""
    return load_model(ROOT / source if (ROOT / source).exists() else source).model.eval()


def _spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation, or None with fewer than ``MIN_RANKED`` pairs."""
    return float(spearmanr(x, y).statistic) if len(x) >= MIN_RANKED else None


def _stored_pixels(results: Path, row: dict[str, Any]) -> np.ndarray | None:
    """The behavioural images stored beside a fidelity row (None if it has none)."""
    names = [f for f in row.get("files", []) if f.endswith("behavioural.npy")]
    return np.load(results / names[0]) if names and (results / names[0]).exists() else None


def model_row(
    results: Path, row: dict[str, Any], kind: str, size: float, draws: int
) -> dict[str, Any]:
    """One model's latents: circuit phase error beside behavioural sensitivity."""
    source, n, seed = row["model"], row["n"], row["seed"]
    out: dict[str, Any] = {"model": source, "n": n, "seed": seed}
    stored = _stored_pixels(results, row)
    if stored is None:
        return {**out, "skipped": "its behavioural images are not stored: rerun its row"}
    model = _load(source)
    with torch.no_grad():
        final = model.rollout(validation_latents(model, n, seed), model.hardware_params())
        pixels = model.readout(final).numpy()
    drift = float(np.max(np.abs(pixels - stored)))
    if drift > STORED_TOLERANCE:
        return {
            **out,
            "skipped": f"the model draws other images than its circuit row's "
            f"(largest pixel difference {drift:.3f}): shipped again since",
        }
    sens = latent_sensitivity(model, kind, size, n=n, seed=seed, draws=draws)
    circuit = [lat["phase_error_deg"] for lat in row["per_latent"]]
    behaviour = sens["phase_error_deg"]
    worst = int(np.argmax(circuit))
    return {
        **out,
        "circuit_phase_error_deg": circuit,
        "circuit_pixel_mae": [lat["pixel_mae"] for lat in row["per_latent"]],
        "sensitivity_phase_deg": behaviour,
        "sensitivity_pixel_mae": sens["pixel_mae"],
        "spearman": _spearman(behaviour, circuit),
        "worst_circuit_latent": worst,
        "its_sensitivity_rank": int(np.sum(np.array(behaviour) > behaviour[worst])) + 1,
    }


def pooled(rows: list[dict[str, Any]], flag: float) -> dict[str, Any]:
    """Rank correlation over every latent, raw and relative to each model's median, and the
    screen's hits and false alarms (models of at least ``MIN_RANKED`` latents)."""
    used = [r for r in rows if "skipped" not in r]
    raw_b = [x for r in used for x in r["sensitivity_phase_deg"]]
    raw_c = [x for r in used for x in r["circuit_phase_error_deg"]]
    ranked = [r for r in used if r["n"] >= MIN_RANKED]
    rel_b, rel_c = [], []
    for r in ranked:
        b, c = np.array(r["sensitivity_phase_deg"]), np.array(r["circuit_phase_error_deg"])
        rel_b += list(b / np.median(b))
        rel_c += list(c / np.median(c))
    outlier, flagged = np.array(rel_c) > flag, np.array(rel_b) > flag
    return {
        "latents": len(raw_b),
        "models": len(used),
        "spearman": _spearman(raw_b, raw_c),
        "latents_relative": len(rel_b),
        "spearman_relative": _spearman(rel_b, rel_c),
        "circuit_outliers": int(outlier.sum()),
        "outliers_flagged": int((outlier & flagged).sum()),
        "flagged": int(flagged.sum()),
        "flagged_not_outliers": int((flagged & ~outlier).sum()),
        "ranked_models": len(ranked),
        "worst_most_sensitive": sum(r["its_sensitivity_rank"] == 1 for r in ranked),
        "worst_most_sensitive_by_chance": float(sum(1 / r["n"] for r in ranked)),
    }


def profile_row(source: str, kind: str, size: float, n: int, draws: int, flag: float) -> dict:
    """One model's sensitivity over ``n`` latents: how heavy the tail of risky latents is."""
    sens = np.array(
        latent_sensitivity(_load(source), kind, size, n=n, draws=draws)["phase_error_deg"]
    )
    median = float(np.median(sens))
    return {
        "model": source,
        "n": n,
        "median_deg": median,
        "p90_deg": float(np.percentile(sens, 90)),
        "p99_deg": float(np.percentile(sens, 99)),
        "max_deg": float(sens.max()),
        "share_flagged": float(np.mean(sens > flag * median)),
    }


def markdown(results: dict[str, Any]) -> str:
    """The per-model rows and the pooled numbers as markdown."""
    s, p = results["settings"], results["pooled"]
    lines = [
        f"# Circuit phase error per latent against behavioural sensitivity ({s['kind']} "
        f"{s['size']:g} {UNITS[s['kind']]}, {s['draws']} draws)",
        "",
        "| model | seed | latents | Spearman | worst circuit latent (error, its sensitivity "
        "rank) | circuit median (deg) | sensitivity median (deg) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        if "skipped" in r:
            lines.append(
                f"| {r['model']} | {r['seed']} | {r['n']} | skipped: {r['skipped']} | | | |"
            )
            continue
        rho = "-" if r["spearman"] is None else f"{r['spearman']:.2f}"
        worst = r["worst_circuit_latent"]
        lines.append(
            f"| {r['model']} | {r['seed']} | {r['n']} | {rho} "
            f"| {worst} ({r['circuit_phase_error_deg'][worst]:.1f}°, "
            f"{r['its_sensitivity_rank']} of {r['n']}) "
            f"| {np.median(r['circuit_phase_error_deg']):.1f} "
            f"| {np.median(r['sensitivity_phase_deg']):.1f} |"
        )
    lines += [
        "",
        f"Over all {p['latents']} latents of {p['models']} models: Spearman "
        f"{p['spearman']:.2f}; relative to each model's median ({p['latents_relative']} "
        f"latents of models with at least {MIN_RANKED}): {p['spearman_relative']:.2f}.",
        f"Screen (more than {s['flag']:g}× the model's median): {p['outliers_flagged']} of "
        f"{p['circuit_outliers']} circuit outliers flagged; {p['flagged_not_outliers']} of "
        f"{p['flagged']} flagged latents were not outliers.",
        f"The latent the circuit got most wrong was the most sensitive one in "
        f"{p['worst_most_sensitive']} of {p['ranked_models']} models with at least "
        f"{MIN_RANKED} latents ({p['worst_most_sensitive_by_chance']:.1f} expected by chance).",
    ]
    if results["profile"]:
        lines += [
            "",
            f"## Sensitivity over {results['profile'][0]['n']} latents (seed 0), no circuit",
            "",
            f"| model | median (deg) | 90th percentile | 99th | max | share above {s['flag']:g}× "
            "median |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['model']} | {r['median_deg']:.1f} | {r['p90_deg']:.1f} | {r['p99_deg']:.1f} "
            f"| {r['max_deg']:.1f} | {r['share_flagged']:.3f} |"
            for r in results["profile"]
        ]
    return "\n".join(lines) + "\n"


def figure(rows: list[dict[str, Any]], settings: dict[str, Any]) -> Figure:
    """Circuit phase error against behavioural sensitivity, one colour and marker per model."""
    fig = Figure(figsize=(7.5, 5.0))
    ax = fig.add_subplot()
    colours, markers = colormaps["tab20"].colors, "osD^v<>p"
    used = [r for r in rows if "skipped" not in r]
    for i, r in enumerate(used):
        ax.scatter(
            r["sensitivity_phase_deg"],
            r["circuit_phase_error_deg"],
            s=16,
            color=colours[i % len(colours)],
            marker=markers[i % len(markers)],
            label=f"{Path(r['model']).stem} ({r['n']})",
        )
    values = [
        v for r in used for k in ("sensitivity_phase_deg", "circuit_phase_error_deg") for v in r[k]
    ]
    span = [min(values), max(values)]
    ax.plot(span, span, "k--", lw=0.8, label="equal")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [t for t in (1, 2, 3, 5, 10, 20, 30, 50, 100) if span[0] / 1.5 <= t <= span[1] * 1.5]
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_ticks(ticks, labels=[str(t) for t in ticks])
        axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(
        f"behavioural sensitivity: final phase RMS under {settings['kind']} "
        f"{settings['size']:g} {UNITS[settings['kind']]} (deg)"
    )
    ax.set_ylabel("circuit against behaviour: final phase RMS (deg)")
    ax.legend(fontsize=6, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    return fig


def main(argv: list[str] | None = None) -> int:
    """Pair every simulated latent with its sensitivity; write JSON, markdown and the plot."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=KINDS, default="detuning")
    ap.add_argument("--size", type=float, default=1e-3, help="perturbation size (see --kind)")
    ap.add_argument("--draws", type=int, default=8, help="mismatch patterns averaged over")
    ap.add_argument("--flag", type=float, default=2.0, help="screen: times the model median")
    ap.add_argument(
        "--profile", nargs="*", help="models to profile without circuit (default: shipped ones)"
    )
    ap.add_argument("--profile-n", type=int, default=256, help="latents per profiled model")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.flag <= 1:
        raise OscsimError(f"--flag must be above 1 (a multiple of the median), got {args.flag}")
    if args.profile_n < 2:
        raise OscsimError(f"--profile-n must be at least 2 latents, got {args.profile_n}")
    if args.threads:
        torch.set_num_threads(args.threads)
    fidelity = read_results(args.out / "fidelity.json", "fidelity")
    selected = circuit_rows(fidelity)
    if not selected:
        raise OscsimError(
            f"{args.out / 'fidelity.json'} has no calibrated collapsed rows: "
            "run benchmarks/fidelity.py first"
        )
    rows = [
        model_row(args.out, r, args.kind, args.size, args.draws)
        for r in tqdm(selected, desc="circuit rows", unit="model")
    ]
    settings = {"kind": args.kind, "size": args.size, "draws": args.draws, "flag": args.flag}
    profiled = pretrained_names() if args.profile is None else args.profile
    profile = [
        profile_row(m, args.kind, args.size, args.profile_n, args.draws, args.flag)
        for m in tqdm(profiled, desc="profile", unit="model")
    ]
    results = {
        "profile": profile,
        "rows": rows,
        "pooled": pooled(rows, args.flag),
        "settings": settings,
        "versions": versions(),
    }
    write_json(args.out / "latent_risk.json", results)
    write_text(args.out / "latent_risk.md", markdown(results))
    save_figure(figure(rows, settings), args.out / "latent_risk.png")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    run_script(main)
