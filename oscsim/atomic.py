"""Atomic file writes: a result is either the old file or the complete new one, never half."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import OscsimError
from .versions import versions


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented, key-sorted JSON atomically."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_results(path: str | Path, what: str) -> dict[str, Any]:
    """A benchmark's ``{"rows": [...], ...}`` JSON so far (no rows if ``path`` does not exist).

    Raises:
        OscsimError: the file is not JSON or has no row list (``what`` names the kind).
    """
    path = Path(path)
    if not path.exists():
        return {"rows": []}
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        results = None
    if not isinstance(results, dict) or not isinstance(results.get("rows"), list):
        raise OscsimError(
            f"{path} is not a {what} results file; move it away or choose another --out"
        )
    return results


@contextmanager
def locked_results(path: str | Path, what: str) -> Iterator[dict[str, Any]]:
    """``read_results(path)`` as it is on disk now, held under an exclusive lock on its folder
    until the block ends (write it inside), so several processes can merge rows into one file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(path.parent, os.O_RDONLY)  # the folder itself is the lock: no stray file
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield read_results(path, what)
    finally:
        os.close(lock)  # releases the lock


def merge_row(
    path: str | Path,
    row: dict[str, Any],
    keys: tuple[str, ...],
    what: str,
    markdown: Callable[[list[dict[str, Any]]], str],
) -> list[dict[str, Any]]:
    """Merge ``row`` into the ``{"rows", "versions"}`` results at ``path`` (``.json``), in place
    of any row equal to it on ``keys``, under ``locked_results``; write the JSON with this
    process's package versions and ``markdown(rows)`` beside it (``.md``). Returns the rows."""
    with locked_results(path, what) as results:
        key = tuple(row[k] for k in keys)
        rows = [r for r in results["rows"] if tuple(r.get(k) for k in keys) != key] + [row]
        write_json(path, {"rows": rows, "versions": versions()})
        write_text(Path(path).with_suffix(".md"), markdown(rows))
    return rows


def check_outputs_free(out_dir: Path, names: tuple[str, ...], force: bool) -> None:
    """Refuse to overwrite earlier results unless ``force`` (never lose work silently)."""
    taken = [n for n in names if (out_dir / n).exists()]
    if taken and not force:
        raise OscsimError(
            f"{out_dir} already holds {', '.join(taken)}; choose another --out or pass --force"
        )
