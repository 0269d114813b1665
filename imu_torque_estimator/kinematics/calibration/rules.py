"""Gait rules that decide axis signs and the pelvis heading without any mounting assumption.

A flexion axis found from the angular rate has no sign, and a heading found from the pelvis sway has
no direction: only time asymmetries of gait and the coupling between segments tell them apart. Each
rule returns a `Vote`: a score in -1..1 (positive = the candidate axis is right) and a weight. The
numbers behind each rule were measured on the simulator (benchmarks/bench_calibration.py, section
rule statistics) and checked, not tuned, on real IMU signals (BioMAC walking/running, Xsens walk):

shank_swing_skew     shank flexion rate is negatively skewed: the swing's fast forward rotation is
                     about -y (sim walk -1.1, run -0.45; real walk -0.9..-1.0, run -0.5..-0.6).
thigh_contra_shank   thigh flexion rate anti-correlates with the other leg's shank (one swings while
                     the other is in stance; sim -0.44..-0.72, real -0.47..-0.56).
thigh_swing_skew     thigh flexion rate negatively skewed in walking (sim -0.7, real -0.25..-0.62;
                     about 0 in running, so walking only).
foot_ipsi_shank      foot flexion rate correlates with its own shank's (sim 0.86..0.94, real
                     0.77..0.91).
pelvis_pendulum      walking is an inverted pendulum: forward specific force in phase with the time
                     derivative of the vertical one (sim +0.15..+0.55, real +0.49); running is a
                     spring, the sign reverses (sim -0.64..-0.86, real -0.52).
pelvis_sway          the pelvis sways over the stance foot: the stride-frequency component of the
                     lateral specific force has a known phase relative to the right shank's swing
                     (needs the left/right labels to be right; sim walk -110..-165 deg, run
                     +85..+180 deg; real walk 164..171, run 104).
pelvis_yaw (check)   the pelvis yaw rate's stride-frequency phase relative to the right shank's swing
                     (vertical axis known from gravity, so it checks only the left/right labels;
                     sim walk -3..-7 deg, run -81..-159 deg).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gait import correlation, harmonic, skewness

# A sign is decided when the weighted mean vote reaches this (0..1); below it the segment is undecided.
MIN_SIGN_CONFIDENCE = 0.3
# Pelvis stride-frequency phases (deg) relative to the right shank's mid-swing (its most negative
# flexion rate), per gait, from the simulator (mean over 0.8-2.0 m/s walking, 2.5-4.5 m/s running).
PELVIS_SWAY_PHASE_DEG = {"walk": -145.0, "run": 125.0}
PELVIS_YAW_PHASE_DEG = {"walk": -5.0, "run": -120.0}
# Stride-frequency lateral specific force (m/s^2) below which the sway phase is not trusted.
MIN_SWAY_AMPLITUDE_M_S2 = 0.08
MIN_YAW_AMPLITUDE_RAD_S = 0.04


@dataclass(frozen=True)
class Vote:
    """One rule's verdict on a candidate sign: score in -1..1 (+ = keep the candidate), weight >= 0,
    and the raw statistic it came from (for reports)."""

    rule: str
    score: float
    weight: float
    statistic: float


def decide(votes: list[Vote]) -> tuple[int, float, str, dict[str, float]]:
    """Weighted vote -> (sign +1/-1, confidence 0..1, deciding rule, {rule: score after the sign})."""
    votes = [v for v in votes if v.weight > 0]
    if not votes:
        return 1, 0.0, "", {}
    total = sum(v.weight * v.score for v in votes) / sum(v.weight for v in votes)
    sign = 1 if total >= 0 else -1
    strongest = max(votes, key=lambda v: v.weight * abs(v.score) * (1 if v.score * sign > 0 else 0))
    return sign, float(abs(total)), strongest.rule, {v.rule: float(v.score * sign) for v in votes}


def shank_swing_skew(flex_rate: np.ndarray) -> Vote:
    s = skewness(flex_rate)
    return Vote("shank_swing_skew", float(np.clip(-s / 0.3, -1, 1)), 1.0, s)


def thigh_swing_skew(flex_rate: np.ndarray, gait: str) -> Vote:
    s = skewness(flex_rate)
    return Vote("thigh_swing_skew", float(np.clip(-s / 0.3, -1, 1)), 0.5 if gait == "walk" else 0.0, s)


def thigh_contra_shank(flex_rate: np.ndarray, contra_shank_flex_rate: np.ndarray) -> Vote:
    r = correlation(flex_rate, contra_shank_flex_rate)
    return Vote("thigh_contra_shank", float(np.clip(-r / 0.25, -1, 1)), 1.0, r)


def foot_ipsi_shank(flex_rate: np.ndarray, shank_flex_rate: np.ndarray) -> Vote:
    r = correlation(flex_rate, shank_flex_rate)
    return Vote("foot_ipsi_shank", float(np.clip(r / 0.4, -1, 1)), 1.0, r)


def pelvis_pendulum(forward_sf: np.ndarray, vertical_sf: np.ndarray, gait: str) -> Vote:
    d = np.gradient(vertical_sf)
    r = correlation(forward_sf, d)
    sign = -1.0 if gait == "run" else 1.0
    return Vote(
        "pelvis_pendulum", float(np.clip(sign * r / 0.15, -1, 1)), 1.0 if gait in ("walk", "run") else 0.0, r
    )


def _phase_vote(name: str, c: complex, ref_deg: float, min_amp: float) -> Vote:
    amp = abs(c)
    if not np.isfinite(amp) or amp == 0:
        return Vote(name, 0.0, 0.0, float("nan"))
    delta = np.angle(c) - np.radians(ref_deg)
    return Vote(name, float(np.cos(delta) * min(1.0, amp / min_amp)), 1.0, float(np.degrees(np.angle(c))))


def pelvis_sway(lateral_sf: np.ndarray, right_phase: np.ndarray, gait: str) -> Vote:
    """`lateral_sf` along the candidate left (y) axis; `right_phase` 0..1 from the right shank's swing."""
    if gait not in PELVIS_SWAY_PHASE_DEG:
        return Vote("pelvis_sway", 0.0, 0.0, float("nan"))
    c = harmonic(lateral_sf, right_phase, 1)
    return _phase_vote("pelvis_sway", complex(c), PELVIS_SWAY_PHASE_DEG[gait], MIN_SWAY_AMPLITUDE_M_S2)


def pelvis_yaw(yaw_rate: np.ndarray, right_phase: np.ndarray, gait: str) -> Vote:
    """Left/right label check: + = the shank labels agree with the pelvis rotation."""
    if gait not in PELVIS_YAW_PHASE_DEG:
        return Vote("pelvis_yaw", 0.0, 0.0, float("nan"))
    c = harmonic(yaw_rate, right_phase, 1)
    return _phase_vote("pelvis_yaw", complex(c), PELVIS_YAW_PHASE_DEG[gait], MIN_YAW_AMPLITUDE_RAD_S)
