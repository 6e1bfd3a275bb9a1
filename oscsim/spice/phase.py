"""Oscillator phase and amplitude from simulated waveforms, relative to the reference clock.

Convention: a differential voltage ``A cos(2 pi f_ref t + theta)`` has phase ``theta`` (rad), so a
cell locked to phase 0 is in step with refclk and reads out as pixel ``(1 - cos theta) / 2``.
Shapes: ``t_s`` is ``(n_t,)`` in s; waveforms are ``(n_t,)`` or ``(n_t, n_osc)`` in V; results are
``(n_times, n_osc)``.
"""

from __future__ import annotations

import numpy as np

_SAMPLES_PER_CYCLE = 64
_CHUNK_ELEMENTS = 1 << 22


def demodulate(
    t_s: np.ndarray,
    v_diff: np.ndarray,
    times_s: np.ndarray | float,
    f_ref_hz: float,
    window_cycles: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Amplitude and phase of each waveform at each readout time, by quadrature demodulation.

    The ``window_cycles`` reference cycles that end at each readout time are demodulated one
    cycle at a time against ``exp(-j 2 pi f_ref t)`` (64 uniform samples per cycle, linearly
    interpolated from the simulator's time points). Each cycle is demodulated twice, a quarter
    cycle apart, and the two averaged: that cancels the image at twice the frequency, which a
    frequency offset or an amplitude drift would otherwise leak into the phase. A straight line
    through the unwrapped per-cycle phases, evaluated at the readout time, removes the lag that
    a frequency offset would cause. With ``window_cycles=1`` the phase is that of the last cycle.

    Args:
        t_s: simulation time points, s, non-decreasing.
        v_diff: differential voltages ``V(p) - V(n)``, V, ``(n_t,)`` or ``(n_t, n_osc)``.
        times_s: readout times, s; each needs ``window_cycles + 1/4`` cycles of data before it.
        f_ref_hz: reference frequency, Hz.
        window_cycles: reference cycles per estimate (>= 1).

    Returns:
        ``(amplitude_v, phase_rad)``, each ``(n_times, n_osc)``: mean amplitude over the last
        cycle and phase in ``(-pi, pi]``.
    """
    t, v, times = _check(t_s, v_diff, times_s, f_ref_hz, window_cycles)
    period = 1.0 / f_ref_hz
    grid = (np.arange(window_cycles * _SAMPLES_PER_CYCLE) + 0.5) / _SAMPLES_PER_CYCLE
    offsets = (grid - window_cycles) * period
    offsets = np.concatenate([offsets, offsets - period / 4.0])
    centres = (np.arange(window_cycles) + 0.5 - window_cycles) * period
    chunk = max(1, _CHUNK_ELEMENTS // (offsets.size * v.shape[1]))
    amp = np.empty((times.size, v.shape[1]))
    phase = np.empty((times.size, v.shape[1]))
    for start in range(0, times.size, chunk):
        part = slice(start, start + chunk)
        amp[part], phase[part] = _demodulate_chunk(t, v, times[part], offsets, centres, f_ref_hz)
    return amp, phase


def phase_at(
    t_s: np.ndarray,
    v_diff: np.ndarray,
    times_s: np.ndarray | float,
    f_ref_hz: float,
    window_cycles: int = 4,
    ref: np.ndarray | None = None,
) -> np.ndarray:
    """Phase of each oscillator at each readout time, rad in ``(-pi, pi]``, ``(n_times, n_osc)``.

    Phase 0 is ``cos(2 pi f_ref t)`` with t from the start of the simulation, which is refclk's
    ``V(p, n)``. Pass ``ref`` (refclk's simulated ``V(p) - V(n)``, ``(n_t,)``) to measure against
    the simulated clock instead. See ``demodulate`` for the method.
    """
    _, phase = demodulate(t_s, v_diff, times_s, f_ref_hz, window_cycles)
    if ref is not None:
        _, ref_phase = demodulate(
            t_s, np.asarray(ref, dtype=np.float64), times_s, f_ref_hz, window_cycles
        )
        phase = wrap(phase - ref_phase)
    return phase


def wrap(x: np.ndarray) -> np.ndarray:
    """Angles wrapped to ``(-pi, pi]``."""
    return np.pi - np.mod(np.pi - np.asarray(x, dtype=np.float64), 2.0 * np.pi)


def rising_crossings(t_s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Times (s) at which a 1-D waveform crosses zero upwards, linearly interpolated."""
    t = np.asarray(t_s, dtype=np.float64)
    x = np.asarray(v, dtype=np.float64)
    k = np.nonzero((x[:-1] < 0.0) & (x[1:] >= 0.0))[0]
    return t[k] - x[k] * (t[k + 1] - t[k]) / (x[k + 1] - x[k])


def frequency_hz(t_s: np.ndarray, v: np.ndarray, t_start_s: float = 0.0) -> float:
    """Mean frequency (Hz) of a 1-D waveform from its rising zero crossings after ``t_start_s``."""
    crossings = rising_crossings(t_s, v)
    crossings = crossings[crossings >= t_start_s]
    if crossings.size < 2:
        raise ValueError(f"fewer than two rising zero crossings after t = {t_start_s:g} s")
    return (crossings.size - 1) / (crossings[-1] - crossings[0])


def _demodulate_chunk(
    t: np.ndarray,
    v: np.ndarray,
    times: np.ndarray,
    offsets: np.ndarray,
    centres: np.ndarray,
    f_ref_hz: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cycle complex amplitudes -> (amplitude, line-fitted phase) at ``times``."""
    samples = times[:, None] + offsets[None, :]
    k = np.clip(np.searchsorted(t, samples, side="right"), 1, t.size - 1)
    dt = t[k] - t[k - 1]
    w = np.divide(samples - t[k - 1], dt, out=np.zeros_like(samples), where=dt > 0)
    values = v[k - 1] * (1.0 - w)[..., None] + v[k] * w[..., None]
    n_cycles = centres.size
    carrier = np.exp(-2j * np.pi * f_ref_hz * samples).reshape(times.size, 2, n_cycles, -1)
    shaped = values.reshape(times.size, 2, n_cycles, _SAMPLES_PER_CYCLE, v.shape[1])
    z = np.einsum("tscm,tscmo->tsco", carrier, shaped) * (2.0 / _SAMPLES_PER_CYCLE)
    on_time, early = z[:, 0], z[:, 1]
    drift = _line_fit(np.angle(on_time), centres)[1]
    lag = np.exp(0.25j * drift / f_ref_hz)[:, None, :]
    paired = 0.5 * (on_time + early * lag)
    theta_now = _line_fit(np.angle(paired), centres)[0]
    return np.abs(paired[:, -1]), wrap(theta_now)


def _line_fit(angles: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit unwrapped per-cycle phases ``(n_times, n_cycles, n_osc)`` by a line in time.

    Returns the line at time offset 0 (the readout time) and its slope (rad/s), ``(n_times,
    n_osc)`` each; one cycle gives its phase and slope 0.
    """
    theta = np.unwrap(angles, axis=1)
    if centres.size == 1:
        return theta[:, 0], np.zeros_like(theta[:, 0])
    x = centres - centres.mean()
    slope = np.einsum("c,tco->to", x, theta) / np.dot(x, x)
    return theta.mean(axis=1) - slope * centres.mean(), slope


def _check(
    t_s: np.ndarray,
    v_diff: np.ndarray,
    times_s: np.ndarray | float,
    f_ref_hz: float,
    window_cycles: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and normalise the arguments of ``demodulate``."""
    t = np.asarray(t_s, dtype=np.float64)
    v = np.asarray(v_diff, dtype=np.float64)
    times = np.atleast_1d(np.asarray(times_s, dtype=np.float64))
    if v.ndim == 1:
        v = v[:, None]
    if t.ndim != 1 or v.ndim != 2 or v.shape[0] != t.size or t.size < 2:
        raise ValueError(f"t_s {t.shape} and v_diff {np.shape(v_diff)} do not match in length")
    if np.any(np.diff(t) < 0):
        raise ValueError("t_s must be non-decreasing")
    if not f_ref_hz > 0 or int(window_cycles) != window_cycles or window_cycles < 1:
        raise ValueError("f_ref_hz must be > 0 and window_cycles a whole number >= 1")
    earliest = t[0] + (window_cycles + 0.25) / f_ref_hz
    slack = 1e-6 / f_ref_hz  # forgives rounding in times computed as k * T_ref
    if times.ndim != 1 or np.any(times < earliest - slack) or np.any(times > t[-1] + slack):
        raise ValueError(
            f"readout times must lie in [{earliest:.4g}, {t[-1]:.4g}] s: each needs "
            f"{window_cycles} + 1/4 reference cycles of data before it"
        )
    return t, v, times
