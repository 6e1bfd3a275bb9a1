"""Circuit export: golden netlists, code round trips, files, and real ngspice runs read back.

Golden files: ``tests/golden/tiny-<variant>.cir`` hold the exported netlists of a 4-oscillator
model (2x2 pixels, 8-neighbour, 2 segments of 4 cycles, codes set by formula, fixed latent). To
regenerate them after an intended change of the netlist format, run

    OSCSIM_REGEN_GOLDEN=1 .venv/bin/pytest tests/test_spice_export.py -k golden

and review the diff before committing.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from oscsim.errors import OscsimError
from oscsim.graph import GraphSpec, build_graph
from oscsim.model import AISGenerator, ModelConfig
from oscsim.spice.cells import CELLS_DIR, LcCell
from oscsim.spice.export import export_circuit, export_model, read_latents
from oscsim.spice.parse import netlist_codes
from oscsim.spice.phase import wrap
from oscsim.spice.plan import CircuitGains, plan_circuit
from oscsim.spice.pwl import ControlNets, Schedule, level_at
from oscsim.spice.readback import load_manifest, read_phases, readout
from oscsim.spice.run import check_tran, run_netlist
from oscsim.validate import measure_delta0

GOLDEN = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("OSCSIM_REGEN_GOLDEN") == "1"
THETA0 = np.array([0.3, 2.0, -1.0, 4.0])
VARIANTS = ("structural", "collapsed")
needs_ngspice = pytest.mark.skipif(
    shutil.which("ngspice") is None, reason="ngspice not installed (apt-get install ngspice)"
)


def _model(
    size: tuple[int, int] = (2, 2), segments: int = 2, cycles: float = 4.0, scale: int = 7
) -> AISGenerator:
    """A model whose codes follow fixed formulas (every sign, bit and segment change occurs)."""
    graph = build_graph(GraphSpec(size, neighbourhood=8))
    config = ModelConfig(segments=segments, cycles_per_segment=cycles, steps_per_segment=8)
    model = AISGenerator(graph, config, seed=0)
    s = torch.arange(segments)[:, None]
    e = torch.arange(model.edges.shape[1])[None]
    i = torch.arange(model.n_osc)[None]
    codes = {
        "k": ((3 * e + 5 * s) % 15 - 7).clamp(-scale, scale),
        "delta": (5 * i + 3 * s) % 16 - 8,
        "sigma": ((7 * i + 4 * s) % 16).clamp(0, 2 * scale + 1),
        "rho": ((4 * i + 6 * s + 2) % 15 - 7).clamp(-scale, scale),
    }
    steps = model.steps()
    with torch.no_grad():
        for name, code in codes.items():
            getattr(model, name).copy_(code.float() * steps[name])
    assert all(torch.equal(model.to_codes()[k], codes[k]) for k in codes)
    return model


@pytest.mark.parametrize("variant", VARIANTS)
def test_golden_netlists(variant: str) -> None:
    text = export_circuit(_model(), THETA0, variant)
    golden = GOLDEN / f"tiny-{variant}.cir"
    if REGENERATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(text.encode("ascii"))
    assert text.encode("ascii") == golden.read_bytes(), "regenerate with OSCSIM_REGEN_GOLDEN=1"
    assert "\r" not in text and text.endswith(".end\n")
    includes = [ln.split()[1] for ln in text.splitlines() if ln.startswith(".include")]
    assert includes and all(inc.startswith("cells/") for inc in includes)
    assert str(Path.cwd()) not in text and str(CELLS_DIR) not in text
    check_tran(text, LcCell().f_ref_hz)


@pytest.mark.parametrize("variant", VARIANTS)
def test_netlist_round_trip_gives_the_model_codes(tmp_path: Path, variant: str) -> None:
    model = _model((3, 3), segments=3)
    manifest = export_model(model, tmp_path, n=2, seed=5, variant=variant)
    for name in manifest["netlists"]:
        codes = netlist_codes((tmp_path / name).read_text(), manifest)
        for kind, expected in model.to_codes().items():
            np.testing.assert_array_equal(codes[kind], expected.numpy(), err_msg=kind)


def test_export_folder_is_complete_deterministic_and_relocatable(tmp_path: Path) -> None:
    model = _model()
    manifest = export_model(model, tmp_path / "a", n=3, seed=7, variant="structural")
    export_model(model, tmp_path / "b", n=3, seed=7, variant="structural")
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["cells", "latents.npy", "manifest.json", *manifest["netlists"]]
    for name in manifest["netlists"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    for rel in manifest["includes"]:
        assert (tmp_path / "a" / rel).read_bytes() == (CELLS_DIR / Path(rel).name).read_bytes()
    expected = model.latent(3, torch.Generator().manual_seed(7)).double().numpy()
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "latents.npy"), expected)
    assert manifest["breakpoints_s"] == pytest.approx([0.0, 4e-9, 8e-9], abs=1e-21)
    assert [o["pixel"] for o in manifest["oscillators"]] == [0, 1, 2, 3]
    assert set(manifest["supplies"]) == {"Vdd_osc", "Vdd_cpl", "Vdd_bias", "Vdd_shil"}
    assert manifest["seed"] == 7 and "torch" in manifest["versions"]
    assert load_manifest(tmp_path / "a") == manifest
    with pytest.raises(OscsimError, match="export the model first"):
        load_manifest(tmp_path)
    with pytest.raises(OscsimError, match="--force"):
        export_model(model, tmp_path / "a", n=1)
    again = export_model(model, tmp_path / "a", latent=THETA0, force=True, latent_source="x.npy")
    assert again["netlists"] == ["sample_0000.cir"] and again["latent_source"] == "x.npy"
    assert sorted(p.name for p in (tmp_path / "a").glob("*.cir")) == ["sample_0000.cir"]


def test_gains_set_the_element_values() -> None:
    model, cell = _model(), LcCell()
    steps = model.steps()
    gains = CircuitGains(70.0, 90.0, 0.025, delta0_per_cycle=-1e-3)
    plan = plan_circuit(model, cell, gains)
    assert plan.bank.g_s == pytest.approx(steps["k"] / 70.0)
    assert plan.rho_bank.g_s == pytest.approx(steps["rho"] / 70.0)
    # one SHIL code step: (g_pump / 15) x line amplitude x sigma per pump siemens = sigma_step
    sigma_code = plan.cell.g_pump_s_per_v / 15 * plan.refclk.line_amp_v * 90.0
    assert sigma_code == pytest.approx(steps["sigma"])
    expected_tune = (model.to_codes()["delta"].numpy() * steps["delta"] + 1e-3) / 0.025
    np.testing.assert_allclose(plan.tune_v, expected_tune, rtol=1e-12)
    assert plan.refclk.amp_v == pytest.approx(cell.steady_amplitude_v())
    first = plan_circuit(model, cell)
    assert first.gains == CircuitGains(cell.k_per_siemens, cell.k_per_siemens, 0.02, 0.0)


def test_time_scale_slows_the_circuit_and_divides_every_rate(tmp_path: Path) -> None:
    model, cell = _model(), LcCell()
    base = plan_circuit(model, cell, CircuitGains.first_order(cell, -1e-3))
    slow = plan_circuit(model, cell, CircuitGains.first_order(cell, -1e-3, time_scale=3.0))
    assert slow.schedule.t_stop_s == pytest.approx(3 * base.schedule.t_stop_s)
    assert slow.cycles_per_segment == 3 * base.cycles_per_segment
    assert slow.bank.g_s == pytest.approx(base.bank.g_s / 3)
    assert slow.rho_bank.g_s == pytest.approx(base.rho_bank.g_s / 3)
    assert slow.cell.g_pump_s_per_v == pytest.approx(base.cell.g_pump_s_per_v / 3)
    assert slow.tune_v_per_code == pytest.approx(base.tune_v_per_code / 3)
    assert slow.tune_offset_v == base.tune_offset_v  # the cell's own offset is per circuit cycle
    gains = CircuitGains.first_order(cell, time_scale=3.0)
    manifest = export_model(model, tmp_path, latent=THETA0, variant="collapsed", gains=gains)
    assert manifest["gains"]["time_scale"] == 3.0
    codes = netlist_codes((tmp_path / manifest["netlists"][0]).read_text(), manifest)
    for name, expected in model.to_codes().items():
        np.testing.assert_array_equal(codes[name], expected.numpy())
    sigma_top = model.to_codes()["sigma"].max().item() * model.steps()["sigma"]
    assert cell.sigma_threshold == pytest.approx(1 / (2 * cell.q))
    assert base.pump_threshold_ratio == pytest.approx(sigma_top / cell.sigma_threshold)
    assert slow.pump_threshold_ratio == pytest.approx(base.pump_threshold_ratio / 3)
    assert manifest["elements"]["pump_threshold_ratio"] == slow.pump_threshold_ratio
    with pytest.raises(ValueError, match="time_scale"):
        CircuitGains.first_order(cell, time_scale=0.0)


def test_controls_switch_at_segment_boundaries_and_share_nets() -> None:
    sched = Schedule.uniform(3, 4e-9, 1e-11)
    assert sched.points([1.0, 1.0, 2.0]) == [(0.0, 1.0), (8e-9 - 5e-12, 1.0), (8e-9 + 5e-12, 2.0)]
    assert level_at(sched.points([1.0, 3.0, 2.0]), sched.midpoints_s()).tolist() == [1, 3, 2]
    assert level_at(sched.points([0.0, 1.8, 1.8]), 4e-9) == pytest.approx(0.9)  # switch at t_b
    nets = ControlNets(sched)
    assert nets.net("tune", [-1, 0, 2], [0.1, 0.2, 0.3]) == "tune_m1_0_2"
    assert nets.net("tune", [-1, 0, 2], [0.1, 0.2, 0.3]) == "tune_m1_0_2"
    nets.net("cb", [1, 1, 1], [1.8] * 3)
    assert nets.lines()[0] == "vcb_1_1_1 cb_1_1_1 0 dc 1.800000e+00"
    assert nets.lines()[1].startswith("vtune_m1_0_2 tune_m1_0_2 0 pwl(0.000000e+00 1.000000e-01")
    with pytest.raises(ValueError, match="other levels"):
        nets.net("tune", [-1, 0, 2], [0.0, 0.2, 0.3])
    with pytest.raises(ValueError, match="transition_s"):
        Schedule.uniform(2, 4e-9, 3e-9)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: export_circuit(m, np.zeros(3)), r"shape \[4\]"),
        (lambda m: export_circuit(m, np.full(4, np.nan)), "finite"),
        (lambda m: export_circuit(m, THETA0, "fast"), "unknown variant"),
        (lambda m: export_circuit(m, THETA0, cell="ring"), "unknown cell"),
        (lambda m: export_circuit(m, np.zeros((2, 4))), "use export_model"),
        (lambda m: plan_circuit(m, gains=CircuitGains(80.0, 80.0, 1e-4)), "no tank capacitance"),
    ],
)
def test_export_rejects_bad_input_with_a_fix(call, message: str) -> None:
    with pytest.raises(OscsimError, match=message):
        call(_model())


def test_float_models_and_bad_latent_files_are_refused(tmp_path: Path) -> None:
    graph = build_graph(GraphSpec((2, 2)))
    with pytest.raises(OscsimError, match="bits=4"):
        export_circuit(AISGenerator(graph, ModelConfig(bits=None)), THETA0)
    (tmp_path / "bad.npy").write_text("not numpy")
    with pytest.raises(OscsimError, match=r"numpy\.save"):
        read_latents(tmp_path / "bad.npy")
    np.save(tmp_path / "ok.npy", THETA0)
    assert read_latents(tmp_path / "ok.npy").tolist() == THETA0.tolist()


def _run(model: AISGenerator, tmp_path: Path, variant: str, **kwargs):
    manifest = export_model(model, tmp_path, variant=variant, **kwargs)
    raw = run_netlist(tmp_path / "sample_0000.cir", timeout_s=60, f_ref_hz=manifest["f_ref_hz"])
    theta0 = np.load(tmp_path / "latents.npy")[0]
    return raw, manifest, read_phases(raw, manifest, theta0)


@pytest.mark.ngspice
@needs_ngspice
@pytest.mark.parametrize("variant", VARIANTS)
def test_golden_model_runs_and_saves_only_what_readback_needs(tmp_path: Path, variant) -> None:
    model = _model()
    raw, manifest, phases = _run(model, tmp_path, variant, latent=THETA0)
    # the collapsed run writes its raw file from a .control block, in ngspice's own order
    assert raw.names[0] == "time" and sorted(raw.names[1:]) == sorted(manifest["saved"])
    assert phases.boundary_rad.shape == (2, 4) and phases.trajectory_rad[0].tolist() == [*THETA0]
    i_osc = -np.mean(raw["i(vdd_osc)"][raw.time > 1e-9])
    assert i_osc == pytest.approx(4 * LcCell().i_tail_a, rel=0.02)  # the tails, nothing else
    for src in ("i(vdd_cpl)", "i(vdd_bias)", "i(vdd_shil)"):
        assert np.abs(raw[src]).max() < 1e-9  # ideal switch logic and bias DACs draw nothing
    pixels = readout(phases.final_rad, manifest)
    expected = model.readout(torch.from_numpy(phases.final_rad)).numpy()
    np.testing.assert_allclose(pixels, expected, atol=1e-12)


@pytest.mark.ngspice
@needs_ngspice
def test_uncoupled_cells_start_at_their_latent_and_rotate_at_their_detuning(tmp_path) -> None:
    """Closed form: with only detuning, theta_i(t) = theta_i(0) + 2 pi (delta_i + delta0) t."""
    model = _model((2, 2), segments=2, cycles=8.0)
    with torch.no_grad():
        for name in ("k", "sigma", "rho"):
            getattr(model, name).zero_()
    delta0 = measure_delta0()
    assert -1.2e-3 < delta0 < -7e-4  # netlists/cells/README.md: -9.7e-4 per cycle
    delta = model.to_codes()["delta"].numpy() * model.steps()["delta"]
    expected = THETA0 + 2 * math.pi * np.cumsum(delta * 8.0, axis=0)
    drift = 2 * math.pi * delta0 * np.array([[8.0], [16.0]])
    for offset, gains in ((0.0, CircuitGains.first_order(LcCell(), delta0)), (drift, None)):
        _, _, phases = _run(model, tmp_path / str(gains), "collapsed", latent=THETA0, gains=gains)
        error = np.degrees(wrap(phases.boundary_rad - expected - offset))
        assert np.abs(error).max() < 0.5, f"phase error {error} deg at 8 and 16 cycles"


@pytest.mark.ngspice
@needs_ngspice
def test_structural_and_collapsed_agree(tmp_path: Path) -> None:
    model = _model((3, 3), segments=2, cycles=6.0, scale=3)
    final = {}
    for variant in VARIANTS:
        _, _, phases = _run(model, tmp_path / variant, variant, n=1, seed=3)
        final[variant] = phases.boundary_rad
    error = np.degrees(np.abs(wrap(final["structural"] - final["collapsed"])))
    assert error.max() < 2.0, f"largest phase difference {error.max():.3f} deg"
