"""Piecewise control waveforms of an exported circuit: one level per segment, as PWL sources.

A control (a switch bit, a bias voltage) holds one level per segment.
Its source ramps linearly from the old to the new level over ``transition_s`` centred on each
segment boundary t_b: the old level up to ``t_b - transition_s/2``, the new one from
``t_b + transition_s/2``. A switch whose threshold is half way between the levels then flips at
exactly t_b, and a linear ramp's mean equals an instant step at t_b, so both netlist variants
switch where the behavioural model does. A control whose level never changes is a DC source.
(Collapsed netlists set their resistors and pump gains per segment with ``alter`` instead.)

Identical schedules share one net: control inputs (switch gates, ``tune``) draw no current, so
one source drives every input with the same schedule, and a netlist has one source per distinct
schedule rather than one per switch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from oscsim.spice.format import sanitize_name, spice_float

_PAIRS_PER_LINE = 4


@dataclass(frozen=True)
class Schedule:
    """Segment timing of a circuit.

    Attributes:
        breakpoints_s: segment boundaries, s, from 0 to the end of the last segment (S + 1).
        transition_s: ramp time of every control at a boundary, s.
    """

    breakpoints_s: tuple[float, ...]
    transition_s: float

    def __post_init__(self) -> None:
        t = np.asarray(self.breakpoints_s, dtype=np.float64)
        if t.ndim != 1 or t.size < 2 or t[0] != 0.0 or not np.all(np.diff(t) > 0):
            raise ValueError("breakpoints_s must start at 0 and increase (one more than segments)")
        shortest = float(np.min(np.diff(t)))
        if not (math.isfinite(self.transition_s) and 0 < self.transition_s < shortest / 2):
            raise ValueError(
                f"transition_s must be > 0 and below half the shortest segment ({shortest:.3g} s)"
            )

    @classmethod
    def uniform(cls, segments: int, segment_s: float, transition_s: float) -> Schedule:
        """``segments`` equal segments of ``segment_s`` each, boundaries at ``s · segment_s``."""
        return cls(tuple(s * segment_s for s in range(segments + 1)), transition_s)

    @property
    def segments(self) -> int:
        """Number of segments S."""
        return len(self.breakpoints_s) - 1

    @property
    def t_stop_s(self) -> float:
        """End of the last segment, s."""
        return self.breakpoints_s[-1]

    def midpoints_s(self) -> np.ndarray:
        """Middle of each segment, s, ``(S,)``: where a control surely holds its level."""
        t = np.asarray(self.breakpoints_s)
        return 0.5 * (t[:-1] + t[1:])

    def points(self, levels: Sequence[float]) -> list[tuple[float, float]]:
        """PWL corner points ``(t_s, value)`` for one level per segment."""
        if len(levels) != self.segments:
            raise ValueError(f"need one level per segment ({self.segments}), got {len(levels)}")
        half = 0.5 * self.transition_s
        out = [(0.0, float(levels[0]))]
        for t_b, before, after in zip(
            self.breakpoints_s[1:-1], levels[:-1], levels[1:], strict=True
        ):
            if after != before:
                out += [(t_b - half, float(before)), (t_b + half, float(after))]
        return out


def _words(points: list[tuple[float, float]]) -> list[tuple[str, str]]:
    """Points as SPICE text; ValueError if two times print alike (a transition lost)."""
    words = [(spice_float(t), spice_float(v)) for t, v in points]
    times = [t for t, _ in words]
    if len(set(times)) != len(times):
        raise ValueError(
            f"a transition is too short to resolve at {times[-1]} s in seven significant "
            "digits; lengthen transition_s"
        )
    return words


def source_lines(name: str, node: str, levels: Sequence[float], schedule: Schedule) -> list[str]:
    """``v<name> <node> 0 ...``: DC if the level never changes, else PWL (4 pairs per line)."""
    points = schedule.points(levels)
    head = f"v{name} {node} 0"
    if len(points) == 1:
        return [f"{head} dc {spice_float(points[0][1])}"]
    words = [f"{t} {v}" for t, v in _words(points)]
    rows = [words[i : i + _PAIRS_PER_LINE] for i in range(0, len(words), _PAIRS_PER_LINE)]
    lines = [f"{head} pwl({' '.join(rows[0])}"] + [f"+ {' '.join(row)}" for row in rows[1:]]
    lines[-1] += ")"
    return lines


def code_token(codes: Sequence[int]) -> str:
    """Net-name part for integer codes per segment: ``(3, -2, 0)`` -> ``3_m2_0``."""
    return "_".join(f"m{-int(c)}" if c < 0 else str(int(c)) for c in codes)


class ControlNets:
    """Named nets, one per distinct control schedule, rendered as one source each.

    Args:
        schedule: the circuit's segment timing.
    """

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self._levels: dict[str, tuple[float, ...]] = {}

    def net(self, prefix: str, codes: Sequence[int], levels: Sequence[float]) -> str:
        """The net ``<prefix>_<codes>`` carrying ``levels`` (one per segment); made on first use.

        Raises:
            ValueError: the same name was already given other levels (a prefix must fix the
                mapping from codes to levels).
        """
        name = sanitize_name(f"{prefix}_{code_token(codes)}")
        wanted = tuple(float(v) for v in levels)
        if len(wanted) != self.schedule.segments:
            raise ValueError(f"need one level per segment ({self.schedule.segments})")
        if self._levels.setdefault(name, wanted) != wanted:
            raise ValueError(f"control net {name} already carries other levels")
        return name

    def lines(self) -> list[str]:
        """Source lines of every net, sorted by name."""
        out: list[str] = []
        for name in sorted(self._levels):
            out += source_lines(name, name, self._levels[name], self.schedule)
        return out


def level_at(points: Sequence[tuple[float, float]], t_s: np.ndarray | float) -> np.ndarray:
    """Value of a PWL (held constant before its first and after its last point) at ``t_s``."""
    t, v = np.asarray(points, dtype=np.float64).reshape(-1, 2).T
    return np.interp(t_s, t, v)
