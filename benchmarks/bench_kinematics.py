"""Benchmark of the segment-kinematics library (issue 5): speed and the design alternatives.

1. Streaming cost per synchronised sample (`KinematicsEstimator.step`) for 3 and 7 sensors, with and
   without the per-sensor VQF orientation, against the bare VQF calls alone and the batch API per
   sample. Target: <= 100 us per sample for 7 sensors on one core. Min and median of repeats (the
   machine is shared; the load average is recorded).
2. Side by side on simulated gait (H4's simulator, realistic MTi-3 errors): causal angular
   acceleration estimators, feature frames (segment frame with gravity vs gravity-removed
   heading-invariant frame), calibration modes.

Writes benchmarks/results/kinematics.json and prints tables.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imu_torque_estimator import body  # noqa: E402
from imu_torque_estimator import kinematics as K  # noqa: E402
from imu_torque_estimator.evaluation.kinematics_accuracy import evaluate_on_kinematics  # noqa: E402
from imu_torque_estimator.kinematics import placement  # noqa: E402
from imu_torque_estimator.sim import imu  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "kinematics.json"


def _time_per_call(fn, n: int, repeats: int = 7) -> tuple[float, float]:
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t) / n * 1e6)
    return float(np.min(runs)), float(np.median(runs))


def timing() -> dict:
    import vqf

    model = body.lower_body_model(75.0, 1.75)
    pl = placement.default_placements(model)
    cal = {s: K.Calibration.from_placement(p) for s, p in pl.items()}
    kin = imu.oscillating_segments_kinematics(25.0, 100.0, seed=0)
    sig = imu.synthesize_imu(kin, pl, imu.ImuErrorModel.mti3(), 100.0, np.random.default_rng(0)).signals
    out = {}
    for sset in ("3imu", "7imu"):
        segs = body.SENSOR_SETS[sset]
        f = np.stack([sig[s].specific_force_m_s2 for s in segs])
        w = np.stack([sig[s].angular_rate_rad_s for s in segs])
        n = f.shape[1]
        samples = [(np.ascontiguousarray(f[:, k]), np.ascontiguousarray(w[:, k])) for k in range(n)]
        for variant in ("features_only", "features+orientation_update", "features+orientation_read"):
            est = K.KinematicsEstimator(sset, 100.0, cal, orientation=variant != "features_only")
            it = iter(samples * 20)
            read = variant.endswith("read")

            def step(est=est, it=it, read=read):
                fk, wk = next(it)
                est.step(fk, wk)
                if read:
                    est.orientation_wxyz  # noqa: B018 -- the node reads it every sample

            mn, md = _time_per_call(step, 2000)
            out[f"stream_{sset}_{variant}_us"] = {"min": mn, "median": md}
        filters = [vqf.VQF(0.01) for _ in segs]
        rows = [(f[i, 0].copy(), w[i, 0].copy()) for i in range(len(segs))]

        def bare(filters=filters, rows=rows):
            for v, (fa, wa) in zip(filters, rows, strict=True):
                v.update(wa, fa)
                v.getQuat6D()

        mn, md = _time_per_call(bare, 2000)
        out[f"bare_vqf_update+get_{sset}_us"] = {"min": mn, "median": md}
        t = time.perf_counter()
        K.estimate_features((f, w), sset, 100.0, cal)
        out[f"batch_features_{sset}_us_per_sample"] = (time.perf_counter() - t) / n * 1e6
        t = time.perf_counter()
        K.estimate_kinematics((f, w), segs, 100.0, cal)
        out[f"batch_kinematics_with_orientation_{sset}_us_per_sample"] = (time.perf_counter() - t) / n * 1e6
    return out


def _mean_over(results: list[dict], key: str) -> dict[str, float]:
    return {s: float(np.mean([r[s][key] for r in results])) for s in results[0]}


def alternatives() -> dict:
    from imu_torque_estimator.sim.subjects import Subject
    from imu_torque_estimator.sim.trial import simulate_trial

    subjects = [Subject("B1", "male", 78.0, 1.78), Subject("B2", "female", 58.0, 1.62)]
    trials = []  # (subject, condition, kinematics, walking kinematics for the functional calibration)
    for i, sub in enumerate(subjects):
        walk = simulate_trial(sub, "walk_1.2", n_strides=12, rate_hz=100.0, imu_errors="ideal",
                              seed=10 + i).kinematics
        run = simulate_trial(sub, "run_3.0", n_strides=12, rate_hz=100.0, imu_errors="ideal",
                             seed=20 + i).kinematics
        trials += [(sub, "walk_1.2", walk, None), (sub, "run_3.0", run, walk)]
    mti3 = imu.ImuErrorModel.mti3()
    realistic = mti3.replace(sta_scale=0.0)
    res: dict = {"trials": [f"{s.subject_id}:{c}" for s, c, _, _ in trials]}

    def run_all(errs, mode, seed, af=None):
        return [evaluate_on_kinematics(k, placement.default_placements(s.model()), errs, 100.0,
                                       np.random.default_rng(seed + j), calibration=mode, alpha_filter=af,
                                       functional_kin=fk) for j, (s, _, k, fk) in enumerate(trials)]

    # (a) angular acceleration estimator: true mounting isolates the derivative error
    variants = {"diff1": {"derivative": "diff1", "lowpass_hz": None},
                "diff2": {"derivative": "diff2", "lowpass_hz": None},
                "diff1+lp20": {"derivative": "diff1", "lowpass_hz": 20.0},
                "diff2+lp15": {"derivative": "diff2", "lowpass_hz": 15.0}}
    res["alpha_filter"] = {}
    for name, af in variants.items():
        for label, errs in (("ideal_true_mounting", imu.ImuErrorModel.ideal()),
                            ("mti3_no_sta_true_mounting", realistic)):
            res["alpha_filter"].setdefault(name, {})[label] = _mean_over(
                run_all(errs, "true", 1, af), "com_acc_rmse_m_s2")

    # (b) feature frame and (c) calibration mode, realistic sensor errors + mounting offsets
    res["feature_frame"] = {}
    res["calibration_mode"] = {}
    keys = ("com_acc_rmse_m_s2", "omega_rmse_rad_s", "inclination_rmse_deg", "calibration_error_deg")
    for mode in ("config", "static", "static+functional", "true"):
        rr = run_all(realistic, mode, 2)
        res["calibration_mode"][mode] = {key: _mean_over(rr, key) for key in keys}
        if mode == "static+functional":
            res["feature_frame"] = {
                "segment_frame_with_gravity": {"acc": _mean_over(rr, "com_acc_rmse_m_s2"),
                                               "omega": _mean_over(rr, "omega_rmse_rad_s")},
                "heading_frame_gravity_removed": {"acc": _mean_over(rr, "heading_acc_rmse_m_s2"),
                                                  "omega": _mean_over(rr, "heading_omega_rmse_rad_s")}}
    # (d) error budget: which error source costs what (static+functional calibration)
    z = {"mounting_rotation_max_rad": 0.0, "placement_offset_max_m": 0.0, "sta_scale": 0.0}
    budget = {"sensor_errors_only": mti3.replace(**z),
              "+mounting_rotation": mti3.replace(placement_offset_max_m=0.0, sta_scale=0.0),
              "+placement_offset": realistic,
              "+soft_tissue_artefact": mti3}
    res["error_budget"] = {}
    for name, errs in budget.items():
        rr = run_all(errs, "static+functional", 3)
        res["error_budget"][name] = {key: _mean_over(rr, key) for key in keys[:3]}
    rr = run_all(imu.ImuErrorModel.ideal(), "true", 2)
    res["feature_frame_ideal_sensors"] = {
        "segment_frame_with_gravity": {"acc": _mean_over(rr, "com_acc_rmse_m_s2")},
        "heading_frame_gravity_removed": {"acc": _mean_over(rr, "heading_acc_rmse_m_s2")}}
    return res


def main() -> int:
    t0 = time.perf_counter()
    result = {"machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                          "load_avg_at_start": os.getloadavg()},
              "alpha_filter_in_use": K.ALPHA_FILTER, "feature_spec_id": K.FEATURE_SPEC_ID}
    result["timing"] = timing()
    result["machine"]["load_avg_after_timing"] = os.getloadavg()
    print("== streaming kinematics, us per synchronised sample (min / median of 7 x 2000)")
    for k, v in result["timing"].items():
        val = f"{v['min']:7.1f} / {v['median']:7.1f}" if isinstance(v, dict) else f"{v:7.2f}"
        print(f"  {k:55s} {val}")
    result["alternatives"] = alternatives()
    alt = result["alternatives"]
    segs = body.SEGMENTS
    print("\n== CoM acceleration RMSE (m/s^2) by angular-acceleration estimator (mean of "
          f"{len(alt['trials'])} trials)")
    print("  " + " " * 34 + " ".join(f"{s:>8s}" for s in segs))
    for name, d in alt["alpha_filter"].items():
        for label, v in d.items():
            print(f"  {name:11s} {label:22s} " + " ".join(f"{v[s]:8.3f}" for s in segs))
    print("\n== feature frame, MTi-3 errors (no STA) + mounting offsets, static+functional calibration")
    for name, d in alt["feature_frame"].items():
        print(f"  {name:30s} acc " + " ".join(f"{d['acc'][s]:6.3f}" for s in segs))
        print(f"  {'':30s} omg " + " ".join(f"{d['omega'][s]:6.3f}" for s in segs))
    for name, d in alt["feature_frame_ideal_sensors"].items():
        print(f"  ideal sensors {name:30s} acc " + " ".join(f"{d['acc'][s]:6.3f}" for s in segs))
    print("\n== error budget (static+functional calibration)")
    for name, d in alt["error_budget"].items():
        for key, v in d.items():
            print(f"  {name:22s} {key:24s} " + " ".join(f"{v[s]:7.3f}" for s in segs))
    print("\n== calibration mode (same errors)")
    for mode, d in alt["calibration_mode"].items():
        for key, v in d.items():
            print(f"  {mode:18s} {key:24s} " + " ".join(f"{v[s]:7.3f}" for s in segs))
    result["wall_time_s"] = time.perf_counter() - t0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {OUT.relative_to(ROOT)} ({result['wall_time_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
