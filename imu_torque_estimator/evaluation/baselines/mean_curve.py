"""Gait-phase mean curve: the normative moment curve of real people, indexed by gait phase, mode
(walk/run) and speed, played back at the phase given by gait events. This is what many exoskeleton
controllers use today, and the bar a learned estimator has to clear.

Curves (`fit`): from recordings with true moments and force-plate events (the real-motion trials;
never the held-out real-IMU data). Phase: heel strike = 0, toe off = the stride's stance fraction s,
linear in time between consecutive events of the same leg (HS -> TO -> HS), so a trial that holds
only a complete stance or a complete swing still contributes exactly that part; samples outside the
first and last event of a leg are not used (no extrapolation). s is the trial's own (from a complete
HS-TO-HS stride of either leg) or, without one, the mode's fit over the training trials' speeds
(fallback: DEFAULT_STANCE_FRACTION). Both legs pooled (left/right symmetric). Per mode and phase bin
(N_PHASE per cycle) the trial curves are regressed linearly on the trials' speeds (`speed_model=
"swing_peak"`) or averaged (`"none"`); requested speeds outside the training range of that mode are
CLAMPED to it and the prediction says so (`info["speed_clamped_fraction"]`), never extrapolated.

Timing:
- "imu" (the main row, causal, as a controller runs it): events from the shank IMUs
  (evaluation.gait_events, usable only from the sample they are known); each leg's phase starts at
  its own heel strike (0) or, if more recent, the other leg's (0.5), and advances at 1 / (stride
  duration): the leg's previous stride, else the other leg's, else twice the last step, else the
  mode's stride duration at the estimated speed. Mode: running if the pelvis' vertical specific force
  (5 Hz causal low-pass) fell below FLIGHT_SF_M_S2 within the last FLIGHT_WINDOW_S (a flight phase;
  walking keeps >= 4 m/s^2 on every selection-set trial). Speed: linear in the last swing peak of the
  shank forward rate, per mode, fitted on the training recordings' own IMU signals. Before the first
  heel strike, or LOST_AFTER_STRIDES strides after the last one, the leg is not synchronised and
  the output is 0 (`info["unsynchronised_fraction"]`).
- "oracle": force-plate heel strikes and toe offs of the recording itself (non-causal: the phase is
  interpolated between the true events, edges extrapolated with the true stride duration), the true
  mode and speed. An upper bound for event-driven playback, not something a controller has.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import butter, lfilter

from ...body import JOINTS, SIDES
from ..gait_events import LegEvents, detect_gait_events, shank_forward_rate
from .base import Baseline, EvalRecording, Prediction, register

N_PHASE = 100
KINDS = ("hip", "knee", "ankle")
SIDE_COLUMNS = {s: [JOINTS.index(f"{j}_{s}") for j in ("hip_flexion", "knee_flexion", "ankle_dorsiflexion")]
                for s in SIDES}
MODES = ("walk", "run")
# Textbook stance fractions used only when no training trial of the mode has a complete stride
# (Perry & Burnfield 2010: ~0.60 walking; Novacheck 1998: ~0.40 running at 3-4 m/s).
DEFAULT_STANCE_FRACTION = {"walk": 0.60, "run": 0.40}
FLIGHT_SF_M_S2 = 2.0
FLIGHT_LOWPASS_HZ = 5.0
FLIGHT_WINDOW_S = 0.8
LOST_AFTER_STRIDES = 1.3
SPEED_MODELS = ("swing_peak", "none")
TIMINGS = ("imu", "oracle")


# ----------------------------------------------------------------------------------- phase helpers
def cycle_phase(n: int, heel_strikes: np.ndarray, toe_offs: np.ndarray, stance_fraction: float,
                stride_samples: float | None = None) -> np.ndarray:
    """Unwrapped gait phase (N,) of one leg from its events (fractional sample indices): heel strike
    at integers, toe off at integer + `stance_fraction`, linear in between. Outside the first and last
    event: extrapolated with slope 1 / `stride_samples`, or NaN if it is None."""
    ev = sorted([(float(i), "hs") for i in np.ravel(heel_strikes)]
                + [(float(i), "to") for i in np.ravel(toe_offs)])
    out = np.full(n, np.nan)
    if not ev:
        return out
    idx, ph = [], []
    cur = None
    for i, kind in ev:
        if cur is None:
            p = 0.0 if kind == "hs" else stance_fraction
        elif kind == "hs":
            p = math.floor(cur) + 1.0
        else:
            p = math.floor(cur) + stance_fraction
            if p <= cur:
                p += 1.0
        idx.append(i)
        ph.append(p)
        cur = p
    k = np.arange(n, dtype=float)
    a, b = idx[0], idx[-1]
    inside = (k >= a) & (k <= b)
    if len(idx) > 1:
        out[inside] = np.interp(k[inside], idx, ph)
    else:
        out[k == a] = ph[0]
    if stride_samples is not None and stride_samples > 0:
        out[k < a] = ph[0] - (a - k[k < a]) / stride_samples
        out[k > b] = ph[-1] + (k[k > b] - b) / stride_samples
    return out


def stance_fractions(heel_strikes: np.ndarray, toe_offs: np.ndarray) -> list[float]:
    """Stance fraction of every complete HS -> TO -> HS stride of one leg."""
    hs, to = np.sort(np.ravel(heel_strikes)), np.sort(np.ravel(toe_offs))
    out = []
    for a, b in itertools.pairwise(hs):
        t = to[(to > a) & (to < b)]
        if len(t) == 1:
            out.append(float((t[0] - a) / (b - a)))
    return out


def stride_samples_from_events(events: dict[str, dict[str, np.ndarray]], side: str) -> float | None:
    """Stride duration (samples) from force-plate events: the leg's HS-HS intervals, else the other
    leg's, else twice the interval between consecutive heel strikes of opposite legs, else TO-TO."""
    other = "r" if side == "l" else "l"
    for s in (side, other):
        d = np.diff(np.sort(np.ravel(events.get(s, {}).get("heel_strike", []))))
        if d.size:
            return float(np.mean(d))
    merged = sorted([(float(i), s) for s in SIDES
                     for i in np.ravel(events.get(s, {}).get("heel_strike", []))])
    steps = [b[0] - a[0] for a, b in itertools.pairwise(merged) if a[1] != b[1]]
    if steps:
        return 2.0 * float(np.mean(steps))
    for s in (side, other):
        d = np.diff(np.sort(np.ravel(events.get(s, {}).get("toe_off", []))))
        if d.size:
            return float(np.mean(d))
    return None


