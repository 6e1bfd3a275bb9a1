"""Speed of the behavioural model: sampling, WGAN-GP iterations, memory, scaling, step size.

Every figure is measured in this run against references timed in the same run:
  * ``sparse-torch``: the package's own sparse path with the fused C++ CPU kernels switched off
    (``oscsim.kernels.disabled()``): one CSR product and a dozen torch ops per RK stage;
  * ``dense``: the same equation with a dense N×N coupling matrix (``oscsim.reference``);
  * ``torchdiffeq``: torchdiffeq's fixed-step RK4 over a straightforward edge-list drift
    (gather θ_j − θ_i per edge, scatter-add), what a first PyTorch implementation looks like.
Timings are best-of-N wall-clock seconds after a warm-up. Writes
``benchmarks/results/behavioural.json`` and ``behavioural.md``.

    python benchmarks/behavioural.py            # full run (about 10 minutes on 2 cores)
    python benchmarks/behavioural.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from oscsim import kernels
from oscsim.atomic import write_json
from oscsim.dynamics import TWO_PI, integrate
from oscsim.errors import run_script
from oscsim.graph import GraphSpec, build_graph, edge_index
from oscsim.model import AISGenerator, ModelConfig
from oscsim.reference import dense_integrate
from oscsim.sparse import CouplingPattern
from oscsim.versions import versions

RESULTS = Path(__file__).resolve().parent / "results"
CYCLES, SEGMENTS = 16.0, 4


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Best wall-clock seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


def _model(preset: str | GraphSpec, steps: int, device: str, seed: int = 0) -> AISGenerator:
    cfg = ModelConfig(segments=SEGMENTS, cycles_per_segment=CYCLES, steps_per_segment=steps)
    return AISGenerator(build_graph(preset), cfg, seed=seed).to(device)


def _edge_list_drift(theta: Tensor, edges: Tensor, k: Tensor, delta: Tensor, sigma: Tensor):
    """The naive drift on ``[B, N]`` phases: per-edge gather, sin, scatter-add (both ends)."""
    i, j = edges
    term = k * torch.sin(theta[:, j] - theta[:, i])
    cpl = torch.zeros_like(theta).index_add(1, i, term).index_add(1, j, -term)
    return TWO_PI * (delta + cpl - sigma * torch.sin(2 * theta))


def torchdiffeq_rollout(model: AISGenerator, theta0: Tensor) -> Tensor:
    """The same rollout through torchdiffeq's fixed-grid RK4, segment by segment."""
    from torchdiffeq import odeint

    p, cfg = model.effective(), model.config
    h = cfg.cycles_per_segment / cfg.steps_per_segment
    theta, t = theta0, torch.tensor([0.0, cfg.cycles_per_segment], dtype=theta0.dtype)
    for s in range(cfg.segments):

        def f(_t: Tensor, y: Tensor, s: int = s) -> Tensor:
            return _edge_list_drift(y, model.edges, p["k"][s], p["delta"][s], p["sigma"][s])

        theta = odeint(f, theta, t, method="rk4", options={"step_size": h})[-1]
    return theta


def without_kernels(fn: Callable[[], object]) -> Callable[[], object]:
    """``fn`` run with the fused CPU kernels switched off (the plain torch sparse path)."""

    def run() -> object:
        with kernels.disabled():
            return fn()

    return run


def sampling(preset: str, steps: int, batch: int, device: str, repeats: int) -> dict:
    """Images per second of the four implementations on one preset (no autograd)."""
    model = _model(preset, steps, device)
    theta0 = model.latent(batch, torch.Generator().manual_seed(0))
    p, cfg = model.effective(), model.config
    impls = {
        "sparse": lambda: model.phases(theta0),
        "sparse-torch": without_kernels(lambda: model.phases(theta0)),
        "dense": lambda: dense_integrate(
            theta0,
            model.edges,
            p["k"],
            p["delta"],
            p["sigma"],
            cfg.cycles_per_segment,
            cfg.steps_per_segment,
        ),
        "torchdiffeq": lambda: torchdiffeq_rollout(model, theta0),
    }
    out = {}
    with torch.no_grad():
        ref = impls["sparse"]()
        for name, fn in impls.items():
            err = (torch.remainder(fn() - ref + math.pi, TWO_PI) - math.pi).abs().max().item()
            sec = best_of(fn, repeats)
            out[name] = {"s_per_batch": sec, "images_per_s": batch / sec, "max_abs_diff": err}
    envelope = model.as_envelope()
    with torch.no_grad():
        fused, ref = envelope.phases(theta0), without_kernels(lambda: envelope.phases(theta0))()
        err = (torch.remainder(fused - ref + math.pi, TWO_PI) - math.pi).abs().max().item()
        sec = best_of(lambda: envelope.phases(theta0), repeats)
        torch_sec = best_of(without_kernels(lambda: envelope.phases(theta0)), repeats)
    out["envelope"] = {"s_per_batch": sec, "images_per_s": batch / sec, "max_abs_diff": err}
    out["envelope-torch"] = {"s_per_batch": torch_sec, "images_per_s": batch / torch_sec}
    out["speedup_vs_dense"] = out["dense"]["s_per_batch"] / out["sparse"]["s_per_batch"]
    out["speedup_vs_torchdiffeq"] = out["torchdiffeq"]["s_per_batch"] / out["sparse"]["s_per_batch"]
    out["speedup_vs_torch_ops"] = out["sparse-torch"]["s_per_batch"] / out["sparse"]["s_per_batch"]
    return out


