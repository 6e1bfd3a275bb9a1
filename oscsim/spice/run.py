"""Run ngspice in batch mode, one process per netlist, and read back its binary raw file.

Each run gets its own directory holding a ``.spiceinit`` (``set num_threads=1``; optionally
``set ngbehavior=hsa`` for SKY130 models) and calls ``ngspice -b -r out.raw <netlist>``. PySpice's
own subprocess mode is not used: it breaks on ngspice 39.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from functools import partial
from pathlib import Path
from typing import IO, NamedTuple

from tqdm import tqdm

from oscsim.errors import SpiceError
from oscsim.spice.format import spice_float
from oscsim.spice.raw import RawFile, read_raw

NGSPICE_ENV = "OSCSIM_NGSPICE"
MIN_STEPS_PER_CYCLE = 100

_FAILURE = re.compile(
    r"timestep too small|singular matrix|simulation\(s\) aborted|simulation interrupted"
    r"|circuit not parsed|could not find|fatal|^\s*error\b",
    re.IGNORECASE | re.MULTILINE,
)
_REFERENCE = re.compile(rb"Reference value\s*:\s*([-+]?\d+\.?\d*(?:[eE][-+]?\d+)?)(?=\s)")
"""What ``ngspice -b`` writes to stderr as a transient goes on: the simulated time, s."""
_REFRESH_S = 1.0  # the ngspice bar is redrawn at most this often: an hour's log stays short
_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n:.2f}/{total} runs [{elapsed}<{remaining}]"
"""Runs as a float: the ones in flight count by the share of their transient simulated."""
_STOP = re.compile(r"condition met: stop", re.IGNORECASE)
_INTERRUPTED = re.compile(r"simulation interrupted", re.IGNORECASE)
"""A ``.control`` block's ``stop when time = ...`` interrupts the run once per breakpoint (and
``resume`` continues it); only interruptions beyond those are failures."""
_NUMBER = re.compile(
    r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(meg|mil|[tgkmunpfa])?[a-z]*\Z", re.I
)
_SUFFIX = {
    "t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "m": 1e-3, "mil": 25.4e-6,
    "u": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15, "a": 1e-18,
}  # fmt: skip


def find_ngspice(ngspice: str | Path | None = None) -> str:
    """Path of the ngspice executable: ``ngspice``, else ``$OSCSIM_NGSPICE``, else ``PATH``.

    Raises:
        SpiceError: not found, with how to install it.
    """
    wanted = str(ngspice or os.environ.get(NGSPICE_ENV) or "ngspice")
    found = shutil.which(wanted)
    if found is None:
        raise SpiceError(
            f"ngspice not found (looked for {wanted!r}); install it with "
            f"`apt-get install ngspice` (Debian/Ubuntu) or set {NGSPICE_ENV} to its path"
        )
    return found


def run_netlist(
    netlist: str | Path,
    timeout_s: float = 300.0,
    workdir: str | Path | None = None,
    *,
    ngspice: str | Path | None = None,
    hsa: bool = False,
    f_ref_hz: float | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> RawFile:
    """Simulate one netlist with ``ngspice -b -r out.raw`` and return its raw file.

    Args:
        netlist: a netlist file (``Path``), or netlist text (a ``str`` with a newline). Relative
            ``.include`` paths resolve from the file's directory, or from ``workdir`` for text.
        timeout_s: wall-clock limit, s.
        workdir: directory to run in and keep (``.spiceinit``, ``out.raw``, ``ngspice.log``, and
            ``netlist.cir`` for text); default a temporary directory removed afterwards.
        ngspice: executable to use (default: see ``find_ngspice``).
        hsa: add ``set ngbehavior=hsa`` (needed by the SKY130 models).
        f_ref_hz: if given, first check the ``.tran`` max step with ``check_tran``.
        on_progress: called from the runner with the fraction of the ``.tran`` simulated so
            far (0 to 1) each time ngspice reports its time, so an hour-long run shows progress.

    Raises:
        SpiceError: ngspice missing, a failed or non-converging run, a timeout, no raw file;
            the message names the netlist and quotes ngspice.
    """
    text, label, source = _load(netlist)
    exe = find_ngspice(ngspice)
    if f_ref_hz is not None:
        check_tran(text, f_ref_hz, label)
    report = None if on_progress is None else _progress_reporter(text, on_progress)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="oscsim-ngspice-") as tmp:
            return _run_in(Path(tmp), exe, text, label, source, timeout_s, hsa, report)
    run_dir = Path(workdir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return _run_in(run_dir, exe, text, label, source, timeout_s, hsa, report)


def _progress_reporter(
    text: str, on_progress: Callable[[float], None]
) -> Callable[[float], None] | None:
    """Simulated time (s) → ``on_progress(fraction of the longest .tran)``; None without a
    readable ``.tran`` (no progress then: ``check_tran`` is the place to refuse a netlist)."""
    try:
        stop = max(t.stop for t in _tran_lines(text, "netlist"))
    except SpiceError:
        return None
    if stop <= 0:
        return None
    return lambda t: on_progress(min(max(t / stop, 0.0), 1.0))


def core_share(start: float, end: float, spans: Iterable[tuple[float, float]]) -> float:
    """Seconds of the run ``[start, end]`` with each moment split evenly among the runs going
    then (``spans``, this one among them; a run still going ends at ``inf``). Summed over runs
    this is the wall time during which any ran: each run's share of the cores it ran on."""
    near = [(s, e) for s, e in spans if s < end and e > start]
    cuts = sorted({start, end, *(t for span in near for t in span if start < t < end)})
    share = 0.0
    for a, b in itertools.pairwise(cuts):
        going = sum(1 for s, e in near if s <= a and e >= b)
        share += (b - a) / max(going, 1)
    return share