# ------------------------------------------------------------------------------------ fitted model
@dataclass
class _Line:
    """y = a + b (clip(x, lo, hi) - x0); constant when fewer than 2 distinct x were seen."""

    a: float
    b: float = 0.0
    x0: float = 0.0
    lo: float = -math.inf
    hi: float = math.inf

    @classmethod
    def fit(cls, x: Sequence[float], y: Sequence[float], default: float) -> _Line:
        x, y = np.asarray(x, float), np.asarray(y, float)
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        if x.size == 0:
            return cls(default)
        if np.unique(x).size < 2:
            return cls(float(y.mean()), 0.0, float(x.mean()), float(x.min()), float(x.max()))
        x0 = float(x.mean())
        b, a = np.polyfit(x - x0, y, 1)
        return cls(float(a), float(b), x0, float(x.min()), float(x.max()))

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        return self.a + self.b * (np.clip(x, self.lo, self.hi) - self.x0)

    def extrapolate(self, x: np.ndarray | float) -> np.ndarray:
        """The line without clamping x (for estimates that are clamped later, where they are used)."""
        return self.a + self.b * (np.asarray(x, float) - self.x0)


@dataclass
class ModeCurves:
    """Curves of one mode: per training trial (speed, curve (N_PHASE, 3) hip/knee/ankle, NaN where
    the trial does not cover the phase), and the per-bin speed model alpha + beta (v - v0)."""

    trials: list[str]
    speeds_m_s: np.ndarray
    trial_curves: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    v0: float
    speed_range_m_s: tuple[float, float]
    stance_fraction: _Line
    stride_s: _Line
    speed_from_peak: _Line | None
    coverage: np.ndarray  # (N_PHASE,) number of trials covering each bin
    mid_swing_phase: float | None = None  # mean phase of the IMU-detected mid-swing (training trials)

    def at(self, phase: np.ndarray, speed_m_s: np.ndarray | float | None) -> tuple[np.ndarray, np.ndarray]:
        """Moments (M, 3) hip/knee/ankle at phases (M,) (wrapped to 0..1) and speeds; returns also a
        (M,) bool 'speed clamped to the training range'. speed None: the speed-free mean curve."""
        ph = np.mod(np.asarray(phase, float), 1.0) * N_PHASE
        i0 = np.floor(ph).astype(int) % N_PHASE
        i1 = (i0 + 1) % N_PHASE
        w = (ph - np.floor(ph))[:, None]
        if speed_m_s is None:
            dv = np.zeros(len(ph))
            clamped = np.zeros(len(ph), bool)
        else:
            v = np.broadcast_to(np.asarray(speed_m_s, float), ph.shape)
            lo, hi = self.speed_range_m_s
            clamped = (v < lo - 1e-9) | (v > hi + 1e-9)
            dv = np.clip(v, lo, hi) - self.v0
        c0 = self.alpha[i0] + self.beta[i0] * dv[:, None]
        c1 = self.alpha[i1] + self.beta[i1] * dv[:, None]
        return (1 - w) * c0 + w * c1, clamped


