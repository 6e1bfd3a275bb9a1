"""IDX reader, data-set search and loading, digits14: on the real shared files and broken copies."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from oscsim import data
from oscsim.data import (
    DATASETS,
    Dataset,
    build_digits14,
    content_sha256,
    dataset_info,
    find_dataset_dir,
    load_dataset,
)
from oscsim.errors import DataError
from oscsim.idx import read_idx

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_MD5 = DATASETS["mnist"].md5
LABELS = "t10k-labels-idx1-ubyte"


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty HOME, no OSCSIM_DATA and an empty system folder: only what a test provides."""
    home, system = tmp_path / "home", tmp_path / "system"
    home.mkdir()
    system.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("OSCSIM_DATA", raising=False)
    monkeypatch.setattr(data, "_SYSTEM_DIR", system)
    return tmp_path


def _link_files(src: Path, dst: Path) -> Path:
    """Make `dst` a folder of symlinks to the four IDX files of `src`."""
    dst.mkdir(parents=True)
    for file in MNIST_MD5:
        (dst / f"{file}.gz").symlink_to(src / f"{file}.gz")
    return dst


def _write_idx(path: Path, array: np.ndarray, code: int) -> None:
    """Write `array` as an IDX file by hand (magic, big-endian dims, big-endian payload)."""
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(header + array.astype(array.dtype.newbyteorder(">")).tobytes())


def _raises_clean(path: Path, md5: str | None, match: str) -> DataError:
    """read_idx must raise a DataError naming the file, with no chained low-level traceback."""
    with pytest.raises(DataError, match=match) as info:
        read_idx(path, md5)
    assert str(path) in str(info.value)
    error = info.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return error


def test_read_idx_shared_mnist(shared_mnist: Path) -> None:
    for split, n in (("train", 60000), ("t10k", 10000)):
        images = read_idx(
            shared_mnist / f"{split}-images-idx3-ubyte.gz", MNIST_MD5[f"{split}-images-idx3-ubyte"]
        )
        labels = read_idx(
            shared_mnist / f"{split}-labels-idx1-ubyte.gz", MNIST_MD5[f"{split}-labels-idx1-ubyte"]
        )
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (n,) and set(np.unique(labels)) == set(range(10))
        assert images.max() == 255 and images.min() == 0
    assert labels[:3].tolist() == [7, 2, 1]  # the well-known first MNIST test digits


def test_read_idx_plain_file_equals_gzip(shared_mnist: Path, tmp_path: Path) -> None:
    plain = tmp_path / LABELS
    plain.write_bytes(gzip.decompress((shared_mnist / f"{LABELS}.gz").read_bytes()))
    from_plain = read_idx(plain, MNIST_MD5[LABELS])
    np.testing.assert_array_equal(from_plain, read_idx(shared_mnist / f"{LABELS}.gz"))


@pytest.mark.parametrize(
    ("dtype", "code"),
    [("u1", 0x08), ("i1", 0x09), ("i2", 0x0B), ("i4", 0x0C), ("f4", 0x0D), ("f8", 0x0E)],
)
def test_read_idx_synthetic_dtypes(tmp_path: Path, dtype: str, code: int) -> None:
    array = (np.arange(2 * 3 * 5).reshape(2, 3, 5) - 7).astype(dtype) * (
        3 if dtype[0] != "u" else 1
    )
    _write_idx(tmp_path / "a.idx", array, code)
    got = read_idx(tmp_path / "a.idx")
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)


def _flip(raw: bytes, at: int) -> bytes:
    return raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :]