def run_each(
    netlists: Sequence[str | Path],
    processes: int | None = None,
    timeout_s: float = 300.0,
    *,
    progress: bool = True,
    **kwargs: object,
) -> Iterator[tuple[int, RawFile, float]]:
    """Simulate many netlists, at most ``processes`` ngspice processes at once, yielding
    ``(index, raw file, seconds)`` as each run ends; ``seconds`` is the run's wall time split
    with the runs beside it (``core_share``), so the seconds of all runs add up to the wall time.

    Each netlist is its own ngspice process; a thread pool (``concurrent.futures``) only starts
    them and reads their raw files, so nothing is pickled and torch is never re-imported in
    workers. Only the runs in flight are held, so memory does not grow with the netlists, and a
    caller that keeps each result as it comes loses at most the runs in flight to an
    interruption. ``kwargs`` go to ``run_netlist`` (not ``workdir``: each run needs its own).
    With ``progress`` a bar counts the runs, those in flight by the share of their transient
    simulated so far, so its time left holds from the first minutes of hour-long runs.

    Raises:
        SpiceError: the first run to fail; no further run is started.
    """
    if "workdir" in kwargs:
        raise ValueError("run_each gives each netlist its own temporary directory; drop workdir")

    def timed(index: int, netlist: str | Path) -> RawFile:
        with lock:
            spans[index] = (time.perf_counter(), math.inf)
        try:
            return run_netlist(netlist, timeout_s, on_progress=partial(advance, index), **kwargs)
        finally:
            with lock:
                spans[index] = (spans[index][0], time.perf_counter())

    def advance(index: int, fraction: float) -> None:
        """Show the runs in flight by how much of their transient is done (bar in runs)."""
        with lock:
            simulated[index] = fraction
            # set, not summed step by step: float drift carried the bar past its total; a sum
            # of fractions each <= 1 rounds to at most the number of runs, and to it when done
            bar.n = sum(simulated.values())
            bar.update(0)  # redrawn at most every _REFRESH_S: an hour's log stays short

    queue = iter(enumerate(netlists))
    spans: dict[int, tuple[float, float]] = {}
    simulated: dict[int, float] = {}  # fraction of each started run's transient done
    lock = threading.Lock()
    running: dict[Future[RawFile], int] = {}
    workers = processes or os.cpu_count() or 1
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        tqdm(
            total=len(netlists),
            desc="ngspice",
            bar_format=_BAR,
            mininterval=_REFRESH_S,
            miniters=0,
            disable=not progress,
        ) as bar,
    ):

        def start_next() -> None:
            item = next(queue, None)
            if item is not None:
                running[pool.submit(timed, *item)] = item[0]

        for _ in range(workers):
            start_next()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=running.__getitem__):
                index = running.pop(future)
                raw = future.result()  # a failure ends the loop: nothing more starts
                advance(index, 1.0)
                start_next()
                with lock:
                    seconds = core_share(*spans[index], list(spans.values()))
                yield index, raw, seconds