@dataclass
class CurveSet:
    """Normative curves per mode (see module docstring) and what they were built from."""

    modes: dict[str, ModeCurves]
    speed_model: str
    info: dict = field(default_factory=dict)

    def mode(self, mode: str) -> ModeCurves:
        try:
            return self.modes[mode]
        except KeyError:
            raise ValueError(f"no mean curves for mode {mode!r}; the training recordings had "
                             f"{sorted(self.modes)}") from None

    def curve(self, mode: str, speed_m_s: float | None) -> tuple[np.ndarray, bool]:
        """(N_PHASE, 3) curve at one speed and whether the speed was clamped to the training range."""
        m = self.mode(mode)
        c, clamped = m.at(np.arange(N_PHASE) / N_PHASE, None if self.speed_model == "none" else speed_m_s)
        return c, bool(clamped.any())


def _trial_curve(rec: EvalRecording, s_fallback: _Line) -> tuple[np.ndarray, list[float]]:
    """(N_PHASE, 3) curve of one training recording (both legs pooled) and its stance fractions."""
    ev = rec.true_events or {}
    m = rec.moments_nm_per_kg
    n = len(rec)
    own = {s: stance_fractions(ev.get(s, {}).get("heel_strike", []), ev.get(s, {}).get("toe_off", []))
           for s in SIDES}
    sums, counts = np.zeros((N_PHASE, 3)), np.zeros((N_PHASE, 3))
    for side in SIDES:
        e = ev.get(side, {})
        fr = own[side] or own["r" if side == "l" else "l"]
        s = float(np.mean(fr)) if fr else float(s_fallback(rec.speed_m_s))
        ph = cycle_phase(n, e.get("heel_strike", []), e.get("toe_off", []), s)
        ok = np.isfinite(ph)
        if ok.sum() < 2:
            continue
        k = np.flatnonzero(ok)
        g = np.arange(math.ceil(ph[k[0]] * N_PHASE), math.floor(ph[k[-1]] * N_PHASE) + 1) / N_PHASE
        pos = np.interp(g, ph[k], k.astype(float))
        for j, col in enumerate(SIDE_COLUMNS[side]):
            val = np.interp(pos, np.arange(n), m[:, col])
            good = np.isfinite(val)
            b = np.round(np.mod(g[good], 1.0) * N_PHASE).astype(int) % N_PHASE
            np.add.at(sums[:, j], b, val[good])
            np.add.at(counts[:, j], b, 1.0)
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), np.nan), own["l"] + own["r"]


