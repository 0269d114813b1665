"""Plausibility of the shipped models on the real Xsens walk (../shared/data/opensense_xsens_walk).

There are no forces for this recording, so accuracy cannot be measured; what can be checked is
whether the output looks like a joint moment of a walking person:
- stride-to-stride consistency: across-stride standard deviation of the stride-normalised moment,
  averaged over the cycle (Nm/kg), per joint kind, and as % of the mean curve's range;
- left/right symmetry: RMS difference and r between the left and right mean stride curves;
- closeness to the normative curves: RMSE and r between each leg's mean stride curve and the
  gait-phase mean curve of the real walking trials at the IMU-estimated speed.
Strides: heel strike to heel strike of the same leg from the shank IMU (evaluation.gait_events),
kept when the duration is within 25 % of the median. The subject walks in curves most of the time;
metrics are given for the straight strides (|mean pelvis yaw rate over the stride| below
TURN_RATE_RAD_S, about 16 deg of heading change per stride) and for all strides.
The recording is read and calibrated as in `imu-torque kinematics-report` (still standing window, then
functional axes with gait-rule signs from the walk; lever arms of a 75 kg / 1.75 m body).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import kinematics as K
from ..body import JOINTS, SENSOR_SETS, SIDES
from ..model.bundle import Bundle
from ..model.dataset import select_features
from ..model.engine import run_sequence
from .gait_events import detect_gait_events, shank_forward_rate
from .kinematics_accuracy import stride_ensemble

KINDS = ("hip", "knee", "ankle")
TURN_RATE_RAD_S = 0.2
N_POINTS = 101


def _col(kind: str, side: str) -> int:
    return JOINTS.index({"hip": "hip_flexion", "knee": "knee_flexion", "ankle": "ankle_dorsiflexion"}[kind]
                        + f"_{side}")


def load_calibrated_walk(xsens_dir: str | Path) -> dict:
    """The real Xsens walk read and calibrated (shared with `imu-torque kinematics-report`): still
    standing window -> static calibration, the walk after it -> functional axes with gait-rule signs;
    lever arms of a 75 kg / 1.75 m body. Returns segments, rate_hz, f/w (S, N, 3) sensor frames,
    still and walk slices, cal {segment: Calibration}, convergence_deg of 5-s windows."""
    xsens_dir = Path(xsens_dir)
    from ..body import SEGMENTS, lower_body_model
    from ..data.xsens_text import read_xsens_trial
    from ..kinematics import calibrate, find_still_window
    from ..kinematics.placement import default_placements

    sig = read_xsens_trial(xsens_dir)
    segs = tuple(s for s in SEGMENTS if s in sig)
    rates = {round(1.0 / float(np.median(np.diff(sig[s].time_s))), 3) for s in segs}
    if len(rates) != 1:
        raise ValueError(f"{xsens_dir}: sensors have different rates {rates}")
    rate = rates.pop()
    n = min(len(sig[s].time_s) for s in segs)
    f = np.stack([sig[s].specific_force_m_s2[:n] for s in segs])
    w = np.stack([sig[s].angular_rate_rad_s[:n] for s in segs])
    ok = np.all(np.isfinite(f), axis=(0, 2)) & np.all(np.isfinite(w), axis=(0, 2))
    f, w = f[:, ok], w[:, ok]
    win = find_still_window(f, w, rate)
    if win is None:
        raise ValueError(f"{xsens_dir}: no still standing period found for the static calibration")
    walk = slice(win.stop + int(rate), f.shape[1])
    # Mounting unknown: data-driven rotation (static z, functional y with gait-physics sign); lever arms
    # from the default sensor sites of a 75 kg / 1.75 m body (the subject's anthropometry is not given).
    nominal = default_placements(lower_body_model(75.0, 1.75))
    static = {s: (f[i, win], w[i, win]) for i, s in enumerate(segs)}
    # eigenvalue ratio threshold lowered to 2.5: the subject turns during the recording
    cal = calibrate({s: nominal[s] for s in segs}, static,
                    {s: (f[i, walk], w[i, walk]) for i, s in enumerate(segs)}, sign_from_gait=True,
                    min_eig_ratio=2.5)
    # convergence: functional axis from successive 5 s windows vs the whole walk
    conv: dict[str, list[float]] = {s: [] for s in segs}
    step = int(5 * rate)
    for a in range(walk.start, f.shape[1] - step + 1, step):
        part = calibrate({s: nominal[s] for s in segs}, static,
                         {s: (f[i, a:a + step], w[i, a:a + step]) for i, s in enumerate(segs)},
                         sign_from_gait=True, min_eig_ratio=2.5)
        for s in segs:
            c = part[s].sensor_to_segment @ cal[s].sensor_to_segment.T
            conv[s].append(float(np.degrees(np.arccos(np.clip((np.trace(c) - 1) / 2, -1, 1)))))
    return {"segments": segs, "rate_hz": rate, "f": f, "w": w, "still": win, "walk": walk, "cal": cal,
            "convergence_deg": conv}


def xsens_plausibility(xsens_dir: str | Path, bundles: dict[str, Bundle], curves=None,
                       speed_model: str = "swing_peak") -> dict:
    """Plausibility metrics of each model on the real walk (see module docstring). `curves`: a fitted
    evaluation.baselines.mean_curve.CurveSet of the real trials for the normative comparison."""
    real = load_calibrated_walk(xsens_dir)
    segs, rate, walk, cal = real["segments"], real["rate_hz"], real["walk"], real["cal"]
    order = SENSOR_SETS["7imu"]
    missing = [s for s in order if s not in segs]
    if missing:
        raise ValueError(f"{xsens_dir}: no sensor for {missing}")
    idx = [segs.index(s) for s in order]
    f, w = real["f"][idx], real["w"][idx]
    feats = K.estimate_features((f, w), "7imu", rate, {s: cal[s] for s in order})
    names = K.feature_names("7imu")
    a = walk.start
    preds = {f"rnn_{s}": run_sequence(b, select_features(feats, names, s))[:, :len(JOINTS)]
             for s, b in bundles.items()}
    # turning: pelvis yaw rate about the vertical (VQF orientation)
    kp = K.estimate_kinematics((f[[0]], w[[0]]), ("pelvis",), rate, {"pelvis": cal["pelvis"]})
    yaw = np.einsum("nij,nj->ni", kp.rotation["pelvis"], kp.angular_velocity_rad_s["pelvis"])[:, 2]
    out: dict = {"recording": str(xsens_dir), "rate_hz": rate, "walk_s": round((f.shape[1] - a) / rate, 2),
                 "turn_rate_threshold_rad_s": TURN_RATE_RAD_S, "models": {}}
    strides: dict[str, dict[str, np.ndarray]] = {"straight": {}, "all": {}}
    peaks = []
    for side in SIDES:
        x = shank_forward_rate(np.column_stack([feats[:, names.index(f"shank_{side}/omega_{c}")]
                                                for c in "xyz"]))
        ev = detect_gait_events(x, rate, side)
        hs = np.round(ev.heel_strike).astype(int)
        inside = hs >= a
        peaks += list(ev.swing_peak_rad_s[inside])
        hs = hs[inside]
        d = np.diff(hs)
        med = float(np.median(d)) if d.size else np.nan
        regular = [(hs[i], hs[i + 1]) for i in range(len(d)) if abs(d[i] - med) <= 0.25 * med]
        straight = [(s0, s1) for s0, s1 in regular if abs(float(np.mean(yaw[s0:s1]))) < TURN_RATE_RAD_S]
        strides["all"][side] = np.array(regular, int).reshape(-1, 2)
        strides["straight"][side] = np.array(straight, int).reshape(-1, 2)
        out[f"strides_{side}"] = {"detected": int(len(d)), "regular": len(regular), "straight": len(straight),
                                  "median_stride_s": round(med / rate, 3) if np.isfinite(med) else None}
    speed = None
    if curves is not None and "walk" in curves.modes and peaks:
        line = curves.modes["walk"].speed_from_peak
        if line is not None:
            speed = float(line.extrapolate(np.median(peaks)))
    out["speed_estimate_m_s"] = None if speed is None else round(speed, 3)
    norm = None
    if curves is not None and "walk" in curves.modes:
        c, clamped = curves.curve("walk", speed if speed_model != "none" else None)
        norm = np.vstack([c, c[:1]])  # N_PHASE + 1 points, periodic
        out["normative_speed_clamped"] = clamped
    for meth, p in preds.items():
        out["models"][meth] = {}
        for which, st in strides.items():
            res, means = _stride_metrics(p, st, norm)
            out["models"][meth][which] = res
            if which == "straight":
                out.setdefault("_mean_curves", {})[meth] = {s: m.tolist() for s, m in means.items()}
    if norm is not None:
        out["_normative"] = norm.tolist()
    return out


def _stride_metrics(p: np.ndarray, starts: dict[str, np.ndarray], norm: np.ndarray | None
                    ) -> tuple[dict, dict[str, np.ndarray]]:
    """Consistency, symmetry and closeness to `norm` ((M, 3) hip/knee/ankle over one cycle) of the
    stride-normalised predictions `p` (N, 6) for the given strides per side."""
    res: dict = {}
    means: dict[str, np.ndarray] = {}
    grid = np.linspace(0, 1, N_POINTS)
    for side in SIDES:
        pairs = starts[side]
        if len(pairs) < 2:
            continue
        ens = np.stack([stride_ensemble(p[s0:s1 + 1], np.array([0, s1 - s0]), N_POINTS)[0]
                        for s0, s1 in pairs])
        means[side] = ens.mean(axis=0)
        for kind in KINDS:
            e = ens[:, :, _col(kind, side)]
            sd = float(e.std(axis=0, ddof=1).mean())
            rng = float(np.ptp(e.mean(axis=0)))
            r = res.setdefault(kind, {})
            r.setdefault("n_strides", {})[side] = int(len(pairs))
            r.setdefault("stride_sd_nm_per_kg", {})[side] = round(sd, 4)
            r.setdefault("stride_sd_pct_of_range", {})[side] = round(100 * sd / rng, 1) if rng > 0 else None
            if norm is not None:
                nk = np.interp(grid, np.linspace(0, 1, len(norm)), norm[:, KINDS.index(kind)])
                m = e.mean(axis=0)
                rmse = float(np.sqrt(np.mean((m - nk) ** 2)))
                r.setdefault("vs_normative_rmse_nm_per_kg", {})[side] = round(rmse, 4)
                r.setdefault("vs_normative_r", {})[side] = round(float(np.corrcoef(m, nk)[0, 1]), 3)
    if len(means) == 2:
        for kind in KINDS:
            ml, mr = means["l"][:, _col(kind, "l")], means["r"][:, _col(kind, "r")]
            res[kind]["left_right_rms_diff_nm_per_kg"] = round(float(np.sqrt(np.mean((ml - mr) ** 2))), 4)
            res[kind]["left_right_r"] = round(float(np.corrcoef(ml, mr)[0, 1]), 3)
    return res, means
