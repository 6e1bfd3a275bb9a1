"""FID and KID: closed forms for Gaussians, the shipped classifiers on real data, bad inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from oscsim.classifier import (
    CLASSIFIERS,
    CnnConfig,
    SmallCnn,
    predict,
    read_classifier,
    save_classifier,
    shipped_classifier,
    weights_path,
)
from oscsim.data import load_dataset
from oscsim.errors import DataError, ModelFileError, OscsimError
from oscsim.graph import build_graph
from oscsim.metrics import (
    class_fractions,
    evaluate,
    evaluate_features,
    features,
    fid_of_source,
    frechet_distance,
    frechet_from_stats,
    kernel_inception_distance,
    normalised_entropy,
)
from oscsim.model import AISGenerator, ModelConfig
from oscsim.modelfile import save_model

# 2,000 MNIST training images against the 10,000 test images: measured 0.47-0.51 (all
# 10,000 against them: 0.19); 1,000 uniform-noise images: measured 530.
MNIST_TRAIN_FID_BOUND = 2.0
NOISE_OVER_REAL = 100.0


def _with_moments(
    rng: np.random.Generator, n: int, mean: np.ndarray, cov: np.ndarray
) -> np.ndarray:
    """n samples whose sample mean and covariance (ddof=1) are exactly ``mean`` and ``cov``."""
    x = rng.standard_normal((n, len(mean)))
    x -= x.mean(0)
    x = np.linalg.solve(np.linalg.cholesky(np.cov(x, rowvar=False)), x.T).T
    return x @ np.linalg.cholesky(cov).T + mean


def _digits14_test() -> np.ndarray:
    return load_dataset("digits14", "test").as_float()


def test_fid_closed_form_diagonal_gaussians() -> None:
    rng = np.random.default_rng(1)
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([0.5, -1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    f1 = _with_moments(rng, 50, mu1, np.diag(var1))
    f2 = _with_moments(rng, 80, mu2, np.diag(var2))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert frechet_distance(f1, f2) == pytest.approx(expected, rel=1e-10)


def test_fid_closed_form_non_commuting_2x2() -> None:
    # For 2x2 S1 S2 with positive eigenvalues: Tr sqrt(M) = sqrt(Tr M + 2 sqrt(det M)).
    s1 = np.array([[2.0, 0.9], [0.9, 1.0]])
    s2 = np.array([[1.0, -0.4], [-0.4, 3.0]])
    mu1, mu2 = np.array([1.0, 2.0]), np.array([-1.0, 0.5])
    m = s1 @ s2
    tr_sqrt = math.sqrt(np.trace(m) + 2 * math.sqrt(np.linalg.det(m)))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_from_stats(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-12)
    rng = np.random.default_rng(2)
    f1, f2 = _with_moments(rng, 40, mu1, s1), _with_moments(rng, 30, mu2, s2)
    assert frechet_distance(f1, f2) == pytest.approx(expected, rel=1e-10)


def test_fid_matches_scipy_sqrtm_symmetric_nonnegative() -> None:
    rng = np.random.default_rng(3)
    f1 = rng.standard_normal((300, 16)) @ rng.standard_normal((16, 16))
    f2 = rng.standard_normal((200, 16)) @ rng.standard_normal((16, 16)) + 0.3
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    diff = f1.mean(0) - f2.mean(0)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    reference = diff @ diff + np.trace(s1 + s2 - 2 * root)
    fid = frechet_distance(f1, f2)
    assert fid == pytest.approx(reference, rel=1e-8)
    assert frechet_distance(f2, f1) == pytest.approx(fid, rel=1e-10)
    assert fid > 0
    assert frechet_distance(f1, f1) == pytest.approx(0.0, abs=1e-9 * np.trace(s1))


def test_fid_of_rank_deficient_features() -> None:
    # Dead ReLU units give constant feature columns: singular covariances must still work.
    rng = np.random.default_rng(4)
    f = np.maximum(rng.standard_normal((100, 8)), 0.0)
    f[:, :3] = 0.0
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-10)
    assert frechet_distance(f, f + 1.0) == pytest.approx(8.0, rel=1e-9)  # 1 in each of 8 dims


def test_kid_equals_unbiased_mmd_by_loops() -> None:
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3)) + 0.5

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return (a @ b / 3 + 1) ** 3

    pairs = [(i, j) for i in range(6) for j in range(6) if i != j]
    mmd = (
        sum(k(x[i], x[j]) + k(y[i], y[j]) for i, j in pairs) / 30
        - 2 * sum(k(x[i], y[j]) for i in range(6) for j in range(6)) / 36
    )
    kid, kid_std = kernel_inception_distance(x, y, subsets=4, subset_size=100)
    assert kid == pytest.approx(mmd, rel=1e-12)  # whole sets in every subset: order only
    assert kid_std == pytest.approx(0.0, abs=1e-12)


def test_kid_near_zero_for_one_distribution_positive_for_two() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((2000, 32)), rng.standard_normal((2000, 32))
    same, same_std = kernel_inception_distance(a, b, subsets=10, subset_size=500)
    shifted, _ = kernel_inception_distance(a, b + 0.5, subsets=10, subset_size=500)
    assert abs(same) < 3 * same_std + 1e-3
    assert shifted > 20 * (abs(same) + same_std)


@pytest.mark.parametrize("dataset", CLASSIFIERS)
def test_shipped_classifier_reaches_recorded_accuracy(dataset: str, shared_mnist: Path) -> None:
    loaded = shipped_classifier(dataset)
    assert weights_path(dataset).stat().st_size < 2_000_000
    assert loaded.dataset == dataset
    assert loaded.meta["n_params"] == sum(p.numel() for p in loaded.model.parameters())
    assert loaded.meta["image_shape"] == list(loaded.model.config.image_shape)
    test = load_dataset(dataset, "test", shared_mnist.parent)
    step = max(1, len(test) // 2000)  # an evenly spread subset of at most 2,000 images
    images, labels = test.as_float()[::step], torch.from_numpy(test.labels[::step])
    accuracy = float((predict(loaded.model, torch.from_numpy(images)) == labels).double().mean())
    p = loaded.test_accuracy
    assert accuracy >= p - 3 * math.sqrt(p * (1 - p) / len(labels)) - 1e-9


def test_features_are_batch_independent_and_wide() -> None:
    images = _digits14_test()[:50]
    whole = features(images, "digits14")
    assert whole.shape == (50, 128) and whole.dtype == np.float64
    np.testing.assert_allclose(features(images, "digits14", batch_size=7), whole, atol=1e-5)
    assert (whole.std(0) > 0).sum() >= 64


def test_test_set_against_itself_gives_zero() -> None:
    result = evaluate(_digits14_test(), "digits14", kid_subsets=10)
    assert result["fid"] == pytest.approx(0.0, abs=1e-6)
    # Same subsets both sides: only the unbiased estimator's diagonal correction remains,
    # -2 (mean k(x, x) - mean k(x, y)) / (m - 1), about -0.015 here; uniform noise gives ~60.
    assert abs(result["kid"]) < 0.05
    assert result["n_samples"] == result["n_reference"] == 1000
    assert result["classifier_accuracy"] == shipped_classifier("digits14").test_accuracy


def test_class_fractions_show_a_dropped_mode() -> None:
    """The test set's classes come out as common as its labels say (entropy near 1); a set
    of one digit comes out as that digit, at an entropy near 0."""
    test = load_dataset("digits14", "test")
    whole = class_fractions(features(test.as_float(), "digits14"), "digits14")
    labels = np.bincount(test.labels, minlength=10) / len(test.labels)
    np.testing.assert_allclose(whole, labels, atol=0.02)
    assert whole.sum() == pytest.approx(1.0) and normalised_entropy(whole) > 0.99
    sevens = class_fractions(features(test.as_float()[test.labels == 7], "digits14"), "digits14")
    assert sevens[7] > 0.95 and normalised_entropy(sevens) < 0.2
    result = evaluate(test.as_float()[:500], "digits14", kid_subsets=2, kid_subset_size=100)
    assert result["class_entropy"] > 0.95 and len(result["class_fractions"]) == 10
    given = evaluate_features(
        features(test.as_float()[:500], "digits14"), "digits14", kid_subsets=2, kid_subset_size=100
    )
    assert given["fid"] == pytest.approx(result["fid"]) and given["kid"] == result["kid"]
    assert normalised_entropy(np.eye(10)[3]) == 0.0


def test_mnist_train_vs_test_small_noise_large(shared_mnist: Path) -> None:
    data_dir = shared_mnist.parent
    train = load_dataset("mnist", "train", data_dir).as_float()[:2000]
    real = evaluate(train, "mnist", data_dir=data_dir, kid_subsets=20)
    noise = np.random.default_rng(7).random((1000, 28, 28), dtype=np.float32)
    fake = evaluate(noise, "mnist", data_dir=data_dir, kid_subsets=20)
    assert real["n_reference"] == fake["n_reference"] == 10_000
    assert 0 < real["fid"] < MNIST_TRAIN_FID_BOUND
    assert fake["fid"] > NOISE_OVER_REAL * real["fid"]
    assert fake["kid"] > NOISE_OVER_REAL * max(real["kid"], real["kid_std"])


def test_fid_of_npy_file(tmp_path: Path) -> None:
    path = tmp_path / "images.npy"
    np.save(path, _digits14_test())
    result = fid_of_source(path, "digits14", n=500)
    assert result["n_samples"] == 500 and result["seed"] is None
    assert result["source"] == str(path)
    assert 0 < result["fid"] < 5  # half of the test set against all of it


def test_fid_of_model_file_is_seeded(tmp_path: Path) -> None:
    config = ModelConfig(segments=2, cycles_per_segment=1.0, steps_per_segment=2)
    path = save_model(tmp_path / "m.pt", AISGenerator(build_graph("demo"), config, seed=0))
    first = fid_of_source(path, "digits14", n=20, seed=1, batch_size=8)
    again = fid_of_source(path, "digits14", n=20, seed=1)
    other = fid_of_source(path, "digits14", n=20, seed=2)
    assert first["n_samples"] == 20 and first["seed"] == 1
    assert first["fid"] == pytest.approx(again["fid"], rel=1e-6)
    assert other["fid"] != pytest.approx(first["fid"], rel=1e-6)
    with pytest.raises(OscsimError, match="expects 28x28"):
        fid_of_source(path, "mnist", n=10)


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((10, 28, 28)), r"expected images \[N, 14, 14\]"),
        (np.zeros((10, 14)), r"expected images"),
        (np.zeros((1, 14, 14)), r"N >= 2"),
        (np.full((10, 14, 14), 255.0), r"\[0, 1\]"),
        (np.full((10, 14, 14), -0.1), r"\[0, 1\]"),
        (np.full((10, 14, 14), np.nan), "NaN"),
        (np.full((10, 14, 14), "a"), "dtype"),
    ],
)
def test_bad_images_raise(images: np.ndarray, match: str) -> None:
    with pytest.raises(OscsimError, match=match):
        features(images, "digits14")


def test_bad_names_and_features_raise() -> None:
    with pytest.raises(OscsimError, match="no classifier for data set 'cifar10'"):
        features(np.zeros((4, 14, 14)), "cifar10")
    with pytest.raises(OscsimError, match="unknown reference 'val'"):
        evaluate(np.zeros((4, 14, 14)), "digits14", reference="val")
    with pytest.raises(OscsimError, match="feature widths differ"):
        frechet_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(OscsimError, match="finite features"):
        kernel_inception_distance(np.full((4, 3), np.inf), np.zeros((4, 3)))


@pytest.mark.parametrize(
    ("write", "error", "match"),
    [
        (lambda p: np.save(p, np.linspace(0, 1, 10)), OscsimError, "expected images"),
        (lambda p: p.write_text("not numpy"), DataError, "not a readable .npy"),
        (lambda p: np.savez(p.with_suffix(""), a=np.zeros(3)), DataError, ".npz archive"),
        (lambda p: np.save(p, np.zeros((3, 14, 14))), DataError, "fewer than the 5"),
        (lambda p: None, DataError, "does not exist"),
    ],
    ids=["1-d array", "text file", "npz archive", "too few images", "missing"],
)
def test_bad_npy_files_raise_naming_the_file(tmp_path: Path, write, error, match: str) -> None:
    path = tmp_path / "x.npy"
    write(path)
    if path.with_suffix(".npz").exists():
        path.with_suffix(".npz").rename(path)
    with pytest.raises(error, match=match) as info:
        fid_of_source(path, "digits14", n=5)
    assert str(path) in str(info.value)


def test_not_a_model_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(ModelFileError, match="not an oscsim model file"):
        fid_of_source(path, "digits14", n=5)


def test_classifier_file_round_trip_and_errors(tmp_path: Path) -> None:
    model = SmallCnn(CnnConfig(image_shape=(14, 14), channels=(4, 8, 8), features=16)).eval()
    path = save_classifier(tmp_path / "c.pt", model, "digits14", test_accuracy=0.5)
    loaded = read_classifier(path)
    x = torch.rand(3, 14, 14)
    torch.testing.assert_close(loaded.model.features(x), model.features(x))
    assert loaded.test_accuracy == 0.5 and loaded.meta["versions"]["torch"] == torch.__version__

    content = torch.load(path, weights_only=True)
    content["arch"]["features"] = 32
    torch.save(content, tmp_path / "damaged.pt")
    (tmp_path / "truncated.pt").write_bytes(path.read_bytes()[:500])
    torch.save({"format": "something-else"}, tmp_path / "foreign.pt")
    cases = {
        "missing.pt": "does not exist",
        "truncated.pt": "not a readable oscsim classifier file",
        "foreign.pt": "not an oscsim classifier file",
        "damaged.pt": "damaged classifier file",
    }
    for name, match in cases.items():
        with pytest.raises(ModelFileError, match=match):
            read_classifier(tmp_path / name)