def _fill_periodic(c: np.ndarray) -> np.ndarray:
    """Fill NaN bins of (N_PHASE, 3) by periodic linear interpolation over the finite ones."""
    out = c.copy()
    x = np.arange(N_PHASE)
    for j in range(c.shape[1]):
        ok = np.isfinite(c[:, j])
        if ok.all() or not ok.any():
            continue
        out[~ok, j] = np.interp(x[~ok], x[ok], c[ok, j], period=N_PHASE)
    return out


def _swing_peaks_and_phases(rec: EvalRecording, s_line: _Line) -> tuple[float | None, list[float]]:
    """Median IMU swing peak (rad/s) over both legs of a training recording, and the true gait phase
    (force-plate events) of every IMU-detected mid-swing inside the recording's motion."""
    peaks, phases = [], []
    start = int(rec.meta.get("motion_from", 0))
    ev_true = rec.true_events or {}
    for side in SIDES:
        ev = detect_gait_events(shank_forward_rate(_shank(rec, side)), rec.rate_hz, side)
        keep = ev.mid_swing_all >= start
        peaks += list(ev.mid_swing_peak_rad_s[keep])
        e = ev_true.get(side, {})
        t = stride_samples_from_events(ev_true, side)
        if t is None:
            continue
        fr = stance_fractions(e.get("heel_strike", []), e.get("toe_off", []))
        s = float(np.mean(fr)) if fr else float(s_line(rec.speed_m_s))
        ph = cycle_phase(len(rec), e.get("heel_strike", []), e.get("toe_off", []), s, t)
        for i in ev.mid_swing_all[keep]:
            j = int(round(i))
            if 0 <= j < len(rec) and np.isfinite(ph[j]):
                phases.append(float(np.mod(ph[j], 1.0)))
    return (float(np.median(peaks)) if peaks else None), phases


def _circular_mean(phases: list[float]) -> float | None:
    if not phases:
        return None
    z = np.mean(np.exp(2j * np.pi * np.asarray(phases)))
    return float(np.mod(np.angle(z) / (2 * np.pi), 1.0))


def _shank(rec: EvalRecording, side: str) -> np.ndarray:
    return np.column_stack([rec.column(f"shank_{side}/omega_{a}", "gait-phase mean curve") for a in "xyz"])


