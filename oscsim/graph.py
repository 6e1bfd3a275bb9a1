"""Oscillator graphs: a visible grid (one node per pixel) plus an optional coarser hidden grid.

A graph is a plain `networkx.Graph` whose nodes are the integers 0..N-1, visible nodes first in
row-major pixel order, then hidden nodes in row-major order on their own grid. Node attributes:
`role` ("visible" or "hidden"), `pos` ((row, col) floats in image-pixel coordinates) and, for
visible nodes, `pixel` (row * width + col). Graph attributes: `image_height`, `image_width` and the
`GraphSpec` fields that built it. Edges are undirected and inserted as sorted (i, j), i < j, so
every walk over the graph is deterministic.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx
import numpy as np

from oscsim.errors import OscsimError

_NAMED_RADIUS = {4.0: 1.0, 8.0: math.sqrt(2.0)}
_HIDDEN_OFFSETS = {0: (), 4: ((0, 1), (1, 0)), 8: ((0, 1), (1, -1), (1, 0), (1, 1))}
_ROLES = ("visible", "hidden")


class GraphError(OscsimError, ValueError):
    """A graph spec, graph, graph file or graph dict is invalid; the message says what and how."""


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class GraphSpec:
    """What graph to build.

    Attributes:
        image_size: (height, width) of the visible grid, one oscillator per pixel.
        neighbourhood: visible-visible edges: 4 (von Neumann, radius 1), 8 (Moore, radius sqrt 2)
            or any other positive value r, joining pixels at Euclidean distance <= r.
        hidden_stride: spacing of the hidden grid in pixels; 0 means no hidden oscillators. The
            hidden grid is ceil(H / stride) x ceil(W / stride).
        hidden_patch: each hidden node joins the visible pixels of a patch x patch window centred
            on its stride cell, clipped at the image border (stride 2, patch 4: hidden (a, b)
            covers rows 2a-1 .. 2a+2 and cols 2b-1 .. 2b+2). A hidden node's `pos` is the centre
            of its unclipped window (2a + 0.5, 2b + 0.5 there); when stride and patch differ in
            parity the window starts half a pixel early (rounded down).
        hidden_neighbourhood: hidden-hidden edges on the hidden grid: 0 (none), 4 or 8.
    """

    image_size: tuple[int, int]
    neighbourhood: float = 8
    hidden_stride: int = 0
    hidden_patch: int = 4
    hidden_neighbourhood: int = 8

    def __post_init__(self) -> None:
        size = self.image_size
        if (
            not isinstance(size, (tuple, list))
            or len(size) != 2
            or not all(_is_int(n) and n > 0 for n in size)
        ):
            raise GraphError(f"image_size must be (height, width), two positive ints; got {size!r}")
        object.__setattr__(self, "image_size", (int(size[0]), int(size[1])))
        n = self.neighbourhood
        if not isinstance(n, numbers.Real) or isinstance(n, bool) or not math.isfinite(n) or n <= 0:
            raise GraphError(
                f"neighbourhood must be 4 (von Neumann), 8 (Moore) or another positive finite "
                f"radius in pixels; got {n!r}"
            )
        object.__setattr__(self, "neighbourhood", float(n))
        if not _is_int(self.hidden_stride) or self.hidden_stride < 0:
            raise GraphError(
                f"hidden_stride must be an int >= 0 (0 = no hidden oscillators); "
                f"got {self.hidden_stride!r}"
            )
        if not _is_int(self.hidden_patch) or self.hidden_patch < 1:
            raise GraphError(f"hidden_patch must be an int >= 1; got {self.hidden_patch!r}")
        if (
            not _is_int(self.hidden_neighbourhood)
            or self.hidden_neighbourhood not in _HIDDEN_OFFSETS
        ):
            raise GraphError(
                f"hidden_neighbourhood must be 0, 4 or 8; got {self.hidden_neighbourhood!r}"
            )
        object.__setattr__(self, "hidden_stride", int(self.hidden_stride))
        object.__setattr__(self, "hidden_patch", int(self.hidden_patch))
        object.__setattr__(self, "hidden_neighbourhood", int(self.hidden_neighbourhood))

    @property
    def hidden_shape(self) -> tuple[int, int]:
        """(rows, cols) of the hidden grid; (0, 0) when there are no hidden oscillators."""
        if self.hidden_stride == 0:
            return (0, 0)
        height, width = self.image_size
        return (-(-height // self.hidden_stride), -(-width // self.hidden_stride))


PRESETS: dict[str, GraphSpec] = {
    "demo": GraphSpec((14, 14), neighbourhood=8, hidden_stride=2, hidden_patch=4),
    "mnist": GraphSpec((28, 28), neighbourhood=8, hidden_stride=2, hidden_patch=4),
}


def get_spec(name_or_spec: GraphSpec | str) -> GraphSpec:
    """Return `name_or_spec` itself if it is a GraphSpec, else the preset of that name."""
    if isinstance(name_or_spec, GraphSpec):
        return name_or_spec
    if name_or_spec not in PRESETS:
        raise GraphError(
            f"unknown graph preset {name_or_spec!r}; choose one of: {', '.join(sorted(PRESETS))}"
        )
    return PRESETS[name_or_spec]


def _half_plane_offsets(radius: float) -> list[tuple[int, int]]:
    """Offsets (dr, dc) with 0 < dr^2 + dc^2 <= radius^2, one of each +- pair (dr > 0 or dc > 0)."""
    reach = math.floor(radius + 1e-9)
    limit = radius * radius * (1 + 1e-12)
    return [
        (dr, dc)
        for dr in range(reach + 1)
        for dc in range(-reach, reach + 1)
        if (dr > 0 or dc > 0) and dr * dr + dc * dc <= limit
    ]


def _grid_pairs(
    height: int, width: int, offsets: Iterable[tuple[int, int]], first_id: int
) -> list[np.ndarray]:
    """Node-id pairs [k, 2] joining grid cell (r, c) to (r + dr, c + dc) for each offset."""
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    pairs = []
    for dr, dc in offsets:
        r2, c2 = rows + dr, cols + dc
        ok = (r2 < height) & (c2 >= 0) & (c2 < width)
        a = first_id + rows[ok] * width + cols[ok]
        b = first_id + r2[ok] * width + c2[ok]
        pairs.append(np.stack([a, b], axis=1))
    return pairs


def _patch_start(index: int, spec: GraphSpec) -> int:
    """First row (or col) of the patch window of hidden row (or col) `index`, before clipping."""
    return index * spec.hidden_stride + (spec.hidden_stride - spec.hidden_patch) // 2


def _hidden_visible_pairs(spec: GraphSpec, first_hidden: int) -> list[np.ndarray]:
    height, width = spec.image_size
    hidden_rows, hidden_cols = spec.hidden_shape
    pairs = []
    for a in range(hidden_rows):
        r0 = _patch_start(a, spec)
        rows = np.arange(max(r0, 0), min(r0 + spec.hidden_patch, height))
        for b in range(hidden_cols):
            c0 = _patch_start(b, spec)
            cols = np.arange(max(c0, 0), min(c0 + spec.hidden_patch, width))
            pixels = (rows[:, None] * width + cols[None, :]).ravel()
            hidden = np.full_like(pixels, first_hidden + a * hidden_cols + b)
            pairs.append(np.stack([pixels, hidden], axis=1))
    return pairs


def build_graph(spec: GraphSpec | str) -> nx.Graph:
    """Build the oscillator graph of a spec or preset name (see the module docstring)."""
    spec = get_spec(spec)
    height, width = spec.image_size
    hidden_rows, hidden_cols = spec.hidden_shape
    n_visible = height * width
    radius = _NAMED_RADIUS.get(spec.neighbourhood, spec.neighbourhood)
    g = nx.Graph(
        image_height=height,
        image_width=width,
        neighbourhood=spec.neighbourhood,
        hidden_stride=spec.hidden_stride,
        hidden_patch=spec.hidden_patch,
        hidden_neighbourhood=spec.hidden_neighbourhood,
    )
    for r in range(height):
        for c in range(width):
            g.add_node(r * width + c, role="visible", pos=(float(r), float(c)), pixel=r * width + c)
    centre = (spec.hidden_patch - 1) / 2
    for a in range(hidden_rows):
        for b in range(hidden_cols):
            pos = (_patch_start(a, spec) + centre, _patch_start(b, spec) + centre)
            g.add_node(n_visible + a * hidden_cols + b, role="hidden", pos=pos)
    pairs = _grid_pairs(height, width, _half_plane_offsets(radius), 0)
    pairs += _hidden_visible_pairs(spec, n_visible)
    hidden_offsets = _HIDDEN_OFFSETS[spec.hidden_neighbourhood]
    pairs += _grid_pairs(hidden_rows, hidden_cols, hidden_offsets, n_visible)
    edges = np.concatenate([np.empty((0, 2), dtype=np.int64), *pairs]).astype(np.int64)
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]
    g.add_edges_from(edges.tolist())
    return g


def edge_index(g: nx.Graph) -> np.ndarray:
    """Edges as int64 [2, E]: each undirected edge once, i < j, sorted by (i, j)."""
    if g.number_of_edges() == 0:
        return np.empty((2, 0), dtype=np.int64)
    edges = np.sort(np.array(list(g.edges()), dtype=np.int64), axis=1)
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]
    return np.ascontiguousarray(edges.T)


def visible_index(g: nx.Graph) -> np.ndarray:
    """Node ids of the visible oscillators as int64 [H * W], in pixel (row-major) order."""
    visible = [(d["pixel"], n) for n, d in g.nodes(data=True) if d["role"] == "visible"]
    return np.array([n for _, n in sorted(visible)], dtype=np.int64)


def image_shape(g: nx.Graph) -> tuple[int, int]:
    """(height, width) of the image the visible oscillators form."""
    return (g.graph["image_height"], g.graph["image_width"])


def graph_stats(g: nx.Graph) -> dict:
    """Counts and degrees: nodes, edges, visible, hidden, mean_degree (4 decimals), max_degree."""
    n_nodes = g.number_of_nodes()
    n_visible = sum(1 for _, role in g.nodes(data="role") if role == "visible")
    return {
        "nodes": n_nodes,
        "edges": g.number_of_edges(),
        "visible": n_visible,
        "hidden": n_nodes - n_visible,
        "mean_degree": round(2 * g.number_of_edges() / n_nodes, 4) if n_nodes else 0.0,
        "max_degree": max((d for _, d in g.degree()), default=0),
    }


def _check_node(node: int, data: dict, n_pixels: int) -> None:
    role = data.get("role")
    if role not in _ROLES:
        raise GraphError(f"node {node}: role must be 'visible' or 'hidden'; got {role!r}")
    pos = data.get("pos")
    if (
        not isinstance(pos, tuple)
        or len(pos) != 2
        or not all(isinstance(x, float) and math.isfinite(x) for x in pos)
    ):
        raise GraphError(
            f"node {node}: pos must be a (row, col) tuple of finite floats; got {pos!r}"
        )
    pixel = data.get("pixel")
    if role == "hidden" and pixel is not None:
        raise GraphError(f"node {node}: hidden nodes have no pixel; got pixel={pixel!r}")
    if role == "visible" and not (_is_int(pixel) and 0 <= pixel < n_pixels):
        raise GraphError(f"node {node}: pixel must be an int in 0..{n_pixels - 1}; got {pixel!r}")


def validate_graph(g: nx.Graph) -> None:
    """Check what the rest of oscsim relies on; raise GraphError naming the first problem.

    Checks: an undirected simple nx.Graph; nodes are the ints 0..N-1 in that order; every node has
    a role and a float (row, col) pos; visible pixels cover the image_height x image_width image
    exactly once; hidden nodes have no pixel; no self loops.
    """
    if type(g) is not nx.Graph:
        raise GraphError(f"expected an undirected simple networkx.Graph; got {type(g).__name__}")
    height, width = g.graph.get("image_height"), g.graph.get("image_width")
    if not (_is_int(height) and _is_int(width) and height > 0 and width > 0):
        raise GraphError(
            f"graph attributes image_height and image_width must be positive ints; "
            f"got {height!r} x {width!r}"
        )
    nodes = list(g.nodes)
    if not all(_is_int(n) for n in nodes) or nodes != list(range(len(nodes))):
        raise GraphError(
            f"nodes must be the integers 0..N-1 in order; got {nodes[:5]!r}... "
            "(relabel with networkx.convert_node_labels_to_integers)"
        )
    n_pixels = height * width
    pixels = []
    for node, data in g.nodes(data=True):
        _check_node(node, data, n_pixels)
        if data["role"] == "visible":
            pixels.append(data["pixel"])
    if len(pixels) != n_pixels or len(set(pixels)) != n_pixels:
        raise GraphError(
            f"visible pixels must cover the {height}x{width} image exactly once: "
            f"{len(pixels)} visible nodes, {len(set(pixels))} distinct pixels, {n_pixels} needed"
        )
    loops = list(nx.selfloop_edges(g))
    if loops:
        raise GraphError(f"self loops are not allowed; found {len(loops)}, e.g. {loops[0]!r}")
