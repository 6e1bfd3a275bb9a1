"""Fused CPU kernels of the sine drift and the complex-envelope drift, compiled at first use.

The C++ sources (``sine_drift.cpp``, ``envelope_drift.cpp`` and their shared ``csr_rk.h``) ship
with the package and are built once per machine into one library with the system C++
compiler (``$CXX``, else ``g++``; about a second, no torch headers) into
``$OSCSIM_CACHE/kernels`` (default ``~/.cache/oscsim/kernels``), named by a hash of the sources,
flags, compiler and CPU, and written atomically. Where no compiler is found or the build fails,
``available()`` is False, ``why_unavailable()`` says why, and the drift runs as plain torch ops
(same values, slower). ``OSCSIM_CPU_KERNELS=0`` turns the kernels off; ``disabled()`` does so
inside a ``with`` block (tests and benchmarks compare both paths in one run).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

SOURCES = tuple(Path(__file__).with_name(f) for f in ("sine_drift.cpp", "envelope_drift.cpp"))
HEADERS = (Path(__file__).with_name("csr_rk.h"),)
FLAGS = (
    "-O3",
    "-march=native",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-fopenmp",
    "-shared",
    "-fPIC",
    "-std=c++17",
)
_DTYPES = {torch.float32: "f32", torch.float64: "f64"}

_lock = threading.Lock()
_state: dict[str, object] = {"lib": None, "why": None, "tried": False, "off": False}


def _cpu_signature() -> str:
    """What ``-march=native`` depends on: the CPU's model and flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    keep = [ln for ln in lines if ln.startswith(("model name", "flags"))]
    return "\n".join(sorted(set(keep)))


def _cache_dir() -> Path:
    root = os.environ.get("OSCSIM_CACHE") or Path.home() / ".cache" / "oscsim"
    return Path(root) / "kernels"


