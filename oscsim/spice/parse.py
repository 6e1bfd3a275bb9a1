"""Read an exported netlist back to the integer codes it builds (the exporter's round trip).

The codes come from the circuit itself, not from names: each control net's source is evaluated
at the middle of every segment, switch bits are compared with half the control level, bias
voltages, collapsed conductances (1 / resistance) and pump gains are divided by their
per-code values from the manifest. A collapsed netlist's resistors and pump VCVSs hold their first
segment's value and the ``alter`` lines of its ``.control`` block set the later ones.
Net names only identify which element a bank joins (``manifest["oscillators"]``).
"""

from __future__ import annotations

import numpy as np

from oscsim.errors import SpiceError
from oscsim.spice.pwl import Schedule, level_at


def _logical_lines(text: str) -> list[list[str]]:
    """Words of each element or dot line after the title, ``+`` continuations joined."""
    lines: list[str] = []
    for raw in text.splitlines()[1:]:
        if raw.startswith("+") and lines:
            lines[-1] += " " + raw[1:]
        elif raw.strip() and not raw.startswith("*"):
            lines.append(raw)
    return [line.replace("(", " ( ").replace(")", " ) ").split() for line in lines]


def _sources(lines: list[list[str]], mids: np.ndarray) -> dict[str, np.ndarray]:
    """Node -> level in each segment, for every ``v<name> <node> 0 dc|pwl`` source."""
    out = {"0": np.zeros(mids.size)}
    for w in lines:
        if w[0][0].lower() != "v" or len(w) < 5 or w[2] != "0":
            continue
        if w[3].lower() == "dc":
            out[w[1]] = np.full(mids.size, float(w[4]))
        elif w[3].lower() == "pwl":
            values = [float(x) for x in w[5 : w.index(")")]]
            out[w[1]] = level_at(list(zip(values[0::2], values[1::2], strict=True)), mids)
    return out


def _stepped(lines: list[list[str]], segments: int) -> dict[str, np.ndarray]:
    """Element name -> value in each segment, for elements a ``.control`` block alters.

    Each ``resume`` ends one boundary's ``alter`` lines; an element's first value is the one on
    its own line, later segments keep the last value set.
    """
    end = next((i for i, w in enumerate(lines) if w[0].lower() == ".control"), len(lines))
    first = {w[0].lower(): float(w[-1]) for w in lines[:end] if w[0][0].lower() in "re"}
    changes: list[dict[str, float]] = [{} for _ in range(segments)]
    boundary = 1
    for w in lines[end:]:
        if w[0].lower() == "alter" and len(w) == 5 and w[3] == "=":
            if boundary >= segments:
                raise SpiceError(f"alter after the last segment boundary: {' '.join(w)}")
            changes[boundary][w[1].lower()] = float(w[4])
        elif w[0].lower() == "resume":
            boundary += 1
    out = {}
    for name, value in first.items():
        values = [value]
        for s in range(1, segments):
            values.append(changes[s].get(name, values[-1]))
        out[name] = np.asarray(values)
    return out


def netlist_codes(text: str, manifest: dict) -> dict[str, np.ndarray]:
    """Integer codes ``{"k": [S, E], "delta"/"sigma"/"rho": [S, N]}`` that a netlist builds.

    ``k`` columns follow ``manifest["edges"]``. Raises SpiceError if an element cannot be read
    or a collapsed bank's two sides disagree.
    """
    sched = Schedule(tuple(manifest["breakpoints_s"]), float(manifest["transition_s"]))
    mids = sched.midpoints_s()
    lines = _logical_lines(text)
    levels = _sources(lines, mids)
    osc = {o[side]: (o["index"], side) for o in manifest["oscillators"] for side in ("p", "n")}
    osc.update({manifest["reference"][side]: (-1, side) for side in ("p", "n")})
    edge = {tuple(e): c for c, e in enumerate(manifest["edges"])}
    n, s = len(manifest["oscillators"]), sched.segments
    codes = {name: np.zeros((s, n), dtype=np.int64) for name in ("delta", "sigma", "rho")}
    codes["k"] = np.zeros((s, len(edge)), dtype=np.int64)
    el = manifest["elements"]
    units = {"k": el["bank_g_unit_s"], "rho": el["rho_g_unit_s"]}
    stepped = _stepped(lines, s)
    inj: dict[str, int] = {}
    pumps: dict[str, np.ndarray] = {}
    sides: dict[tuple, np.ndarray] = {}

    def level(node: str) -> np.ndarray:
        if node not in levels:
            raise SpiceError(f"netlist node {node!r} is driven by no dc/pwl source")
        return levels[node]

    def bits(nodes: list[str]) -> np.ndarray:
        return sum((level(b) > 0.5 * el["control_high_v"]) << k for k, b in enumerate(nodes))

    def target(a: str, b: str) -> tuple[str, int]:
        if osc[b][0] < 0:
            return "rho", osc[a][0]
        return "k", edge[(osc[a][0], osc[b][0])]

    for w in lines:
        head = w[0].lower()
        subckt = next(x for x in reversed(w) if "=" not in x) if head.startswith("x") else None
        if subckt == "lc":
            i = osc[w[1]][0]
            tune = (level(w[3]) - el["tune_offset_v"]) / el["tune_v_per_code"]
            codes["delta"][:, i] = np.rint(tune)
            inj[w[4]] = i
        elif subckt == "cbank4":
            kind, c = target(w[1], w[3])
            sign = np.where(level(w[8]) > 0.5 * el["control_high_v"], 1, -1)
            codes[kind][:, c] = sign * bits(w[5:8])
        elif subckt == "shil":
            pumps[w[2]] = bits(w[3:7])
        elif head.startswith("e") and len(w) == 6 and w[3:5] == ["line", "0"]:
            pumps[w[1]] = np.rint(stepped[head] * el["shil_full_scale_code"])
        elif head.startswith("r") and len(w) == 4 and w[1] in osc and w[2] in osc:
            kind, c = target(w[1], w[2])
            crossed = osc[w[1]][1] != osc[w[2]][1]
            mag = np.rint(1.0 / stepped[head] / units[kind])
            sides[(kind, c, crossed, osc[w[1]][1])] = -mag if crossed else mag
    for (kind, c, crossed, side), value in sides.items():
        if side == "p":
            other = sides.get((kind, c, crossed, "n"))
            if other is None or not np.array_equal(other, value):
                raise SpiceError(f"collapsed {kind} bank {c}: its p and n sides disagree")
            codes[kind][:, c] += value.astype(np.int64)
    for node, i in inj.items():
        if node != "0":
            codes["sigma"][:, i] = pumps[node]
    return codes