def saved_bytes(model: AISGenerator, theta0: Tensor, checkpoint: bool) -> int:
    """Bytes autograd keeps for the backward pass of one generator forward."""
    total = 0

    def pack(t: Tensor) -> Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    model.train()
    model.checkpoint_segments = checkpoint
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(theta0)
    out.mean().backward()
    model.zero_grad()
    return total


def generator_step(preset: str, steps: int, batch: int, device: str, repeats: int) -> dict:
    """Seconds of a generator forward+backward with and without segment checkpointing, and
    of the same model as an envelope (checkpointed, as training runs it), each also without
    the fused kernels."""
    model = _model(preset, steps, device)
    theta0 = model.latent(batch, torch.Generator().manual_seed(0))
    out = {}
    for ckpt in (False, True):
        step = _backward_pass(model, theta0, ckpt)
        key = "checkpointed" if ckpt else "stored"
        out[key] = {"s": best_of(step, repeats), "saved_bytes": saved_bytes(model, theta0, ckpt)}
        if not ckpt:
            out["stored_torch_ops"] = {"s": best_of(without_kernels(step), repeats)}
    step = _backward_pass(model.as_envelope(), theta0, True)
    out["envelope"] = {"s": best_of(step, repeats)}
    out["envelope_torch_ops"] = {"s": best_of(without_kernels(step), repeats)}
    return out


def _backward_pass(model: AISGenerator, theta0: Tensor, ckpt: bool) -> Callable[[], None]:
    """One training-mode forward+backward of ``model`` on ``theta0``."""

    def step() -> None:
        model.train()
        model.checkpoint_segments = ckpt
        model(theta0).mean().backward()
        model.zero_grad()

    return step


def scaling(sizes: list[int], batch: int, device: str, repeats: int, dense_max: int) -> list:
    """Seconds per RK4 step against oscillator count (8-neighbour grids, degree fixed)."""
    rows = []
    for n in sizes:
        side = round(math.sqrt(n))
        g = build_graph(GraphSpec(image_size=(side, side), neighbourhood=8))
        edges = torch.as_tensor(edge_index(g))
        n_osc, n_edges = side * side, edges.shape[1]
        gen = torch.Generator().manual_seed(0)
        k = 0.005 * torch.randn(1, n_edges, generator=gen)
        zeros = torch.zeros(1, n_osc)
        theta0 = TWO_PI * torch.rand(batch, n_osc, generator=gen)
        pattern = CouplingPattern(edges, n_osc)
        args = (
            theta0.to(device),
            edges.to(device),
            k.to(device),
            zeros.to(device),
            zeros.to(device),
            1.0,
            4,
        )
        row = {"n_osc": n_osc, "edges": n_edges}
        with torch.no_grad():
            sparse = functools.partial(integrate, *args, pattern=pattern.to(device))
            row["sparse_s_per_step"] = best_of(sparse, repeats) / 4
            if n_osc <= dense_max:
                dense = functools.partial(dense_integrate, *args)
                row["dense_s_per_step"] = best_of(dense, repeats) / 4
                row["speedup_vs_dense"] = row["dense_s_per_step"] / row["sparse_s_per_step"]
        rows.append(row)
    return rows


def step_size_study(preset: str, k_std: float, latents: int = 16) -> list[dict]:
    """Final-phase error against a fine RK4 reference (32 steps per cycle), float64."""
    cfg = ModelConfig(segments=SEGMENTS, cycles_per_segment=CYCLES, bits=None, k_init_std=k_std)
    model = AISGenerator(build_graph(preset), cfg, seed=0).double()
    p = model.effective()
    theta0 = model.latent(latents, torch.Generator().manual_seed(1))

    def run(per_cycle: int, method: str) -> Tensor:
        with torch.no_grad():
            return integrate(
                theta0,
                model.edges,
                p["k"],
                p["delta"],
                p["sigma"],
                CYCLES,
                int(CYCLES * per_cycle),
                method=method,
                pattern=model._pattern,
            )

    ref = run(32, "rk4")
    rows = []
    for method in ("rk4", "heun"):
        for per_cycle in (1, 2, 4, 8):
            out = run(per_cycle, method)
            d = torch.remainder(out - ref + math.pi, TWO_PI) - math.pi
            pix = 0.5 * (torch.cos(ref) - torch.cos(out))
            rows.append(
                {
                    "preset": preset,
                    "k_init_std": k_std,
                    "method": method,
                    "steps_per_cycle": per_cycle,
                    "phase_rms_rad": d.pow(2).mean().sqrt().item(),
                    "phase_max_rad": d.abs().max().item(),
                    "pixel_max_abs": pix.abs().max().item(),
                    "sign_flips": int(((torch.cos(ref) > 0) != (torch.cos(out) > 0)).sum()),
                }
            )
    return rows


