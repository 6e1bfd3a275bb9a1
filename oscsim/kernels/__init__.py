"""Fused CPU kernels for the sine drift, compiled from ``sine_drift.cpp`` at first use.

The C++ source ships with the package and is built once per machine with the system C++
compiler (``$CXX``, else ``g++``; about a second, no torch headers) into
``$OSCSIM_CACHE/kernels`` (default ``~/.cache/oscsim/kernels``), named by a hash of the source,
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
from pathlib import Path

import torch
from torch import Tensor

SOURCE = Path(__file__).with_name("sine_drift.cpp")
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fopenmp", "-shared", "-fPIC", "-std=c++17")
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
    key = hashlib.sha256(
        "\0".join([SOURCE.read_text(), *FLAGS, version.stdout, _cpu_signature()]).encode()
    ).hexdigest()[:16]
    target = _cache_dir() / f"sine_drift-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        done = subprocess.run(
            [cxx, *FLAGS, str(SOURCE), "-o", tmp], capture_output=True, text=True, timeout=300
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
            _state["why"] = f"building {SOURCE.name} failed: {exc}"
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


class RKStepper:
    """Explicit RK steps of the sine drift without autograd, in place, for one phase layout.

    Holds the Butcher tableau as float64 arrays and the work memory, so that every step of a
    rollout reuses them (no allocation per step).

    Args:
        a: the Butcher matrix rows (lower-triangular, one per stage); b: the weights.
        like: phases ``[N, B]`` of the dtype and shape the steps will take.
    """

    def __init__(self, a: tuple[tuple[float, ...], ...], b: tuple[float, ...], like: Tensor):
        stages = len(b)
        matrix = torch.zeros(stages, stages, dtype=torch.float64)
        for i, row in enumerate(a):
            matrix[i, : len(row)] = torch.tensor(row, dtype=torch.float64)
        self.a, self.b = matrix, torch.tensor(b, dtype=torch.float64)
        n, batch = like.shape
        self.work = like.new_empty((stages + 5) * n * batch)
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