@pytest.mark.parametrize(
    ("case", "use_md5", "match"),
    [
        ("truncated-gzip", True, "corrupt or truncated gzip"),
        ("flipped-gzip-byte", True, "gzip|md5"),
        ("flipped-plain-byte", True, "md5 of the decompressed data"),
        ("wrong-magic", False, "not an IDX file"),
        ("wrong-dtype", False, "not an IDX file"),
        ("wrong-ndims", False, "expected 1175718400012 for an IDX array of shape"),
        ("truncated-plain", False, "truncated"),
        ("trailing-plain", False, "trailing data"),
        ("empty", False, "not an IDX file"),
        ("missing", False, "cannot read"),
    ],
)
def test_read_idx_bad_files(
    shared_mnist: Path, tmp_path: Path, case: str, use_md5: bool, match: str
) -> None:
    gz = (shared_mnist / f"{LABELS}.gz").read_bytes()
    plain = gzip.decompress(gz)
    bad = {
        "truncated-gzip": gz[: len(gz) // 2],
        "flipped-gzip-byte": _flip(gz, len(gz) // 2),
        "flipped-plain-byte": _flip(plain, 5000),
        "wrong-magic": b"\x12\x34" + plain[2:],
        "wrong-dtype": b"\x00\x00\x07" + plain[3:],
        "wrong-ndims": plain[:3] + b"\x02" + plain[4:],
        "truncated-plain": plain[:-1],
        "trailing-plain": plain + b"\x00",
        "empty": b"",
    }
    path = tmp_path / f"{LABELS}.gz"
    if case in bad:
        path.write_bytes(bad[case])
    error = _raises_clean(path, MNIST_MD5[LABELS] if use_md5 else None, match)
    assert "oscsim data fetch" in str(error)


def test_load_corrupt_file_names_fix(shared_mnist: Path, isolated: Path) -> None:
    folder = _link_files(shared_mnist, isolated / "mnist")
    target = folder / "train-labels-idx1-ubyte.gz"
    raw = target.read_bytes()
    target.unlink()
    target.write_bytes(raw[:-100])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz") as info:
        load_dataset("mnist", "train", data_dir=folder)
    assert "oscsim data fetch mnist" in str(info.value)
    assert len(load_dataset("mnist", "test", data_dir=folder)) == 10000


def test_search_order(shared_mnist: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arg = _link_files(shared_mnist, isolated / "arg")
    env = _link_files(shared_mnist, isolated / "env" / "mnist")
    cache = _link_files(shared_mnist, isolated / "home" / ".cache" / "oscsim" / "mnist")
    monkeypatch.setenv("OSCSIM_DATA", str(env.parent))
    assert find_dataset_dir("mnist", arg) == arg
    assert find_dataset_dir("mnist", isolated / "nothing-here") == env
    monkeypatch.setenv("OSCSIM_DATA", str(env))  # pointing straight at the files works too
    assert find_dataset_dir("mnist") == env
    monkeypatch.delenv("OSCSIM_DATA")
    assert find_dataset_dir("mnist") == cache
    assert load_dataset("mnist", "test").source == str(cache)


def test_search_skips_folder_of_another_data_set(
    shared_mnist: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSCSIM_DATA", str(shared_mnist))  # MNIST files, same names as Fashion's
    with pytest.raises(DataError, match=f"{LABELS} does not verify"):
        find_dataset_dir("fashion-mnist")


def test_missing_data_lists_places_and_ways(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSCSIM_DATA", str(isolated / "env"))
    with pytest.raises(DataError) as info:
        load_dataset("fashion-mnist", data_dir=isolated / "arg")
    message = str(info.value)
    for place in (
        "arg/fashion-mnist",
        "arg",
        "env/fashion-mnist",
        "env",
        "home/.cache/oscsim/fashion-mnist",
        "system/fashion-mnist",
    ):
        assert f"{isolated / place}: no such folder" in message
    for way in (
        "oscsim data fetch fashion-mnist",
        "apt-get install dataset-fashion-mnist",
        "--data-dir",
        "OSCSIM_DATA",
    ):
        assert way in message
    with pytest.raises(DataError) as info:
        load_dataset("mnist")
    assert "oscsim data fetch mnist" in str(info.value) and "apt-get" not in str(info.value)


def test_unknown_name_and_split_list_valid_ones() -> None:
    with pytest.raises(DataError, match="mnist, fashion-mnist, digits14"):
        load_dataset("cifar10")
    with pytest.raises(DataError, match="valid: train, test"):
        load_dataset("digits14", "validation")


def test_dataset_checks_itself() -> None:
    images = np.zeros((3, 4, 4), np.uint8)
    with pytest.raises(DataError, match="uint8"):
        Dataset("x", "train", images.astype(np.float32), np.zeros(3, np.int64), "here")
    with pytest.raises(DataError, match="int64"):
        Dataset("x", "train", images, np.zeros(2, np.int64), "here")
    images[0, 0, 0] = 255
    dataset = Dataset("x", "train", images, np.zeros(3, np.int64), "here")
    floats = dataset.as_float()
    assert floats.dtype == np.float32 and floats.shape == (3, 4, 4)
    assert floats.max() == 1.0 and floats.min() == 0.0 and len(dataset) == 3
    assert dataset.image_shape == (4, 4)


def test_digits14_loads_balanced_and_verified() -> None:
    for split, n in (("train", 6000), ("test", 1000)):
        dataset = load_dataset("digits14", split)
        assert dataset.images.shape == (n, 14, 14) and dataset.images.dtype == np.uint8
        assert dataset.labels.dtype == np.int64
        assert np.bincount(dataset.labels).tolist() == [n // 10] * 10
        assert 0 < dataset.as_float().mean() < 0.5
    assert DATASETS["digits14"].path.stat().st_size < 600_000
    with np.load(DATASETS["digits14"].path) as npz:
        assert content_sha256(dict(npz)) == DATASETS["digits14"].content_sha256


def test_digits14_regenerates_identically(shared_mnist: Path) -> None:
    rebuilt = build_digits14(shared_mnist)
    with np.load(DATASETS["digits14"].path) as npz:
        shipped = dict(npz)
    assert rebuilt.keys() == shipped.keys()
    for key in shipped:
        np.testing.assert_array_equal(rebuilt[key], shipped[key], err_msg=key)
        assert rebuilt[key].dtype == shipped[key].dtype


def test_digits14_images_are_pooled_mnist(shared_mnist: Path) -> None:
    """Every digits14 test image is a 2x2 mean (rounded half up) of an MNIST test image."""
    images = read_idx(shared_mnist / "t10k-images-idx3-ubyte.gz").astype(np.float64)
    labels = read_idx(shared_mnist / f"{LABELS}.gz")
    pooled = np.floor(images.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)) + 0.5).astype(np.uint8)
    lookup = {img.tobytes(): int(lab) for img, lab in zip(pooled, labels, strict=True)}
    digits = load_dataset("digits14", "test")
    found = [lookup.get(img.tobytes()) for img in digits.images]
    assert found == digits.labels.tolist()


def test_digits14_tampered_or_broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with np.load(DATASETS["digits14"].path) as npz:
        arrays = dict(npz)
    arrays["train_images"][0, 7, 7] ^= 1
    np.savez_compressed(tmp_path / "digits14.npz", **arrays)
    monkeypatch.setattr(data, "_DATA_FILES", tmp_path)
    with pytest.raises(DataError, match="content sha256"):
        load_dataset("digits14")
    (tmp_path / "digits14.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match=r"cannot read.*make_digits14"):
        load_dataset("digits14")


def test_dataset_info_is_json_safe(shared_mnist: Path, isolated: Path) -> None:
    info = json.loads(json.dumps(dataset_info("mnist", shared_mnist)))
    assert info == {
        "name": "mnist",
        "splits": {"train": 60000, "test": 10000},
        "image_shape": [28, 28],
        "source": str(shared_mnist.absolute()),
        "checksums_verified": True,
    }
    assert json.loads(json.dumps(dataset_info("digits14")))["splits"] == {
        "train": 6000,
        "test": 1000,
    }


def test_fashion_mnist_from_debian(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not (FASHION_DIR / f"{LABELS}.gz").exists():
        pytest.skip(
            "Debian package dataset-fashion-mnist not installed (/usr/share/datasets/fashion-mnist)"
        )
    monkeypatch.setattr(data, "_SYSTEM_DIR", FASHION_DIR.parent)
    info = dataset_info("fashion-mnist")
    assert info["source"] == str(FASHION_DIR)
    assert info["splits"] == {"train": 60000, "test": 10000}
    test = load_dataset("fashion-mnist", "test")
    assert np.bincount(test.labels).tolist() == [1000] * 10
