"""Atomic writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from oscsim.atomic import atomic_path, locked_results, merge_row, write_json, write_text
from oscsim.errors import OscsimError
from oscsim.plots import save_figure


def test_write_text_and_json_replace_whole_files_and_leave_no_temp(tmp_path: Path) -> None:
    path = write_text(tmp_path / "a" / "table.md", "| x |\n")
    assert path.read_text() == "| x |\n"
    write_json(path, {"b": 1, "a": [2]})
    assert path.read_text() == '{\n  "a": [\n    2\n  ],\n  "b": 1\n}\n'
    assert [p.name for p in path.parent.iterdir()] == ["table.md"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = write_text(tmp_path / "keep.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_save_figure_writes_a_png(tmp_path: Path) -> None:
    fig = Figure()
    fig.subplots().plot([0, 1], [1, 0])
    assert save_figure(fig, tmp_path / "f.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_locked_results_merges_into_what_is_on_disk_now(tmp_path: Path) -> None:
    path = tmp_path / "out" / "results.json"
    with locked_results(path, "test") as results:  # no file yet: no rows, folder made
        assert results == {"rows": []}
        write_json(path, {"rows": [1]})
    with locked_results(path, "test") as results:
        results["rows"].append(2)
        write_json(path, results)
    assert json.loads(path.read_text())["rows"] == [1, 2]


def test_merge_row_replaces_the_row_with_its_key_and_writes_both_files(tmp_path: Path) -> None:
    def table(rows: list[dict]) -> str:
        return "".join(f"| {r['model']} | {r['x']} |\n" for r in rows)

    path = tmp_path / "out" / "bench.json"
    merge_row(path, {"model": "a", "n": 1, "x": 1}, ("model", "n"), "bench", table)
    merge_row(path, {"model": "b", "n": 1, "x": 2}, ("model", "n"), "bench", table)
    rows = merge_row(path, {"model": "a", "n": 1, "x": 3}, ("model", "n"), "bench", table)
    assert [(r["model"], r["x"]) for r in rows] == [("b", 2), ("a", 3)]
    saved = json.loads(path.read_text())
    assert saved["rows"] == rows and "torch" in saved["versions"]
    assert path.with_suffix(".md").read_text() == "| b | 2 |\n| a | 3 |\n"
    path.write_text("[1, 2]")
    with pytest.raises(OscsimError, match="is not a bench results file"):
        merge_row(path, {"model": "a", "n": 1, "x": 4}, ("model", "n"), "bench", table)
