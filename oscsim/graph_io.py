"""Oscillator graphs in and out of memory: GraphML files, JSON-safe dicts and PNG drawings.

Every reader ends with `validate_graph`, so whatever it returns is a graph the rest of oscsim can
use, and every problem surfaces as a `GraphError` that names the file (or dict) and the fault.
Attribute values must be JSON scalars (bool, int, float, str); `pos` is the one tuple, stored as
`pos_row` and `pos_col` in GraphML and as [row, col] in a dict.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import networkx as nx

from oscsim.atomic import atomic_path
from oscsim.graph import GraphError, graph_stats, image_shape, validate_graph

DICT_FORMAT = "oscsim-graph"
DICT_VERSION = 1
_POS_KEYS = ("pos_row", "pos_col")
_NX_DEFAULTS = ("node_default", "edge_default")


def _check_scalars(values: Iterable[tuple[str, object]], where: str) -> None:
    for name, value in values:
        ok = isinstance(value, (bool, int, str)) or (
            isinstance(value, float) and math.isfinite(value)
        )
        if not ok:
            raise GraphError(
                f"{where}: attribute {name!r} = {value!r} is not a JSON scalar "
                "(bool, int, finite float, str); convert it (e.g. with .item()) before saving"
            )


def _pos_to_file(data: dict) -> dict:
    """Node attributes for GraphML: `pos` split into pos_row, pos_col at its place."""
    out: dict = {}
    for name, value in data.items():
        if name == "pos":
            out[_POS_KEYS[0]], out[_POS_KEYS[1]] = value
        else:
            out[name] = value
    return out


def _pos_from_file(data: dict) -> dict:
    """Inverse of `_pos_to_file`: pos_row, pos_col joined back into the `pos` tuple."""
    out: dict = {}
    for name, value in data.items():
        if name == _POS_KEYS[0]:
            out["pos"] = (value, data[_POS_KEYS[1]])
        elif name != _POS_KEYS[1]:
            out[name] = value
    return out


def save_graphml(g: nx.Graph, path: str | Path) -> None:
    """Write a valid graph to GraphML atomically; `pos` is stored as floats pos_row, pos_col."""
    validate_graph(g)
    _check_scalars(g.graph.items(), "graph")
    out = nx.Graph()
    out.graph.update(g.graph)
    for node, data in g.nodes(data=True):
        if any(key in data for key in _POS_KEYS):
            raise GraphError(f"node {node}: attribute names {_POS_KEYS} are reserved for pos")
        _check_scalars(((k, v) for k, v in data.items() if k != "pos"), f"node {node}")
        out.add_node(node, **_pos_to_file(data))
    for u, v, data in g.edges(data=True):
        _check_scalars(data.items(), f"edge ({u}, {v})")
        out.add_edge(u, v, **data)
    with atomic_path(path) as tmp:
        nx.write_graphml(out, tmp)


def load_graphml(path: str | Path) -> nx.Graph:
    """Read a graph written by `save_graphml` (or any GraphML following the same conventions)."""
    path = Path(path)
    if not path.is_file():
        raise GraphError(f"{path}: graph file not found")
    try:
        raw = nx.read_graphml(path, node_type=int)
    except (ET.ParseError, nx.NetworkXError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise GraphError(f"{path}: not a readable GraphML graph ({exc})") from exc
    if type(raw) is not nx.Graph:
        raise GraphError(f"{path}: expected an undirected graph without parallel edges")
    g = nx.Graph()
    # networkx's reader adds empty node_default / edge_default dicts; they are not ours.
    g.graph.update((k, v) for k, v in raw.graph.items() if k not in _NX_DEFAULTS)
    for node, data in raw.nodes(data=True):
        if not all(key in data for key in _POS_KEYS):
            raise GraphError(f"{path}: node {node} lacks its pos_row / pos_col attributes")
        g.add_node(node, **_pos_from_file(data))
    g.add_edges_from(raw.edges(data=True))
    try:
        validate_graph(g)
    except GraphError as exc:
        raise GraphError(f"{path}: {exc}") from exc
    return g


def _columns(rows: list[dict], first: tuple[str, ...]) -> dict[str, list]:
    """Attribute dicts as columns, `first` names leading, None where an attribute is absent."""
    names = dict.fromkeys(first)
    for data in rows:
        names.update(dict.fromkeys(data))
    return {name: [data.get(name) for data in rows] for name in names}


def graph_to_dict(g: nx.Graph) -> dict:
    """Compact JSON-safe form of a valid graph, for embedding in model files.

    Layout: {"format": "oscsim-graph", "version": 1, "graph": {attrs}, "nodes": {attr: [value or
    None, one per node]}, "edges": [[i, j], ...], "edge_attrs": {attr: [value or None per edge]}}.
    """
    validate_graph(g)
    _check_scalars(g.graph.items(), "graph")
    rows = []
    for node, data in g.nodes(data=True):
        _check_scalars(((k, v) for k, v in data.items() if k != "pos"), f"node {node}")
        rows.append(dict(data, pos=list(data["pos"])))
    edges = list(g.edges(data=True))
    for u, v, data in edges:
        _check_scalars(data.items(), f"edge ({u}, {v})")
    return {
        "format": DICT_FORMAT,
        "version": DICT_VERSION,
        "graph": dict(g.graph),
        "nodes": _columns(rows, ("role", "pos", "pixel")),
        "edges": [[u, v] for u, v, _ in edges],
        "edge_attrs": _columns([data for _, _, data in edges], ()),
    }


def _require(ok: bool, problem: str) -> None:
    if not ok:
        raise GraphError(f"graph dict: {problem}")


def _column_table(d: dict, key: str, length: int) -> dict[str, list]:
    table = d.get(key)
    _require(isinstance(table, dict), f"{key!r} must be a dict of columns")
    for name, column in table.items():
        _require(
            isinstance(column, list) and len(column) == length,
            f"{key}[{name!r}] must be a list of {length} entries",
        )
    return table


def _pos_tuple(value: object, node: int) -> tuple[float, float]:
    _require(
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value),
        f"node {node}: pos must be [row, col] numbers; got {value!r}",
    )
    return (float(value[0]), float(value[1]))


def graph_from_dict(d: dict) -> nx.Graph:
    """Rebuild a graph from `graph_to_dict` output (or its JSON round trip); validates it."""
    _require(isinstance(d, dict), f"expected a dict; got {type(d).__name__}")
    _require(
        d.get("format") == DICT_FORMAT and d.get("version") == DICT_VERSION,
        f"format/version must be {DICT_FORMAT!r}/{DICT_VERSION}; "
        f"got {d.get('format')!r}/{d.get('version')!r}",
    )
    _require(isinstance(d.get("graph"), dict), "'graph' must be a dict of graph attributes")
    roles = d.get("nodes", {}).get("role") if isinstance(d.get("nodes"), dict) else None
    _require(isinstance(roles, list), "'nodes' must be a dict with a 'role' list")
    nodes = _column_table(d, "nodes", len(roles))
    _require("pos" in nodes, "'nodes' must have a 'pos' column")
    edges = d.get("edges")
    _require(isinstance(edges, list), "'edges' must be a list of [i, j] pairs")
    edge_attrs = _column_table(d, "edge_attrs", len(edges))
    _check_scalars(d["graph"].items(), "graph dict: graph")
    for name, column in [*nodes.items(), *edge_attrs.items()]:
        if name != "pos":
            _check_scalars(((name, v) for v in column if v is not None), "graph dict")
    g = nx.Graph()
    g.graph.update(d["graph"])
    for node in range(len(roles)):
        data = {name: column[node] for name, column in nodes.items() if column[node] is not None}
        data["pos"] = _pos_tuple(data.get("pos"), node)
        g.add_node(node, **data)
    for index, pair in enumerate(edges):
        _require(
            isinstance(pair, (list, tuple))
            and len(pair) == 2
            and all(type(x) is int and 0 <= x < len(roles) for x in pair),
            f"edge {index} must be [i, j] with node ids in 0..{len(roles) - 1}; got {pair!r}",
        )
        data = {name: column[index] for name, column in edge_attrs.items()}
        g.add_edge(*pair, **{k: v for k, v in data.items() if v is not None})
    try:
        validate_graph(g)
    except GraphError as exc:
        raise GraphError(f"graph dict: {exc}") from exc
    return g


def draw_graph(g: nx.Graph, path: str | Path, dpi: int = 150) -> None:
    """Draw a graph to a PNG of 7 x 7 inches (7 * dpi pixels square), written atomically.

    Visible oscillators sit on their pixel grid, hidden ones (between pixels, at their patch
    centres) are orange diamonds; edges are thin translucent lines coloured by kind; the title
    carries the counts of `graph_stats`. Uses its own Agg figure, so no pyplot state is touched.
    """
    # Imported here so that reading and writing graphs does not pay for matplotlib.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    validate_graph(g)
    height, width = image_shape(g)
    stats = graph_stats(g)
    pos = {node: (col, row) for node, (row, col) in g.nodes(data="pos")}
    role = dict(g.nodes(data="role"))
    fig = Figure(figsize=(7.0, 7.0), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.04, 0.1, 0.92, 0.82))
    spacing_pt = 0.92 * 7.0 * 72 / max(height, width, 1)
    for kind, colour, alpha in _EDGE_STYLES:
        segments = [
            (pos[u], pos[v])
            for u, v in g.edges()
            if "-".join(sorted((role[u], role[v]), reverse=True)) == kind
        ]
        ax.add_collection(
            LineCollection(
                segments, colors=colour, alpha=alpha, linewidths=0.5, label=f"{kind} edges"
            )
        )
    for kind, marker, colour, scale in _NODE_STYLES:
        xy = [pos[n] for n in g.nodes if role[n] == kind]
        if xy:
            ax.scatter(
                *zip(*xy, strict=True),
                s=(scale * spacing_pt) ** 2,
                marker=marker,
                c=colour,
                edgecolors="white",
                linewidths=0.3,
                zorder=3,
                label=f"{kind} ({len(xy)})",
            )
    ax.set_xlim(-1.0, width)
    ax.set_ylim(height, -1.0)
    ax.set_aspect("equal")
    ax.set_axis_off()
    legend = ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.005), ncol=3, fontsize=8, frameon=False
    )
    for handle in legend.legend_handles[: len(_EDGE_STYLES)]:
        handle.set_alpha(1.0)
        handle.set_linewidth(2.0)
    ax.set_title(
        f"{height}x{width} image: {stats['visible']} visible + {stats['hidden']} hidden, "
        f"{stats['edges']} edges\nmean degree {stats['mean_degree']:.2f}, "
        f"max degree {stats['max_degree']}",
        fontsize=10,
    )
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)


_EDGE_STYLES = (
    ("visible-visible", "#2b4c8c", 0.45),
    ("visible-hidden", "#e07b00", 0.3),
    ("hidden-hidden", "#c0185a", 0.7),
)
_NODE_STYLES = (("visible", "o", "#1f3b73", 0.26), ("hidden", "D", "#f28e1c", 0.24))
