"""FID and KID of generated images on the penultimate features of oscsim's classifiers.

FID = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), in float64, with the trace of the
square root taken as the sum of square roots of the eigenvalues of S1^(1/2) S2 S1^(1/2)
(symmetric, so real; the same eigenvalues as S1 S2). KID is the unbiased MMD^2 with the
kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets, reported with its std.
Beside them, the classifier's verdict on the generated images: the fraction given to each class
and the entropy of those fractions over log(classes), 1 when the classes are equally common
(as in the test sets) and lower when the generator drops modes, which FID alone cannot tell
from bad images.
Generated images are compared with the data set's 10,000 test images by default, whose
features are computed once per process.

Images: float [N, H, W] in [0, 1], white digit on black (the data sets' ``as_float()``).
Features: float64 [N, D].
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .classifier import load_classifier, shipped_classifier
from .data import load_dataset
from .errors import DataError, ModelFileError, OscsimError
from .modelfile import load_model
from .sampling import draw_images
from .versions import versions

DEFAULT_N = 10_000
REFERENCE_SPLITS = ("test", "train")


def features(images: np.ndarray | Tensor, dataset: str, batch_size: int = 500) -> np.ndarray:
    """Penultimate classifier features [N, D] (float64) of images [N, H, W] in [0, 1].

    Raises:
        OscsimError: unknown data set, or images of the wrong shape, range or type.
    """
    model = load_classifier(dataset)
    array = _checked_images(images, model.config.image_shape, "images")
    with torch.no_grad():
        parts = [model.features(b) for b in torch.from_numpy(array).split(batch_size)]
    return torch.cat(parts).double().numpy()


def predicted_classes(feats: np.ndarray, dataset: str) -> np.ndarray:
    """The classifier's class [N] (int64) for images given by their `features` [N, D]."""
    model = load_classifier(dataset)
    with torch.no_grad():
        logits = model.head(torch.as_tensor(feats, dtype=torch.float32))
    return logits.argmax(1).numpy()


def class_fractions(feats: np.ndarray, dataset: str) -> np.ndarray:
    """Fraction of images the classifier puts in each class, from their `features` [N, D]."""
    k = load_classifier(dataset).config.num_classes
    counts = np.bincount(predicted_classes(feats, dataset), minlength=k)
    return counts / counts.sum()


def normalised_entropy(fractions: np.ndarray) -> float:
    """Entropy of class fractions over log(number of classes): 1 uniform, 0 a single class."""
    p = np.asarray(fractions, dtype=np.float64)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(len(fractions)))


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """FID between two feature sets [N1, D] and [N2, D] (each N >= 2), in float64."""
    f1, f2 = _checked_features(f1, f2)
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.atleast_2d(np.cov(f1, rowvar=False)), np.atleast_2d(np.cov(f2, rowvar=False))
    return frechet_from_stats(mu1, s1, mu2, s2)


def frechet_from_stats(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """The Fréchet distance of two Gaussians N(mu1, s1), N(mu2, s2) (covariances PSD)."""
    vals, vecs = np.linalg.eigh(np.asarray(s1, np.float64))
    root1 = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    inner = root1 @ np.asarray(s2, np.float64) @ root1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0.0, None)).sum()
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    fid = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt
    return max(float(fid), 0.0)  # rounding can leave -1e-12 where the distance is 0


