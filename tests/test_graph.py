"""Tests for oscsim.graph and oscsim.graph_io: topology against brute force, round trips, errors."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import matplotlib.image
import networkx as nx
import numpy as np
import pytest

from oscsim.errors import OscsimError
from oscsim.graph import (
    PRESETS,
    GraphError,
    GraphSpec,
    build_graph,
    edge_index,
    get_spec,
    graph_stats,
    image_shape,
    validate_graph,
    visible_index,
)
from oscsim.graph_io import (
    draw_graph,
    graph_from_dict,
    graph_to_dict,
    load_graphml,
    save_graphml,
)

Near = Callable[[int, int], bool]
_NEAR = {
    4: lambda dr, dc: abs(dr) + abs(dc) == 1,
    8: lambda dr, dc: max(abs(dr), abs(dc)) == 1,
}


def _brute_force(
    height: int, width: int, near: Near, stride: int = 0, patch: int = 4, hidden_near: int = 0
) -> tuple[int, set[tuple[int, int]]]:
    """Node count and edge set by testing every pair of pixels and every (hidden, pixel) pair.

    A hidden node's patch is every pixel within (patch - 1) / 2 of its stride-cell centre on both
    axes (valid when stride and patch have the same parity, as in all cases tested).
    """
    pixels = [(r, c) for r in range(height) for c in range(width)]
    edges = {
        (i, j)
        for i, (r1, c1) in enumerate(pixels)
        for j, (r2, c2) in enumerate(pixels)
        if i < j and near(r2 - r1, c2 - c1)
    }
    if stride == 0:
        return len(pixels), edges
    hidden = [
        (a, b) for a in range(math.ceil(height / stride)) for b in range(math.ceil(width / stride))
    ]
    first = len(pixels)
    half = (patch - 1) / 2
    for k, (a, b) in enumerate(hidden):
        centre_r, centre_c = stride * a + (stride - 1) / 2, stride * b + (stride - 1) / 2
        for i, (r, c) in enumerate(pixels):
            if abs(r - centre_r) <= half and abs(c - centre_c) <= half:
                edges.add((i, first + k))
        if hidden_near:
            for m, (a2, b2) in enumerate(hidden):
                if k < m and _NEAR[hidden_near](a2 - a, b2 - b):
                    edges.add((first + k, first + m))
    return first + len(hidden), edges


def _edge_set(g: nx.Graph) -> set[tuple[int, int]]:
    return {(min(u, v), max(u, v)) for u, v in g.edges()}


@pytest.mark.parametrize("name", ["demo", "mnist"])
def test_presets_match_brute_force(name: str) -> None:
    spec = PRESETS[name]
    g = build_graph(name)
    n_nodes, edges = _brute_force(*spec.image_size, _NEAR[8], 2, 4, 8)
    assert g.number_of_nodes() == n_nodes
    assert g.number_of_edges() == len(edges)
    assert _edge_set(g) == edges
    degree = Counter(i for edge in edges for i in edge)
    stats = graph_stats(g)
    assert stats == {
        "nodes": n_nodes,
        "edges": len(edges),
        "visible": spec.image_size[0] * spec.image_size[1],
        "hidden": n_nodes - spec.image_size[0] * spec.image_size[1],
        "mean_degree": round(2 * len(edges) / n_nodes, 4),
        "max_degree": max(degree.values()),
    }
    assert isinstance(stats["mean_degree"], float)


@pytest.mark.parametrize(("name", "side"), [("demo", 14), ("mnist", 28)])
def test_preset_counts_closed_form(name: str, side: int) -> None:
    """Moore grid + 4x4 patches clipped to 3 rows at each border + Moore hidden grid."""
    hidden_side = side // 2
    moore = 2 * side * (side - 1) + 2 * (side - 1) ** 2
    patch_rows = 3 + 4 * (hidden_side - 2) + 3
    hidden_moore = 2 * hidden_side * (hidden_side - 1) + 2 * (hidden_side - 1) ** 2
    stats = graph_stats(build_graph(name))
    assert stats["nodes"] == side**2 + hidden_side**2
    assert stats["edges"] == moore + patch_rows**2 + hidden_moore
    # Interior hidden nodes: 16 patch pixels + 8 hidden neighbours.
    assert stats["max_degree"] == 16 + 8


def test_preset_sizes_as_documented() -> None:
    assert graph_stats(build_graph("demo"))["nodes"] == 245
    assert graph_stats(build_graph("demo"))["edges"] == 1534
    assert graph_stats(build_graph("mnist"))["nodes"] == 980
    assert graph_stats(build_graph("mnist"))["edges"] == 6588


def test_neighbourhoods_against_closed_forms() -> None:
    h, w = 5, 7
    four = h * (w - 1) + (h - 1) * w
    eight = four + 2 * (h - 1) * (w - 1)
    radius2 = eight + h * (w - 2) + (h - 2) * w
    radius_sqrt5 = radius2 + 2 * (h - 1) * (w - 2) + 2 * (h - 2) * (w - 1)
    cases = {4: four, 1.0: four, 8: eight, math.sqrt(2): eight, 1.5: eight, 2: radius2}
    cases |= {2.2: radius2, math.sqrt(5): radius_sqrt5, 0.5: 0}
    for neighbourhood, expected in cases.items():
        g = build_graph(GraphSpec((h, w), neighbourhood=neighbourhood))
        assert g.number_of_edges() == expected, neighbourhood
    radius = 2.0
    _, edges = _brute_force(h, w, lambda dr, dc: dr * dr + dc * dc <= radius * radius)
    assert _edge_set(build_graph(GraphSpec((h, w), neighbourhood=radius))) == edges


def test_general_spec_matches_brute_force() -> None:
    spec = GraphSpec(
        (9, 7), neighbourhood=4, hidden_stride=3, hidden_patch=5, hidden_neighbourhood=4
    )
    assert spec.hidden_shape == (3, 3)
    n_nodes, edges = _brute_force(9, 7, _NEAR[4], 3, 5, 4)
    g = build_graph(spec)
    assert g.number_of_nodes() == n_nodes
    assert _edge_set(g) == edges
    no_hidden_edges = build_graph(GraphSpec((9, 7), hidden_stride=3, hidden_neighbourhood=0))
    roles = dict(no_hidden_edges.nodes(data="role"))
    assert not any(roles[u] == roles[v] == "hidden" for u, v in no_hidden_edges.edges())


def test_moore_degrees() -> None:
    h, w = 4, 6
    g = build_graph(GraphSpec((h, w), neighbourhood=8))
    degrees = Counter(d for _, d in g.degree())
    border = 2 * (h - 2) + 2 * (w - 2)
    assert degrees == {3: 4, 5: border, 8: (h - 2) * (w - 2)}
    stats = graph_stats(g)
    assert stats["max_degree"] == 8
    assert stats["mean_degree"] == round((3 * 4 + 5 * border + 8 * (h - 2) * (w - 2)) / (h * w), 4)
    assert stats["hidden"] == 0


def test_nodes_roles_pos_and_pixels() -> None:
    g = build_graph("demo")
    height, width = 14, 14
    assert image_shape(g) == (height, width)
    assert list(g.nodes) == list(range(245))
    assert g.graph == {
        "image_height": 14,
        "image_width": 14,
        "neighbourhood": 8.0,
        "hidden_stride": 2,
        "hidden_patch": 4,
        "hidden_neighbourhood": 8,
    }
    for node in range(height * width):
        row, col = divmod(node, width)
        assert g.nodes[node] == {"role": "visible", "pos": (float(row), float(col)), "pixel": node}
    for k in range(49):
        a, b = divmod(k, 7)
        data = g.nodes[height * width + k]
        assert data == {"role": "hidden", "pos": (2 * a + 0.5, 2 * b + 0.5)}
        assert all(type(x) is float for x in data["pos"])
        # Patch rows 2a-1 .. 2a+2 and cols 2b-1 .. 2b+2, clipped to the image.
        rows = range(max(2 * a - 1, 0), min(2 * a + 3, height))
        cols = range(max(2 * b - 1, 0), min(2 * b + 3, width))
        visible = {n for n in g[height * width + k] if n < height * width}
        assert visible == {r * width + c for r in rows for c in cols}
    np.testing.assert_array_equal(visible_index(g), np.arange(height * width))


def test_visible_index_follows_pixel_not_node_id() -> None:
    g = build_graph(GraphSpec((3, 4), hidden_stride=2))
    n_pixels = 12
    order = list(range(g.number_of_nodes() - 1, -1, -1))
    relabelled = nx.relabel_nodes(g, dict(zip(g.nodes, order, strict=True)))
    shuffled = nx.Graph(**relabelled.graph)
    shuffled.add_nodes_from(sorted(relabelled.nodes(data=True)))
    shuffled.add_edges_from(relabelled.edges())
    validate_graph(shuffled)
    index = visible_index(shuffled)
    assert index.dtype == np.int64
    np.testing.assert_array_equal(index, [order[p] for p in range(n_pixels)])
    for pixel, node in enumerate(index):
        assert shuffled.nodes[int(node)]["pixel"] == pixel


def test_edge_index_sorted_unique_upper() -> None:
    g = build_graph("demo")
    assert list(g.edges()) == sorted(g.edges())
    index = edge_index(g)
    assert index.dtype == np.int64
    assert index.shape == (2, 1534)
    assert np.all(index[0] < index[1])
    pairs = list(zip(index[0].tolist(), index[1].tolist(), strict=True))
    assert pairs == sorted(set(pairs))
    assert set(pairs) == _edge_set(g)
    backwards = nx.Graph()
    backwards.add_nodes_from(range(4))
    backwards.add_edges_from([(3, 1), (2, 0), (1, 0)])
    np.testing.assert_array_equal(edge_index(backwards), [[0, 0, 1], [1, 2, 3]])
    assert edge_index(build_graph(GraphSpec((1, 1)))).shape == (2, 0)


def _with_edge_attrs(g: nx.Graph) -> nx.Graph:
    for k, (u, v) in enumerate(list(g.edges())[:5]):
        g.edges[u, v]["code"] = k - 2
        g.edges[u, v]["g_s"] = 1.0e-5 * (k + 0.1)
    g.nodes[3]["label"] = "corner-ish"
    return g


def _assert_same(a: nx.Graph, b: nx.Graph) -> None:
    assert list(a.nodes(data=True)) == list(b.nodes(data=True))
    assert list(a.edges(data=True)) == list(b.edges(data=True))
    assert a.graph == b.graph
    for (_, da), (_, db) in zip(a.nodes(data=True), b.nodes(data=True), strict=True):
        assert {k: type(v) for k, v in da.items()} == {k: type(v) for k, v in db.items()}
        assert all(type(x) is float for x in db["pos"])
    assert all(type(n) is int for n in b.nodes)


def test_graphml_round_trip(tmp_path: Path) -> None:
    g = _with_edge_attrs(build_graph("demo"))
    path = tmp_path / "demo.graphml"
    save_graphml(g, path)
    loaded = load_graphml(path)
    _assert_same(g, loaded)
    save_graphml(loaded, tmp_path / "again.graphml")
    assert path.read_bytes() == (tmp_path / "again.graphml").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.graphml", "demo.graphml"]


def test_dict_round_trip_through_json() -> None:
    g = _with_edge_attrs(build_graph(GraphSpec((5, 6), neighbourhood=2.5, hidden_stride=2)))
    d = graph_to_dict(g)
    text = json.dumps(d, allow_nan=False)
    _assert_same(g, graph_from_dict(json.loads(text)))
    _assert_same(g, graph_from_dict(d))
    assert d["nodes"]["pixel"][-1] is None
    assert len(d["edges"]) == g.number_of_edges()


def test_malformed_graphml(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.graphml"
    garbage.write_text("<graphml><graph><node id='0'>")
    with pytest.raises(GraphError, match=r"garbage\.graphml: not a readable GraphML"):
        load_graphml(garbage)
    with pytest.raises(GraphError, match="not found"):
        load_graphml(tmp_path / "missing.graphml")
    path = tmp_path / "g.graphml"
    g = build_graph(GraphSpec((2, 2)))
    save_graphml(g, path)
    text = path.read_text()
    path.write_text(text.replace('<node id="1">', '<node id="one">'))
    with pytest.raises(GraphError, match=r"g\.graphml"):
        load_graphml(path)
    nx.write_graphml(nx.DiGraph(g.edges()), path)
    with pytest.raises(GraphError, match="expected an undirected graph"):
        load_graphml(path)
    for node in g:
        del g.nodes[node]["pos"]
    nx.write_graphml(g, path)
    with pytest.raises(GraphError, match="node 0 lacks its pos_row"):
        load_graphml(path)


def test_malformed_dict() -> None:
    d = graph_to_dict(build_graph(GraphSpec((2, 3))))
    cases = [
        ({**d, "format": "other"}, "format/version"),
        ({k: v for k, v in d.items() if k != "edges"}, "'edges' must be a list"),
        ({**d, "edges": [*d["edges"], [0, 99]]}, f"edge {len(d['edges'])} must be"),
        ({**d, "edges": [*d["edges"], [0, 0]]}, "self loops"),
        ({**d, "nodes": {**d["nodes"], "pixel": [0, 0, 1, 2, 3, 4]}}, "exactly once"),
        ({**d, "nodes": {**d["nodes"], "pos": [[0, 0]] * 5}}, "list of 6 entries"),
        ({**d, "graph": {"image_height": 2}}, "image_height and image_width"),
        ([], "expected a dict"),
    ]
    for bad, message in cases:
        with pytest.raises(GraphError, match=message):
            graph_from_dict(bad)


def test_validate_graph_errors() -> None:
    def fresh() -> nx.Graph:
        return build_graph(GraphSpec((2, 2), hidden_stride=2))

    g = fresh()
    g.add_edge(1, 1)
    with pytest.raises(GraphError, match="self loops"):
        validate_graph(g)
    g = fresh()
    g.nodes[4]["role"] = "ghost"
    with pytest.raises(GraphError, match="node 4: role"):
        validate_graph(g)
    g = fresh()
    g.nodes[4]["pixel"] = 0
    with pytest.raises(GraphError, match="hidden nodes have no pixel"):
        validate_graph(g)
    g = fresh()
    g.nodes[0]["pos"] = [0.0, 0.0]
    with pytest.raises(GraphError, match="pos must be"):
        validate_graph(g)
    with pytest.raises(GraphError, match=r"integers 0\.\.N-1"):
        validate_graph(nx.relabel_nodes(fresh(), str))
    with pytest.raises(GraphError, match="undirected simple"):
        validate_graph(nx.DiGraph(fresh()))
    with pytest.raises(GraphError, match="not a JSON scalar"):
        graph_to_dict(nx.Graph(fresh(), extra=[1, 2]))


def test_draw_graph_png(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    figures_before = plt.get_fignums()
    path = tmp_path / "demo.png"
    draw_graph(build_graph("demo"), path, dpi=50)
    image = matplotlib.image.imread(path)
    assert image.shape == (350, 350, 4)
    assert image[..., :3].std() > 0.05
    draw_graph(build_graph(GraphSpec((3, 5))), tmp_path / "plain.png", dpi=20)
    assert matplotlib.image.imread(tmp_path / "plain.png").shape == (140, 140, 4)
    assert plt.get_fignums() == figures_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.png", "plain.png"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_size": (0, 4)}, "two positive ints"),
        ({"image_size": (4,)}, "two positive ints"),
        ({"image_size": (4.0, 4)}, "two positive ints"),
        ({"image_size": (4, 4), "neighbourhood": 0}, "positive finite radius"),
        ({"image_size": (4, 4), "neighbourhood": math.inf}, "positive finite radius"),
        ({"image_size": (4, 4), "neighbourhood": True}, "positive finite radius"),
        ({"image_size": (4, 4), "hidden_stride": -1}, "hidden_stride must be an int >= 0"),
        ({"image_size": (4, 4), "hidden_stride": 1.5}, "hidden_stride must be an int >= 0"),
        ({"image_size": (4, 4), "hidden_patch": 0}, "hidden_patch must be an int >= 1"),
        ({"image_size": (4, 4), "hidden_neighbourhood": 6}, "must be 0, 4 or 8"),
        ({"image_size": (4, 4), "hidden_neighbourhood": 4.0}, "must be 0, 4 or 8"),
    ],
)
def test_spec_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(GraphError, match=message) as info:
        GraphSpec(**kwargs)
    assert isinstance(info.value, (ValueError, OscsimError))


def test_spec_normalisation_and_presets() -> None:
    spec = GraphSpec([3, 5], neighbourhood=4)
    assert spec.image_size == (3, 5)
    assert type(spec.neighbourhood) is float
    assert spec.hidden_shape == (0, 0)
    assert GraphSpec((5, 7), hidden_stride=2).hidden_shape == (3, 4)
    assert get_spec(spec) is spec
    assert get_spec("mnist") == PRESETS["mnist"]
    with pytest.raises(GraphError, match="choose one of: demo, mnist"):
        get_spec("cifar")
    with pytest.raises(AttributeError):
        spec.hidden_stride = 3  # type: ignore[misc]
