"""FID against training steps for the headline pair and the digital baseline, from quality.json.

Both targets are ratios at one budget: oscillator-static at least 3× ais-4bit, ais-4bit at most
1.5× digital. This puts every budget that ``quality.py`` scored side by side, per data set and
training seed, live and weight-averaged, with both ratios, and asks where the AIS curve is
heading: its pace over the last ``--last`` budgets (least squares, FID per 100 steps) and, at
that pace, how many more steps the 3× target needs. Nothing is trained or sampled.

    python benchmarks/quality_curves.py
    python benchmarks/quality_curves.py --ais ais-4bit --static oscillator-static --last 3

Writes ``benchmarks/results/quality_curves.{json,md}`` and one plot per data set
(``quality_curves-<data>.png``). Against the digital baseline each seed's AIS run is compared
with the digital run of its own seed where there is one, otherwise with seed 0's.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from quality import row_key

from oscsim.atomic import read_results, write_json, write_text
from oscsim.errors import OscsimError, run_script
from oscsim.plots import save_figure
from oscsim.tables import cell
from oscsim.versions import versions

RESULTS = Path(__file__).resolve().parent / "results"
KINDS = {"live": "", "averaged": "-ema"}  # kind -> suffix of its quality.py model name
STATIC_TARGET, DIGITAL_TARGET = 3.0, 1.5
Curve = list[tuple[int, float]]  # (training steps, FID), by steps


def curve(rows: list[dict[str, Any]], dataset: str, model: str, seed: int) -> Curve:
    """The FIDs one run scored, by budget: rows of ``model`` on ``dataset`` trained from
    ``seed`` (generator and critic alike; crossed-seed runs are left out), keyed as
    ``quality.py`` keys them."""
    keyed = ((row_key(r), float(r["fid"])) for r in rows)
    run = (dataset, model, seed, None)  # row_key without its steps
    return sorted((key[2], fid) for key, fid in keyed if (*key[:2], *key[3:]) == run)


def ratio(numerator: Curve, denominator: Curve) -> Curve:
    """``numerator / denominator`` at every budget both curves were scored at."""
    below = dict(denominator)
    return [(s, f / below[s]) for s, f in numerator if s in below]


def pace(points: Curve, last: int) -> float | None:
    """Least-squares slope of the last ``last`` points, in FID per 100 steps (negative while
    the curve improves); None with fewer than three points, too few to tell a trend."""
    tail = points[-last:]
    if len(tail) < 3:
        return None
    steps, fids = np.asarray(tail, dtype=float).T
    return float(np.polyfit(steps / 100.0, fids, 1)[0])


def steps_to(fid: float, target: float, slope: float | None) -> int | None:
    """More steps, to the nearest one, from ``fid`` to ``target`` at ``slope`` (FID per 100
    steps): 0 when already there, None when the curve is not improving (or has no pace)."""
    if fid <= target:
        return 0
    if slope is None or slope >= 0:
        return None
    return round(100.0 * (fid - target) / -slope)


def summary(
    rows: list[dict[str, Any]], dataset: str, seed: int, names: dict[str, str], last: int
) -> dict[str, Any]:
    """One (data set, seed): the three models' curves, both ratios, and per kind (live,
    averaged) the last budget the pair shares, the AIS FID 3× needs there, the AIS pace and
    the steps to that FID at the pace."""
    digital_seed = seed if curve(rows, dataset, names["digital"], seed) else 0
    out: dict[str, Any] = {"dataset": dataset, "seed": seed, "digital_seed": digital_seed}
    for kind, suffix in KINDS.items():
        ais, static, digital = (
            curve(rows, dataset, names[role] + suffix, s)
            for role, s in (("ais", seed), ("static", seed), ("digital", digital_seed))
        )
        gap = ratio(static, ais)
        entry: dict[str, Any] = {
            "ais": ais,
            "static": static,
            "digital": digital,
            "static_over_ais": gap,
            "ais_over_digital": ratio(ais, digital),
        }
        if gap:
            steps = gap[-1][0]
            fid, needs = dict(ais)[steps], dict(static)[steps] / STATIC_TARGET
            slope = pace([p for p in ais if p[0] <= steps], last)
            entry |= {"steps": steps, "ratio": gap[-1][1], "ais_fid": fid, "needs": needs}
            entry |= {"pace_per_100": slope, "steps_to_target": steps_to(fid, needs, slope)}
        out[kind] = entry
    return out


def markdown(summaries: list[dict[str, Any]], names: dict[str, str], last: int) -> str:
    """One line per (data set, seed, kind): where the pair stands at its last shared budget."""
    lines = [
        "# FID against training steps: the 3× and 1.5× targets over training",
        "",
        f"`{names['ais']}` against `{names['static']}` (3× target) and `{names['digital']}` "
        f"(1.5× target), every budget `quality.py` scored. Pace: least-squares slope of the "
        f"AIS FID over its last {last} budgets, per 100 steps; 'steps to 3×': more steps to "
        "the FID 3× needs if that pace held (it slows: a floor, not a forecast).",
        "",
        "| data | seed | kind | budgets | last shared | static / AIS | AIS FID | 3× needs | "
        "pace /100 | steps to 3× | AIS / digital (max over budgets) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        for kind in KINDS:
            e = s[kind]
            if "steps" not in e:
                continue
            worst = max((r for _, r in e["ais_over_digital"]), default=None)
            lines.append(
                f"| {s['dataset']} | {s['seed']} | {kind} | {len(e['static_over_ais'])} | "
                f"{e['steps']:,} | {e['ratio']:.2f}× | {e['ais_fid']:.2f} | {e['needs']:.2f} | "
                f"{cell(e['pace_per_100'], '+.2f')} | {cell(e['steps_to_target'], ',')} | "
                f"{cell(worst, '.2f')}{'' if worst is None else '×'} |"
            )
    datasets = sorted({s["dataset"] for s in summaries})
    lines += ["", *(f"![{d}](quality_curves-{d}.png)" for d in datasets)]
    return "\n".join(lines) + "\n"


def plot(summaries: list[dict[str, Any]], names: dict[str, str], path: Path) -> Path:
    """Three panels for one data set: FIDs, static / AIS with the 3× line, AIS / digital with
    the 1.5× line; averaged curves bold, live ones faint, one line style per seed."""
    fig = Figure(figsize=(14.0, 4.2))
    fid_ax, gap_ax, dig_ax = fig.subplots(1, 3)
    colours = {"ais": "C0", "static": "C3", "digital": "0.45"}
    styles = ["-", "--", ":", "-."]
    for s in summaries:
        style = styles[s["seed"] % len(styles)]
        for kind in KINDS:
            e, bold = s[kind], kind == "averaged"
            look = {"ls": style, "lw": 1.8 if bold else 0.8, "alpha": 1.0 if bold else 0.45}
            for role, colour in colours.items():
                if role == "digital" and s["digital_seed"] != s["seed"]:
                    continue  # drawn once, with its own seed
                if e[role]:
                    x, y = zip(*e[role], strict=True)
                    label = f"{names[role]}, seed {s['seed']}, {kind}"
                    fid_ax.plot(x, y, color=colour, marker=".", label=label, **look)
            for ax, key, colour in (
                (gap_ax, "static_over_ais", "C3"),
                (dig_ax, "ais_over_digital", "C0"),
            ):
                if e[key]:
                    x, y = zip(*e[key], strict=True)
                    ax.plot(
                        x, y, color=colour, marker=".", label=f"seed {s['seed']}, {kind}", **look
                    )
    gap_ax.axhline(STATIC_TARGET, color="k", lw=0.8, ls="--", label="target: at least 3×")
    dig_ax.axhline(DIGITAL_TARGET, color="k", lw=0.8, ls="--", label="target: at most 1.5×")
    dataset = summaries[0]["dataset"]
    for ax, title in (
        (fid_ax, f"{dataset}: FID (oscsim classifier features, 10k samples)"),
        (gap_ax, f"{names['static']} / {names['ais']}"),
        (dig_ax, f"{names['ais']} / {names['digital']}"),
    ):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("generator iterations")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> int:
    """Read quality.json, summarise every seed that scored the pair, write JSON, markdown, plots."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ais", default="ais-4bit-envelope", help="the AIS model of the pair")
    ap.add_argument("--static", default="oscillator-static-envelope", help="its static twin")
    ap.add_argument("--digital", default="digital-wgan-gp", help="the digital baseline")
    ap.add_argument("--last", type=int, default=5, help="budgets the AIS pace is fitted over")
    ap.add_argument("--quality", type=Path, default=RESULTS / "quality.json")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if args.last < 3:
        raise OscsimError(f"--last must be at least 3 budgets to fit a pace, got {args.last}")
    names = {"ais": args.ais, "static": args.static, "digital": args.digital}
    rows = read_results(args.quality, "quality")["rows"]
    pairs = sorted({(r["dataset"], int(r.get("seed", 0))) for r in rows if r["model"] == args.ais})
    summaries = [summary(rows, d, s, names, args.last) for d, s in pairs]
    summaries = [s for s in summaries if s["live"]["static_over_ais"]]
    if not summaries:
        raise OscsimError(
            f"{args.quality} has no budget where both {args.ais} and {args.static} were scored "
            "for the same data set and seed: score both with benchmarks/quality.py first"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    for dataset in sorted({s["dataset"] for s in summaries}):
        mine = [s for s in summaries if s["dataset"] == dataset]
        plot(mine, names, args.out / f"quality_curves-{dataset}.png")
    table = markdown(summaries, names, args.last)
    write_json(
        args.out / "quality_curves.json",
        {"models": names, "last": args.last, "rows": summaries, "versions": versions()},
    )
    write_text(args.out / "quality_curves.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    run_script(main)