def kernel_inception_distance(
    f1: np.ndarray, f2: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID (mean, std over ``subsets``) between feature sets [N1, D] and [N2, D].

    Each subset draws min(subset_size, N1, N2) rows of each set without replacement.
    """
    f1, f2 = _checked_features(f1, f2)
    if subsets < 1 or subset_size < 2:
        raise OscsimError(
            f"KID needs subsets >= 1 and subset_size >= 2, got {subsets}, {subset_size}"
        )
    m = min(subset_size, len(f1), len(f2))
    rng = np.random.default_rng(seed)
    mmd = [
        _mmd2_unbiased(
            f1[rng.choice(len(f1), m, replace=False)], f2[rng.choice(len(f2), m, replace=False)]
        )
        for _ in range(subsets)
    ]
    return float(np.mean(mmd)), float(np.std(mmd))


def evaluate(
    images: np.ndarray | Tensor,
    dataset: str,
    reference: str | np.ndarray = "test",
    data_dir: str | Path | None = None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
) -> dict[str, Any]:
    """FID and KID of ``images`` against a data set split ("test", "train") or other images.

    Returns a JSON-safe dict: fid, kid, kid_std, class_fractions, class_entropy, n_samples,
    n_reference, dataset, reference, classifier_accuracy, classifier_sha256, versions.
    """
    generated = features(images, dataset)
    return evaluate_features(generated, dataset, reference, data_dir, kid_subsets, kid_subset_size)


def evaluate_features(
    generated: np.ndarray,
    dataset: str,
    reference: str | np.ndarray = "test",
    data_dir: str | Path | None = None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
) -> dict[str, Any]:
    """`evaluate` of images already given by their `features` ``[N, D]``: for callers that
    score several subsets of one set of images without running the classifier again."""
    if isinstance(reference, str) and reference not in REFERENCE_SPLITS:
        raise OscsimError(
            f"unknown reference {reference!r}; valid: {', '.join(REFERENCE_SPLITS)} or images"
        )
    if isinstance(reference, str):
        ref = _split_features(dataset, reference, data_dir)
    else:
        ref = features(reference, dataset)
    kid, kid_std = kernel_inception_distance(generated, ref, kid_subsets, kid_subset_size)
    classifier = shipped_classifier(dataset)
    fractions = class_fractions(generated, dataset)
    return {
        "fid": frechet_distance(generated, ref),
        "kid": kid,
        "kid_std": kid_std,
        "class_fractions": fractions.tolist(),
        "class_entropy": normalised_entropy(fractions),
        "n_samples": len(generated),
        "n_reference": len(ref),
        "dataset": dataset,
        "reference": reference if isinstance(reference, str) else "images",
        "classifier_accuracy": classifier.test_accuracy,
        "classifier_sha256": classifier.sha256,
        "versions": versions(),
    }


def fid_of_source(
    source: str | Path,
    dataset: str,
    n: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    batch_size: int = 500,
) -> dict[str, Any]:
    """`evaluate` a model file's samples or a .npy of images [N, H, W] against the test set.

    A model is sampled with ``n`` images (default 10,000) from latent seed ``seed``, the
    same latents as ``oscsim sample --seed``; a .npy file gives its first ``n`` images (default
    all). The result adds ``source`` and ``seed`` (None for a .npy file).
    """
    path = Path(source)
    if n is not None and n < 2:
        raise OscsimError(f"FID needs at least 2 images, got n={n}")
    shape = load_classifier(dataset).config.image_shape
    if path.suffix == ".npy":
        images, seed_used = _load_npy(path, n, shape), None
    else:
        images, seed_used = _sample_model(path, n or DEFAULT_N, seed, shape, batch_size), seed
    return {**evaluate(images, dataset, "test", data_dir), "source": str(path), "seed": seed_used}


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two equal-size samples under the cubic polynomial kernel."""
    m, d = x.shape
    kxx, kyy, kxy = ((a @ b.T / d + 1.0) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.mean())


@cache
def _split_features(dataset: str, split: str, data_dir: str | Path | None) -> np.ndarray:
    """Features of a whole (checksum-verified) data set split, computed once per process."""
    out = features(load_dataset(dataset, split, data_dir).as_float(), dataset)
    out.setflags(write=False)
    return out


def _checked_images(images: np.ndarray | Tensor, shape: tuple[int, int], what: str) -> np.ndarray:
    """Images as contiguous float32 [N, H, W]; anything else raises OscsimError naming ``what``."""
    if isinstance(images, Tensor):
        images = images.detach().cpu().numpy()
    array = np.asarray(images)
    if array.dtype.kind not in "biuf":
        raise OscsimError(f"{what}: expected real image values, got dtype {array.dtype}")
    if array.ndim != 3 or tuple(array.shape[1:]) != tuple(shape) or len(array) < 2:
        raise OscsimError(
            f"{what}: expected images [N, {shape[0]}, {shape[1]}] with N >= 2, got shape "
            f"{list(array.shape)}"
        )
    if not np.isfinite(array).all():
        raise OscsimError(f"{what}: contains NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise OscsimError(
            f"{what}: values must lie in [0, 1] (white on black), found [{low:g}, {high:g}]; "
            "scale uint8 images by 1/255"
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def _checked_features(f1: np.ndarray, f2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets as float64 [N, D] with matching D, N >= 2 and finite values."""
    out = []
    for name, f in (("f1", f1), ("f2", f2)):
        array = np.asarray(f, dtype=np.float64)
        if array.ndim != 2 or len(array) < 2 or not np.isfinite(array).all():
            raise OscsimError(
                f"{name}: expected finite features [N >= 2, D], got {list(array.shape)}"
            )
        out.append(array)
    if out[0].shape[1] != out[1].shape[1]:
        raise OscsimError(f"feature widths differ: {out[0].shape[1]} and {out[1].shape[1]}")
    return out[0], out[1]


def _load_npy(path: Path, n: int | None, shape: tuple[int, int]) -> np.ndarray:
    """The first ``n`` images of a .npy file, checked; a bad file raises DataError naming it."""
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        images = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npy array: {exc}") from None
    if not isinstance(images, np.ndarray):
        images.close()
        raise DataError(f"{path} is an .npz archive; save one array of images [N, H, W]")
    images = _checked_images(images, shape, str(path))
    if n is not None and len(images) < n:
        raise DataError(f"{path} holds {len(images)} images, fewer than the {n} asked for")
    return images[:n]


def _sample_model(
    path: Path, n: int, seed: int, shape: tuple[int, int], batch_size: int
) -> np.ndarray:
    """``n`` images of the generator in a model file, latents drawn at once from ``seed``."""
    try:
        model = load_model(path).model
    except ModelFileError as exc:
        raise ModelFileError(f"{exc} (an FID source is a model file or a .npy of images)") from None
    if tuple(model.image_shape) != tuple(shape):
        raise OscsimError(
            f"{path} makes {model.image_shape[0]}x{model.image_shape[1]} images but the "
            f"classifier expects {shape[0]}x{shape[1]}: pick the matching --dataset"
        )
    model.eval()
    theta0 = model.latent(n, torch.Generator().manual_seed(seed))
    return draw_images(model, theta0, batch_size)
