"""Gait events from one shank IMU per leg, causally: heel strike, toe off, mid-swing.

Input per leg: the shank's angular velocity about its segment y axis (segment frame of body.py,
rad/s), i.e. what the segment_kinematics stage gives for a calibrated shank sensor, so it works with
the 3-IMU set. x = -omega_y is positive when the shank swings forward (body.py: flexion of the
distal end forward is about -y), negative in stance (the shank rolls over the foot).

Rules (the Aminian et al. 2002 / Salarian et al. 2004 family, made causal):
- the signal is low-passed with a causal 2nd-order Butterworth (`LOWPASS_HZ`); its group delay
  (`FILTER_DELAY_S`) is subtracted from every event time;
- swing = the positive lobe of x once it exceeds `swing_threshold` = max(SWING_MIN_RAD_S,
  SWING_FRACTION x the previous swing peak); mid-swing = the lobe's maximum (its value is the
  swing peak, used for speed), known once x has fallen below MS_CONFIRM_FRACTION of it;
- heel strike = the first downward zero crossing of x after mid-swing (the shank's forward rotation
  stops at initial contact; on the real BioMAC IMUs the crossing is within 0-3 samples of the
  force-plate heel strike), at a fractional sample by linear interpolation; known at that sample;
- toe off = the minimum of x within TOE_OFF_WINDOW_S before the start of the next swing lobe and
  at least MIN_STANCE_S after the previous heel strike (the push-off minimum); known when the swing
  lobe starts. Measured against force plates (study.md) it is 20-50 ms early in walking and wrong
  in running (the early-swing knee flexion makes the minimum come after toe off): the mean-curve
  predictor does not use it.
A lobe shorter than MIN_SWING_S, or a heel strike sooner than MIN_STRIDE_S after the previous
one, is ignored (noise, shuffling).

Each event carries `index` (fractional sample when it happened) and `known_index` (first sample at
which this causal detector knows it, inclusive): a controller can use an event only from
`known_index` on, and `detect_gait_events(x[:m])` gives exactly the events of
`detect_gait_events(x)` whose `known_index` < m (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, lfilter

LOWPASS_HZ = 12.0
SWING_MIN_RAD_S = 1.5
SWING_FRACTION = 0.3
MIN_SWING_S = 0.1
MIN_STANCE_S = 0.1
MIN_STRIDE_S = 0.4
MIN_RECORDING_S = 0.5
MS_CONFIRM_FRACTION = 0.8
TOE_OFF_WINDOW_S = 0.2


class GaitEventError(ValueError):
    """Event detection impossible from the data given (names the reason)."""


@dataclass(frozen=True)
class LegEvents:
    """Events of one leg. Indices are fractional samples of the input; `*_known` the (int) sample
    from which a causal user knows the event. `swing_peak_rad_s[i]` belongs to the swing that ends
    at heel strike i (mid-swing at `mid_swing[i]`). `mid_swing_known` lists every confirmed
    mid-swing (`mid_swing_all`, peak `mid_swing_peak_rad_s`), also one whose heel strike is still to
    come or never came."""

    heel_strike: np.ndarray
    heel_strike_known: np.ndarray
    toe_off: np.ndarray
    toe_off_known: np.ndarray
    mid_swing: np.ndarray
    swing_peak_rad_s: np.ndarray
    mid_swing_all: np.ndarray
    mid_swing_known: np.ndarray
    mid_swing_peak_rad_s: np.ndarray

    def known_heel_strikes(self, at_sample: int) -> np.ndarray:
        """Heel strikes a causal user knows at sample `at_sample` (inclusive)."""
        return self.heel_strike[self.heel_strike_known <= at_sample]


def filter_delay_samples(rate_hz: float, cutoff_hz: float = LOWPASS_HZ) -> float:
    """Low-frequency group delay of the causal 2nd-order Butterworth, in samples."""
    b, a = butter(2, cutoff_hz, fs=rate_hz)
    # group delay at DC: sum(k b_k)/sum(b_k) - sum(k a_k)/sum(a_k)
    k = np.arange(3)
    return float((k * b).sum() / b.sum() - (k * a).sum() / a.sum())


def shank_forward_rate(shank_angular_velocity_rad_s: np.ndarray) -> np.ndarray:
    """x = -omega_y (forward swing positive) from (N, 3) segment-frame shank angular velocity."""
    w = np.asarray(shank_angular_velocity_rad_s, float)
    if w.ndim != 2 or w.shape[1] != 3:
        raise GaitEventError(f"shank angular velocity must be (N, 3) rad/s in segment axes, got {w.shape}")
    return -w[:, 1]


def detect_gait_events(forward_rate_rad_s: np.ndarray, rate_hz: float, leg: str = "?") -> LegEvents:
    """Causal events of one leg from x = shank forward rate (N,) rad/s (see module docstring).

    GaitEventError for a missing or empty signal, a non-finite rate, a recording shorter than
    MIN_RECORDING_S, or NaN/inf samples (fill or cut them first: a gap would shift every event).
    """
    if forward_rate_rad_s is None:
        raise GaitEventError(f"leg {leg}: no shank signal: gait events need the shank IMU of each leg")
    x = np.asarray(forward_rate_rad_s, float)
    if not np.isfinite(rate_hz) or rate_hz <= 0:
        raise GaitEventError(f"leg {leg}: sample rate must be a positive number, got {rate_hz!r}")
    if x.ndim != 1 or x.size == 0:
        raise GaitEventError(f"leg {leg}: shank signal must be a non-empty 1-D array, got shape {x.shape}")
    if x.size < MIN_RECORDING_S * rate_hz:
        raise GaitEventError(f"leg {leg}: recording too short for gait-event detection: {x.size} samples "
                             f"({x.size / rate_hz:.2f} s) < {MIN_RECORDING_S} s")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise GaitEventError(f"leg {leg}: shank signal has {bad.size} NaN/inf samples (first at {bad[0]}); "
                             "cut or fill them before event detection")
    b, a = butter(2, LOWPASS_HZ, fs=rate_hz)
    y = lfilter(b, a, x - x[0]) + x[0]  # start from the first value, not from 0 (no start transient)
    delay = filter_delay_samples(rate_hz)
    min_swing = MIN_SWING_S * rate_hz
    min_stance = MIN_STANCE_S * rate_hz
    min_stride = MIN_STRIDE_S * rate_hz

    hs, hs_k, to, to_k, ms, peaks = [], [], [], [], [], []
    msa, msa_k, msa_p = [], [], []
    confirmed = False
    in_swing = False
    swing_start = 0
    peak, peak_at = -np.inf, 0
    last_peak = None
    last_hs = -np.inf
    tow = int(round(TOE_OFF_WINDOW_S * rate_hz))
    for k in range(1, len(y)):
        thr = max(SWING_MIN_RAD_S, SWING_FRACTION * last_peak) if last_peak is not None else SWING_MIN_RAD_S
        if not in_swing:
            if y[k] > thr and y[k - 1] <= thr:
                in_swing, swing_start, peak, peak_at, confirmed = True, k, y[k], k, False
                lo = max(k - tow, int(np.ceil(last_hs + delay + min_stance))) if np.isfinite(last_hs) else k
                if lo < k:
                    i = lo + int(np.argmin(y[lo:k]))
                    to.append(i - delay)
                    to_k.append(k)
            continue
        if y[k] > peak:
            peak, peak_at = y[k], k
        elif (not confirmed and y[k] < MS_CONFIRM_FRACTION * peak
              and peak_at - swing_start + 1 >= 0.5 * min_swing):
            msa.append(peak_at - delay)
            msa_k.append(k)
            msa_p.append(peak)
            confirmed = True
        if y[k] < 0.0 <= y[k - 1]:  # forward rotation stops: heel strike
            crossing = k - 1 + y[k - 1] / (y[k - 1] - y[k])
            long_enough = peak_at - swing_start + 1 >= min_swing or k - swing_start >= min_swing
            if long_enough and crossing - delay - last_hs >= min_stride:
                hs.append(crossing - delay)
                hs_k.append(k)
                ms.append(peak_at - delay)
                peaks.append(peak)
                last_peak = peak
                last_hs = crossing - delay
            in_swing = False
    f = np.asarray
    return LegEvents(f(hs, float), f(hs_k, int), f(to, float), f(to_k, int), f(ms, float), f(peaks, float),
                     f(msa, float), f(msa_k, int), f(msa_p, float))


def events_from_segment_rates(shank_angular_velocity_rad_s: dict[str, np.ndarray], rate_hz: float
                              ) -> dict[str, LegEvents]:
    """{side: LegEvents} from {side: (N, 3) shank angular velocity in segment axes}. Both legs needed."""
    missing = [s for s in ("l", "r") if s not in shank_angular_velocity_rad_s
               or shank_angular_velocity_rad_s[s] is None]
    if missing:
        raise GaitEventError(f"gait events need both shank signals; missing: "
                             f"{['shank_' + s for s in missing]}")
    return {s: detect_gait_events(shank_forward_rate(w), rate_hz, s)
            for s, w in shank_angular_velocity_rad_s.items()}


def events_from_contact(vertical_force_n: np.ndarray, threshold_n: float = 20.0
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Force-plate events of one foot (the oracle): (heel strikes, toe offs) as fractional sample
    indices where the vertical force crosses `threshold_n` upwards / downwards."""
    fz = np.asarray(vertical_force_n, float)
    on = fz > threshold_n
    up = np.flatnonzero(on[1:] & ~on[:-1])
    down = np.flatnonzero(~on[1:] & on[:-1])

    def frac(i: np.ndarray) -> np.ndarray:
        d = fz[i + 1] - fz[i]
        return i + np.where(d != 0, (threshold_n - fz[i]) / np.where(d != 0, d, 1.0), 0.0)
    return frac(up), frac(down)