def fit_curves(recordings: Sequence[EvalRecording], speed_model: str = "swing_peak") -> CurveSet:
    """Curves per mode from recordings with truth (moments, force-plate events, mode, speed)."""
    if speed_model not in SPEED_MODELS:
        raise ValueError(f"unknown speed model {speed_model!r}; choose one of {list(SPEED_MODELS)}")
    need = [r.name for r in recordings if r.moments_nm_per_kg is None or r.true_events is None
            or r.mode not in MODES or r.speed_m_s is None]
    if need:
        raise ValueError(f"mean curves need true moments, force-plate events, mode and speed; missing in "
                         f"{need}")
    modes = {}
    for mode in MODES:
        recs = [r for r in recordings if r.mode == mode]
        if not recs:
            continue
        # stance fraction and stride duration vs speed from the complete strides of this mode
        sf_x, sf_y, st_x, st_y = [], [], [], []
        for r in recs:
            for side in SIDES:
                e = r.true_events.get(side, {})  # type: ignore[union-attr]
                for f in stance_fractions(e.get("heel_strike", []), e.get("toe_off", [])):
                    sf_x.append(r.speed_m_s)
                    sf_y.append(f)
            t = stride_samples_from_events(r.true_events or {}, "l")
            if t is not None:
                st_x.append(r.speed_m_s)
                st_y.append(t / r.rate_hz)
        s_line = _Line.fit(sf_x, sf_y, DEFAULT_STANCE_FRACTION[mode])
        curves, speeds, names = [], [], []
        for r in recs:
            c, _ = _trial_curve(r, s_line)
            if np.isfinite(c).any():
                curves.append(c)
                speeds.append(float(r.speed_m_s))  # type: ignore[arg-type]
                names.append(r.name)
        if not curves:
            continue
        tc = np.stack(curves)
        v = np.asarray(speeds)
        alpha, beta = np.full((N_PHASE, 3), np.nan), np.zeros((N_PHASE, 3))
        v0 = float(v.mean())
        for i in range(N_PHASE):
            for j in range(3):
                ok = np.isfinite(tc[:, i, j])
                if not ok.any():
                    continue
                if speed_model == "swing_peak" and np.unique(v[ok]).size >= 2:
                    b, a = np.polyfit(v[ok] - v0, tc[ok, i, j], 1)
                    alpha[i, j], beta[i, j] = a, b
                else:
                    alpha[i, j] = tc[ok, i, j].mean()
        peak_x, peak_y, ms_phase = [], [], []
        for r in recs:
            p, ph = _swing_peaks_and_phases(r, s_line)
            if p is not None:
                peak_x.append(p)
                peak_y.append(float(r.speed_m_s))  # type: ignore[arg-type]
            ms_phase += ph
        modes[mode] = ModeCurves(
            names, v, tc, _fill_periodic(alpha), np.nan_to_num(_fill_periodic(np.where(
                np.isfinite(alpha), beta, np.nan))), v0, (float(v.min()), float(v.max())), s_line,
            _Line.fit(st_x, st_y, 1.1 if mode == "walk" else 0.7),
            _Line.fit(peak_x, peak_y, v0) if peak_x else None, np.isfinite(tc).all(axis=2).sum(axis=0),
            _circular_mean(ms_phase))
    if not modes:
        raise ValueError("mean curves: no training recording of mode 'walk' or 'run' covers a gait phase")
    info = {m: {"trials": c.trials, "speeds_m_s": c.speeds_m_s.round(3).tolist(),
                "speed_range_m_s": list(c.speed_range_m_s),
                "phase_bins_uncovered": int((c.coverage == 0).sum()),
                "mid_swing_phase": None if c.mid_swing_phase is None else round(c.mid_swing_phase, 3),
                "stance_fraction_at_range": [round(float(c.stance_fraction(x)), 3)
                                             for x in c.speed_range_m_s],
                "speed_from_swing_peak": None if c.speed_from_peak is None else
                {"a_m_s": c.speed_from_peak.a, "b_m_s_per_rad_s": c.speed_from_peak.b,
                 "peak0_rad_s": c.speed_from_peak.x0}}
            for m, c in modes.items()}
    return CurveSet(modes, speed_model, info)


# ------------------------------------------------------------------------------------- predictors
def flight_mode(pelvis_sf_z_m_s2: np.ndarray, rate_hz: float) -> np.ndarray:
    """Causal walk/run per sample: 'run' if the low-passed pelvis vertical specific force was below
    FLIGHT_SF_M_S2 within the last FLIGHT_WINDOW_S (a flight phase), else 'walk'."""
    z = np.asarray(pelvis_sf_z_m_s2, float)
    b, a = butter(2, FLIGHT_LOWPASS_HZ, fs=rate_hz)
    y = lfilter(b, a, z - z[0]) + z[0]
    w = max(1, int(round(FLIGHT_WINDOW_S * rate_hz)))
    padded = np.r_[np.full(w - 1, np.inf), y]
    low = np.lib.stride_tricks.sliding_window_view(padded, w).min(axis=1)
    return np.where(low < FLIGHT_SF_M_S2, "run", "walk")


