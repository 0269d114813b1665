"""Accuracy of the IMU -> segment-kinematics pipeline against ground truth (for reports/benchmarks).

`evaluate_on_kinematics` runs the whole pipeline as the product does: synthesise the IMUs (with a
standing calibration period prepended), find the still window, calibrate (static + functional from
the first walking strides), estimate with the batch API, and compare per segment with the truth:
- CoM acceleration RMSE in the segment frame (the feature; gravity included on both sides, so the
  error is what the network sees), angular velocity RMSE (segment frame),
- segment inclination error (angle between estimated and true vertical in segment axes, VQF 6-D),
- the same acceleration/angular velocity in the heading-invariant gravity-removed frame, for the
  feature-frame decision.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..body import SEGMENTS
from ..kinematics.calibration import calibrate, find_still_window
from ..kinematics.features import estimate_kinematics, features_from_truth
from ..motion import SegmentKinematics


def _rmse3(err: np.ndarray) -> float:
    """RMS of the vector error norm (N,3) -> float."""
    return float(np.sqrt((err**2).sum(axis=1).mean()))


def evaluate_on_kinematics(kin: SegmentKinematics, nominal_placements: dict, errors, rate_hz: float,
                           rng: np.random.Generator, functional_s: float = 5.0, skip_s: float = 1.0,
                           calibration: str = "static+functional", alpha_filter: dict | None = None,
                           functional_kin: SegmentKinematics | None = None) -> dict:
    """Per-segment accuracy of the pipeline on one motion. `calibration`: 'config' (nominal mounting
    only), 'static' (+ standing pose), 'static+functional' (+ flexion axis from `functional_s` of
    walking), or 'true' (the actual perturbed mounting and lever arm, gyro bias from the standing
    window: isolates sensor errors from mounting calibration).
    `functional_kin`: a separate walking motion of the same subject, recorded with the same mounting,
    for the functional step (the product calibrates on a few walking strides, also before running);
    default: the first `functional_s` of `kin` itself."""
    from ..sim.imu import perturb_placement, synthesize_imu, with_standing_prefix

    segs = tuple(s for s in SEGMENTS if s in nominal_placements)
    # one mounting for every recording of this evaluation
    actual = {s: perturb_placement(nominal_placements[s], errors, rng) for s in segs}
    fixed = errors.replace(mounting_rotation_max_rad=0.0, placement_offset_max_m=0.0)
    full, first = with_standing_prefix(kin, 2.0, 1.0)
    syn = synthesize_imu(full, actual, fixed, rate_hz, rng)
    k = int(round(1.0 / rate_hz / np.median(np.diff(full.time_s))))  # decimation used by synthesis
    truth_t = full.time_s[::k]
    first_s = int(np.ceil(first / k))
    f = np.stack([syn.signals[s].specific_force_m_s2 for s in segs])
    w = np.stack([syn.signals[s].angular_rate_rad_s for s in segs])
    if calibration == "true":
        # true mounting and lever arm; gyro bias still from the standing window as in the product
        from ..kinematics.calibration import Calibration

        win = find_still_window(f, w, rate_hz)
        cal = {s: Calibration(s, actual[s].sensor_to_segment, actual[s].position_m,
                              w[i, win].mean(axis=0) if win is not None else np.zeros(3), "true")
               for i, s in enumerate(segs)}
    else:
        static = walking = None
        if calibration in ("static", "static+functional"):
            win = find_still_window(f, w, rate_hz)
            if win is None:
                raise ValueError("no still standing window found in the synthesised prefix")
            static = {s: (f[i, win], w[i, win]) for i, s in enumerate(segs)}
        if calibration == "static+functional":
            if functional_kin is None:
                stop = first_s + int(functional_s * rate_hz)
                walking = {s: (f[i, first_s:stop], w[i, first_s:stop]) for i, s in enumerate(segs)}
            else:
                fk, f_first = with_standing_prefix(functional_kin, 2.0, 1.0)
                fsyn = synthesize_imu(fk, actual, fixed, rate_hz, rng).signals
                a = int(np.ceil(f_first / k))
                sel_f = slice(a, a + int(functional_s * rate_hz))
                walking = {s: (fsyn[s].specific_force_m_s2[sel_f], fsyn[s].angular_rate_rad_s[sel_f])
                           for s in segs}
        elif calibration not in ("config", "static"):
            raise ValueError(f"unknown calibration mode {calibration!r}")
        cal = calibrate({s: nominal_placements[s] for s in segs}, static, walking)
    est = estimate_kinematics((f, w), segs, rate_hz, cal, alpha_filter=alpha_filter)
    sub = SegmentKinematics(truth_t, {s: full.rotation[s][::k] for s in segs},
                            {s: full.com_position_m[s][::k] for s in segs},
                            {s: full.com_acceleration_m_s2[s][::k] for s in segs},
                            {s: full.angular_velocity_rad_s[s][::k] for s in segs},
                            {s: full.angular_acceleration_rad_s2[s][::k] for s in segs})
    sel = slice(first_s + int(skip_s * rate_hz), None)
    out: dict[str, dict[str, float]] = {}
    for s in segs:
        r = sub.rotation[s][sel]
        tr_acc = np.einsum("nji,nj->ni", r, sub.com_acceleration_m_s2[s][sel] + [0.0, 0.0, 9.80665])
        tr_om = np.einsum("nji,nj->ni", r, sub.angular_velocity_rad_s[s][sel])
        up_est = est.rotation[s][sel][:, 2, :]
        incl = np.degrees(np.arccos(np.clip((up_est * r[:, 2, :]).sum(1), -1.0, 1.0)))
        true_mount = actual[s].sensor_to_segment
        out[s] = {
            "com_acc_rmse_m_s2": _rmse3(est.com_specific_force_m_s2[s][sel] - tr_acc),
            "omega_rmse_rad_s": _rmse3(est.angular_velocity_rad_s[s][sel] - tr_om),
            "inclination_rmse_deg": float(np.sqrt((incl**2).mean())),
            "com_acc_ground_rmse_m_s2": _rmse3(est.com_acceleration_m_s2[s][sel]
                                               - sub.com_acceleration_m_s2[s][sel]),
            "calibration_error_deg": float(np.degrees(np.arccos(np.clip(
                (np.trace(cal[s].sensor_to_segment @ true_mount.T) - 1) / 2, -1.0, 1.0)))),
            "com_acc_rms_m_s2": float(np.sqrt((tr_acc**2).sum(1).mean())),
            "omega_rms_rad_s": float(np.sqrt((tr_om**2).sum(1).mean())),
        }
    # heading-frame features (both sides through the same definition)
    from ..kinematics.features import _features_from

    t_feat = features_from_truth(sub, "7imu", frame="heading") if len(segs) == 7 else None
    if t_feat is not None:
        e_feat = _features_from(segs, est.com_specific_force_m_s2, est.angular_velocity_rad_s, est.rotation,
                                "heading")
        err = (e_feat - t_feat)[sel].reshape(-1, len(segs), 2, 3)
        for i, s in enumerate(segs):
            out[s]["heading_acc_rmse_m_s2"] = _rmse3(err[:, i, 0])
            out[s]["heading_omega_rmse_rad_s"] = _rmse3(err[:, i, 1])
    return out


# ------------------------------------------------------------------------- realism of raw IMU signals
SPECTRUM_MAX_HZ = 20.0
BANDS_HZ = ((0.0, 3.0), (3.0, 8.0), (8.0, 20.0))


def detect_strides(flexion_rate_rad_s: np.ndarray, rate_hz: float, min_stride_s: float = 0.6) -> np.ndarray:
    """Sample indices of mid-swing (the most negative shank flexion rate in each stride: the forward
    swing is about -y, see calibration.py). Input: shank angular rate about its segment y axis."""
    from scipy.signal import find_peaks

    x = -np.asarray(flexion_rate_rad_s, float)
    if x.size < 3 or not np.all(np.isfinite(x)):
        raise ValueError("flexion rate must be a finite 1-D signal of at least 3 samples")
    height = max(1.0, 0.5 * np.percentile(x, 99))
    peaks, _ = find_peaks(x, height=height, distance=max(1, int(min_stride_s * rate_hz)))
    return peaks


def signal_summary(specific_force_m_s2: np.ndarray, angular_rate_rad_s: np.ndarray, rate_hz: float) -> dict:
    """Frame-invariant statistics of one sensor's walking signals: RMS and peak (99th percentile) of
    |f| and |w|, Welch spectra of |f| - mean and |w| up to SPECTRUM_MAX_HZ, band power fractions."""
    from scipy.integrate import trapezoid  # np.trapezoid is NumPy >= 2 only
    from scipy.signal import welch

    fn = np.linalg.norm(specific_force_m_s2, axis=1)
    wn = np.linalg.norm(angular_rate_rad_s, axis=1)
    out = {"sf_rms_m_s2": float(np.sqrt((fn**2).mean())), "sf_peak_m_s2": float(np.percentile(fn, 99)),
           "rate_rms_rad_s": float(np.sqrt((wn**2).mean())), "rate_peak_rad_s": float(np.percentile(wn, 99))}
    nper = int(min(len(fn), 4 * rate_hz))
    for name, x in (("sf", fn - fn.mean()), ("rate", wn - wn.mean())):
        freq, p = welch(x, fs=rate_hz, nperseg=nper)
        keep = freq <= SPECTRUM_MAX_HZ
        out[f"{name}_psd_freq_hz"] = freq[keep].tolist()
        out[f"{name}_psd"] = p[keep].tolist()
        total = float(trapezoid(p[keep], freq[keep])) or 1e-12
        for lo, hi in BANDS_HZ:
            m = (freq >= lo) & (freq < hi)
            out[f"{name}_band_{lo:g}_{hi:g}_hz_fraction"] = float(trapezoid(p[m], freq[m]) / total)
    return out


def stride_ensemble(x: np.ndarray, starts: np.ndarray, n_points: int = 101) -> np.ndarray:
    """(strides, n_points, ...) time-normalised cycles of `x` (N, ...) between consecutive `starts`."""
    cycles = []
    for a, b in itertools.pairwise(starts):
        t = np.linspace(0.0, 1.0, b - a + 1)
        tt = np.linspace(0.0, 1.0, n_points)
        seg = x[a:b + 1].reshape(b - a + 1, -1)
        cycles.append(np.stack([np.interp(tt, t, seg[:, j]) for j in range(seg.shape[1])], axis=1))
    if not cycles:
        raise ValueError("need at least two stride starts")
    return np.stack(cycles).reshape(len(cycles), n_points, *x.shape[1:])
