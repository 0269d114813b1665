"""Gait signal analysis shared by the calibration algorithms (ROS-free, sensor frames, SI units).

Everything here is invariant to how the sensor is mounted: it works on rate/force norms, principal
axes, and gravity directions in the sensor's own frame, so an unknown mounting cannot bias it.
- strides: period from the autocorrelation of the angular-rate norm of a leg sensor, events at the
  fastest rotation of each stride (mid-swing for thigh, shank and foot);
- principal axis of the angular rate (the flexion axis of thigh, shank and foot dominates);
- gravity direction per sample from the acausal VQF filter (`vqf.offlineVQF`, Laidig & Seel 2023),
  whose inclination is accurate to ~1-2 deg in gait; its heading is not used;
- per-stride Fourier coefficients at the stride frequency and its harmonics (pelvis sway, rotation).
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks

from ..orientation import orientation_batch, wxyz_to_matrix

# Stride periods searched (walking 0.8-1.6 s, running 0.6-0.8 s; slow or pathological gait up to 2.5 s).
MIN_STRIDE_S = 0.45
MAX_STRIDE_S = 2.5
# Peak of the autocorrelation at the stride period must exceed this for the motion to count as gait.
MIN_PERIODICITY = 0.3
# Below this RMS angular rate (rad/s) a leg sensor is not walking (standing sway is ~0.02 rad/s).
MIN_GAIT_RATE_RMS_RAD_S = 0.5


def valid_runs(mask: np.ndarray, min_len: int) -> list[slice]:
    """Contiguous runs of True in `mask` (N,) at least `min_len` long."""
    m = np.r_[False, np.asarray(mask, bool), False]
    d = np.flatnonzero(np.diff(m.astype(np.int8)))
    return [slice(int(a), int(b)) for a, b in zip(d[::2], d[1::2], strict=True) if b - a >= min_len]


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of a 1-D signal (mean removed), lags 0..N-1 (unbiased by overlap)."""
    x = np.asarray(x, float) - np.mean(x)
    n = x.size
    f = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(f * np.conj(f))[:n]
    ac /= np.arange(n, 0, -1)
    return ac / ac[0] if ac[0] > 0 else ac


