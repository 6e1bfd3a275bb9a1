"""The digital WGAN-GP baseline: its generator, its file, and its resumable training."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import logged_losses

from oscsim.digital import DigitalConfig, DigitalGenerator, load_digital, save_digital
from oscsim.errors import ModelFileError, OscsimError
from oscsim.graph import GraphSpec
from oscsim.train import train
from oscsim.train_config import TrainConfig

SMALL = DigitalConfig(latent_dim=8, width=4)
TINY = TrainConfig(
    graph=GraphSpec(image_size=(6, 6)),
    resize_data=True,
    steps=4,
    batch=8,
    n_critic=2,
    critic_width=8,
    checkpoint_every=2,
    n_samples=9,
    seed=3,
)


@pytest.mark.parametrize("shape", [(28, 28), (6, 6), (7, 5)])
def test_images_have_the_shape_and_range(shape: tuple[int, int]) -> None:
    model = DigitalGenerator(shape, SMALL)
    z = model.latent(5, torch.Generator().manual_seed(0))
    assert z.shape == (5, SMALL.latent_dim)
    images = model(z)
    assert images.shape == (5, *shape) and model.image_shape == shape
    assert images.min() >= 0 and images.max() <= 1


def test_latent_distance_is_the_mean_absolute_difference() -> None:
    a, b = torch.tensor([[0.0, 1.0], [2.0, 2.0]]), torch.tensor([[1.0, -1.0], [2.0, 2.0]])
    assert torch.equal(DigitalGenerator.latent_distance(a, b), torch.tensor([1.5, 0.0]))


def test_seeds_fix_weights_and_latents_without_touching_the_global_rng() -> None:
    before = torch.get_rng_state()
    a, b = DigitalGenerator((6, 6), SMALL, seed=1), DigitalGenerator((6, 6), SMALL, seed=1)
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    other = DigitalGenerator((6, 6), SMALL, seed=2)
    assert not torch.equal(other.project.weight, a.project.weight)
    gen = [torch.Generator().manual_seed(4) for _ in range(2)]
    assert torch.equal(a.sample(3, gen[0]), b.sample(3, gen[1]))


def test_parameter_count_of_the_default_generator() -> None:
    w, z, cells = 16, 64, 7 * 7
    expected = (z + 1) * 4 * w * cells  # linear to 4w x 7 x 7
    expected += 4 * w * 2 * w * 16 + 2 * w  # 4x4 transposed conv 4w -> 2w
    expected += 2 * w * w * 16 + w  # 4x4 transposed conv 2w -> w
    expected += w * 9 + 1  # 3x3 conv w -> 1
    assert DigitalGenerator((28, 28)).n_params == expected == 244_993


@pytest.mark.parametrize(("field", "value"), [("latent_dim", 0), ("width", 2.5), ("lr", 0.0)])
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(SMALL, **{field: value})


def test_file_round_trip_and_damage(tmp_path: Path) -> None:
    model = DigitalGenerator((7, 5), SMALL, seed=9)
    save_digital(tmp_path / "g.pt", model)
    loaded = load_digital(tmp_path / "g.pt")
    assert loaded.model.config == SMALL and loaded.model.image_shape == (7, 5)
    z = model.latent(2, torch.Generator().manual_seed(0))
    assert torch.equal(loaded.model(z), model(z))
    data = (tmp_path / "g.pt").read_bytes()
    (tmp_path / "bad.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a readable oscsim digital generator file"):
        load_digital(tmp_path / "bad.pt")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted 4-step digital run of TINY."""
    out = tmp_path_factory.mktemp("digital")
    train(TINY, out, progress=False, digital=SMALL)
    return out


def test_training_writes_outputs_and_moves_the_weights(full_run: Path) -> None:
    names = {p.relative_to(full_run).as_posix() for p in full_run.rglob("*") if p.is_file()}
    assert {"model.pt", "train_log.json", "losses.png", "samples/step-000004.png"} <= names
    saved = load_digital(full_run / "model.pt")
    assert saved.train_state["step"] == 4 and logged_losses(full_run)["step"] == [1, 2, 3, 4]
    initial = DigitalGenerator((6, 6), SMALL, seed=TINY.seed)
    assert not torch.equal(saved.model.project.weight, initial.project.weight)


def test_resume_continues_bit_for_bit(full_run: Path, tmp_path: Path) -> None:
    train(dataclasses.replace(TINY, steps=2), tmp_path, progress=False, digital=SMALL)
    summary = train(TINY, tmp_path, resume=True, progress=False, digital=SMALL)
    assert summary["resumed_from"] == 2 and summary["step"] == 4
    assert logged_losses(tmp_path) == logged_losses(full_run)
    full = load_digital(full_run / "model.pt").model.state_dict()
    resumed = load_digital(tmp_path / "model.pt").model.state_dict()
    assert all(torch.equal(full[k], resumed[k]) for k in full)


def test_resume_refuses_another_generator(full_run: Path) -> None:
    with pytest.raises(OscsimError, match=r"cannot resume .* digital generator"):
        train(TINY, full_run, resume=True, progress=False, digital=DigitalConfig())
    with pytest.raises(ModelFileError, match="not an oscsim model file"):
        train(TINY, full_run, resume=True, progress=False)
