"""Data sets: a registry of IDX image sets and the embedded digits14, found, verified, loaded.

MNIST and Fashion-MNIST are the four standard IDX files each, searched for on disk
(see `find_dataset_dir`) and verified by the md5 of their decompressed bytes.
digits14 ships inside the package: 14x14 MNIST digits for demos and fast tests,
verified by a sha256 over its array contents (npz bytes carry zip timestamps).
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError
from .idx import IdxSpec, probe_folder, read_split

_DATA_FILES = Path(__file__).resolve().parent / "data_files"
_SYSTEM_DIR = Path("/usr/share/datasets")
_DIGITS14_SEED = 14
_DIGITS14_PER_CLASS = {"train": 600, "test": 100}


@dataclass(frozen=True)
class EmbeddedSpec:
    """A small data set shipped inside the package as an npz of uint8 arrays.

    The npz holds `<split>_images` and `<split>_labels`; `content_sha256` is
    `content_sha256()` of all of them.
    """

    name: str
    resource: str
    content_sha256: str
    image_shape: tuple[int, int]
    num_classes: int = 10
    splits: tuple[str, ...] = ("train", "test")

    @property
    def path(self) -> Path:
        """The npz file inside the installed package."""
        return _DATA_FILES / self.resource

    def fix_hint(self) -> str:
        """How a user replaces a missing or corrupt copy."""
        return "reinstall oscsim, or regenerate it with `python scripts/make_digits14.py`"


DATASETS: dict[str, IdxSpec | EmbeddedSpec] = {
    "mnist": IdxSpec(
        name="mnist",
        md5={
            "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
    ),
    "fashion-mnist": IdxSpec(
        name="fashion-mnist",
        # md5 of the decompressed files of Debian's dataset-fashion-mnist
        # 0.0~git20200523.55506a9-1 (/usr/share/datasets/fashion-mnist/*.gz, `zcat | md5sum`);
        # they equal the raw-file md5s torchvision lists for upstream Fashion-MNIST.
        md5={
            "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
            "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
            "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
        debian_package="dataset-fashion-mnist",
    ),
    "digits14": EmbeddedSpec(
        name="digits14",
        resource="digits14.npz",
        content_sha256="696e48895c22db899528d9f50b299b0ddfdd1e7a38fc171b54d07a3f3e9d330d",
        image_shape=(14, 14),
    ),
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """One split of a data set: uint8 images [N, H, W] and int64 labels [N].

    Compared and hashed by identity (`eq=False`): element-wise array equality is not a bool.
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    source: str

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 3:
            raise DataError(
                f"{self.source}: images must be uint8 [N, H, W], got {self.images.dtype} "
                f"{self.images.shape}"
            )
        if self.labels.dtype != np.int64 or self.labels.shape != self.images.shape[:1]:
            raise DataError(
                f"{self.source}: labels must be int64 [{len(self.images)}], got "
                f"{self.labels.dtype} {self.labels.shape}"
            )

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of every image."""
        return (int(self.images.shape[1]), int(self.images.shape[2]))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def as_float(self) -> np.ndarray:
        """Images as float32 in [0, 1], [N, H, W] (the generator's pixel range)."""
        return self.images.astype(np.float32) / np.float32(255.0)


def load_dataset(name: str, split: str = "train", data_dir: str | Path | None = None) -> Dataset:
    """Load one split of a registered data set, verifying its checksums.

    Args:
        name: a key of `DATASETS` ("mnist", "fashion-mnist", "digits14").
        split: "train" or "test".
        data_dir: a folder to search first (see `find_dataset_dir`); unused for digits14.

    Raises:
        DataError: unknown name or split, data not found, or a file fails verification.
    """
    spec = _spec(name)
    if split not in spec.splits:
        raise DataError(f"unknown split {split!r} of {name}; valid: {', '.join(spec.splits)}")
    if isinstance(spec, EmbeddedSpec):
        arrays = _load_embedded(spec)
        images, labels, source = arrays[f"{split}_images"], arrays[f"{split}_labels"], spec.path
    else:
        source = find_dataset_dir(name, data_dir)
        images, labels = read_split(spec, split, source)
    return _checked_dataset(spec, split, images, labels, str(source))


def find_dataset_dir(name: str, data_dir: str | Path | None = None) -> Path:
    """Return the folder holding a data set's files.

    Searched in order, the first folder holding all four files wins: `data_dir`
    (the CLI's `--data-dir`), then `$OSCSIM_DATA` (each either a parent of
    `<name>/` or the folder of the files themselves), `~/.cache/oscsim/<name>`
    (where `oscsim data fetch` writes), `/usr/share/datasets/<name>` (Debian).
    A folder whose test labels do not verify holds another data set and is skipped.

    Raises:
        DataError: nowhere holds the data set; lists every place searched and every
            way to provide the data.
    """
    spec = _spec(name)
    if isinstance(spec, EmbeddedSpec):
        return spec.path.parent
    searched = []
    for folder in _candidate_dirs(name, data_dir):
        problem = probe_folder(spec, folder)
        if problem is None:
            return folder
        searched.append(f"  {folder}: {problem}")
    ways = [
        f"  `oscsim data fetch {name}` (downloads into ~/.cache/oscsim/{name})",
        f"  `--data-dir DIR` or `data_dir=DIR`, DIR holding the files or a {name}/ folder",
        f"  `export OSCSIM_DATA=DIR`, DIR holding the files or a {name}/ folder",
    ]
    if spec.debian_package:
        ways.insert(1, f"  `apt-get install {spec.debian_package}` (into {_SYSTEM_DIR / name})")
    raise DataError(
        f"data set {name} not found. Searched:\n"
        + "\n".join(searched)
        + "\nProvide it by:\n"
        + "\n".join(ways)
    )


def dataset_info(name: str, data_dir: str | Path | None = None) -> dict[str, object]:
    """Load every split of a data set and describe it as a JSON-safe dict (`oscsim data info`)."""
    spec = _spec(name)
    splits = {split: load_dataset(name, split, data_dir) for split in spec.splits}
    first = next(iter(splits.values()))
    return {
        "name": name,
        "splits": {split: len(ds) for split, ds in splits.items()},
        "image_shape": list(first.image_shape),
        "source": first.source,
        "checksums_verified": True,
    }


def content_sha256(arrays: Mapping[str, np.ndarray]) -> str:
    """sha256 over names, dtypes, shapes and bytes of arrays, in sorted name order."""
    digest = hashlib.sha256()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def build_digits14(mnist_dir: str | Path) -> dict[str, np.ndarray]:
    """Make the digits14 arrays from the MNIST IDX files in `mnist_dir` (verified first).

    A seeded, class-balanced choice of MNIST images (600 per class from train, 100
    per class from test), 2x2 mean pooled to 14x14; labels stored as uint8.
    """
    rng = np.random.default_rng(_DIGITS14_SEED)
    arrays = {}
    for split, per_class in _DIGITS14_PER_CLASS.items():
        images, labels = read_split(DATASETS["mnist"], split, Path(mnist_dir))
        chosen = _balanced_choice(labels, per_class, rng)
        arrays[f"{split}_images"] = _pool2x2(images[chosen])
        arrays[f"{split}_labels"] = labels[chosen].astype(np.uint8)
    return arrays


def _spec(name: str) -> IdxSpec | EmbeddedSpec:
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; valid: {', '.join(DATASETS)}")
    return DATASETS[name]


def _candidate_dirs(name: str, data_dir: str | Path | None) -> list[Path]:
    """Folders to search, in priority order, without duplicates."""
    dirs: list[Path] = []
    for root in (data_dir, os.environ.get("OSCSIM_DATA") or None):
        if root is not None:
            root = Path(root).expanduser().absolute()
            dirs += [root / name, root]
    dirs += [Path.home() / ".cache" / "oscsim" / name, _SYSTEM_DIR / name]
    return list(dict.fromkeys(dirs))


def _load_embedded(spec: EmbeddedSpec) -> dict[str, np.ndarray]:
    """Read the embedded npz and check its content hash."""
    try:
        with spec.path.open("rb") as file, np.load(file) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{spec.path}: cannot read ({exc}); {spec.fix_hint()}") from None
    actual = content_sha256(arrays)
    if actual != spec.content_sha256:
        raise DataError(
            f"{spec.path}: content sha256 {actual}, expected {spec.content_sha256}; "
            f"{spec.fix_hint()}"
        )
    return arrays


def _checked_dataset(
    spec: IdxSpec | EmbeddedSpec, split: str, images: np.ndarray, labels: np.ndarray, source: str
) -> Dataset:
    """Build a Dataset, then check its image shape and label range against the spec."""
    try:
        dataset = Dataset(spec.name, split, images, labels.astype(np.int64), source)
    except DataError as exc:
        raise DataError(f"{exc}; {spec.fix_hint()}") from None
    if dataset.image_shape != spec.image_shape:
        raise DataError(
            f"{source}: {spec.name} {split} images are {dataset.image_shape}, expected "
            f"{spec.image_shape}; {spec.fix_hint()}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= spec.num_classes):
        raise DataError(
            f"{source}: {spec.name} {split} labels outside 0..{spec.num_classes - 1}; "
            f"{spec.fix_hint()}"
        )
    return dataset


def _pool2x2(images: np.ndarray) -> np.ndarray:
    """2x2 mean pooling of uint8 [N, H, W] (H, W even), rounded half up, back to uint8."""
    n, h, w = images.shape
    sums = images.reshape(n, h // 2, 2, w // 2, 2).sum(axis=(2, 4), dtype=np.uint16)
    return ((sums + 2) // 4).astype(np.uint8)


def _balanced_choice(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `per_class` random examples of every class, shuffled together."""
    chosen = [
        rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
        for c in range(int(labels.max()) + 1)
    ]
    return rng.permutation(np.concatenate(chosen))