def train_iteration(preset: str, steps: int, batch: int, device: str, repeats: int) -> dict:
    """Seconds of one WGAN-GP iteration (5 critic steps + 1 generator step), with and without
    the fused kernels, and of its critic steps alone (the part the generator's speed leaves),
    with the critic's FLOP floor on this machine (``critic_bound``)."""
    from oscsim.train import iteration_fn
    from oscsim.train_config import preset as train_preset

    config = train_preset("demo" if preset == "demo" else "mnist", batch=batch)
    config = replace(config, model=replace(config.model, steps_per_segment=steps))
    step = iteration_fn(config, device=device)
    envelope = replace(config, model=replace(config.model, dynamics="envelope"))
    critic_s = best_of(critic_steps(config, device), repeats)
    return {
        "s": best_of(step, repeats),
        "torch_ops_s": best_of(without_kernels(step), repeats),
        "envelope_s": best_of(iteration_fn(envelope, device=device), repeats),
        "critic_steps_s": critic_s,
        **critic_bound(config, device, repeats, critic_s),
    }


class FlopCount(TorchDispatchMode):
    """Counts the floating-point operations of the torch ops run under it, with torch's own
    formulas (``torch.utils.flop_counter``: convolutions, their backward, matrix products).
    Unlike ``FlopCounterMode`` it tracks no modules, so it sees ``autograd.grad`` through a
    leaf (the gradient penalty) too."""

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **(kwargs or {}), out_val=out)
        return out


def matmul_peak(device: str, repeats: int, n: int = 2048) -> float:
    """Float32 GFLOP/s of an n×n matrix product: what this machine's threads can do at best."""
    a, b = (torch.randn(n, n, device=device) for _ in range(2))
    return 2 * n**3 / best_of(lambda: a @ b, repeats) / 1e9


def critic_bound(config, device: str, repeats: int, critic_s: float) -> dict:
    """Why the critic steps cost what they do: their FLOPs (conv forward, backward and the
    penalty's double backward) over the machine's measured matrix-product peak is the least
    time any implementation of this critic could take here."""
    counter = FlopCount()
    with counter:
        critic_steps(config, device)()
    gflop = counter.flops / 1e9
    peak = matmul_peak(device, repeats)
    return {
        "critic_gflop": gflop,
        "peak_gflop_s": peak,
        "critic_floor_s": gflop / peak,
        "critic_achieved_gflop_s": gflop / critic_s,
    }