def stride_period_s(rate_norm: np.ndarray, rate_hz: float) -> tuple[float | None, float]:
    """Stride period of a leg sensor from the autocorrelation of its angular-rate norm (N,).

    Returns (period or None when not periodic, autocorrelation peak value). A leg segment rotates
    fastest once per stride (swing), so the stride (not the step) is the strongest repetition."""
    x = np.asarray(rate_norm, float)
    lo, hi = int(MIN_STRIDE_S * rate_hz), int(MAX_STRIDE_S * rate_hz)
    if x.size < 2 * lo or not np.all(np.isfinite(x)):
        return None, 0.0
    ac = autocorrelation(x)[: min(hi, x.size // 2) + 1]
    if ac.size <= lo:
        return None, 0.0
    peaks, _ = find_peaks(ac[lo:])
    if peaks.size == 0:
        return None, 0.0
    # the highest local maximum; then prefer the first lag within 85 % of it (a multiple of the period
    # is as periodic as the period itself)
    best = float(ac[lo:][peaks].max())
    if best < MIN_PERIODICITY:
        return None, best
    first = next(int(p) for p in peaks if ac[lo + p] >= 0.85 * best)
    k = lo + first
    # parabolic refinement of the peak lag
    if 0 < k < ac.size - 1:
        a, b, c = ac[k - 1], ac[k], ac[k + 1]
        den = a - 2 * b + c
        k = k + (0.5 * (a - c) / den if den < 0 else 0.0)
    value = float(ac[int(round(k))])
    if value < MIN_PERIODICITY:
        return None, value
    return float(k / rate_hz), value


def stride_events(rate_norm: np.ndarray, rate_hz: float, period_s: float) -> np.ndarray:
    """Indices of the fastest rotation in each stride (mid-swing of a leg sensor), one per stride."""
    x = uniform_filter1d(np.asarray(rate_norm, float), max(1, int(0.04 * rate_hz)))
    height = 0.5 * np.percentile(x, 98)
    peaks, _ = find_peaks(x, height=height, distance=max(1, int(0.65 * period_s * rate_hz)))
    return peaks


def principal_axis(rate: np.ndarray, remove: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Largest-variance direction of the angular rate (N,3) about zero (unit, sign arbitrary) and the
    ratio of the two largest eigenvalues. `remove`: a unit axis whose component is removed first."""
    w = np.asarray(rate, float)
    if remove is not None:
        w = w - np.outer(w @ remove, remove)
    ev, vec = np.linalg.eigh(w.T @ w / max(len(w), 1))
    return vec[:, 2], float(ev[2] / max(ev[1], 1e-12))


def gravity_up(specific_force_m_s2: np.ndarray, angular_rate_rad_s: np.ndarray, rate_hz: float) -> np.ndarray:
    """Up direction (N,3) in the sensor frame per sample from the acausal 6-D VQF (rest detection and
    gyro bias estimation included). NaN rows stay NaN (each finite run is filtered on its own)."""
    f = np.asarray(specific_force_m_s2, float)
    w = np.asarray(angular_rate_rad_s, float)
    out = np.full(f.shape, np.nan)
    ok = np.all(np.isfinite(f), axis=1) & np.all(np.isfinite(w), axis=1)
    for run in valid_runs(ok, 2):
        q = orientation_batch(w[run], f[run], rate_hz, offline=True)
        out[run] = wxyz_to_matrix(q)[:, 2, :]  # third row of sensor->earth = earth z in sensor axes
    return out


def pitch_angles(up: np.ndarray, y_axis: np.ndarray, z_axis: np.ndarray) -> np.ndarray:
    """Pitch (rad) of the frame (x = y cross z, y, z) about y for each up direction (N,3): positive =
    z tilted towards +x (e.g. the shank's top ahead of the ankle). Zero when up == z."""
    x = np.cross(y_axis, z_axis)
    return np.arctan2(-(up @ x), up @ z_axis)


def circular_mean(a: np.ndarray) -> float:
    a = np.asarray(a, float)
    a = a[np.isfinite(a)]
    return float(np.arctan2(np.sin(a).mean(), np.cos(a).mean())) if a.size else float("nan")


def rotate_about(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation of vector v about unit `axis` by `angle` (rad)."""
    return v * np.cos(angle) + np.cross(axis, v) * np.sin(angle) + axis * (axis @ v) * (1 - np.cos(angle))


def stride_phase(n: int, events: np.ndarray) -> np.ndarray:
    """Phase 0..1 within the stride for every sample between the first and last event; NaN outside."""
    ph = np.full(n, np.nan)
    for a, b in itertools.pairwise(events):
        ph[a:b] = np.arange(b - a) / (b - a)
    return ph


def harmonic(x: np.ndarray, phase: np.ndarray, k: int) -> np.ndarray:
    """Complex Fourier coefficient at harmonic k of the stride of x (N,...) over samples with a phase:
    mean of x exp(-2 pi i k phase). Phase 0 is the reference event; a cosine peaking at the event has
    a coefficient with angle 0."""
    ok = np.isfinite(phase)
    e = np.exp(-2j * np.pi * k * phase[ok])
    xx = np.asarray(x)[ok]
    return (xx * e.reshape(-1, *([1] * (xx.ndim - 1)))).mean(axis=0)


def skewness(x: np.ndarray) -> float:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size < 3:
        return 0.0
    x = x - x.mean()
    m2 = (x**2).mean()
    return float((x**3).mean() / m2**1.5) if m2 > 0 else 0.0


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return 0.0
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def _spherical(p: np.ndarray) -> np.ndarray:
    t, f = p
    return np.array([np.cos(t) * np.cos(f), np.cos(t) * np.sin(f), np.sin(t)])


def _angles(j: np.ndarray) -> list[float]:
    return [float(np.arcsin(np.clip(j[2], -1, 1))), float(np.arctan2(j[1], j[0]))]


def hinge_axes(
    rate_1: np.ndarray, rate_2: np.ndarray, axis_1: np.ndarray, axis_2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Axis of a hinge joint in the frames of the two sensors on either side (Seel, Schauer & Raisch
    2012, "Joint axis and position estimation from inertial measurement data by exploiting kinematic
    constraints"): for a hinge, the angular rate components perpendicular to the axis agree in size,
    |w1 x j1| = |w2 x j2|, whatever the segments' orientation (turning included). Least squares over
    the samples valid in both, started from `axis_1`, `axis_2` (unit; the result keeps their signs).
    Returns (j1, j2, RMS residual rad/s)."""
    from scipy.optimize import least_squares

    ok = np.all(np.isfinite(rate_1), axis=1) & np.all(np.isfinite(rate_2), axis=1)
    w1, w2 = rate_1[ok], rate_2[ok]

    def residual(p: np.ndarray) -> np.ndarray:
        return np.linalg.norm(np.cross(w1, _spherical(p[:2])), axis=1) - np.linalg.norm(
            np.cross(w2, _spherical(p[2:])), axis=1
        )

    r = least_squares(residual, _angles(axis_1) + _angles(axis_2))
    j1, j2 = _spherical(r.x[:2]), _spherical(r.x[2:])
    j1 = j1 if j1 @ axis_1 >= 0 else -j1
    j2 = j2 if j2 @ axis_2 >= 0 else -j2
    return j1, j2, float(np.sqrt(np.mean(r.fun**2))) if r.fun.size else float("nan")
