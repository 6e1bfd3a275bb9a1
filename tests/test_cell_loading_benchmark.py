"""benchmarks/cell_loading.py: one lc cell under a resistive load, in ngspice."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import load_benchmark

from oscsim.graph import GraphSpec, build_graph
from oscsim.model import AISGenerator, ModelConfig
from oscsim.modelfile import save_model
from oscsim.spice.cells import LcCell

loading = load_benchmark("cell_loading")


@pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")
def test_a_free_cell_runs_at_its_offset_and_a_heavy_load_stops_it() -> None:
    """Unloaded: the cell's known free-running offset δ0 ≈ −9.4e-4 per cycle and its ~1 V
    amplitude. A load of one tank conductance halves the amplitude (loop gain 4 → 2); at four
    (loop gain 4/5 < 1) the cell stops oscillating."""
    cell = LcCell()
    free = loading.measure_load(cell, 0.0, cycles=32)
    assert -1.2e-3 < free["delta_per_cycle"] < -7e-4
    assert 0.9 < free["amplitude_v"] < 1.1
    loaded = loading.measure_load(cell, 1.0, cycles=32)
    assert 0.35 < loaded["amplitude_v"] / free["amplitude_v"] < 0.6
    stopped = loading.measure_load(cell, 4.0, cycles=32)
    assert stopped["amplitude_v"] < 0.01 and stopped["delta_per_cycle"] is None


def test_model_loads_count_every_link_at_both_ends() -> None:
    model = AISGenerator(build_graph(GraphSpec((1, 3), neighbourhood=4)), ModelConfig(), seed=0)
    k = np.abs(model.hardware_params()["k"].detach().double().numpy())  # [S, 2]: 0-1, 1-2
    x = loading.model_loads(model)
    q2 = 2 * LcCell().q
    np.testing.assert_allclose(x, q2 * np.array([k[:, 0], k.sum(1), k[:, 1]]).max(axis=1))


@pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")
def test_main_writes_the_table_the_figure_and_the_model_loads(tmp_path) -> None:
    graph = build_graph(GraphSpec((2, 2), neighbourhood=8))
    save_model(tmp_path / "tiny.pt", AISGenerator(graph, ModelConfig(), seed=0))
    argv = ["--model", str(tmp_path / "tiny.pt"), "--points", "2", "--out", str(tmp_path)]
    assert loading.main(argv) == 0
    result = json.loads((tmp_path / "cell_loading.json").read_text())
    assert [r["load"] for r in result["rows"]] == [0.0, 4.0]
    assert result["rows"][1]["delta_per_cycle"] is None  # stopped at 4 tank conductances
    assert 0 < result["model_load_quantiles"]["50"] <= result["model_load_quantiles"]["100"]
    assert "| 4 | stopped |" in (tmp_path / "cell_loading.md").read_text()
    assert (tmp_path / "cell_loading.png").read_bytes().startswith(b"\x89PNG")
