"""Gait patterns -> joint coordinates over time (with exact first and second time derivatives).

Patterns (`patterns.json`, fitted from the real trials by `imu-torque fit-patterns`) are Fourier series
over the normalised gait cycle phase phi in [0, 1) starting at the ipsilateral heel strike:

    q(phi) = a0 + sum_k a_k cos(2 pi k phi) + b_k sin(2 pi k phi),   k = 1..K

for each coordinate of `PATTERN_COORDINATES` (ipsilateral leg; pelvis referenced to the right heel
strike), per mode (walk, run), with coefficients linear in speed: c(v) = c0 + c1 (v - v_ref) where the
real trials span enough speed (else c1 = 0, see patterns.json "speed_model").

Synthesis: the right-leg phase phi(t) is a C2 cubic spline through the stride boundaries (time-warping:
stride durations vary stride to stride), the left leg runs at phi + 0.5. Coefficients vary per stride
(population pattern at the stride's speed + the subject's style + stride-to-stride noise); their knot
values at stride centres are joined by C2 cubic splines in phi, so angles stay C2 and their time
derivatives are exact: q' = dq/dphi phi',  q'' = d2q/dphi2 phi'^2 + dq/dphi phi''.

Stride length: Alexander (1984, Int J Robotics Res 3(2):49-59) dynamic similarity,
lambda = A h (v^2 / (g h))^0.3 with hip height h = 0.53 x stature (Winter 2009, Fig. 4.1); the
coefficient A (Alexander: 2.3) is re-fitted per mode to the real trials (patterns.json "stride_coef").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline

from ..body import GRAVITY_M_S2, SIDES
from .chain import Coordinates

PATTERNS_PATH = Path(__file__).with_name("patterns.json")
PATTERN_COORDINATES: tuple[str, ...] = (
    "pelvis_tilt",
    "pelvis_list",
    "pelvis_rotation",
    "hip_flexion",
    "hip_adduction",
    "hip_rotation",
    "knee_flexion",
    "ankle_dorsiflexion",
)
HIP_HEIGHT_PER_STATURE = 0.53


# ----------------------------------------------------------------------------------------------- Fourier
def fourier_basis(phase: np.ndarray, harmonics: int, derivative: int = 0) -> np.ndarray:
    """(N, 2K+1) basis [1, cos 2pi phi, sin 2pi phi, cos 4pi phi, ...] or its d^n/dphi^n (n <= 2)."""
    phase = np.asarray(phase, dtype=float)
    k = np.arange(1, harmonics + 1)
    w = 2 * np.pi * k
    arg = phase[:, None] * w[None]
    c, s = np.cos(arg), np.sin(arg)
    out = np.empty((phase.shape[0], 2 * harmonics + 1))
    if derivative == 0:
        out[:, 0] = 1.0
        out[:, 1::2], out[:, 2::2] = c, s
    elif derivative == 1:
        out[:, 0] = 0.0
        out[:, 1::2], out[:, 2::2] = -w * s, w * c
    elif derivative == 2:
        out[:, 0] = 0.0
        out[:, 1::2], out[:, 2::2] = -(w**2) * c, -(w**2) * s
    else:
        raise ValueError("derivative must be 0, 1 or 2")
    return out


def fit_fourier(phase: np.ndarray, values: np.ndarray, harmonics: int) -> tuple[np.ndarray, float]:
    """Least-squares Fourier coefficients (2K+1,) of `values` sampled at `phase`; returns (coef, RMS
    residual). Needs samples covering the whole cycle."""
    phase = np.mod(np.asarray(phase, dtype=float), 1.0)
    cover = np.histogram(phase, bins=20, range=(0, 1))[0]
    if np.any(cover == 0):
        raise ValueError("fit_fourier: the samples do not cover the whole gait cycle")
    b = fourier_basis(phase, harmonics)
    coef, *_ = np.linalg.lstsq(b, values, rcond=None)
    return coef, float(np.sqrt(np.mean((b @ coef - values) ** 2)))


# ----------------------------------------------------------------------------------------------- patterns
@dataclass(frozen=True)
class ModePatterns:
    """Fitted patterns of one mode. coef0/coef1: (n_coords, 2K+1) radians and radians per (m/s)."""

    mode: str
    harmonics: int
    v_ref_m_s: float
    coef0: np.ndarray
    coef1: np.ndarray
    duty: tuple[float, float]  # duty factor = a + b (v - v_ref)
    stride_coef: float  # Alexander coefficient A
    grf_speeds_m_s: np.ndarray  # (S,)
    grf_shapes: np.ndarray  # (S, 3, P) stance-normalised GRF / body weight: AP, medial, vertical

    def coefficients(self, speed_m_s: float) -> np.ndarray:
        """(n_coords, 2K+1) coefficients at a speed (linear model, clamped to 1.5 m/s beyond the data)."""
        dv = float(np.clip(speed_m_s - self.v_ref_m_s, -1.5, 1.5))
        return self.coef0 + self.coef1 * dv

    def duty_factor(self, speed_m_s: float) -> float:
        a, b = self.duty
        lo, hi = (0.55, 0.68) if self.mode == "walk" else (0.22, 0.45)
        return float(np.clip(a + b * (speed_m_s - self.v_ref_m_s), lo, hi))

    def grf_shape(self, speed_m_s: float) -> np.ndarray:
        """(3, P) mean stance GRF shape (AP, medial, vertical; / body weight), interpolated in speed."""
        s = self.grf_speeds_m_s
        if s.shape[0] == 1:
            return self.grf_shapes[0]
        i = int(np.clip(np.searchsorted(s, speed_m_s) - 1, 0, s.shape[0] - 2))
        w = float(np.clip((speed_m_s - s[i]) / (s[i + 1] - s[i]), 0.0, 1.0))
        return (1 - w) * self.grf_shapes[i] + w * self.grf_shapes[i + 1]

    def stride_length_m(self, speed_m_s: float, height_m: float) -> float:
        h = HIP_HEIGHT_PER_STATURE * height_m
        return self.stride_coef * h * (speed_m_s**2 / (GRAVITY_M_S2 * h)) ** 0.3


@dataclass(frozen=True)
class GaitPatterns:
    modes: dict[str, ModePatterns]
    meta: dict

    @classmethod
    def from_dict(cls, d: dict) -> GaitPatterns:
        modes = {}
        for name, m in d["modes"].items():
            coords = m["coordinates"]
            if tuple(coords) != PATTERN_COORDINATES:
                raise ValueError(
                    f"patterns: mode {name}: coordinates {coords} != {list(PATTERN_COORDINATES)}"
                )
            modes[name] = ModePatterns(
                name,
                int(m["harmonics"]),
                float(m["v_ref_m_s"]),
                np.asarray(m["coef0"], dtype=float),
                np.asarray(m["coef1"], dtype=float),
                tuple(m["duty"]),
                float(m["stride_coef"]),
                np.asarray(m["grf_speeds_m_s"], dtype=float),
                np.asarray(m["grf_shapes"], dtype=float),
            )
        for needed in ("walk", "run"):
            if needed not in modes:
                raise ValueError(f"patterns: mode {needed!r} missing")
        return cls(modes, d.get("meta", {}))

    def __getitem__(self, mode: str) -> ModePatterns:
        return self.modes[mode]


@lru_cache(maxsize=4)
def load_patterns(path: str | None = None) -> GaitPatterns:
    """The shipped patterns (sim/patterns.json) or another file."""
    p = Path(path) if path else PATTERNS_PATH
    try:
        return GaitPatterns.from_dict(json.loads(p.read_text()))
    except FileNotFoundError:
        raise FileNotFoundError(f"gait patterns file {p} not found; run `imu-torque fit-patterns`") from None


# ----------------------------------------------------------------------------------------------- synthesis
@dataclass
class StridePlan:
    """Stride schedule (right heel strike to right heel strike), strides indexed k = 0..K-1, plus one
    padding stride on each side so the trial window [0, t_end] is interior.

    boundaries_s (K+3,) right heel-strike times for phases -1..K+1; modes/speeds/duty per stride
    (K+2, incl. padding); coef[side] (K+2, n_coords, 2K+1) per-stride coefficients of each leg
    (pelvis rows used from side 'r')."""

    boundaries_s: np.ndarray
    modes: list[str]
    speeds_m_s: np.ndarray
    duty: np.ndarray
    coef: dict[str, np.ndarray]
    t_end_s: float

    def phase_spline(self) -> CubicSpline:
        k = np.arange(-1, self.boundaries_s.shape[0] - 1, dtype=float)
        return CubicSpline(self.boundaries_s, k, bc_type="natural")


def _coef_splines(coef: np.ndarray) -> CubicSpline:
    """C2 spline of per-stride coefficient knots over the phase (knots at stride centres)."""
    n = coef.shape[0]
    centres = np.arange(n, dtype=float) - 1.0 + 0.5
    flat = coef.reshape(n, -1)
    return CubicSpline(centres, flat, bc_type="clamped")


def synthesize_coordinates(
    plan: StridePlan, time_s: np.ndarray, harmonics: int
) -> tuple[Coordinates, np.ndarray]:
    """chain.Coordinates on `time_s` from a stride plan; also returns the right-leg phase (N,)."""
    ps = plan.phase_spline()
    phi, dphi, ddphi = ps(time_s), ps(time_s, 1), ps(time_s, 2)
    q: dict[str, np.ndarray] = {}
    qd: dict[str, np.ndarray] = {}
    qdd: dict[str, np.ndarray] = {}
    for side in SIDES:
        offset = 0.0 if side == "r" else 0.5
        ph = phi + offset
        spl = _coef_splines(plan.coef[side])
        # Coefficients as functions of the leg's phase (knots shifted with the leg).
        c0, c1, c2 = (spl(ph - offset, d).reshape(ph.shape[0], *plan.coef[side].shape[1:]) for d in range(3))
        b0, b1, b2 = (fourier_basis(ph, harmonics, d) for d in range(3))
        f = np.einsum("ncj,nj->nc", c0, b0)
        f1 = np.einsum("ncj,nj->nc", c1, b0) + np.einsum("ncj,nj->nc", c0, b1)
        f2 = (
            np.einsum("ncj,nj->nc", c2, b0)
            + 2 * np.einsum("ncj,nj->nc", c1, b1)
            + np.einsum("ncj,nj->nc", c0, b2)
        )
        rows = range(len(PATTERN_COORDINATES)) if side == "r" else range(3, len(PATTERN_COORDINATES))
        for i in rows:
            name = PATTERN_COORDINATES[i]
            full = name if name.startswith("pelvis") else f"{name}_{side}"
            q[full] = f[:, i]
            qd[full] = f1[:, i] * dphi
            qdd[full] = f2[:, i] * dphi**2 + f1[:, i] * ddphi
    return Coordinates(time_s, q, qd, qdd), phi


def phase_to_time(plan: StridePlan, phase: np.ndarray) -> np.ndarray:
    """Inverse of the phase spline (monotone), by interpolation on a fine grid."""
    ps = plan.phase_spline()
    t = np.linspace(plan.boundaries_s[0], plan.boundaries_s[-1], 20 * plan.boundaries_s.shape[0] * 50)
    return np.interp(phase, ps(t), t)