def run_many(
    netlists: Sequence[str | Path],
    processes: int | None = None,
    timeout_s: float = 300.0,
    *,
    progress: bool = True,
    **kwargs: object,
) -> list[RawFile]:
    """Simulate many netlists as ``run_each`` does and return their raw files in input order.

    Raises:
        SpiceError: the first run to fail; no further run is started.
    """
    raws: dict[int, RawFile] = {}
    for index, raw, _ in run_each(netlists, processes, timeout_s, progress=progress, **kwargs):
        raws[index] = raw
    return [raws[i] for i in range(len(netlists))]


def tran_line(t_stop_s: float, f_ref_hz: float, steps_per_cycle: int = MIN_STEPS_PER_CYCLE) -> str:
    """``.tran`` line with print step = max step = ``T_ref / steps_per_cycle``, from 0, with uic.

    Raises:
        ValueError: ``steps_per_cycle`` below 100 (coarser steps move the attractor).
    """
    if steps_per_cycle < MIN_STEPS_PER_CYCLE:
        raise ValueError(f"steps_per_cycle must be >= {MIN_STEPS_PER_CYCLE}, got {steps_per_cycle}")
    if not (t_stop_s > 0 and f_ref_hz > 0):
        raise ValueError("t_stop_s and f_ref_hz must be > 0")
    step = spice_float(1.0 / (f_ref_hz * steps_per_cycle))
    return f".tran {step} {spice_float(t_stop_s)} 0 {step} uic"


def check_tran(netlist_text: str, f_ref_hz: float, label: str = "netlist") -> float:
    """Check that every ``.tran`` line limits the step to ``T_ref / 100``; return the max step, s.

    Without an explicit TMAX, ngspice's default ``min(TSTEP, (TSTOP - TSTART) / 50)`` is used.

    Raises:
        SpiceError: no ``.tran`` line, an unreadable one, or a max step coarser than T_ref/100.
    """
    limit = 1.0 / (f_ref_hz * MIN_STEPS_PER_CYCLE)
    trans = _tran_lines(netlist_text, label)
    for tran in trans:
        if tran.max_step > limit * (1.0 + 1e-9):
            raise SpiceError(
                f"{label}: .tran max step {tran.max_step:.4g} s is coarser than T_ref/100 = "
                f"{limit:.4g} s (coarser steps move the attractor); set TMAX, e.g. "
                f"{tran_line(tran.stop, f_ref_hz)!r}"
            )
    return max(tran.max_step for tran in trans)


class _Tran(NamedTuple):
    """One ``.tran`` line's stop time and its max step (ngspice's default when not given), s."""

    stop: float
    max_step: float


def _tran_lines(netlist_text: str, label: str) -> list[_Tran]:
    """Every ``.tran`` line of a netlist, read.

    Raises:
        SpiceError: no ``.tran`` line, or one without TSTEP and TSTOP or with a bad number.
    """
    trans = []
    for line in _logical_lines(netlist_text):
        words = line.split()
        if not words or words[0].lower() != ".tran":
            continue
        values = [_spice_number(w, label) for w in words[1:] if w.lower() != "uic"]
        if len(values) < 2:
            raise SpiceError(f"{label}: .tran needs TSTEP and TSTOP: {line!r}")
        tstep, tstop = values[0], values[1]
        tstart = values[2] if len(values) > 2 else 0.0
        tmax = values[3] if len(values) > 3 else min(tstep, (tstop - tstart) / 50.0)
        trans.append(_Tran(tstop, tmax))
    if not trans:
        raise SpiceError(f"{label}: no .tran line; add one, e.g. '.tran 10p 100n 0 10p uic'")
    return trans


def _load(netlist: str | Path) -> tuple[str, str, Path | None]:
    """Netlist text, a label for messages, and the file (None for text)."""
    if isinstance(netlist, Path):
        try:
            text = netlist.read_text()
        except OSError as exc:
            raise SpiceError(f"cannot read netlist {netlist}: {exc.strerror}") from None
        return text, f"netlist {netlist}", netlist.resolve()
    if "\n" not in netlist:
        raise SpiceError(
            f"netlist text must have a title line and more; to run a file pass Path({netlist!r})"
        )
    title = netlist.strip().splitlines()[0].strip() if netlist.strip() else ""
    return netlist, f"netlist {title!r} (text)", None