class _MeanCurve(Baseline):
    timing = "imu"

    def __init__(self, speed_model: str = "swing_peak", contralateral: bool = True, mid_swing: bool = True,
                 curves: CurveSet | None = None) -> None:
        if speed_model not in SPEED_MODELS:
            raise ValueError(f"unknown speed model {speed_model!r}; choose one of {list(SPEED_MODELS)}")
        self.speed_model = speed_model
        self.contralateral = contralateral
        self.mid_swing = mid_swing
        self.curves = curves

    def settings(self) -> dict:
        """The predictor's choices and the recordings its curves come from (reported with every result)."""
        cs = self.curves
        return {"timing": self.timing, "speed_model": self.speed_model, "contralateral": self.contralateral,
                "mid_swing_anchor": self.mid_swing,
                "curves_from": sorted(n for m in cs.modes.values() for n in m.trials) if cs else []}

    def fit(self, recordings: Sequence[EvalRecording]) -> _MeanCurve:
        self.curves = fit_curves(recordings, self.speed_model)
        return self

    def _check(self) -> CurveSet:
        if self.curves is None:
            raise ValueError(f"{self.name}: call fit() with the real-motion trials first (no curves)")
        return self.curves

    def _mode_of(self, mode: str) -> str:
        """The nearest mode the curves have (walk when only walking curves exist, and vice versa)."""
        cs = self._check()
        return mode if mode in cs.modes else next(iter(cs.modes))

    def predict(self, rec: EvalRecording) -> Prediction:
        return self._predict_imu(rec) if self.timing == "imu" else self._predict_oracle(rec)

    # ---- causal, IMU events
    def _predict_imu(self, rec: EvalRecording) -> Prediction:
        cs = self._check()
        n = len(rec)
        events = {s: detect_gait_events(shank_forward_rate(_shank(rec, s)), rec.rate_hz, s) for s in SIDES}
        mode = flight_mode(rec.column("pelvis/sf_com_z", "gait-phase mean curve (walk/run)"), rec.rate_hz)
        peak = _latest_swing_peak(events, n)
        speed = np.full(n, np.nan)
        for m in MODES:
            sel = mode == m
            mc = cs.mode(self._mode_of(m))
            est = mc.speed_from_peak.extrapolate(peak[sel]) if mc.speed_from_peak is not None else mc.v0
            # no swing peak seen yet (or no speed model): the mode's mean training speed
            speed[sel] = np.where(np.isfinite(est), est, mc.v0)
        out = np.zeros((n, len(JOINTS)))
        synced = np.zeros((n, 2), bool)
        clamped = np.zeros(n, bool)
        for li, side in enumerate(SIDES):
            phase = _causal_phase(events, side, n, rec.rate_hz, self.contralateral, self.mid_swing, mode,
                                  speed, cs, self._mode_of)
            for m in MODES:
                sel = np.isfinite(phase) & (mode == m)
                if not sel.any():
                    continue
                mc = cs.mode(self._mode_of(m))
                v = None if self.speed_model == "none" else speed[sel]
                val, cl = mc.at(phase[sel], v)
                out[np.ix_(sel, SIDE_COLUMNS[side])] = val
                clamped[sel] |= cl
            synced[:, li] = np.isfinite(phase)
        ev_from = int(rec.meta.get("eval_from", 0))
        ok = synced[ev_from:].all(axis=1)
        info = {**self.settings(),
                "unsynchronised_fraction": round(float(1 - synced[ev_from:].mean()), 4),
                "speed_clamped_fraction": round(float(clamped[ev_from:][ok].mean()) if ok.any() else 0.0, 4),
                "speed_estimate_m_s": _median(speed[ev_from:][ok]),
                "run_fraction": round(float((mode[ev_from:] == "run").mean()), 4),
                "heel_strikes": {s: int(len(events[s].heel_strike)) for s in SIDES}}
        return Prediction(out, info)

    # ---- oracle: force-plate events, true mode and speed
    def _predict_oracle(self, rec: EvalRecording) -> Prediction:
        cs = self._check()
        if rec.true_events is None or rec.mode is None or rec.speed_m_s is None:
            raise ValueError(f"{self.name}: recording {rec.name!r} has no force-plate events, true mode or "
                             "speed (oracle timing needs all three)")
        mc = cs.mode(self._mode_of(rec.mode))
        n = len(rec)
        out = np.zeros((n, len(JOINTS)))
        clamped = False
        for side in SIDES:
            e = rec.true_events.get(side, {})
            fr = stance_fractions(e.get("heel_strike", []), e.get("toe_off", []))
            s = float(np.mean(fr)) if fr else float(mc.stance_fraction(rec.speed_m_s))
            t = (stride_samples_from_events(rec.true_events, side)
                 or float(mc.stride_s(rec.speed_m_s)) * rec.rate_hz)
            ph = cycle_phase(n, e.get("heel_strike", []), e.get("toe_off", []), s, t)
            ok = np.isfinite(ph)
            v = None if self.speed_model == "none" else rec.speed_m_s
            val, cl = mc.at(ph[ok], v)
            out[np.ix_(ok, SIDE_COLUMNS[side])] = val
            clamped |= bool(cl.any())
        return Prediction(out, {**self.settings(), "speed_clamped": clamped})


