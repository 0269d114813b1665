"""Segment axes from gait, shared by the `still` and `walking` modes (sensor frames, SI units).

Per leg segment (thigh, shank, foot): the flexion axis (segment y) is the principal axis of the
angular rate with the vertical component removed; its sign comes from the gait rules (rules.py), shank
first, then foot and thigh through their coupling with the shanks. Pelvis: the horizontal axis whose
specific force oscillates at the step frequency (fore-aft) rather than at the stride frequency
(lateral sway) is the fore-aft axis; its direction comes from the inverted-pendulum rule and the sway
phase relative to the right shank's swing. The vertical (segment z) is given (still: standing window)
or found from the walking itself (walking: mean gravity direction, then the pitch about the flexion
axis from the stride-mean segment inclination prior, `walking.PITCH_PRIOR_DEG`).

Left/right checks: a thigh moves against the other leg's shank and a foot with its own shank; the
pelvis' yaw and sway phases relative to the right shank must match the labels. Inconsistent labels are
reported and the affected segments are left undecided (no torque for a leg the data cannot name).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ...body import GRAVITY_M_S2
from . import rules
from .base import Recording
from .gait import (
    MIN_GAIT_RATE_RMS_RAD_S,
    circular_mean,
    correlation,
    gravity_up,
    harmonic,
    hinge_axes,
    pitch_angles,
    principal_axis,
    rotate_about,
    skewness,
    stride_events,
    stride_period_s,
    valid_runs,
)

# Flexion axis: below MIN the rate has no dominant axis (undecided); confidence reaches 1 at GOOD.
MIN_AXIS_EIG_RATIO = 2.0
GOOD_AXIS_EIG_RATIO = 6.0
# Pelvis fore-aft/lateral separation (0..1, see _pelvis): below MIN the heading axis is undecided.
MIN_PELVIS_AXIS_SEPARATION = 0.2
GOOD_PELVIS_AXIS_SEPARATION = 0.5
# Left/right label check: a pelvis yaw vote below this (with the sway disagreeing with the pendulum)
# means the shank labels are swapped.
SWAP_VOTE = -0.3
MIN_STRIDES = 2
# The knee-hinge axis replaces the principal axes only within this of them (deg) and when the hinge
# model fits: RMS residual |w1 x j1| - |w2 x j2| below MAX_HINGE_RESIDUAL_RAD_S. Simulated sensors fit
# to 0.16-0.33 rad/s; the real thigh sensors of the Xsens walk and BioMAC do not (0.7-2.5 rad/s, axes
# 7-51 deg from the principal axes: soft tissue moves the thigh sensor far more than the simulator's
# artefact), so on them the principal axes are used.
MAX_HINGE_DEVIATION_DEG = 15.0
MAX_HINGE_RESIDUAL_RAD_S = 0.45
RUN_PELVIS_PEAK_G = 1.95
# Pelvis strides turning faster than this (mean yaw rate over the stride, ~23 deg/s) are not used:
# chosen on the real Xsens walk (0.25-0.6 tried; the simulator has no turns).
TURN_RATE_RAD_S = 0.4


@dataclass
class AxisEstimate:
    """Outcome for one segment (rotation = sensor_to_segment, None when nothing could be estimated)."""

    segment: str
    rotation: np.ndarray | None
    status: str = "ok"
    reason: str = ""
    confidence: float = 0.0
    decided_by: str = ""
    votes: dict[str, float] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)
    strides: int = 0

    def undecide(self, reason: str) -> None:
        self.status = "undecided"
        self.reason = f"{self.reason}; {reason}" if self.reason else reason


@dataclass
class Analysis:
    estimates: dict[str, AxisEstimate]
    gait: str
    messages: list[str] = field(default_factory=list)
    checks: dict[str, float] = field(default_factory=dict)


@dataclass
class _Sensor:
    segment: str
    f: np.ndarray  # (N,3) NaN where unusable
    w: np.ndarray  # (N,3) bias removed, NaN where unusable
    period_s: float | None = None
    periodicity: float = 0.0
    events: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    up: np.ndarray | None = None


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _nanmean_rows(x: np.ndarray) -> np.ndarray:
    ok = np.all(np.isfinite(x), axis=1)
    return x[ok].mean(axis=0) if ok.any() else np.full(3, np.nan)


def _period_and_events(s: _Sensor, rate_hz: float) -> None:
    ok = np.all(np.isfinite(s.w), axis=1)
    runs = valid_runs(ok, int(2 * rate_hz))
    if not runs:
        return
    longest = max(runs, key=lambda r: r.stop - r.start)
    s.period_s, s.periodicity = stride_period_s(np.linalg.norm(s.w[longest], axis=1), rate_hz)


def _flex_events(flex: np.ndarray, rate_hz: float, period_s: float) -> np.ndarray:
    """Mid-swing: the most negative flexion rate of each stride (per valid run)."""
    ok = np.isfinite(flex)
    out = [run.start + stride_events(-flex[run], rate_hz, period_s)
           for run in valid_runs(ok, int(period_s * rate_hz))]
    return np.concatenate(out) if out else np.zeros(0, int)


def _complete_strides(events: np.ndarray, period_s: float | None, rate_hz: float) -> int:
    """Strides between consecutive events no longer than 1.5 periods (gaps break the count)."""
    if period_s is None or len(events) < 2:
        return 0
    d = np.diff(events)
    return int(np.sum(d < 1.5 * period_s * rate_hz))


def _per_stride_skew_agreement(flex: np.ndarray, events: np.ndarray) -> float:
    """Fraction of strides whose flexion-rate skew is negative (the chosen sign's signature)."""
    votes = [skewness(flex[a:b]) < 0 for a, b in itertools.pairwise(events) if b - a > 5]
    return float(np.mean(votes)) if votes else float("nan")


def classify_gait(pelvis_f: np.ndarray | None, period_s: float | None) -> str:
    """walk | run from the pelvis specific force peaks (a runner lands from flight: stance peaks above
    2 g) or, without a pelvis sensor, the stride period. Pelvis |f| 99th percentile: sim walking
    0.8-2.0 m/s 1.3-1.7 g, running 2.0-5.0 m/s 2.2-3.1 g; real (BioMAC) walking 1.45-1.56 g, running
    4.4 g."""
    if period_s is None:
        return "none"
    if pelvis_f is not None:
        n = np.linalg.norm(pelvis_f, axis=1)
        n = n[np.isfinite(n)]
        if n.size:
            return "run" if np.percentile(n, 99) / GRAVITY_M_S2 > RUN_PELVIS_PEAK_G else "walk"
    return "run" if period_s < 0.8 else "walk"


def _pitch_to_prior(
    up: np.ndarray, y: np.ndarray, z0: np.ndarray, prior_rad: float
) -> tuple[np.ndarray, float]:
    """Rotate z0 about y so that the mean pitch of the up directions equals `prior_rad`."""
    z0 = _unit(z0 - (z0 @ y) * y)
    ok = np.all(np.isfinite(up), axis=1)
    mean = circular_mean(pitch_angles(up[ok], y, z0))
    # rotating the frame by beta about y (z towards x) raises every measured pitch by beta
    beta = prior_rad - mean
    return _unit(rotate_about(z0, y, beta)), float(beta)


def analyse(
    rec: Recording,
    *,
    vertical: Mapping[str, np.ndarray] | None = None,
    gyro_bias: Mapping[str, np.ndarray] | None = None,
    use: np.ndarray | None = None,
    pitch_prior_deg: Mapping[str, Mapping[str, float]] | None = None,
    knee_hinge: bool = True,
) -> Analysis:
    """Axes of every segment of `rec` from its gait samples (`use` (N,) selects them; default all).

    vertical[segment]: the segment z axis in sensor coordinates (still mode); when absent the walking
    estimate is used with `pitch_prior_deg[gait][segment type]`. gyro_bias[segment] is removed first.
    `knee_hinge`: refine thigh/shank axes with the knee hinge where it fits (see _knee_hinges).
    """
    rate = rec.rate_hz
    n = rec.n_samples
    mask = np.ones(n, bool) if use is None else np.asarray(use, bool)
    sensors: dict[str, _Sensor] = {}
    for i, seg in enumerate(rec.segments):
        f = rec.specific_force_m_s2[i].copy()
        w = rec.angular_rate_rad_s[i] - (
            np.zeros(3) if gyro_bias is None else gyro_bias.get(seg, np.zeros(3))
        )
        bad = ~(mask & np.all(np.isfinite(f), axis=1) & np.all(np.isfinite(w), axis=1))
        f[bad] = np.nan
        w = w.copy()
        w[bad] = np.nan
        sensors[seg] = _Sensor(seg, f, w)
    est = {seg: AxisEstimate(seg, None) for seg in rec.segments}
    legs = [s for s in rec.segments if s != "pelvis"]
    for seg in legs:
        _period_and_events(sensors[seg], rate)
    periods = [sensors[s].period_s for s in legs if sensors[s].period_s is not None]
    rms = {
        s: float(np.sqrt(np.nanmean(np.sum(sensors[s].w ** 2, axis=1))))
        if np.isfinite(sensors[s].w).any()
        else 0.0
        for s in rec.segments
    }
    moving = [s for s in legs if rms[s] >= MIN_GAIT_RATE_RMS_RAD_S]
    period = float(np.median(periods)) if periods and moving else None
    pelvis_f = sensors["pelvis"].f if "pelvis" in sensors else None
    gait = classify_gait(pelvis_f, period)
    out = Analysis(est, gait)
    out.checks["stride_period_s"] = period if period is not None else float("nan")
    if period is None:
        why = (
            "no walking detected: the leg sensors do not move periodically (angular rate RMS "
            + ", ".join(f"{s} {rms[s]:.2f}" for s in legs)
            + " rad/s); walk a few strides"
        )
        if not legs:
            why = "no leg sensor: the stride timing and the heading need a shank sensor"
        for e in est.values():
            e.undecide(why)
        return out
    need_up = vertical is None or any(s not in vertical for s in rec.segments)
    for s in sensors.values():
        if need_up:
            s.up = gravity_up(s.f, s.w, rate)
    flex: dict[str, np.ndarray] = {}  # decided flexion rate per leg segment
    cand: dict[str, tuple[np.ndarray, float, np.ndarray]] = {}  # axis, ratio, z0
    for seg in legs:
        s = sensors[seg]
        z0 = _vertical(seg, s, vertical)
        ok = np.all(np.isfinite(s.w), axis=1)
        if ok.sum() < 2 * period * rate or z0 is None:
            est[seg].undecide(f"too few valid gait samples ({int(ok.sum())})")
            continue
        a, ratio = principal_axis(s.w[ok], remove=z0)
        cand[seg] = (a, ratio, z0)
        est[seg].quality["axis_eig_ratio"] = ratio
        if rms[seg] < MIN_GAIT_RATE_RMS_RAD_S:
            est[seg].undecide(f"segment hardly moves (angular rate RMS {rms[seg]:.2f} rad/s)")
        elif ratio < MIN_AXIS_EIG_RATIO:
            est[seg].undecide(
                f"no dominant flexion axis (eigenvalue ratio {ratio:.1f} < {MIN_AXIS_EIG_RATIO})"
            )
    # shanks first: their sign rule needs no other segment
    for seg in (s for s in legs if s.startswith("shank") and s in cand):
        a = cand[seg][0]
        fr = sensors[seg].w @ a
        _sign(est[seg], a, [rules.shank_swing_skew(fr)], cand)
        if est[seg].decided_by:
            flex[seg] = sensors[seg].w @ cand[seg][0]
            sensors[seg].events = _flex_events(flex[seg], rate, sensors[seg].period_s or period)
            est[seg].strides = _complete_strides(sensors[seg].events, sensors[seg].period_s or period, rate)
            est[seg].quality["stride_votes_agree"] = _per_stride_skew_agreement(
                flex[seg], sensors[seg].events
            )
    _check_leg_labels(out, sensors, cand)
    for seg in (s for s in legs if not s.startswith("shank") and s in cand):
        a = cand[seg][0]
        fr = sensors[seg].w @ a
        side, other = seg[-1], "r" if seg[-1] == "l" else "l"
        votes = []
        if seg.startswith("foot") and f"shank_{side}" in flex:
            votes.append(rules.foot_ipsi_shank(fr, flex[f"shank_{side}"]))
        if seg.startswith("thigh"):
            if f"shank_{other}" in flex:
                votes.append(rules.thigh_contra_shank(fr, flex[f"shank_{other}"]))
            votes.append(rules.thigh_swing_skew(fr, gait))
        if not any(v.weight > 0 for v in votes):
            est[seg].undecide("no sign rule applies: it needs the shank sensor(s) of the legs")
            continue
        _sign(est[seg], a, votes, cand)
        if est[seg].decided_by:
            flex[seg] = sensors[seg].w @ cand[seg][0]
            ev = stride_events(
                np.nan_to_num(np.linalg.norm(sensors[seg].w, axis=1)), rate, sensors[seg].period_s or period
            )
            est[seg].strides = _complete_strides(ev, sensors[seg].period_s or period, rate)
    if knee_hinge:
        _knee_hinges(est, sensors, cand, shank_too=vertical is None)
    # full rotation of each leg segment with a chosen sign
    for seg in (s for s in legs if s in cand and est[s].decided_by):
        _leg_rotation(est[seg], sensors[seg], cand[seg], vertical, pitch_prior_deg, gait)
    if "pelvis" in sensors:
        _pelvis(out, sensors, vertical, pitch_prior_deg, flex, period, rate)
    for e in est.values():
        if e.rotation is None and e.status == "ok":
            e.undecide("axis could not be estimated")
        if e.status == "ok" and e.strides < MIN_STRIDES:
            e.undecide(f"only {e.strides} complete stride(s) seen; need {MIN_STRIDES}")
    return out


def _knee_hinges(
    est: dict[str, AxisEstimate],
    sensors: dict[str, _Sensor],
    cand: dict[str, tuple[np.ndarray, float, np.ndarray]],
    shank_too: bool,
) -> None:
    """Refine the thigh (and, without standing, the shank) flexion axis with the knee hinge
    (gait.hinge_axes): the knee flexes about one axis, the flexion axis of both segments, while the
    rate of the thigh alone also carries hip ab/adduction and rotation. Simulated, axis error RMS:
    walking thigh 3.0 -> 1.8 deg, shank 3.7 -> 2.6 deg; running 5.8 -> 1.7 and 5.7 -> 0.6 deg.
    With standing (z known) the shank's principal axis gives the better heading (bench_calibration:
    still-mode shank y p95 2.3 deg vs 4-5 deg with the hinge), so only the thigh takes the hinge then.
    Used only within MAX_HINGE_DEVIATION_DEG of the principal axes (a sanity bound)."""
    for side in "lr":
        t, s = f"thigh_{side}", f"shank_{side}"
        if t not in cand or s not in cand or not (est[t].decided_by and est[s].decided_by):
            continue
        (a1, r1, z1), (a2, r2, z2) = cand[t], cand[s]
        j1, j2, res = hinge_axes(sensors[t].w, sensors[s].w, a1, a2)
        for seg, j, a in ((t, j1, a1), (s, j2, a2)):
            est[seg].quality["knee_hinge_residual_rad_s"] = res
            est[seg].quality["knee_hinge_vs_principal_deg"] = float(
                np.degrees(np.arccos(np.clip(j @ a, -1, 1)))
            )
        if (
            res < MAX_HINGE_RESIDUAL_RAD_S
            and max(
                est[t].quality["knee_hinge_vs_principal_deg"], est[s].quality["knee_hinge_vs_principal_deg"]
            )
            < MAX_HINGE_DEVIATION_DEG
        ):
            cand[t] = (j1, r1, z1)
            est[t].quality["axis_from_knee_hinge"] = 1.0
            if shank_too:
                cand[s] = (j2, r2, z2)
                est[s].quality["axis_from_knee_hinge"] = 1.0


def _vertical(seg: str, s: _Sensor, vertical: Mapping[str, np.ndarray] | None) -> np.ndarray | None:
    if vertical is not None and seg in vertical:
        return _unit(np.asarray(vertical[seg], float))
    assert s.up is not None
    m = _nanmean_rows(s.up)
    return _unit(m) if np.all(np.isfinite(m)) and np.linalg.norm(m) > 0.3 else None


def _sign(
    e: AxisEstimate,
    a: np.ndarray,
    votes: list[rules.Vote],
    cand: dict[str, tuple[np.ndarray, float, np.ndarray]],
) -> None:
    sign, conf, rule, scores = rules.decide(votes)
    e.votes = scores
    e.quality["sign_confidence"] = conf
    for v in votes:
        e.quality[f"rule_{v.rule}"] = v.statistic
    if conf < rules.MIN_SIGN_CONFIDENCE:
        e.undecide(
            f"gait rules cannot decide the axis sign (confidence {conf:.2f} < "
            f"{rules.MIN_SIGN_CONFIDENCE}; votes {', '.join(f'{k} {v:+.2f}' for k, v in scores.items())})"
        )
        return
    e.decided_by = rule
    ax, ratio, z0 = cand[e.segment]
    cand[e.segment] = (sign * ax, ratio, z0)
    axis_conf = float(
        np.clip((ratio - MIN_AXIS_EIG_RATIO) / (GOOD_AXIS_EIG_RATIO - MIN_AXIS_EIG_RATIO), 0, 1)
    )
    e.confidence = min(conf, axis_conf)


def _leg_rotation(
    e: AxisEstimate,
    s: _Sensor,
    cand: tuple[np.ndarray, float, np.ndarray],
    vertical: Mapping[str, np.ndarray] | None,
    prior: Mapping[str, Mapping[str, float]] | None,
    gait: str,
) -> None:
    y, _, z0 = cand
    ok = np.all(np.isfinite(s.w), axis=1)
    if vertical is not None and e.segment in vertical:
        z = z0  # standing gives the vertical exactly; the flexion axis only sets the heading about it
    else:
        kind = e.segment.split("_")[0]
        if prior is None or gait not in prior or kind not in prior[gait]:
            e.undecide(f"no pitch prior for {kind} in {gait}")
            return
        assert s.up is not None
        mu = np.radians(prior[gait][kind])
        z = z0
        if e.quality.get("axis_from_knee_hinge") == 1.0:
            # the hinge axis is found without the vertical: it sets the roll (better than the mean
            # gravity direction in bench_calibration: walking thigh/shank p95 4.7-5.8 vs 5.5-7.0 deg),
            # the prior the pitch
            z, beta = _pitch_to_prior(s.up, y, z, mu)
        else:
            # principal axis: computed without the vertical component, so the roll is that of the
            # mean gravity direction; the axis and the pitch refine each other
            for _ in range(2):
                z, beta = _pitch_to_prior(s.up, y, z, mu)
                y2, _ = principal_axis(s.w[ok], remove=z)
                y = y2 if y2 @ y > 0 else -y2
            z, beta = _pitch_to_prior(s.up, y, z, mu)
        e.quality["pitch_correction_deg"] = float(np.degrees(beta))
    y = _unit(y - (y @ z) * z)
    x = np.cross(y, z)
    e.rotation = np.vstack([x, y, z])


def _pelvis(
    out: Analysis,
    sensors: dict[str, _Sensor],
    vertical: Mapping[str, np.ndarray] | None,
    prior: Mapping[str, Mapping[str, float]] | None,
    flex: dict[str, np.ndarray],
    period: float,
    rate: float,
) -> None:
    e = out.estimates["pelvis"]
    s = sensors["pelvis"]
    ref = "shank_r" if "shank_r" in flex else ("shank_l" if "shank_l" in flex else None)
    if ref is None:
        e.undecide("pelvis heading needs a decided shank for the stride timing")
        return
    events = sensors[ref].events
    z = _vertical("pelvis", s, vertical)
    if z is None:
        e.undecide("no valid pelvis samples")
        return
    # strides while turning (mean yaw rate above TURN_RATE_RAD_S) or too long/short are left out: the
    # turn's centripetal acceleration and rotation are not the straight-walking pattern the rules need
    yaw = s.w @ z
    phase = np.full(len(s.f), np.nan)
    kept = 0
    for a, b in itertools.pairwise(events):
        if not 0.6 * period * rate < b - a < 1.5 * period * rate:
            continue
        if not np.isfinite(yaw[a:b]).any() or abs(np.nanmean(yaw[a:b])) > TURN_RATE_RAD_S:
            continue
        phase[a:b] = np.arange(b - a) / (b - a)
        kept += 1
    if ref == "shank_l":
        phase = (phase + 0.5) % 1.0
    e.strides = kept
    e.quality["straight_strides"] = kept
    e.quality["turning_strides"] = max(0, len(events) - 1 - kept)
    # horizontal basis and the fore-aft axis: step-frequency (H2) vs stride-frequency (H1) power
    b1 = _unit(np.cross(z, [1.0, 0.0, 0.0] if abs(z[0]) < 0.9 else [0.0, 1.0, 0.0]))
    b2 = np.cross(z, b1)
    fh = np.column_stack([s.f @ b1, s.f @ b2])
    ok = np.isfinite(phase) & np.all(np.isfinite(fh), axis=1)
    if ok.sum() < period * rate:
        e.undecide("too few pelvis samples within detected strides")
        return
    c1 = harmonic(fh[ok], phase[ok], 1)
    c2 = harmonic(fh[ok], phase[ok], 2)
    m1 = np.real(np.outer(c1, np.conj(c1)))
    m2 = np.real(np.outer(c2, np.conj(c2)))
    ev, vec = np.linalg.eigh(m2 - m1)
    sep = float((ev[1] - ev[0]) / max(np.trace(m1) + np.trace(m2), 1e-12))
    e.quality["heading_axis_separation"] = sep
    x = _unit(vec[0, 1] * b1 + vec[1, 1] * b2)
    y = np.cross(z, x)
    votes = [rules.pelvis_pendulum(s.f @ x, s.f @ z, out.gait), rules.pelvis_sway(s.f @ y, phase, out.gait)]
    yaw = rules.pelvis_yaw(s.w @ z, phase, out.gait)
    sign, conf, rule, scores = rules.decide(votes)
    for v in [*votes, yaw]:
        e.quality[f"rule_{v.rule}"] = v.statistic
    pend, sway = votes[0].score, votes[1].score
    out.checks["pelvis_yaw_label_vote"] = yaw.score
    out.checks["pelvis_sway_vs_pendulum"] = (
        float(np.sign(pend) * sway) if votes[0].weight > 0 else float("nan")
    )
    # the sway depends on the left/right labels, the pendulum does not: if they disagree and the yaw
    # (independent of the heading) also says so, the shank labels are swapped
    if votes[0].weight > 0 and pend * sway < -0.25 and yaw.score < SWAP_VOTE:
        out.messages.append(
            "left/right sensors appear swapped: the pelvis sways and rotates in time "
            "with the shank labelled right as if it were the left one (check the segment map)"
        )
        out.checks["left_right_swapped"] = 1.0
        for seg in ("pelvis", "shank_l", "shank_r", "thigh_l", "thigh_r", "foot_l", "foot_r"):
            if seg in out.estimates:
                out.estimates[seg].undecide("left/right labels inconsistent with gait timing")
        sign, conf, rule, scores = rules.decide(votes[:1])
    e.votes = scores
    e.quality["sign_confidence"] = conf
    if conf < rules.MIN_SIGN_CONFIDENCE:
        e.undecide(
            f"gait rules cannot decide the pelvis heading (confidence {conf:.2f}; votes "
            f"{', '.join(f'{k} {v:+.2f}' for k, v in scores.items())})"
        )
        return
    if sep < MIN_PELVIS_AXIS_SEPARATION:
        e.undecide(f"no clear fore-aft axis in the pelvis sway (separation {sep:.2f})")
    x, y = sign * x, sign * y
    if vertical is None or "pelvis" not in vertical:
        if prior is None or out.gait not in prior or "pelvis" not in prior[out.gait]:
            e.undecide(f"no pitch prior for the pelvis in {out.gait}")
            return
        assert s.up is not None
        z, beta = _pitch_to_prior(s.up, y, z, np.radians(prior[out.gait]["pelvis"]))
        e.quality["pitch_correction_deg"] = float(np.degrees(beta))
    e.decided_by = rule
    sep_conf = float(
        np.clip(
            (sep - MIN_PELVIS_AXIS_SEPARATION) / (GOOD_PELVIS_AXIS_SEPARATION - MIN_PELVIS_AXIS_SEPARATION),
            0,
            1,
        )
    )
    e.confidence = min(conf, sep_conf)
    y = _unit(y - (y @ z) * z)
    e.rotation = np.vstack([np.cross(y, z), y, z])


def _check_leg_labels(
    out: Analysis, sensors: dict[str, _Sensor], cand: dict[str, tuple[np.ndarray, float, np.ndarray]]
) -> None:
    """Thighs and feet must move with the legs their labels say (|correlation| with each shank's
    flexion rate: a foot follows its own shank, a thigh moves against the other leg's shank)."""
    if "shank_l" not in cand or "shank_r" not in cand:
        return
    sh = {side: sensors[f"shank_{side}"].w @ cand[f"shank_{side}"][0] for side in "lr"}
    for kind, own in (("foot", True), ("thigh", False)):
        for side in "lr":
            seg = f"{kind}_{side}"
            if seg not in cand:
                continue
            fr = sensors[seg].w @ cand[seg][0]
            r_l, r_r = abs(correlation(fr, sh["l"])), abs(correlation(fr, sh["r"]))
            strongest = "l" if r_l > r_r else "r"
            expected = side if own else ("r" if side == "l" else "l")
            out.checks[f"{seg}_coupling_margin"] = abs(r_l - r_r)
            if strongest != expected and abs(r_l - r_r) > 0.2:
                out.messages.append(
                    f"{seg} moves like the {'left' if expected == 'r' else 'right'} leg "
                    f"(|r| with shank_l {r_l:.2f}, shank_r {r_r:.2f}): left/right sensors swapped?"
                )
                out.estimates[seg].undecide("left/right label inconsistent with the shanks' timing")
