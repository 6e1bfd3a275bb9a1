"""benchmarks/circuit_cost.py: cut netlists run in ngspice and its usage figures are read."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import load_benchmark

from oscsim.errors import OscsimError
from oscsim.graph import GraphSpec, build_graph
from oscsim.model import AISGenerator, ModelConfig
from oscsim.modelfile import save_model

cost = load_benchmark("circuit_cost")


@pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")
@pytest.mark.parametrize("variant", ["collapsed", "structural"])
def test_cut_runs_report_the_matrix_and_grow_with_the_cycles(variant: str) -> None:
    graph = build_graph(GraphSpec((2, 2), neighbourhood=8))
    config = ModelConfig(segments=2, cycles_per_segment=4.0, steps_per_segment=8)
    row = cost.measure(AISGenerator(graph, config, seed=0), "tiny", variant, (0.5, 1.5), 120.0)
    first, second = row["runs"]
    assert row["oscillators"] == 4 and row["cycles_per_sample"] == 8.0
    assert first["equations"] == second["equations"] >= 4 * 4  # p, n and two currents per cell
    assert first["fill_ins"] == second["fill_ins"] >= 0
    # max step T/100: about 100 accepted time points per simulated cycle
    assert 90 <= second["timepoints"] - first["timepoints"] <= 130
    assert row["factor_share"] is None or 0 <= row["factor_share"] <= 1
    assert row["newton_per_timepoint"] >= 1


def test_cut_netlist_keeps_the_step_and_replaces_the_control_block() -> None:
    text = "title\n.tran 1e-11 6.4e-08 0 1e-11 uic\n.control\nrun\nalter x 1\n.endc\n.end\n"
    cut = cost.cut_netlist(text, 2.0, 1e9)
    assert ".tran 1e-11 2.000000e-09 0 1e-11 uic" in cut and "alter" not in cut
    assert cut.endswith("rusage all\nwrite\nquit\n.endc\n.end\n")
    with pytest.raises(OscsimError, match="not an oscsim netlist"):
        cost.cut_netlist("title\n.end\n", 1.0, 1e9)
    with pytest.raises(OscsimError, match="no rusage figures"):
        cost.parse_usage("Circuit Equations = 12\n")


@pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")
def test_main_merges_rows_by_model_and_variant(tmp_path) -> None:
    graph = build_graph(GraphSpec((1, 2), neighbourhood=4))
    config = ModelConfig(segments=1, cycles_per_segment=4.0, steps_per_segment=8)
    save_model(tmp_path / "tiny.pt", AISGenerator(graph, config, seed=0))
    argv = ["--models", str(tmp_path / "tiny.pt"), "--cycles", "0.5", "1", "--out", str(tmp_path)]
    assert cost.main([*argv, "--variants", "collapsed"]) == 0
    assert cost.main([*argv, "--variants", "structural", "collapsed"]) == 0
    rows = json.loads((tmp_path / "circuit_cost.json").read_text())["rows"]
    assert sorted(r["variant"] for r in rows) == ["collapsed", "structural"]
    assert (tmp_path / "circuit_cost.md").read_text().count("tiny.pt") == 2
    with pytest.raises(OscsimError, match="0 < C1 < C2"):
        cost.main([*argv[:2], "--cycles", "2", "1"])
