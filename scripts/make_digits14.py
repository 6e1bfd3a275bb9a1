"""Make oscsim/data_files/digits14.npz, the embedded 14x14 digits, from the MNIST IDX files.

Usage: python scripts/make_digits14.py [MNIST_DIR] [--out PATH]

MNIST_DIR defaults to ../shared/data/mnist next to the repository if that exists, else
to wherever `oscsim.data.find_dataset_dir("mnist")` finds MNIST. The arrays are
deterministic (`oscsim.data.build_digits14`); the npz bytes are not (zip timestamps), so
the script prints the content sha256 that `oscsim.data.DATASETS["digits14"]` must hold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from oscsim.atomic import atomic_path
from oscsim.data import DATASETS, build_digits14, content_sha256, find_dataset_dir
from oscsim.errors import OscsimError

_SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def main(argv: list[str] | None = None) -> int:
    """Build the arrays, write the npz atomically, print counts and the content hash."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mnist_dir", nargs="?", type=Path)
    parser.add_argument("--out", type=Path, default=DATASETS["digits14"].path)
    args = parser.parse_args(argv)
    try:
        mnist_dir = args.mnist_dir or (
            _SHARED_MNIST if _SHARED_MNIST.is_dir() else find_dataset_dir("mnist")
        )
        arrays = build_digits14(mnist_dir)
    except OscsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with atomic_path(args.out) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    for key, array in arrays.items():
        print(f"{key}: {array.dtype} {array.shape}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    print(f"content sha256: {content_sha256(arrays)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
