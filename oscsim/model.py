"""The AIS generator: per-segment trainable parameters on a graph, integrated and read out.

Latent noise is the initial phase of every oscillator, θ(0) ~ U[0, 2π); the image is
pixel = (1 − cos θ(T)) / 2 of the visible oscillators, relative to the reference phase 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import networkx as nx
import torch
from torch import Tensor, nn

from .dynamics import harmonic_coefficients, integrate
from .envelope import Tank, integrate_envelope, shared_tank
from .graph import edge_index, image_shape, validate_graph, visible_index
from .quant import CodeFormat, LsqQuantizer
from .sparse import CouplingPattern
from .steppers import get_method


def _lists(value: object) -> object:
    """Tuples (nested too) as lists, as JSON gives them back."""
    return [_lists(v) for v in value] if isinstance(value, tuple) else value


DYNAMICS = ("phase", "envelope")
"""Behavioural models a generator can integrate (``ModelConfig.dynamics``)."""

_KIND = {
    "k": "sign-magnitude",
    "delta": "twos-complement",
    "sigma": "unsigned",
    "rho": "sign-magnitude",
}


@dataclass(frozen=True)
class ModelConfig:
    """Everything but the graph that defines an AIS generator; checks itself when built.

    Rates are in units of f_ref (per reference cycle). ``bits=None`` trains float parameters.
    ``k_max``, ``delta_max`` and ``sigma_max`` set the initial quantizer ranges (hardware range).
    The defaults are what the ``lc`` cell realises with modest conductances (k ≈ 0.0016 per
    cycle per 20 µS, netlists/cells/README.md) and keep RK4 at 2 steps per cycle accurate
    (stiffness 2π·degree·k_max·h ≈ 1.5 at degree 24; see benchmarks/behavioural.py).
    ``reference_injection`` adds ρ, a 4-bit sign-magnitude coupling of each oscillator to the
    reference clock: without it the model cannot break the θ → θ + π symmetry (see dynamics).
    ``sigma_init`` is the SHIL strength of each segment at initialisation: weak locking early
    (let couplings form structure), strong late (binarise); ``None`` ramps linearly from 0 to
    ``sigma_max / 2``. ``sigma_limit`` bounds SHIL strength for good (quantizer step or float
    clamp): a pump at or above the cell's threshold ``1/(2Q)`` (0.05 per cycle for the ``lc``
    cell) oscillates on its own instead of locking phases (``LcCell.sigma_threshold``).
    ``detuning_noise`` (per cycle) trains for mismatch: in training mode every forward pass adds
    a fresh random static detuning N(0, detuning_noise²) per oscillator to δ, like the residual
    frequency error of real cells, so the learned dynamics stop amplifying such errors
    (``oscsim.sensitivity`` measures how much they do). ``coupling_noise`` (relative) does the
    same for the couplings: k·(1 + coupling_noise·ξ) per edge, like resistor mismatch or a
    coupling gain that varies with the cells' amplitudes. Sampling and export never add them.
    ``dynamics`` is ``"phase"`` (DESIGN.md's phase model, ``oscsim.dynamics``) or
    ``"envelope"`` (``oscsim.envelope``: each cell's complex amplitude, what the exported
    circuit computes once banks load their tanks), for a cell with ``tank_q`` and
    ``tank_loop_gain`` (the ``lc`` cell's by default; the exporter checks they match) and the
    cell's measured ``tank_offsets`` (``Tank.offsets``; none by default).
    """

    segments: int = 4
    cycles_per_segment: float = 16.0
    steps_per_segment: int = 32
    method: str = "rk4"
    harmonics: tuple[tuple[float, float], ...] | None = None
    noise: float = 0.0
    bits: int | None = 4
    k_max: float = 0.02
    delta_max: float = 0.01
    sigma_max: float = 0.04
    rho_max: float = 0.02
    k_init_std: float = 0.005
    sigma_init: tuple[float, ...] | None = None
    reference_injection: bool = True
    sigma_limit: float | None = None
    detuning_noise: float = 0.0
    coupling_noise: float = 0.0
    dynamics: str = "phase"
    tank_q: float = Tank.q
    tank_loop_gain: float = Tank.loop_gain
    tank_offsets: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.dynamics not in DYNAMICS:
            raise ValueError(f"dynamics must be one of {DYNAMICS}, got {self.dynamics!r}")
        if self.dynamics == "envelope" and self.harmonics is not None:
            raise ValueError(
                "envelope dynamics have the banks' own coupling; harmonics must be None"
            )
        # raises on a bad q, loop gain or offsets; offsets as tuples of floats
        object.__setattr__(self, "tank_offsets", self.tank.offsets)
        if self.segments < 1 or self.steps_per_segment < 1:
            raise ValueError("segments and steps_per_segment must be positive integers")
        if not self.cycles_per_segment > 0:
            raise ValueError(f"cycles_per_segment must be positive, got {self.cycles_per_segment}")
        get_method(self.method)
        harmonic_coefficients(self.harmonics)
        if self.bits is not None:
            CodeFormat(self.bits, "unsigned")
        for name in ("detuning_noise", "coupling_noise"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be >= 0, got {value}")
        for name in ("k_max", "delta_max", "sigma_max", "rho_max"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.sigma_limit is not None and not self.sigma_limit >= self.sigma_max:
            raise ValueError(f"sigma_limit must be >= sigma_max, got {self.sigma_limit}")
        if self.sigma_init is not None and len(self.sigma_init) != self.segments:
            raise ValueError(f"sigma_init needs one value per segment ({self.segments})")

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """Rebuild from ``asdict`` output (lists back to tuples); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys {sorted(unknown)}")
        data = dict(data)
        if data.get("harmonics") is not None:
            data["harmonics"] = tuple(tuple(float(v) for v in row) for row in data["harmonics"])
        if data.get("sigma_init") is not None:
            data["sigma_init"] = tuple(float(v) for v in data["sigma_init"])
        return cls(**data)

    def to_dict(self) -> dict:
        """JSON-safe dict (tuples become lists)."""
        return asdict(self, dict_factory=lambda items: {k: _lists(v) for k, v in items})

    @property
    def tank(self) -> Tank:
        """The cell the envelope dynamics model (one shared instance per tank: its free
        amplitude and describing-function table are computed once, not per rollout)."""
        return shared_tank(self.tank_q, self.tank_loop_gain, self.tank_offsets)


def detuned(
    params: dict[str, Tensor], std: float, generator: torch.Generator | None = None
) -> dict[str, Tensor]:
    """``params`` with one random static detuning N(0, std²) per oscillator added to δ in every
    segment: a pattern of cell mismatch (ξ drawn in float32 from ``generator``, else torch's
    global RNG)."""
    delta = params["delta"]
    where = generator.device if generator is not None else delta.device
    xi = torch.randn(delta.shape[-1], generator=generator, device=where)
    return {**params, "delta": delta + std * xi.to(delta)}


def coupling_mismatched(
    params: dict[str, Tensor], rel_std: float, generator: torch.Generator | None = None
) -> dict[str, Tensor]:
    """``params`` with every coupling scaled by one random static factor 1 + N(0, rel_std²)
    per edge in every segment: a pattern of coupling mismatch (ξ as in ``detuned``)."""
    k = params["k"]
    where = generator.device if generator is not None else k.device
    xi = torch.randn(k.shape[-1], generator=generator, device=where)
    return {**params, "k": k * (1 + rel_std * xi.to(k))}


class AISGenerator(nn.Module):
    """Coupled-oscillator image generator with time-varying parameters and hidden oscillators.

    Args:
        graph: an oscsim graph (``oscsim.graph.build_graph``).
        config: model configuration.
        seed: seed of the parameter initialisation.
    """

    def __init__(self, graph: nx.Graph, config: ModelConfig | None = None, seed: int = 0) -> None:
        super().__init__()
        validate_graph(graph)
        self.graph = graph
        self.config = config = config or ModelConfig()
        self.image_shape = image_shape(graph)
        edges = torch.as_tensor(edge_index(graph), dtype=torch.long)
        n = graph.number_of_nodes()
        self.register_buffer("edges", edges, persistent=False)
        self.register_buffer(
            "visible", torch.as_tensor(visible_index(graph), dtype=torch.long), persistent=False
        )
        self._pattern = CouplingPattern(edges, n)
        self.checkpoint_segments = False  # recompute segments in backward (memory for time)
        g = torch.Generator().manual_seed(seed)
        s = config.segments
        sigma0 = config.sigma_init or tuple(
            0.5 * config.sigma_max * i / max(s - 1, 1) for i in range(s)
        )
        self.k = nn.Parameter(config.k_init_std * torch.randn(s, edges.shape[1], generator=g))
        self.delta = nn.Parameter(torch.zeros(s, n))
        self.sigma = nn.Parameter(torch.tensor(sigma0, dtype=torch.float32)[:, None].repeat(1, n))
        self.rho = nn.Parameter(torch.zeros(s, n)) if config.reference_injection else None
        self.quantizers = nn.ModuleDict()
        if config.bits is not None:
            for name in self.param_names:
                fmt = CodeFormat(config.bits, _KIND[name])
                limit = config.sigma_limit if name == "sigma" else None
                self.quantizers[name] = LsqQuantizer(fmt, getattr(config, f"{name}_max"), limit)

    def _apply(self, fn, recurse: bool = True):
        """Move the coupling pattern along with the buffers on ``.to()``/``.cuda()``."""
        super()._apply(fn, recurse)
        self._pattern = self._pattern.to(self.edges.device)
        return self

    @property
    def param_names(self) -> tuple[str, ...]:
        """The hardware parameter kinds this model has: k, delta, sigma (and rho)."""
        return ("k", "delta", "sigma", "rho") if self.rho is not None else ("k", "delta", "sigma")

    @property
    def n_osc(self) -> int:
        """Number of oscillators (visible and hidden)."""
        return self.delta.shape[1]

    def effective(self) -> dict[str, Tensor]:
        """The parameters the dynamics use: ``code × step`` when quantized, else the floats.

        SHIL strength is non-negative in hardware; float models clamp it to [0, sigma_limit].
        """
        raw = {name: getattr(self, name) for name in self.param_names}
        if not self.quantizers:
            return {**raw, "sigma": raw["sigma"].clamp(0.0, self.config.sigma_limit)}
        return {name: self.quantizers[name](raw[name]) for name in self.param_names}

    def to_codes(self) -> dict[str, Tensor]:
        """Integer codes ``{"k": [S, E], "delta"/"sigma"/"rho": [S, N]}`` for the exporter."""
        if not self.quantizers:
            raise ValueError("this model has float parameters (bits=None): it has no codes")
        return {name: self.quantizers[name].codes(getattr(self, name)) for name in self.param_names}

    def steps(self) -> dict[str, float]:
        """The hardware LSB of each parameter kind (value of code 1)."""
        if not self.quantizers:
            raise ValueError("this model has float parameters (bits=None): it has no steps")
        return {
            name: float(self.quantizers[name].positive_step().detach()) for name in self.param_names
        }

    def hardware_params(self) -> dict[str, Tensor]:
        """Codes × steps in float64 on the CPU: exactly the values the exporter builds.

        Not a float64 copy of the model: a value on a rounding edge can round to another code
        in float64.
        """
        codes, steps = self.to_codes(), self.steps()
        return {name: codes[name].detach().cpu().double() * steps[name] for name in codes}

    def latent(self, batch: int, generator: torch.Generator | None = None) -> Tensor:
        """Sample initial phases θ(0) ~ U[0, 2π), shape ``[batch, N]``."""
        theta = torch.rand(batch, self.n_osc, generator=generator, dtype=self.k.dtype)
        return (2 * math.pi * theta).to(self.k.device)

    @staticmethod
    def latent_distance(a: Tensor, b: Tensor) -> Tensor:
        """Mean circular distance ``1 − cos(a − b)`` of two latent batches, one value per pair."""
        return (1 - torch.cos(a - b)).mean(dim=1)

    def phases(
        self,
        theta0: Tensor,
        return_trajectory: bool = False,
        noise_generator: torch.Generator | None = None,
    ) -> Tensor:
        """Integrate from ``theta0``: final phases ``[B, N]`` (or the trajectory).

        In training mode with ``detuning_noise`` or ``coupling_noise`` every call draws a new
        mismatch pattern (from ``noise_generator``, else torch's global RNG, like the phase
        noise).
        """
        params, cfg = self.effective(), self.config
        if self.training and cfg.detuning_noise > 0:
            params = detuned(params, cfg.detuning_noise, noise_generator)
        if self.training and cfg.coupling_noise > 0:
            params = coupling_mismatched(params, cfg.coupling_noise, noise_generator)
        return self.rollout(theta0, params, self.config.noise, return_trajectory, noise_generator)

    def rollout(
        self,
        theta0: Tensor,
        params: dict[str, Tensor],
        noise: float = 0.0,
        return_trajectory: bool = False,
        noise_generator: torch.Generator | None = None,
    ) -> Tensor:
        """Integrate this model's graph and schedule with the given parameter values
        (``effective()``, or e.g. codes × steps in float64 for validation)."""
        cfg = self.config
        args = (theta0, self.edges, params["k"], params["delta"], params["sigma"])
        args += (cfg.cycles_per_segment, cfg.steps_per_segment)
        common = {
            "method": cfg.method,
            "noise": noise,
            "generator": noise_generator,
            "return_trajectory": return_trajectory,
            "rho": params.get("rho"),
            "pattern": self._pattern,
            "checkpoint": self.checkpoint_segments and self.training,
        }
        if cfg.dynamics == "envelope":
            return integrate_envelope(*args, cfg.tank, **common)
        return integrate(*args, harmonics=cfg.harmonics, **common)

    def as_envelope(self, tank: Tank | None = None) -> AISGenerator:
        """A copy with the same parameters (and codes) integrated as an envelope for ``tank``
        (default: the one in this model's config): what its circuit computes."""
        tank = tank or self.config.tank
        return self.replaced(
            dynamics="envelope",
            tank_q=tank.q,
            tank_loop_gain=tank.loop_gain,
            tank_offsets=tank.offsets,
        )

    def replaced(self, **changes: object) -> AISGenerator:
        """A copy with the same parameters (and codes) and these ``ModelConfig`` fields
        changed: other dynamics, another integration step, on the same device and mode."""
        twin = AISGenerator(self.graph, replace(self.config, **changes)).to(self.edges.device)
        twin.load_state_dict(self.state_dict())
        return twin.train(self.training)

    def readout(self, theta: Tensor) -> Tensor:
        """Pixels ``(1 − cos θ)/2`` of the visible oscillators, shape ``[..., H, W]``."""
        pixels = 0.5 * (1.0 - torch.cos(theta[..., self.visible]))
        return pixels.reshape(*theta.shape[:-1], *self.image_shape)

    def forward(self, theta0: Tensor) -> Tensor:
        """Images ``[B, H, W]`` in [0, 1] generated from initial phases ``theta0`` ``[B, N]``."""
        return self.readout(self.phases(theta0))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Generate ``n`` images from fresh latent noise."""
        return self(self.latent(n, generator))

    @torch.no_grad()
    def segment_images(self, theta0: Tensor) -> Tensor:
        """Images at θ(0) and at every segment boundary, ``[S + 1, B, H, W]`` (debugging view)."""
        traj = self.phases(theta0, return_trajectory=True)
        return self.readout(traj[:: self.config.steps_per_segment])
