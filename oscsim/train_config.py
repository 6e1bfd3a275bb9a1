"""What a training run is: a frozen, self-checking ``TrainConfig`` and the named presets.

The generator learning rate is relative: Adam moves every parameter by about its learning rate
per step whatever the gradient scale, so ``lr_g`` is a fraction of each parameter kind's range
(``k_max``, ``delta_max``, ``sigma_max``) per iteration, and couplings, detunings and SHIL
strengths move at the same pace relative to their hardware range, quantized or not.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from dataclasses import asdict, dataclass, field

from .data import DATASETS
from .graph import GraphSpec, get_spec
from .model import ModelConfig

INIT_FROM_FIELDS = (
    "dynamics",
    "tank_q",
    "tank_loop_gain",
    "tank_offsets",
    "noise",
    "detuning_noise",
    "coupling_noise",
)
"""``ModelConfig`` fields a run may change from its ``init_from`` model: how the cells are
modelled and the noise trained against, not what the parameters mean."""

# Fields that may change between an interrupted run and its resumption.
RESUMABLE_FIELDS = (
    "steps",
    "checkpoint_every",
    "n_samples",
    "checkpoint_segments",
    "ema_decay",  # the average only watches the run: turning it on later changes no step of it
    "keep_averages",
)


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _integer(name: str, value: object) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")


def _positive_float(name: str, value: object) -> None:
    if not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _non_negative_float(name: str, value: object) -> None:
    if not isinstance(value, numbers.Real) or not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class TrainConfig:
    """A WGAN-GP training run of an AIS generator; checks itself when built.

    Attributes:
        dataset: a registered data set name ("digits14", "mnist", "fashion-mnist").
        graph: a graph preset name or ``GraphSpec``.
        model: the generator's ``ModelConfig`` (``bits=None`` trains float parameters).
        steps: generator iterations in total (a resumed run continues up to this count).
        batch: images per critic and per generator step.
        n_critic: critic steps per generator step.
        gp_weight: gradient-penalty weight λ.
        lr_g: generator Adam learning rate, as a fraction of each parameter kind's range.
        lr_quant_scale: the quantizer steps' learning rate relative to ``lr_g``.
        lr_d: critic Adam learning rate.
        betas: Adam (β1, β2) of both optimizers.
        critic_width: channels of the critic's first convolution.
        critic_layer_norm: layer norm inside the critic.
        critic_minibatch_std: group size of the critic's minibatch standard deviation (0: off;
            ``oscsim.critic.Critic``): lets the critic see how alike the images of a group are,
            against mode dropping (classes missing from the samples: the ``class_fractions`` of
            ``oscsim fid``). Must divide ``batch``. A run started ``init_from`` a critic without
            it gets the head at zero and keeps the rest of that critic.
        checkpoint_every: write grids, model file and log every this many iterations.
        n_samples: images in each sample grid (fixed latent noise, so grids compare over time).
        checkpoint_segments: recompute each segment in the backward pass instead of storing
            its stages: memory O(segments) instead of O(steps), at about twice the step time
            (benchmarks/behavioural.py); for big graphs, batches or GPUs short of memory.
        consistency_weight: weight of a mismatch-consistency term in the generator loss: the
            mean squared pixel difference between two renderings of the same latents under
            two random mismatch patterns (``ModelConfig.detuning_noise``, ``coupling_noise``).
            The GAN loss alone only asks for good images, not for the same image from the same
            latent, so a trained generator amplifies small circuit errors
            (``oscsim.sensitivity``); this term asks for the same image. Costs one more
            generator rollout per iteration.
        mode_seeking_weight: weight of MSGAN's mode-seeking term in the generator loss
            (``oscsim.train.mode_seeking_term``, 0: off): the latent distance of image pairs
            over their pixel distance, which asks different latents for different images, a
            remedy for dropped modes (a generator drawing too few of one class) that needs no
            change of the critic. On MNIST seed 2 about 1 FID from one run per arm (README).
        ema_decay: keep a running average of the generator's weights (0: none), written to
            ``model-ema.pt`` beside ``model.pt``: the plain mean of every iterate since the
            average began, then an exponential moving average with this decay (a horizon of
            ``1 / (1 − ema_decay)`` iterations). GAN iterates circle around a good generator
            rather than settle on it; their average sits nearer to it (Yazıcı et al., ICLR
            2019). The average never feeds back into training, so a run may start keeping it
            when resumed, from that step; resumed with 0 it stops (``model-ema.pt`` stays as
            last written, its step in its training state).
        keep_averages: also keep the weight average of every checkpoint as
            ``snapshots/step-NNNNNN-ema.pt`` (``oscsim.train.snapshot_path``), which
            ``model-ema.pt`` overwrites: the points of a run's FID curve and of post-hoc
            averages (``benchmarks/fine_tune_curves.py``, ``benchmarks/snapshot_average.py``).
            Needs ``ema_decay`` > 0.
        seed: seeds the generator's initialisation and torch's global RNG (model noise), and
            unless ``critic_seed`` is set the critic's initialisation and every draw of the run.
        critic_seed: seeds the critic's initialisation and the run's draws (batches, penalty
            points, latents) in place of ``seed`` (None: ``seed``), leaving ``seed`` the
            generator's alone: pairing one run's generator with another's critic and batch
            order tells which of the two a spread between training seeds comes from.
        data_dir: folder searched first for the data set files.
        resize_data: area-average the data down to the graph's image size (for small graphs).
        init_from: start the generator from this model file's (or shipped model's) parameters
            instead of a fresh draw, and when it is a training run's ``model.pt`` its critic and
            optimizers too (a fresh critic otherwise): fine-tuning a trained model to another
            cell model (``ModelConfig`` fields in ``INIT_FROM_FIELDS`` may differ; the graph and
            every other field must match), at a fraction of a full run's cost.
    """

    dataset: str = "digits14"
    graph: str | GraphSpec = "demo"
    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = 1000
    batch: int = 64
    n_critic: int = 5
    gp_weight: float = 10.0
    lr_g: float = 0.01
    lr_quant_scale: float = 0.1
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    critic_width: int = 32
    critic_layer_norm: bool = False
    critic_minibatch_std: int = 0
    checkpoint_every: int = 100
    n_samples: int = 64
    checkpoint_segments: bool = False
    consistency_weight: float = 0.0
    mode_seeking_weight: float = 0.0
    ema_decay: float = 0.0
    keep_averages: bool = False
    seed: int = 0
    critic_seed: int | None = None
    data_dir: str | None = None
    resize_data: bool = False
    init_from: str | None = None

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {sorted(DATASETS)}")
        get_spec(self.graph)
        if not isinstance(self.model, ModelConfig):
            raise ValueError(f"model must be a ModelConfig, got {type(self.model).__name__}")
        for name in ("steps", "batch", "n_critic", "critic_width", "checkpoint_every", "n_samples"):
            _positive_int(name, getattr(self, name))
        g = self.critic_minibatch_std
        _integer("critic_minibatch_std", g)
        if g < 0 or g == 1 or (g and self.batch % g):
            raise ValueError(
                f"critic_minibatch_std must be 0 (off) or a group size >= 2 that divides the "
                f"batch ({self.batch}), got {g}"
            )
        for name in ("gp_weight", "lr_g", "lr_quant_scale", "lr_d"):
            _positive_float(name, getattr(self, name))
        for name in ("consistency_weight", "mode_seeking_weight"):
            _non_negative_float(name, getattr(self, name))
        if self.mode_seeking_weight > 0 and self.batch < 2:
            raise ValueError("mode_seeking_weight needs a batch of at least 2 (it pairs images)")
        w = self.consistency_weight
        if w > 0 and self.model.detuning_noise == 0 and self.model.coupling_noise == 0:
            raise ValueError(
                "consistency_weight needs ModelConfig.detuning_noise or coupling_noise > 0: "
                "without mismatch the two renderings are the same"
            )
        if not isinstance(self.ema_decay, numbers.Real) or not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be a number in [0, 1), got {self.ema_decay!r}")
        if not isinstance(self.keep_averages, bool):
            raise ValueError(f"keep_averages must be True or False, got {self.keep_averages!r}")
        if self.keep_averages and self.ema_decay == 0:
            raise ValueError(
                "keep_averages keeps the weight average's snapshots; set ema_decay > 0"
            )
        betas = tuple(self.betas)
        if len(betas) != 2 or not all(isinstance(b, numbers.Real) and 0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        object.__setattr__(self, "betas", (float(betas[0]), float(betas[1])))
        _integer("seed", self.seed)
        if self.critic_seed is not None:
            _integer("critic_seed", self.critic_seed)
        if self.init_from is not None and not (isinstance(self.init_from, str) and self.init_from):
            raise ValueError(
                f"init_from must be a model file or shipped name, got {self.init_from!r}"
            )

    def to_dict(self) -> dict:
        """JSON-safe dict (the graph as its preset name or its spec's fields)."""
        out = asdict(self)
        out["model"] = self.model.to_dict()
        out["betas"] = list(self.betas)
        if isinstance(self.graph, GraphSpec):
            out["graph"] = {**asdict(self.graph), "image_size": list(self.graph.image_size)}
        return out


# SHIL per segment: none while the couplings form a shape, then weak, then strong enough to
# binarise (DESIGN.md §1): 0, 0.7, 2 and 5 e-folds of the linearised locking rate 4πσ per
# 16-cycle segment. Stronger early locking (an LSB of 0.013 per cycle) freezes every pixel before
# the couplings form anything: salt-and-pepper static. SHIL strength is bounded for good at half
# the lc cell's parametric threshold 1/(2Q) = 0.05 per cycle: at the threshold the pump cancels
# the whole tank loss and oscillates on its own instead of locking phases (LcCell.sigma_threshold);
# at half of it the locked amplitude is already 2x nominal.
_SIGMA_LIMIT = 0.025
_SIGMA_RAMP = (0.0, 0.0033, 0.01, _SIGMA_LIMIT)

# k_max keeps RK4 at 2 steps per cycle (h = 0.5) stable: the coupling Jacobian's spectral
# radius is at most 2π · 2 · degree · k_max per cycle (Gershgorin), 4.7/cycle at the demo
# graph's mean degree 12.5, so h·λ ≈ 2.4 < 2.79, RK4's limit on the negative real axis. (Hidden
# nodes have degree 24: they stay stable unless most of their couplings sit at full scale.)
_MODEL = ModelConfig(
    segments=4,
    cycles_per_segment=16.0,
    steps_per_segment=32,
    bits=4,
    k_max=0.03,
    delta_max=0.02,
    sigma_max=_SIGMA_LIMIT,
    sigma_limit=_SIGMA_LIMIT,
    k_init_std=0.008,
    sigma_init=_SIGMA_RAMP,
)

PRESETS: dict[str, TrainConfig] = {
    "demo": TrainConfig(
        dataset="digits14", graph="demo", model=_MODEL, steps=600, checkpoint_every=50
    ),
    "mnist": TrainConfig(
        dataset="mnist", graph="mnist", model=_MODEL, steps=20000, checkpoint_every=500
    ),
    "fashion": TrainConfig(
        dataset="fashion-mnist", graph="mnist", model=_MODEL, steps=20000, checkpoint_every=500
    ),
}


def with_defaults(saved: dict) -> dict:
    """A training config saved as JSON (``TrainConfig.to_dict``) with the fields added since it
    was written at their defaults, so that old runs and result rows compare with new configs."""
    defaults = json.loads(json.dumps(TrainConfig().to_dict()))
    out = {**defaults, **saved}
    if isinstance(out["model"], dict):
        out["model"] = {**defaults["model"], **out["model"]}
    return out


def preset(name: str, **overrides: object) -> TrainConfig:
    """The named preset with some fields replaced (``preset("demo", steps=50, seed=1)``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown training preset {name!r}; choose one of {sorted(PRESETS)}")
    return dataclasses.replace(PRESETS[name], **overrides)