def _compile(cxx: str) -> Path:
    """Build the library (or find it built); raise RuntimeError with the compiler's message."""
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60)
    texts = [f.read_text() for f in (*SOURCES, *HEADERS)]
    key = hashlib.sha256(
        "\0".join([*texts, *FLAGS, version.stdout, _cpu_signature()]).encode()
    ).hexdigest()[:16]
    target = _cache_dir() / f"oscsim_kernels-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        done = subprocess.run(
            [cxx, *FLAGS, *map(str, SOURCES), "-o", tmp],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{cxx} failed: {done.stderr.strip()[-2000:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _load() -> ctypes.CDLL | None:
    """The built library, or None (the reason in ``_state['why']``); tried once per process."""
    with _lock:
        if _state["tried"]:
            return _state["lib"]  # type: ignore[return-value]
        _state["tried"] = True
        cxx = os.environ.get("CXX") or "g++"
        if shutil.which(cxx) is None:
            _state["why"] = f"no C++ compiler {cxx!r} on PATH (apt-get install g++)"
            return None
        try:
            lib = ctypes.CDLL(str(_compile(cxx)))
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            _state["why"] = f"building {', '.join(f.name for f in SOURCES)} failed: {exc}"
            return None
        ptr = ctypes.c_void_p
        for suffix in _DTYPES.values():
            fwd = getattr(lib, f"oscsim_sine_drift_forward_{suffix}")
            fwd.argtypes, fwd.restype = [ctypes.c_int64] * 2 + [ptr] * 10, None
            bwd = getattr(lib, f"oscsim_sine_drift_backward_{suffix}")
            bwd.argtypes, bwd.restype = [ctypes.c_int64] * 2 + [ptr] * 14, None
            step = getattr(lib, f"oscsim_sine_rk_step_{suffix}")
            step.argtypes = [ctypes.c_int64] * 3 + [ptr] * 2 + [ctypes.c_double] + [ptr] * 8
            step.restype = None
            env_fwd = getattr(lib, f"oscsim_envelope_drift_forward_{suffix}")
            env_fwd.argtypes = [ctypes.c_int64] * 2 + [ptr] * 12
            env_fwd.restype = None
            env_bwd = getattr(lib, f"oscsim_envelope_drift_backward_{suffix}")
            env_bwd.argtypes = [ctypes.c_int64] * 2 + [ptr] * 18
            env_bwd.restype = None
            env_step = getattr(lib, f"oscsim_envelope_rk_step_{suffix}")
            env_step.argtypes = [ctypes.c_int64] * 3 + [ptr] * 2 + [ctypes.c_double] + [ptr] * 11
            env_step.restype = None
        _state["lib"] = lib
        return lib


def _env_off() -> bool:
    return os.environ.get("OSCSIM_CPU_KERNELS", "1").strip().lower() in ("0", "off", "false", "no")


def available() -> bool:
    """Whether the fused kernels are built and switched on (builds them on first call)."""
    return not _state["off"] and not _env_off() and _load() is not None


def why_unavailable() -> str | None:
    """Why ``available()`` is False, in one line; None when it is True."""
    if _state["off"] or _env_off():
        return "switched off (OSCSIM_CPU_KERNELS=0 or kernels.disabled())"
    return None if _load() is not None else str(_state["why"])


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run the plain torch drift inside the block (a reference for tests and benchmarks)."""
    before = _state["off"]
    _state["off"] = True
    try:
        yield
    finally:
        _state["off"] = before


def supports(theta: Tensor, mat: Tensor) -> bool:
    """Whether the kernels can take these phases and CSR matrix (CPU, float32/64, int32)."""
    return (
        theta.device.type == "cpu"
        and theta.dtype in _DTYPES
        and mat.crow_indices().dtype == torch.int32
        and available()
    )


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _csr(mat: Tensor) -> tuple[int | None, ...]:
    return _ptr(mat.crow_indices()), _ptr(mat.col_indices()), _ptr(mat.values())


def sine_drift_forward(
    theta: Tensor, mat: Tensor, delta: Tensor, sigma: Tensor, rho: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """Phase velocity ``[N, B]`` and the saved ``[sin|cos]``, ``[Ks|Kc]`` (both ``[N, 2B]``).

    Args:
        theta: contiguous phases ``[N, B]``; mat: CSR K (×2π); delta, sigma, rho: ``[N]`` (×2π).
    """
    lib, n, b = _load(), theta.shape[0], theta.shape[1]
    x, y, out = theta.new_empty(n, 2 * b), theta.new_empty(n, 2 * b), theta.new_empty(n, b)
    fn = getattr(lib, f"oscsim_sine_drift_forward_{_DTYPES[theta.dtype]}")
    fn(
        n,
        b,
        _ptr(theta),
        *_csr(mat),
        _ptr(delta),
        _ptr(sigma),
        _ptr(rho),
        _ptr(x),
        _ptr(y),
        _ptr(out),
    )
    return out, x, y


def sine_drift_backward(
    g: Tensor,
    x: Tensor,
    y: Tensor,
    mat: Tensor,
    sigma: Tensor,
    rho: Tensor | None,
    needs: tuple[bool, bool, bool, bool, bool],
) -> tuple[Tensor | None, ...]:
    """Gradients (θ ``[N, B]``, K per stored entry ``[nnz]``, δ, σ, ρ ``[N]``) of ``g`` = dL/df.

    ``needs`` says which of the five to compute (the others come back as None).
    """
    lib, n, b = _load(), g.shape[0], g.shape[1]
    shapes = ((n, b), (mat.values().numel(),), (n,), (n,), (n,))
    outs = [g.new_empty(s) if need else None for s, need in zip(shapes, needs, strict=True)]
    if rho is None:
        outs[4] = None
    fn = getattr(lib, f"oscsim_sine_drift_backward_{_DTYPES[g.dtype]}")
    pq = g.new_empty(2, n, 2 * b)  # [P|Q] and the sparse sums K @ [P|Q]
    fn(
        n,
        b,
        _ptr(g),
        _ptr(x),
        _ptr(y),
        *_csr(mat),
        _ptr(sigma),
        _ptr(rho),
        _ptr(pq),
        *map(_ptr, outs),
    )
    return tuple(outs)


@dataclass(frozen=True)
class TankArrays:
    """The tank as the envelope kernels read it (``oscsim.envelope.Tank.kernel_arrays``).

    Attributes:
        table: ``[points, 4]`` rows (n, Δn, offset, Δoffset) in the state's dtype.
            The offset columns are zero for a tank without offsets.
        params: float64 ``[6]``: u*/du, the last table position, u*, the table's end in u,
            π/Q and the loop gain L.
    """

    table: Tensor
    params: Tensor


@dataclass(frozen=True)
class EnvelopeSegment:
    """One segment's envelope parameters as the kernels read them (built once per segment).

    Attributes:
        mat: CSR K (×2π); tank: the tank's table and constants; load, delta, sigma, rho:
            contiguous ``[N]`` (×2π; rho may be None).
    """

    mat: Tensor
    tank: TankArrays
    load: Tensor
    delta: Tensor
    sigma: Tensor
    rho: Tensor | None

    def args(self) -> tuple[int | None, ...]:
        """The pointers every envelope entry point takes, in its order."""
        tank = (self.tank.table, self.tank.params)
        return (*_csr(self.mat), *map(_ptr, (*tank, self.load, self.delta, self.sigma, self.rho)))


def envelope_drift_forward(state: Tensor, segment: EnvelopeSegment) -> Tensor:
    """Envelope velocity ``[N, 2B]`` of the contiguous state ``[N, 2B]`` (x, then y)."""
    lib, n, b = _load(), state.shape[0], state.shape[1] // 2
    acc, out = torch.empty_like(state), torch.empty_like(state)
    fn = getattr(lib, f"oscsim_envelope_drift_forward_{_DTYPES[state.dtype]}")
    fn(n, b, _ptr(state), *segment.args(), _ptr(acc), _ptr(out))
    return out


def envelope_drift_backward(
    g: Tensor,
    state: Tensor,
    segment: EnvelopeSegment,
    needs: tuple[bool, bool, bool, bool, bool, bool],
) -> tuple[Tensor | None, ...]:
    """Gradients (state ``[N, 2B]``, K per stored entry ``[nnz]``, load, δ, σ, ρ ``[N]``) of
    ``g`` = dL/d(velocity); ``needs`` says which of the six to compute (the others are None)."""
    lib, n, b = _load(), state.shape[0], state.shape[1] // 2
    shapes = ((n, 2 * b), (segment.mat.values().numel(),), (n,), (n,), (n,), (n,))
    outs = [g.new_empty(s) if need else None for s, need in zip(shapes, needs, strict=True)]
    fn = getattr(lib, f"oscsim_envelope_drift_backward_{_DTYPES[g.dtype]}")
    acc = torch.empty_like(state)
    fn(n, b, _ptr(g), _ptr(state), *segment.args(), _ptr(acc), *map(_ptr, outs))
    return tuple(outs)


class _Tableau:
    """An explicit RK method's Butcher tableau as float64 arrays, and the work memory of the
    fused steps (allocated once: no allocation per step)."""

    def __init__(
        self, a: tuple[tuple[float, ...], ...], b: tuple[float, ...], work: int, like: Tensor
    ) -> None:
        stages = len(b)
        matrix = torch.zeros(stages, stages, dtype=torch.float64)
        for i, row in enumerate(a):
            matrix[i, : len(row)] = torch.tensor(row, dtype=torch.float64)
        self.a, self.b = matrix, torch.tensor(b, dtype=torch.float64)
        self.work = like.new_empty((stages + work) * like.numel())


class RKStepper(_Tableau):
    """Explicit RK steps of the sine drift without autograd, in place, for one phase layout.

    Args:
        a: the Butcher matrix rows (lower-triangular, one per stage); b: the weights.
        like: phases ``[N, B]`` of the dtype and shape the steps will take.
    """

    def __init__(self, a: tuple[tuple[float, ...], ...], b: tuple[float, ...], like: Tensor):
        super().__init__(a, b, 5, like)  # stage input, [sin|cos] and sparse sums: 1 + 2 + 2
        self._fn = getattr(_load(), f"oscsim_sine_rk_step_{_DTYPES[like.dtype]}")

    def step(
        self,
        theta: Tensor,
        h: float,
        mat: Tensor,
        delta: Tensor,
        sigma: Tensor,
        rho: Tensor | None,
    ) -> None:
        """Advance contiguous ``theta`` ``[N, B]`` by one step of size ``h``, in place."""
        n, b = theta.shape
        self._fn(
            n,
            b,
            len(self.b),
            _ptr(self.a),
            _ptr(self.b),
            h,
            _ptr(theta),
            *_csr(mat),
            _ptr(delta),
            _ptr(sigma),
            _ptr(rho),
            _ptr(self.work),
        )


class EnvelopeRKStepper(_Tableau):
    """Explicit RK steps of the envelope drift without autograd, in place, for one state layout.

    Args:
        a: the Butcher matrix rows; b: the weights.
        like: a state ``[N, 2B]`` of the dtype and shape the steps will take.
    """

    def __init__(self, a: tuple[tuple[float, ...], ...], b: tuple[float, ...], like: Tensor):
        super().__init__(a, b, 2, like)  # stage input and sparse sums
        self._fn = getattr(_load(), f"oscsim_envelope_rk_step_{_DTYPES[like.dtype]}")

    def step(self, state: Tensor, h: float, segment: EnvelopeSegment) -> None:
        """Advance the contiguous state ``[N, 2B]`` by one step of size ``h``, in place."""
        n, b = state.shape[0], state.shape[1] // 2
        stages, a, w = len(self.b), _ptr(self.a), _ptr(self.b)
        self._fn(n, b, stages, a, w, h, _ptr(state), *segment.args(), _ptr(self.work))
