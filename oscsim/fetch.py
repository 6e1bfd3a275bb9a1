"""Download the IDX files of a registered data set from public mirrors, verified and atomic.

Each file goes to a temporary name in the destination folder, is checked against the
md5 of its decompressed bytes, and only then renamed into place; a bad copy is deleted
and the next mirror tried. urllib only, so it works wherever Python does.
"""

from __future__ import annotations

import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from .atomic import atomic_path
from .data import DATASETS
from .errors import DataError
from .idx import IdxSpec, idx_path, read_idx

_CHUNK_BYTES = 1 << 16
_BAD_COPY = "deleted; this mirror's copy is bad"


def fetch(
    name: str,
    dest: str | Path | None = None,
    mirrors: Sequence[str] | None = None,
    timeout_s: float = 60.0,
    progress: bool = True,
) -> Path:
    """Download the four IDX files of `name` into `dest`, skipping files already valid there.

    Args:
        name: "mnist" or "fashion-mnist".
        dest: target folder; default `~/.cache/oscsim/<name>`, where `load_dataset` looks.
        mirrors: base URLs tried in order; default `$OSCSIM_MIRROR` (URLs separated by
            spaces or commas), else the registry's mirrors. `{name}` in a URL becomes `name`.
        timeout_s: socket timeout per connection and read, in seconds.
        progress: show a tqdm progress bar per file on stderr.

    Returns:
        The destination folder, holding `<file>.gz` for every file of the data set.

    Raises:
        DataError: unknown name, or some file could not be fetched from any mirror
            (the message lists each URL tried and its error).
    """
    spec = DATASETS.get(name)
    if not isinstance(spec, IdxSpec):
        fetchable = [n for n, s in DATASETS.items() if isinstance(s, IdxSpec)]
        what = "ships inside oscsim" if name in DATASETS else "is not a known data set"
        raise DataError(f"{name!r} {what}; data sets to fetch: {', '.join(fetchable)}")
    folder = Path(dest).expanduser() if dest is not None else _default_dest(name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create {folder} ({exc.strerror}); pick another dest") from None
    bases = _mirror_bases(spec, mirrors)
    for file in spec.md5:
        _fetch_file(spec, file, folder, bases, timeout_s, progress)
    return folder


def _default_dest(name: str) -> Path:
    return Path.home() / ".cache" / "oscsim" / name


def _mirror_bases(spec: IdxSpec, mirrors: Sequence[str] | None) -> list[str]:
    """Mirror base URLs in the order to try: argument, $OSCSIM_MIRROR, registry."""
    if mirrors is None:
        env = os.environ.get("OSCSIM_MIRROR", "")
        mirrors = [m for m in re.split(r"[\s,]+", env) if m] or spec.mirrors
    if not mirrors:
        raise DataError(f"no mirrors to fetch {spec.name} from; pass mirrors or set OSCSIM_MIRROR")
    return [m.replace("{name}", spec.name).rstrip("/") + "/" for m in mirrors]


def _fetch_file(
    spec: IdxSpec, file: str, folder: Path, bases: list[str], timeout_s: float, progress: bool
) -> None:
    """Make `folder` hold a verified copy of `file`, downloading `<file>.gz` if needed."""
    md5 = spec.md5[file]
    present = idx_path(folder, file)
    if present.exists():
        try:
            read_idx(present, md5)
            return
        except DataError:
            pass  # a bad or partial copy: download a good one over it
    if not os.access(folder, os.W_OK):
        raise DataError(f"cannot write in {folder}; pick another dest")
    errors = []
    for base in bases:
        url = f"{base}{file}.gz"
        try:
            with atomic_path(folder / f"{file}.gz") as tmp:  # kept only once verified
                _download(url, tmp, timeout_s, progress)
                read_idx(tmp, md5, fix=_BAD_COPY)
            return
        except (OSError, ValueError, http.client.HTTPException, DataError) as exc:
            errors.append(f"  {url}: {_describe(exc)}")
    raise DataError(
        f"could not fetch {file}.gz of {spec.name} into {folder}; tried:\n"
        + "\n".join(errors)
        + "\nFix: check the network, pass other mirrors (`mirrors=`, OSCSIM_MIRROR), or copy "
        "the four files into a folder and use `--data-dir` / OSCSIM_DATA"
        + (f", or `apt-get install {spec.debian_package}`" if spec.debian_package else "")
    )


def _download(url: str, target: Path, timeout_s: float, progress: bool) -> None:
    """Stream `url` into `target` with a progress bar."""
    request = urllib.request.Request(url, headers={"User-Agent": "oscsim"})
    with (
        urllib.request.urlopen(request, timeout=timeout_s) as response,
        target.open("wb") as out,
        tqdm(
            total=int(response.headers.get("Content-Length") or 0) or None,
            desc=url.rsplit("/", 1)[-1],
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            leave=False,
            disable=not progress,
        ) as bar,
    ):
        while chunk := response.read(_CHUNK_BYTES):
            out.write(chunk)
            bar.update(len(chunk))


def _describe(exc: Exception) -> str:
    """One line for an error: HTTP status, network reason, or the exception's message."""
    if isinstance(exc, urllib.error.HTTPError):
        exc.close()  # it holds the response body open
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"{exc.reason}"
    return str(exc) or type(exc).__name__