def _run_in(
    run_dir: Path,
    exe: str,
    text: str,
    label: str,
    source: Path | None,
    timeout_s: float,
    hsa: bool,
    report: Callable[[float], None] | None = None,
) -> RawFile:
    """Write ``.spiceinit`` (and the text netlist), run ngspice, check its log, read the raw;
    ``report`` gets each simulated time ngspice prints while it runs."""
    init = "set num_threads=1\n" + ("set ngbehavior=hsa\n" if hsa else "")
    (run_dir / ".spiceinit").write_text(init)
    if source is None:
        source = run_dir / "netlist.cir"
        source.write_text(text)
    raw_path = run_dir / "out.raw"
    raw_path.unlink(missing_ok=True)
    try:
        proc = subprocess.Popen(
            [exe, "-b", "-r", raw_path.name, str(source)],
            cwd=run_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise SpiceError(f"cannot start ngspice ({exe}) for {label}: {exc.strerror}") from None
    readers = [_Reader(proc.stdout), _Reader(proc.stderr, report)]
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise SpiceError(
            f"ngspice timed out after {timeout_s:g} s on {label}; "
            "shorten the .tran or raise timeout_s"
        ) from None
    except BaseException:  # interrupted: leave no ngspice running
        proc.kill()
        proc.wait()
        raise
    finally:
        log = "".join(reader.text() for reader in readers)
    (run_dir / "ngspice.log").write_text(log)
    failures = list(dict.fromkeys(m.group(0).strip() for m in _FAILURE.finditer(log)))
    if len(_INTERRUPTED.findall(log)) <= len(_STOP.findall(log)):
        failures = [f for f in failures if f.lower() != "simulation interrupted"]
    if proc.returncode != 0 or failures or not raw_path.exists():
        raise SpiceError(
            f"ngspice failed on {label} (exit code {proc.returncode}"
            + (f"; {', '.join(failures)}" if failures else "")
            + f"):\n{_quote(log)}"
        )
    return read_raw(raw_path)


class _Reader(threading.Thread):
    """Drains one ngspice output pipe while it runs (a full pipe would stall ngspice), passing
    each simulated time it prints to ``report``."""

    def __init__(self, pipe: IO[bytes], report: Callable[[float], None] | None = None) -> None:
        super().__init__(daemon=True)
        self.pipe, self.report, self.chunks = pipe, report, bytearray()
        self.start()

    def run(self) -> None:
        seen = 0
        with self.pipe:
            while chunk := self.pipe.read1(1 << 16):
                self.chunks += chunk
                if self.report is None:
                    continue
                times = _REFERENCE.findall(self.chunks, max(seen - 80, 0))
                seen = len(self.chunks)
                try:
                    if times:
                        self.report(float(times[-1]))
                except Exception:  # a progress display must never stop the draining
                    self.report = None

    def text(self) -> str:
        """Everything the pipe carried, once the process has ended and the pipe closed."""
        self.join()
        return self.chunks.decode(errors="replace")


def _quote(log: str, n_lines: int = 12) -> str:
    """ngspice's log from its first error keyword on (repeats dropped), else its last lines."""
    lines = list(dict.fromkeys(ln.rstrip() for ln in log.splitlines() if ln.strip()))
    first = next((i for i, ln in enumerate(lines) if _FAILURE.search(ln)), None)
    chosen = lines[first : first + n_lines] if first is not None else lines[-n_lines:]
    return "\n".join(f"  | {ln}" for ln in chosen) or "  | (ngspice printed nothing)"


def _logical_lines(text: str) -> list[str]:
    """Netlist lines after the title, with ``+`` continuations joined and comments dropped."""
    out: list[str] = []
    for raw in text.splitlines()[1:]:
        line = raw.split(";")[0].rstrip()
        if line.startswith("+") and out:
            out[-1] += " " + line[1:]
        elif line and not line.lstrip().startswith("*"):
            out.append(line.strip())
    return out


def _spice_number(word: str, label: str) -> float:
    """Value of a SPICE number such as ``10p``, ``1.5n``, ``2meg``, ``1e-9``."""
    match = _NUMBER.match(word)
    if match is None:
        raise SpiceError(f"{label}: cannot read {word!r} as a number in the .tran line")
    value = float(match.group(1)) * _SUFFIX.get((match.group(2) or "").lower(), 1.0)
    if not math.isfinite(value):
        raise SpiceError(f"{label}: {word!r} in the .tran line is not finite")
    return value