MATCH_TOLERANCE_S = 0.2


def match_events(detected: np.ndarray, true: np.ndarray, rate_hz: float,
                 tolerance_s: float = MATCH_TOLERANCE_S) -> dict:
    """Compare detected with true events (sample indices) inside the span of the true events
    (+- tolerance): signed errors (detected - true, s) of the nearest detection per true event within
    the tolerance, the true events missed, and detections with no true event near them."""
    det, tru = np.sort(np.ravel(detected)), np.sort(np.ravel(true))
    tol = tolerance_s * rate_hz
    if tru.size == 0:
        return {"errors_s": [], "missed": 0, "extra": 0, "n_true": 0}
    det = det[(det >= tru[0] - tol) & (det <= tru[-1] + tol)]
    errors, used = [], set()
    for t in tru:
        if det.size == 0:
            continue
        i = int(np.argmin(np.abs(det - t)))
        if abs(det[i] - t) <= tol and i not in used:
            errors.append(float((det[i] - t) / rate_hz))
            used.add(i)
    return {"errors_s": errors, "missed": int(tru.size - len(errors)), "extra": int(det.size - len(used)),
            "n_true": int(tru.size)}


def event_accuracy(recordings) -> dict:
    """Heel-strike and toe-off accuracy of `detect_gait_events` against the recordings' force-plate
    events (evaluation.baselines.EvalRecording with true_events), per mode: median and 95th percentile of
    the absolute error (ms), median signed error (ms), missed and extra detections."""
    acc: dict[str, dict[str, dict]] = {}
    for rec in recordings:
        if not rec.true_events:
            continue
        for side in ("l", "r"):
            names = [f"shank_{side}/omega_{a}" for a in "xyz"]
            if not all(n in rec.feature_names for n in names):
                continue
            w = np.column_stack([rec.column(n) for n in names])
            ev = detect_gait_events(shank_forward_rate(w), rec.rate_hz, side)
            start = float(rec.meta.get("motion_from", 0))
            for kind, det in (("heel_strike", ev.heel_strike), ("toe_off", ev.toe_off)):
                tru = np.asarray(rec.true_events.get(side, {}).get(kind, []), float)
                m = match_events(det[det >= start], tru[tru >= start], rec.rate_hz)
                a = acc.setdefault(str(rec.mode), {}).setdefault(
                    kind, {"errors_s": [], "missed": 0, "extra": 0, "n_true": 0})
                a["errors_s"] += m["errors_s"]
                for k in ("missed", "extra", "n_true"):
                    a[k] += m[k]
    out: dict = {}
    for mode, kinds in acc.items():
        for kind, a in kinds.items():
            e = np.asarray(a["errors_s"]) * 1000.0
            out.setdefault(mode, {})[kind] = {
                "n_true": a["n_true"], "matched": int(e.size), "missed": a["missed"], "extra": a["extra"],
                "median_error_ms": round(float(np.median(e)), 1) if e.size else None,
                "median_abs_error_ms": round(float(np.median(np.abs(e))), 1) if e.size else None,
                "p95_abs_error_ms": round(float(np.percentile(np.abs(e), 95)), 1) if e.size else None}
    return out
