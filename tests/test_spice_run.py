"""Runner: real ngspice runs, its failure modes as SpiceError, and the .tran step rules."""

from __future__ import annotations

import math
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from oscsim.errors import SpiceError
from oscsim.spice import run as runner
from oscsim.spice.run import check_tran, core_share, run_each, run_many, run_netlist, tran_line

needs_ngspice = pytest.mark.skipif(
    shutil.which("ngspice") is None, reason="ngspice not installed (apt-get install ngspice)"
)


SLOW = "slow\nv1 a 0 sin(0 1 1e9)\nr1 a 0 1k\n.tran 1f 0.5n 0 1f\n.end\n"  # about 1 s


def _rc(title: str, volts: float, tran: str = ".tran 10p 2n 0 10p uic") -> str:
    return f"{title}\nv1 in 0 {volts}\nr1 in out 1k\nc1 out 0 1p\n{tran}\n.end\n"


@pytest.mark.ngspice
@needs_ngspice
def test_file_netlist_runs_in_a_kept_workdir(tmp_path: Path) -> None:
    netlist = tmp_path / "rc.cir"
    netlist.write_text(_rc("rc charge", 1.0))
    raw = run_netlist(netlist, timeout_s=30, workdir=tmp_path / "run", f_ref_hz=1e9)
    tau = 1e3 * 1e-12
    np.testing.assert_allclose(raw["v(out)"], 1 - np.exp(-raw.time / tau), atol=2e-3)
    kept = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert kept == [".spiceinit", "ngspice.log", "out.raw"]
    assert (tmp_path / "run" / ".spiceinit").read_text() == "set num_threads=1\n"
    run_netlist(netlist, timeout_s=30, workdir=tmp_path / "sky", hsa=True)
    assert "set ngbehavior=hsa" in (tmp_path / "sky" / ".spiceinit").read_text()


@pytest.mark.ngspice
@needs_ngspice
def test_run_many_keeps_input_order() -> None:
    volts = [0.5, 2.0, 1.0, 3.0, 0.25]
    texts = [_rc(f"rc {i}", v, ".tran 10p 5n 0 10p") for i, v in enumerate(volts)]
    results = run_many(texts, processes=2, timeout_s=30, progress=False)
    assert [r.title for r in results] == [f"rc {i}" for i in range(5)]
    assert [r["v(out)"][-1] for r in results] == pytest.approx(volts, rel=1e-2)


@pytest.mark.ngspice
@needs_ngspice
def test_run_each_yields_runs_as_they_end_with_their_share_of_the_wall_time() -> None:
    """A slow run and two fast ones on two processes: the fast ones come back first (the second
    starts when the first ends), each with its own raw file; the shares add up to the wall."""
    texts = [SLOW, _rc("fast 1", 2.0), _rc("fast 2", 3.0)]
    start = time.perf_counter()
    got = list(run_each(texts, processes=2, timeout_s=60, progress=False))
    wall = time.perf_counter() - start
    assert [index for index, _, _ in got] == [1, 2, 0]
    assert [raw.title for _, raw, _ in got] == ["fast 1", "fast 2", "slow"]
    shares = [seconds for _, _, seconds in got]
    assert all(s > 0 for s in shares) and shares[2] > shares[0] + shares[1]
    assert sum(shares) == pytest.approx(wall, rel=0.25)


@pytest.mark.ngspice
@needs_ngspice
def test_a_run_reports_the_share_of_its_transient_simulated_as_it_goes() -> None:
    seen: list[float] = []
    raw = run_netlist(SLOW, timeout_s=60, on_progress=seen.append)
    assert raw.title == "slow" and len(seen) >= 2  # ngspice prints its time a few times a second
    assert seen == sorted(seen) and seen[0] > 0 and 0.5 < seen[-1] <= 1.0


@pytest.mark.ngspice
@needs_ngspice
def test_run_each_counts_runs_in_flight_by_their_simulated_share(capsys, monkeypatch) -> None:
    monkeypatch.setattr(runner, "_REFRESH_S", 0.0)  # every report drawn (default: once a second)
    list(run_each([SLOW, _rc("fast", 1.0)], processes=2, timeout_s=60))
    bar = capsys.readouterr().err
    assert re.search(r"ngspice: +\d+%\|.*\| [01]\.(?!00)\d\d/2 runs", bar), bar
    assert "2.00/2 runs" in bar


@pytest.mark.ngspice
@needs_ngspice
def test_the_bar_ends_at_its_total_whatever_fractions_the_runs_report(capsys, monkeypatch) -> None:
    real = runner.run_netlist

    def reporting(netlist, timeout_s, on_progress, **kwargs):  # real ngspice after the reports
        for fraction in (0.1, 0.2, 0.3, 0.7, 0.9):  # summed as steps these drift past 2.0
            on_progress(fraction)
        return real(netlist, timeout_s, on_progress=on_progress, **kwargs)

    monkeypatch.setattr(runner, "run_netlist", reporting)
    monkeypatch.setattr(runner, "_REFRESH_S", 0.0)
    list(run_each([_rc("a", 1.0), _rc("b", 2.0)], processes=1, timeout_s=60))
    assert "2.00/2 runs" in capsys.readouterr().err  # a bar past its total warns (an error here)


