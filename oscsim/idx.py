"""IDX files (the MNIST format): the reader, and data sets made of four such files.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the number of
dimensions), one big-endian uint32 per dimension, then the big-endian payload.
Checksums are taken over the decompressed bytes, so a re-compressed copy of a
canonical file still verifies. `IdxSpec` describes a train/test set of four IDX
files; `probe_folder` and `read_split` find and read one in a folder.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GENERIC_FIX = (
    "replace it with a fresh copy (`oscsim data fetch mnist` or `fashion-mnist`, or "
    "`apt-get install --reinstall dataset-fashion-mnist` for Debian's copy)"
)
_IDX_FILES = MappingProxyType(
    {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }
)
_PROBE_FILE = "t10k-labels-idx1-ubyte"  # smallest file: tells which data set a folder holds


@dataclass(frozen=True)
class IdxSpec:
    """A data set stored as the four standard IDX files, found on disk or downloaded.

    `md5` maps each decompressed file name to its md5; `mirrors` are base URLs
    holding `<file>.gz`; `debian_package` installs it under /usr/share/datasets.
    """

    name: str
    md5: Mapping[str, str]
    mirrors: tuple[str, ...]
    debian_package: str | None = None
    image_shape: tuple[int, int] = (28, 28)
    num_classes: int = 10
    files: Mapping[str, tuple[str, str]] = field(default_factory=lambda: _IDX_FILES)

    def __post_init__(self) -> None:
        for name in ("md5", "files"):  # read-only views, so the spec stays frozen
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        missing = {f for pair in self.files.values() for f in pair} - set(self.md5)
        if missing:
            raise ValueError(f"data set {self.name!r}: no md5 for {sorted(missing)}")

    @property
    def splits(self) -> tuple[str, ...]:
        """The split names, e.g. ("train", "test")."""
        return tuple(self.files)

    def fix_hint(self) -> str:
        """How a user replaces a missing or corrupt copy."""
        hint = f"re-download it with `oscsim data fetch {self.name}`"
        if self.debian_package:
            hint += f" or reinstall `apt-get install --reinstall {self.debian_package}`"
        return hint


def read_idx(path: str | Path, md5: str | None = None, *, fix: str | None = None) -> np.ndarray:
    """Read an IDX file into a native-endian array, verifying its md5 when given.

    Args:
        path: the file, gzip-compressed or plain (recognised by content, not by name).
        md5: expected md5 hex digest of the decompressed bytes, or None to skip the check.
        fix: how to repair the file, appended to every error (a generic hint if None).

    Returns:
        The array, shaped by the file's dimensions (e.g. uint8 [N, 28, 28] for images).

    Raises:
        DataError: the file is missing, unreadable, truncated, corrupt or not IDX.
    """
    path, fix = Path(path), fix or _GENERIC_FIX
    data = _decompressed_bytes(path, fix)
    if md5 is not None:
        actual = hashlib.md5(data).hexdigest()
        if actual != md5:
            raise DataError(
                f"{path}: md5 of the decompressed data is {actual}, expected {md5} "
                f"(corrupt or not the expected file); {fix}"
            )
    return _parse(data, path, fix)


def idx_path(folder: Path, base: str) -> Path:
    """`<base>.gz` if present, else `<base>` if present, else the `.gz` name (for errors)."""
    gz = folder / f"{base}.gz"
    return folder / base if not gz.exists() and (folder / base).exists() else gz


def probe_folder(spec: IdxSpec, folder: Path) -> str | None:
    """None if `folder` holds all of `spec`'s files, else why not."""
    if not folder.is_dir():
        return "no such folder"
    missing = [f for f in spec.md5 if not idx_path(folder, f).exists()]
    if len(missing) == len(spec.md5):
        return "holds none of the files"
    if missing:
        return "missing " + ", ".join(f"{f}[.gz]" for f in missing)
    try:
        read_idx(idx_path(folder, _PROBE_FILE), spec.md5[_PROBE_FILE])
    except DataError:
        return f"{_PROBE_FILE} does not verify (another data set, or corrupt: {spec.fix_hint()})"
    return None


def read_split(spec: IdxSpec, split: str, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and verify the images and labels of one split from `folder`."""
    images_file, labels_file = spec.files[split]
    fix = spec.fix_hint()
    images = read_idx(idx_path(folder, images_file), spec.md5[images_file], fix=fix)
    labels = read_idx(idx_path(folder, labels_file), spec.md5[labels_file], fix=fix)
    return images, labels


def _decompressed_bytes(path: Path, fix: str) -> bytes:
    """Return the file's bytes, gunzipped if they start with the gzip magic."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc}); {fix}") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip data ({exc}); {fix}") from None


def _parse(data: bytes, path: Path, fix: str) -> np.ndarray:
    """Parse the IDX header and payload, checking the payload size exactly."""
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _DTYPES:
        raise DataError(
            f"{path}: not an IDX file (magic {data[:4].hex() or 'empty'}, expected "
            f"0000 + dtype code + ndims); {fix}"
        )
    dtype, ndims = _DTYPES[data[2]], data[3]
    header_bytes = 4 + 4 * ndims
    if ndims == 0 or len(data) < header_bytes:
        raise DataError(f"{path}: IDX header truncated or with 0 dimensions; {fix}")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndims, offset=4))
    expected = header_bytes + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{path}: {len(data)} bytes, expected {expected} for an IDX array of shape "
            f"{dims} ({'truncated' if len(data) < expected else 'trailing data'}); {fix}"
        )
    payload = np.frombuffer(data, dtype, offset=header_bytes).reshape(dims)
    return payload.astype(dtype.newbyteorder("="))
