"""oscsim.sampling: drawing a generator's images in batches."""

from __future__ import annotations

import numpy as np
import torch

from oscsim.graph import build_graph
from oscsim.model import AISGenerator, ModelConfig
from oscsim.sampling import draw_images


def test_draw_images_in_batches_equals_one_pass() -> None:
    config = ModelConfig(segments=2, cycles_per_segment=1.0, steps_per_segment=2, k_init_std=0.03)
    model = AISGenerator(build_graph("demo"), config, seed=0).eval()
    latent = model.latent(7, torch.Generator().manual_seed(1))
    images = draw_images(model, latent, batch=3)
    with torch.no_grad():
        whole = model(latent).numpy()
    assert images.shape == (7, 14, 14) and images.dtype == np.float32
    np.testing.assert_allclose(images, whole, atol=1e-6)
