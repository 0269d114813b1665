"""Real-data sections of bench_calibration.py: the Xsens walk and the re-mounted BioMAC cycles."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from imu_torque_estimator.body import GRAVITY_M_S2, R_OSIM_TO_ROS, SEGMENTS
from imu_torque_estimator.kinematics import calibration as C
from imu_torque_estimator.kinematics.calibration.gait import valid_runs

# A stride is on a straight stretch when its walking direction is within this of both neighbours'.
STRAIGHT_DEG = 15.0
LEGS = ("thigh_l", "thigh_r", "shank_l", "shank_r", "foot_l", "foot_r")


def _rot_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(a @ b.T) - 1) / 2, -1.0, 1.0))))


def _axis_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


def _pct(v: list[float]) -> dict:
    v = [x for x in v if np.isfinite(x)]
    if not v:
        return {}
    return {
        "p50": float(np.percentile(v, 50)),
        "p95": float(np.percentile(v, 95)),
        "max": float(np.max(v)),
        "n": len(v),
    }


# ------------------------------------------------------------------------------------------------ Xsens
def _load_xsens(data: Path):
    from imu_torque_estimator.data.xsens_text import read_xsens_trial

    sig = read_xsens_trial(data / "opensense_xsens_walk")
    segs = tuple(s for s in SEGMENTS if s in sig)
    n = min(len(sig[s].time_s) for s in segs)
    f = np.stack([sig[s].specific_force_m_s2[:n] for s in segs])
    w = np.stack([sig[s].angular_rate_rad_s[:n] for s in segs])
    q = np.stack([sig[s].orientation_wxyz[:n] for s in segs])
    return segs, f, w, q


def _stride_headings(
    f: np.ndarray, w: np.ndarray, rot: np.ndarray, rate: float
) -> list[tuple[int, int, float, float]]:
    """Foot zero-velocity strides: (start, stop, horizontal heading rad, length m) in the Xsens global
    frame (orientation from the Xsens filter, z up), velocity drift removed linearly per stride."""
    g = np.array([0.0, 0.0, GRAVITY_M_S2])
    a = np.einsum("nij,nj->ni", rot, f) - g
    rest = (np.linalg.norm(w, axis=1) < 0.8) & (np.abs(np.linalg.norm(f, axis=1) - GRAVITY_M_S2) < 1.0)
    mids = [(r.start + r.stop) // 2 for r in valid_runs(rest, 5)]
    out = []
    for s0, s1 in itertools.pairwise(mids):
        if not 0.6 * rate <= s1 - s0 <= 2.0 * rate or not np.all(np.isfinite(a[s0 : s1 + 1])):
            continue
        v = np.cumsum(a[s0 : s1 + 1], axis=0) / rate
        v -= np.outer(np.linspace(0, 1, len(v)), v[-1])
        d = v.sum(axis=0) / rate
        length = float(np.hypot(d[0], d[1]))
        if 0.5 < length < 2.5:
            out.append((s0, s1, float(np.arctan2(d[1], d[0])), length))
    return out


def xsens_section(data: Path) -> dict:
    from imu_torque_estimator.kinematics.orientation import wxyz_to_matrix

    if not (data / "opensense_xsens_walk").is_dir():
        print("\n== Xsens walk: ../shared/data/opensense_xsens_walk not available, skipped")
        return {"skipped": "data not available"}
    segs, f, w, q = _load_xsens(data)
    rate = 100.0
    ok = np.all(np.isfinite(f), axis=(0, 2)) & np.all(np.isfinite(w), axis=(0, 2))
    first, last = int(np.argmax(ok)), len(ok) - int(np.argmax(ok[::-1]))
    f, w, q = f[:, first:last], w[:, first:last], q[:, first:last]
    rec = C.Recording(segs, f, w, rate)
    still = C.find_still_window(f, w, rate)
    walk_start = still.stop + 50 if still is not None else 0
    n = f.shape[1]
    half = walk_start + (n - walk_start) // 2
    out: dict = {
        "samples": n,
        "rate_hz": rate,
        "still_window_s": [still.start / rate, still.stop / rate] if still else None,
        "walking_s": (n - walk_start) / rate,
    }
    parts = {
        "first_half": slice(walk_start, half),
        "second_half": slice(half, n),
        "whole_walk": slice(walk_start, n),
    }
    res = {}
    for name, sl in parts.items():
        res[name] = C.calibrate_recording(rec.window(sl), "walking")
    res["still_whole"] = C.calibrate_recording(rec, "still")
    out["runs"] = {
        k: {
            "gait": r.gait,
            "strides": r.strides,
            "undecided": r.undecided,
            "messages": r.messages,
            "confidence": r.confidence,
            "decided_by": {s: c.decided_by for s, c in r.segments.items()},
        }
        for k, r in res.items()
    }
    agree = {}
    for s in segs:
        a, b = res["first_half"].segments[s], res["second_half"].segments[s]
        ws, st = res["whole_walk"].segments[s], res["still_whole"].segments[s]
        agree[s] = {
            "halves_rot_deg": _rot_err(a.sensor_to_segment, b.sensor_to_segment),
            "halves_y_deg": _axis_err(a.sensor_to_segment[1], b.sensor_to_segment[1]),
            "halves_z_deg": _axis_err(a.sensor_to_segment[2], b.sensor_to_segment[2]),
            "walking_vs_still_rot_deg": _rot_err(ws.sensor_to_segment, st.sensor_to_segment),
            "walking_vs_still_z_deg": _axis_err(ws.sensor_to_segment[2], st.sensor_to_segment[2]),
            "both_halves_decided": bool(a.decided and b.decided),
        }
    out["agreement"] = agree
    # streaming convergence on the walk (walking mode, from the first walking sample)
    cal = C.Calibrator(segs, rate, "walking")
    fs, ws_ = f[:, walk_start:].transpose(1, 0, 2), w[:, walk_start:].transpose(1, 0, 2)
    k = 0
    for k in range(fs.shape[0]):
        if cal.update(fs[k], ws_[k]) is C.CalibratorState.CALIBRATED:
            break
    conv = cal.state is C.CalibratorState.CALIBRATED
    out["stream"] = {
        "converged": conv,
        "after_s": k / rate if conv else None,
        "strides_seen": cal.strides_seen,
        "status": cal.status() if not conv else None,
    }
    # pelvis forward vs walking direction on straight strides (feet: zero-velocity stride displacement)
    rot = {s: wxyz_to_matrix(q[i]) for i, s in enumerate(segs)}
    strides = []
    for side in ("l", "r"):
        i = segs.index(f"foot_{side}")
        strides += _stride_headings(f[i], w[i], rot[f"foot_{side}"], rate)
    strides.sort()
    heading = {}
    for name in ("whole_walk", "still_whole", "first_half", "second_half"):
        x_s = res[name].segments["pelvis"].sensor_to_segment[0]  # pelvis x axis in sensor coordinates
        fwd = np.einsum("nij,j->ni", rot["pelvis"], x_s)
        errs = []
        for j, (s0, s1, hd, _) in enumerate(strides):
            if s0 < walk_start:
                continue
            neigh = [strides[k2][2] for k2 in (j - 1, j + 1) if 0 <= k2 < len(strides)]
            if not neigh or any(
                abs(np.angle(np.exp(1j * (hd - h)))) > np.radians(STRAIGHT_DEG) for h in neigh
            ):
                continue  # not a straight stretch
            ph = np.arctan2(fwd[s0:s1, 1], fwd[s0:s1, 0])
            mean = np.angle(np.mean(np.exp(1j * ph)))
            errs.append(float(np.degrees(abs(np.angle(np.exp(1j * (mean - hd)))))))
        heading[name] = _pct(errs)
    out["pelvis_heading_vs_walking_direction_deg"] = heading
    out["foot_strides"] = len(strides)
    print("\n== real Xsens walk (own mounting, rate from orientation, turning): walking mode on two halves")
    print(
        f"  walking {out['walking_s']:.1f} s after "
        f"{0 if not still else (still.stop - still.start) / rate:.1f} s "
        f"standing; strides per half {res['first_half'].strides.get('shank_r', 0)} / "
        f"{res['second_half'].strides.get('shank_r', 0)}"
    )
    print(f"  {'segment':8s} {'halves rot':>10s} {'y':>6s} {'z':>6s} {'walk vs still':>13s} {'decided':>8s}")
    for s in segs:
        d = agree[s]
        print(
            f"  {s:8s} {d['halves_rot_deg']:10.1f} {d['halves_y_deg']:6.1f} {d['halves_z_deg']:6.1f} "
            f"{d['walking_vs_still_rot_deg']:13.1f} {d['both_halves_decided']!s:>8s}"
        )
    print(
        f"  streaming walking mode: converged {conv} after {out['stream']['after_s']} s, strides "
        f"{out['stream']['strides_seen']}"
    )
    for name, h in heading.items():
        if h:
            print(
                f"  pelvis heading vs walking direction, {name:12s}: p50 {h['p50']:.1f} p95 {h['p95']:.1f} "
                f"max {h['max']:.1f} deg over {h['n']} straight strides"
            )
    for k2, r in res.items():
        for m in r.messages:
            print(f"  [{k2}] {m}")
        for s, why in r.undecided.items():
            print(f"  [{k2}] {s} undecided: {why}")
    return out


# ----------------------------------------------------------------------------------------------- BioMAC
BIOMAC_SEGMENTS = {
    "pelvis": "pelvis",
    "femur_l": "thigh_l",
    "femur_r": "thigh_r",
    "tibia_l": "shank_l",
    "tibia_r": "shank_r",
    "foot_l": "foot_l",
    "foot_r": "foot_r",
}


def _biomac_cycle(path: Path) -> tuple[dict, dict, float, str, bool]:
    """Minimal reading of a converted cycle: {segment: (100,3)} specific force and rate in the
    project's segment axes, the stride time, the gait, whether the left accelerometers are a copy."""
    with np.load(path, allow_pickle=False) as z:
        mean, names = np.asarray(z["mean"], float), [str(n) for n in z["names"]]
        meta = json.loads(str(z["meta_json"]))
    col = {n: i for i, n in enumerate(names)}
    f, w = {}, {}
    for src, seg in BIOMAC_SEGMENTS.items():
        f[seg] = np.column_stack([mean[:, col[f"acc_{src}_{a}"]] for a in "xyz"]) @ R_OSIM_TO_ROS.T
        w[seg] = np.column_stack([mean[:, col[f"gyro_{src}_{a}"]] for a in "xyz"]) @ R_OSIM_TO_ROS.T
    angles = {j: mean[:, col[f"angle_{c}_r"]] * sign for j, (c, sign) in JOINT_ANGLES.items()}
    stride = float(meta["scalars"]["dur_dur"]["mean"])
    gait = "run" if "running" in path.stem else "walk"
    n = mean.shape[0]
    copy = all(
        np.allclose(f[f"{s}_l"], np.roll(f[f"{s}_r"], n // 2, axis=0)) for s in ("thigh", "shank", "foot")
    )
    return f, w, stride, gait, copy, angles


# right-leg sagittal angles of the file -> project joint (sign to the project's convention: OpenSim
# knee_angle of this model is positive in extension, as the data README infers for its moment)
JOINT_ANGLES = {"hip": ("hip_flexion", 1.0), "knee": ("knee_angle", -1.0), "ankle": ("ankle_angle", 1.0)}
# joint -> (proximal, distal, sign): flexion rate = sign * (omega_distal_y - omega_proximal_y) (body.py)
JOINT_RATE = {
    "hip": ("pelvis", "thigh_r", -1.0),
    "knee": ("thigh_r", "shank_r", 1.0),
    "ankle": ("shank_r", "foot_r", -1.0),
}


def _joint_rate_check(f_seg: dict, w_sens: dict, cals: dict, angles: dict, rate: float) -> dict:
    """Sagittal joint angular velocity from calibrated IMU rates (segment y components) against the
    time derivative of the motion-capture angles (one cycle, periodic): r and RMSE (rad/s)."""
    out = {}
    for j, (prox, dist, sign) in JOINT_RATE.items():
        om = {s: (w_sens[s] @ cals[s].T)[:, 1] for s in (prox, dist)}
        est = sign * (om[dist] - om[prox])
        ang = angles[j]
        ref = (np.roll(ang, -1) - np.roll(ang, 1)) * rate / 2
        out[j] = {
            "r": float(np.corrcoef(est, ref)[0, 1]),
            "rmse_rad_s": float(np.sqrt(np.mean((est - ref) ** 2))),
        }
    return out


def biomac_section(data: Path, draws: int = 60, cycles: int = 12, seed: int = 14) -> dict:
    folder = data / "biomac_dorschky2019_imu" / "converted"
    if not folder.is_dir():
        print("\n== BioMAC: ../shared/data/biomac_dorschky2019_imu not available, skipped")
        return {"skipped": "data not available"}
    rng = np.random.default_rng(seed)
    out: dict = {"draws": draws, "cycles_tiled": cycles, "files": {}}
    print(
        f"\n== BioMAC real IMU cycles (tiled x{cycles}), each segment re-mounted at a random rotation "
        f"({draws} draws), walking mode"
    )
    for path in sorted(folder.glob("*.npz")):
        f, w, stride, gait, copy, angles = _biomac_cycle(path)
        rate = f["pelvis"].shape[0] / stride
        rows: dict[str, list] = {s: [] for s in SEGMENTS}
        t0 = time.perf_counter()
        gaits = []
        checks: dict = {}
        for d in range(draws):
            mount = {
                s: (np.eye(3) if d == 0 else Rotation.random(random_state=rng).as_matrix()) for s in SEGMENTS
            }
            # sensor-frame signal of a sensor whose sensor_to_segment is C: v_sensor = C^T v_segment
            data_s = {
                s: (np.tile(f[s], (cycles, 1)) @ mount[s], np.tile(w[s], (cycles, 1)) @ mount[s])
                for s in SEGMENTS
            }
            res = C.calibrate_recording(data_s, "walking", rate_hz=rate)
            gaits.append(res.gait)
            if d <= 1:  # joint-rate check: the file's own axes (d = 0 identity) and one re-mounted draw
                n1 = f["pelvis"].shape[0]
                ws1 = {s: data_s[s][1][:n1] for s in SEGMENTS}
                checks[("file_axes" if d == 0 else "calibrated")] = _joint_rate_check(
                    f,
                    ws1,
                    {s: (mount[s].T if d == 0 else res.segments[s].sensor_to_segment) for s in SEGMENTS},
                    angles,
                    rate,
                )
            for s in SEGMENTS:
                c = res.segments[s]
                e = {
                    "rot_deg": _rot_err(c.sensor_to_segment, mount[s]),
                    "y_deg": _axis_err(c.sensor_to_segment[1], mount[s][1]),
                    "z_deg": _axis_err(c.sensor_to_segment[2], mount[s][2]),
                    "decided": c.decided,
                    "reason": c.reason,
                }
                if s == "pelvis":
                    x = mount[s] @ c.sensor_to_segment[0]
                    e["heading_deg"] = float(np.degrees(abs(np.arctan2(x[1], x[0]))))
                    e["sign_failure"] = e["heading_deg"] > 90
                else:
                    e["sign_failure"] = bool(c.sensor_to_segment[1] @ mount[s][1] < 0)
                rows[s].append(e)
        summary = {}
        for s in SEGMENTS:
            r = rows[s]
            dec = [x for x in r if x["decided"]]
            good = [x for x in dec if not x["sign_failure"]]
            summary[s] = {
                "decided": len(dec),
                "n": len(r),
                "sign_failures": sum(x["sign_failure"] for x in dec),
                "rot_deg": _pct([x["rot_deg"] for x in good]),
                "y_deg": _pct([x["y_deg"] for x in good]),
                "z_deg": _pct([x["z_deg"] for x in good]),
                "identity_mount_rot_deg": r[0]["rot_deg"],
                "reasons": sorted({x["reason"] for x in r if x["reason"]})[:3],
            }
            if s == "pelvis":
                summary[s]["heading_deg"] = _pct([x["heading_deg"] for x in good])
        out["files"][path.stem] = {
            "gait_true": gait,
            "gait_detected": max(set(gaits), key=gaits.count),
            "rate_hz": rate,
            "left_acc_is_copy_of_right": copy,
            "segments": summary,
            "joint_rate_vs_mocap": checks,
            "seconds": time.perf_counter() - t0,
        }
        print(
            f"  {path.stem} ({gait}, detected {out['files'][path.stem]['gait_detected']}, {rate:.1f} Hz"
            f"{'; left accelerometers are a copy of the right' if copy else ''})"
        )
        print(
            f"    {'segment':8s} {'rot p50/p95':>12s} {'y p95':>6s} {'z p95':>6s} {'head p95':>8s} "
            f"{'fail':>5s} "
            f"{'undec':>5s} {'as-given':>8s}"
        )
        for s in SEGMENTS:
            d = summary[s]
            rr = d["rot_deg"]
            print(
                f"    {s:8s} {rr.get('p50', np.nan):5.1f}/{rr.get('p95', np.nan):5.1f}  "
                f"{d['y_deg'].get('p95', np.nan):6.1f} {d['z_deg'].get('p95', np.nan):6.1f} "
                f"{d.get('heading_deg', {}).get('p95', np.nan):8.1f} {d['sign_failures']:5d} "
                f"{d['n'] - d['decided']:5d} {d['identity_mount_rot_deg']:8.1f}"
            )
        print(
            "    right-leg sagittal joint rate vs d/dt(motion-capture angle), r / RMSE rad/s: "
            + "; ".join(
                f"{j} file axes {checks['file_axes'][j]['r']:.3f}/{checks['file_axes'][j]['rmse_rad_s']:.2f}"
                f" calibrated {checks['calibrated'][j]['r']:.3f}/{checks['calibrated'][j]['rmse_rad_s']:.2f}"
                for j in JOINT_RATE
            )
        )
    return out