def test_core_share_splits_each_moment_among_the_runs_going() -> None:
    spans = [(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]
    shares = [core_share(s, e, spans) for s, e in spans]
    assert shares == pytest.approx([1.5, 1.5, 1.0])  # alone 1 s, then half of 1 s shared
    assert sum(shares) == pytest.approx(4.0)  # the wall time during which any ran
    assert core_share(0.0, 2.0, [(0.0, 2.0), (1.0, math.inf)]) == pytest.approx(1.5)


def test_missing_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    with pytest.raises(SpiceError, match="apt-get install ngspice"):
        run_netlist(_rc("rc", 1.0), ngspice=tmp_path / "no-such-ngspice")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("OSCSIM_NGSPICE", raising=False)
    with pytest.raises(SpiceError, match="ngspice not found"):
        run_netlist(_rc("rc", 1.0))


@pytest.mark.ngspice
@needs_ngspice
@pytest.mark.parametrize(
    ("body", "quoted"),
    [
        ("v1 a 0 1\nr1 a 0 1k foo\n.tran 10p 1n\n", "unknown parameter"),
        (".include nothere.subckt\nv1 a 0 1\nr1 a 0 1k\n.tran 10p 1n\n", "Could not find"),
        ("v1 a 0 1\nr1 b c 1k\n.tran 10p 1n\n", "singular matrix"),
        (
            "v1 c 0 pwl(0 0 1n 0 1.1n 1)\nb1 a 0 v=v(a)*v(c)+1\nr1 a 0 1k\n.tran 1p 3n\n",
            "Timestep too small",
        ),
    ],
    ids=["syntax", "missing-include", "floating-node", "no-solution"],
)
def test_failures_name_the_netlist_and_quote_ngspice(
    tmp_path: Path, body: str, quoted: str
) -> None:
    netlist = tmp_path / "broken.cir"
    netlist.write_text(f"broken\n{body}.end\n")
    with pytest.raises(SpiceError, match=quoted) as info:
        run_netlist(netlist, timeout_s=30)
    assert str(netlist) in str(info.value)


@pytest.mark.ngspice
@needs_ngspice
def test_timeout_names_the_netlist() -> None:
    slow = "endless\nv1 a 0 sin(0 1 1e9)\nr1 a 0 1k\n.tran 1f 1u 0 1f\n.end\n"
    with pytest.raises(SpiceError, match=re.escape("timed out after 0.5 s on netlist 'endless'")):
        run_netlist(slow, timeout_s=0.5)


@pytest.mark.ngspice
@needs_ngspice
def test_run_many_raises_the_failing_netlist() -> None:
    texts = [_rc("good", 1.0), "bad one\nr1 a 0 1k foo\n.tran 1p 1n\n.end\n"]
    with pytest.raises(SpiceError, match="netlist 'bad one'"):
        run_many(texts, processes=2, progress=False)


def test_text_without_newline_is_not_guessed_as_a_path(tmp_path: Path) -> None:
    with pytest.raises(SpiceError, match="pass Path"):
        run_netlist(str(tmp_path / "x.cir"))


def test_tran_line_and_check_tran() -> None:
    line = tran_line(40e-9, 1e9)
    assert line == ".tran 1.000000e-11 4.000000e-08 0 1.000000e-11 uic"
    assert check_tran(f"t\n{line}\n.end\n", 1e9) == pytest.approx(1e-11)
    assert check_tran("t\n.tran 5p 40n\n.end\n", 1e9) == pytest.approx(5e-12)
    assert check_tran("t\n.TRAN 20p\n+ 40ns 0 8ps UIC ; fine\n.end\n", 1e9) == pytest.approx(8e-12)
    assert check_tran("t\n.tran 1n 4u\n.end\n", 10e6) == pytest.approx(1e-9)
    with pytest.raises(ValueError, match=">= 100"):
        tran_line(40e-9, 1e9, steps_per_cycle=50)
    with pytest.raises(SpiceError, match=r"no \.tran line"):
        check_tran(".tran 1p 1n is only the title line\n.end\n", 1e9)


@pytest.mark.parametrize(
    ("tran", "message"),
    [
        (".tran 20p 40n 0 20p uic", "coarser than T_ref/100"),
        (".tran 20p 40n", "coarser than T_ref/100"),
        (".tran 1p 1u 0 0.02n", "coarser than T_ref/100"),
        (".tran 10p", "needs TSTEP and TSTOP"),
        (".tran {tstep} 40n", "cannot read"),
        ("* no analysis", "no .tran line"),
    ],
)
def test_check_tran_rejects(tran: str, message: str) -> None:
    with pytest.raises(SpiceError, match=message):
        check_tran(f"title\n{tran}\n.end\n", 1e9, "netlist x.cir")