def critic_steps(config, device: str) -> Callable[[], None]:
    """The iteration's ``n_critic`` critic updates alone, on fixed real and fake batches."""
    from oscsim.critic import Critic, gradient_penalty
    from oscsim.graph import get_spec

    shape = get_spec(config.graph).image_size
    critic = Critic(shape, config.critic_width, config.critic_layer_norm).to(device)
    opt = torch.optim.Adam(critic.parameters(), lr=config.lr_d, betas=config.betas)
    gen = torch.Generator().manual_seed(0)
    real, fake = (torch.rand(config.batch, *shape, generator=gen).to(device) for _ in range(2))
    eps = torch.rand(config.batch, generator=gen).to(device)

    def run() -> None:
        for _ in range(config.n_critic):
            scores = critic(torch.cat([real, fake]))
            loss = config.gp_weight * gradient_penalty(critic, real, fake, eps) - scores.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def _markdown(res: dict) -> str:
    lines = [
        "# Behavioural model speed",
        "",
        f"Machine: {res['machine']['cpu']} ({res['machine']['threads']} threads), "
        f"device {res['device']}. Batch {res['batch']}, 4 segments × 16 cycles, RK4.",
        "",
        f"Fused CPU kernels: {res['kernels']}.",
        "",
        "| preset | steps/cycle | sparse img/s | same, torch ops | dense img/s | "
        "torchdiffeq img/s | speedup vs dense | vs torch ops | envelope model img/s | "
        "same, torch ops |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, row in res["sampling"].items():
        preset, spc = key.rsplit("@", 1)
        lines.append(
            f"| {preset} | {spc} | {row['sparse']['images_per_s']:.0f} | "
            f"{row['sparse-torch']['images_per_s']:.0f} | "
            f"{row['dense']['images_per_s']:.0f} | {row['torchdiffeq']['images_per_s']:.0f} | "
            f"{row['speedup_vs_dense']:.1f}× | {row['speedup_vs_torch_ops']:.1f}× | "
            f"{row['envelope']['images_per_s']:.0f} | "
            f"{row['envelope-torch']['images_per_s']:.0f} |"
        )
    lines += [
        "",
        "| preset | steps/cycle | generator fwd+bwd s | same, torch ops | envelope fwd+bwd s "
        "(checkpointed) | same, torch ops | WGAN-GP iteration s | same, torch ops | envelope "
        "iteration s | of which critic steps s | critic GFLOP | critic floor s at matmul peak "
        "| critic GFLOP/s (peak) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, it in res["train_iter"].items():
        preset, spc = key.rsplit("@", 1)
        gen = res["generator_step"][key]
        lines.append(
            f"| {preset} | {spc} | {gen['stored']['s']:.3f} | {gen['stored_torch_ops']['s']:.3f} "
            f"| {gen['envelope']['s']:.3f} | {gen['envelope_torch_ops']['s']:.3f} "
            f"| {it['s']:.2f} | {it['torch_ops_s']:.2f} | {it['envelope_s']:.2f} "
            f"| {it['critic_steps_s']:.2f} "
            f"| {it['critic_gflop']:.1f} | {it['critic_floor_s']:.2f} "
            f"| {it['critic_achieved_gflop_s']:.0f} ({it['peak_gflop_s']:.0f}) |"
        )
    lines += [
        "",
        "| N | edges | sparse ms/step | dense ms/step | speedup |",
        "|---|---|---|---|---|",
    ]
    for row in res["scaling"]:
        dense = row.get("dense_s_per_step")
        lines.append(
            f"| {row['n_osc']} | {row['edges']} | {1e3 * row['sparse_s_per_step']:.2f} | "
            + (f"{1e3 * dense:.2f} | {row['speedup_vs_dense']:.1f}× |" if dense else "– | – |")
        )
    lines += [
        "",
        "| preset | k std | method | steps/cycle | phase RMS rad | max rad | sign flips |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in res["step_size"]:
        lines.append(
            f"| {row['preset']} | {row['k_init_std']} | {row['method']} | "
            f"{row['steps_per_cycle']} | {row['phase_rms_rad']:.1e} | "
            f"{row['phase_max_rad']:.1e} | {row['sign_flips']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write JSON and markdown results."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    reps, batch = (1, 16) if args.quick else (3, 64)
    presets = [("demo", 2)] if args.quick else [("demo", 2), ("mnist", 2), ("mnist", 1)]
    res: dict = {
        "device": args.device,
        "batch": batch,
        "quick": args.quick,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
        },
        "kernels": "on" if kernels.available() else f"off ({kernels.why_unavailable()})",
        "sampling": {},
        "generator_step": {},
        "train_iter": {},
    }
    for preset, spc in presets:
        key = f"{preset}@{spc}"
        steps = int(CYCLES * spc)
        print(f"sampling {key} ...", flush=True)
        res["sampling"][key] = sampling(preset, steps, batch, args.device, reps)
        print(f"generator step {key} ...", flush=True)
        res["generator_step"][key] = generator_step(preset, steps, batch, args.device, reps)
        print(f"WGAN-GP iteration {key} ...", flush=True)
        res["train_iter"][key] = train_iteration(preset, steps, batch, args.device, reps)
    res["train_iter_s"] = {k: v["s"] for k, v in res["train_iter"].items()}
    mnist = res["sampling"].get("mnist@2", res["sampling"][f"{presets[0][0]}@2"])
    res["speedup_vs_dense"] = mnist["speedup_vs_dense"]
    res["images_per_s"] = {k: v["sparse"]["images_per_s"] for k, v in res["sampling"].items()}
    sizes = [1024, 4096] if args.quick else [1024, 2025, 4096, 8100, 16384]
    print("scaling ...", flush=True)
    res["scaling"] = scaling(
        sizes, batch, args.device, reps, dense_max=4096 if args.quick else 8100
    )
    print("step-size study ...", flush=True)
    res["step_size"] = [
        row
        for preset in ("demo", "mnist")
        for k_std in (0.005, 0.01)
        for row in step_size_study(preset, k_std, 4 if args.quick else 16)
    ]
    res["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["versions"] = versions()
    out = Path(args.out)
    name = "behavioural-quick" if args.quick else "behavioural"
    write_json(out / f"{name}.json", res)
    (out / f"{name}.md").write_text(_markdown(res))
    print(_markdown(res))
    print(
        json.dumps(
            {k: res[k] for k in ("speedup_vs_dense", "images_per_s", "train_iter_s")}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    run_script(main)