def _median(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return round(float(np.median(x)), 3) if x.size else None


def _latest_swing_peak(events: dict[str, LegEvents], n: int) -> np.ndarray:
    """(N,) the most recent confirmed swing peak of either leg (NaN before the first)."""
    known = sorted((int(k), float(p)) for e in events.values()
                   for k, p in zip(e.mid_swing_known, e.mid_swing_peak_rad_s, strict=True))
    out = np.full(n, np.nan)
    for k, p in known:
        if k < n:
            out[k:] = p
    return out


def _causal_phase(events: dict[str, LegEvents], side: str, n: int, rate_hz: float, contralateral: bool,
                  mid_swing: bool, mode: np.ndarray, speed: np.ndarray, cs: CurveSet, mode_of) -> np.ndarray:
    """(N,) phase of `side` from the events known at each sample (NaN = not synchronised). Anchors:
    heel strikes (phase 0), with `mid_swing` the confirmed mid-swings (the mode's mean mid-swing
    phase), with `contralateral` the other leg's too (+0.5)."""
    other = "r" if side == "l" else "l"
    legs = ((side, 0.0), (other, 0.5)) if contralateral else ((side, 0.0),)
    anchors = []
    for s, off in legs:
        e = events[s]
        anchors += [(int(k), float(i), off) for i, k in zip(e.heel_strike, e.heel_strike_known, strict=True)]
        if mid_swing:
            for i, k in zip(e.mid_swing_all, e.mid_swing_known, strict=True):
                mc = cs.modes.get(mode_of(str(mode[min(int(k), n - 1)])))
                if mc is not None and mc.mid_swing_phase is not None:
                    anchors.append((int(k), float(i), mc.mid_swing_phase + off))
    anchors.sort()
    # stride-duration updates in order of knowledge: (known, priority, samples); lower priority wins
    updates = []
    for prio, s in ((0, side), (1, other)):
        e = events[s]
        updates.extend((int(e.heel_strike_known[j]), prio, float(e.heel_strike[j] - e.heel_strike[j - 1]))
                       for j in range(1, len(e.heel_strike)))
    merged = sorted([(float(i), int(k), s) for s in SIDES
                     for i, k in zip(events[s].heel_strike, events[s].heel_strike_known, strict=True)])
    for (i0, _k0, s0), (i1, k1, s1) in itertools.pairwise(merged):
        if s0 != s1:
            updates.append((k1, 2, 2.0 * (i1 - i0)))
    updates.sort()
    phase = np.full(n, np.nan)
    a_ptr, u_ptr = 0, 0
    anchor: tuple[float, float] | None = None
    best: dict[int, float] = {}
    for k in range(n):
        while a_ptr < len(anchors) and anchors[a_ptr][0] <= k:
            _, idx, off = anchors[a_ptr]
            if anchor is None or idx >= anchor[0]:
                anchor = (idx, off)
            a_ptr += 1
        while u_ptr < len(updates) and updates[u_ptr][0] <= k:
            _, prio, val = updates[u_ptr]
            best[prio] = val
            u_ptr += 1
        if anchor is None:
            continue
        if best:
            t = best[min(best)]
        else:
            mc = cs.modes.get(mode_of(str(mode[k])))
            if mc is None or not np.isfinite(speed[k]):
                continue
            t = float(mc.stride_s(speed[k])) * rate_hz
        elapsed = (k - anchor[0]) / t
        if elapsed > LOST_AFTER_STRIDES:
            continue
        phase[k] = anchor[1] + elapsed
    return phase


@register
class MeanCurveImu(_MeanCurve):
    """Main row: causal, IMU-detected heel strikes (see module docstring)."""

    name = "mean_curve"
    label = "gait-phase mean curve (IMU events, causal)"
    timing = "imu"


@register
class MeanCurveOracle(_MeanCurve):
    """Extra row: force-plate events, true mode and speed (upper bound of event-driven playback)."""

    name = "mean_curve_oracle"
    label = "gait-phase mean curve (force-plate events, oracle)"
    timing = "oracle"
