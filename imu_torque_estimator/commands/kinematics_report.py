"""`imu-torque kinematics-report`: how well IMU-derived segment kinematics match the truth, and how
realistic the synthesised IMU signals are next to the real Xsens recording.

1. Accuracy (issue 5): simulated subjects (sim.trial) walking and running, IMUs synthesised with the
   MTi-3 error model, the product's own pipeline (static standing + functional walking calibration,
   batch API) against ground truth per segment: CoM acceleration RMSE (segment-frame feature),
   angular velocity RMSE, inclination error (VQF). Error settings build up: sensor errors + mounting
   rotation offsets; + placement offsets (the issue's "realistic sensor errors and mounting offsets");
   + soft-tissue artefact; and the true-mounting floor. -> kinematics_accuracy.json/.png
2. Realism (issue 4): the real OpenSense Xsens walk vs a population of simulated subjects walking at
   the real trial's stride time: RMS and peak of |specific force| and |angular rate|, stride
   frequency, spectra to 20 Hz; real inside the 5-95 % range? -> imu_realism.json/.png
3. Real recording through the kinematics library: calibration convergence and stride-normalised
   features, real vs simulated. -> xsens_features.png (numbers in imu_realism.json)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..extras import require

NAME = "kinematics-report"
HELP = ("Accuracy of IMU-derived segment kinematics on simulated gait and realism of synthesised IMU "
        "signals vs the real Xsens recording (JSON + plots)")
REQUIRES = ("matplotlib",)  # extras.py: checked by the CLI before the command starts

_REPO = Path(__file__).resolve().parents[2]
TARGETS = {"com_acc_rmse_m_s2": 0.5, "omega_rmse_rad_s": 0.05, "inclination_rmse_deg": 2.0}
REAL_SEGMENTS = ("pelvis", "thigh_r", "shank_r", "foot_r", "thigh_l", "shank_l", "foot_l")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=_REPO / "benchmarks" / "results", help="output directory")
    p.add_argument("--data", type=Path, default=_REPO / ".." / "shared" / "data", help="shared data dir")
    p.add_argument("--subjects", type=int, default=6, help="simulated subjects per study (default 6)")
    p.add_argument("--strides", type=int, default=12, help="strides per simulated trial (default 12)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-accuracy", action="store_true")
    p.add_argument("--skip-realism", action="store_true")


def run(args: argparse.Namespace) -> int:
    if args.subjects < 1 or args.strides < 3:
        raise ValueError("--subjects must be >= 1 and --strides >= 3")
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.skip_accuracy:
        acc = accuracy_study(args.subjects, args.strides, args.seed)
        (args.out / "kinematics_accuracy.json").write_text(json.dumps(acc, indent=1))
        _plot_accuracy(acc, args.out / "kinematics_accuracy.png")
        _print_accuracy(acc)
    if not args.skip_realism:
        xsens = args.data / "opensense_xsens_walk"
        if not xsens.is_dir():
            raise FileNotFoundError(f"{xsens} not found (pass --data); needed for the realism study")
        real = realism_study(xsens, args.subjects, args.seed)
        public = {k: v for k, v in real.items() if not k.startswith("_")}
        (args.out / "imu_realism.json").write_text(json.dumps(public, indent=1))
        _plot_realism(real, args.out / "imu_realism.png")
        _plot_features(real, args.out / "xsens_features.png")
        _print_realism(real)
    print(f"wrote results to {args.out}")
    return 0


# --------------------------------------------------------------------------------------- accuracy
def accuracy_study(n_subjects: int, n_strides: int, seed: int) -> dict:
    from ..body import SEGMENTS
    from ..evaluation.kinematics_accuracy import evaluate_on_kinematics
    from ..kinematics.placement import default_placements
    from ..sim import imu
    from ..sim.subjects import sample_subjects
    from ..sim.trial import simulate_trial

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    subjects = sample_subjects(n_subjects, rng)
    conditions = ("walk_1.2", "walk_1.6", "run_3.0")
    mti3 = imu.ImuErrorModel.mti3()
    settings = {
        "sensor+mounting_rotation": (mti3.replace(placement_offset_max_m=0.0, sta_scale=0.0),
                                     "static+functional"),
        "sensor+mounting_rotation+placement": (mti3.replace(sta_scale=0.0), "static+functional"),
        "sensor+mounting+placement+STA": (mti3, "static+functional"),
        "true_mounting_floor(sensor errors only)": (mti3.replace(sta_scale=0.0), "true"),
    }
    rows: list[dict[str, Any]] = []
    for i, sub in enumerate(subjects):
        kins = {c: simulate_trial(sub, c, n_strides=n_strides, rate_hz=100.0, imu_errors="ideal",
                                  seed=seed * 1000 + i).truth_kinematics for c in conditions}
        for c in conditions:
            for name, (errs, mode) in settings.items():
                res = evaluate_on_kinematics(kins[c], default_placements(sub.model()), errs, 100.0,
                                             np.random.default_rng(seed * 1000 + 17 * i),
                                             calibration=mode, functional_kin=kins["walk_1.2"])
                rows.append({"subject": sub.subject_id, "condition": c, "setting": name, "segments": res})
    summary: dict = {}
    for name in settings:
        for mode in ("walk", "run", "all"):
            sel = [r for r in rows
                   if r["setting"] == name and (mode == "all" or r["condition"].startswith(mode))]
            summary.setdefault(name, {})[mode] = {
                s: {k: float(np.mean([r["segments"][s][k] for r in sel])) for k in
                    ("com_acc_rmse_m_s2", "omega_rmse_rad_s", "inclination_rmse_deg", "calibration_error_deg",
                     "com_acc_rms_m_s2", "omega_rms_rad_s")} for s in SEGMENTS}
    return {"targets": TARGETS, "conditions": list(conditions),
            "subjects": [s.to_dict() for s in subjects], "settings": list(settings),
            "calibration": "static standing pose + functional flexion axis from 5 s of walking at 1.2 m/s",
            "summary": summary, "trials": rows, "wall_time_s": time.perf_counter() - t0}


def _print_accuracy(acc: dict) -> None:
    from ..body import SEGMENTS

    print("== accuracy per segment (mean over trials; targets: acc <= 0.5 m/s^2, omega <= 0.05 rad/s, "
          "inclination <= 2 deg)")
    print(f"  {'setting':42s} {'gait':4s} {'metric':22s} " + " ".join(f"{s:>8s}" for s in SEGMENTS))
    for name, by in acc["summary"].items():
        for mode in ("walk", "run"):
            for k in TARGETS:
                vals = [by[mode][s][k] for s in SEGMENTS]
                cells = " ".join(f"{v:7.3f}{'*' if v > TARGETS[k] else ' '}" for v in vals)
                print(f"  {name:42s} {mode:4s} {k:22s} {cells}")
    print("  (* = above target)")


def _plot_accuracy(acc: dict, path: Path) -> None:
    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..body import SEGMENTS

    fig, axes = plt.subplots(3, 1, figsize=(11, 9), sharex=True)
    names = acc["settings"]
    x = np.arange(len(SEGMENTS))
    width = 0.8 / len(names)
    for ax, (k, target) in zip(axes, TARGETS.items(), strict=True):
        for j, name in enumerate(names):
            vals = [acc["summary"][name]["all"][s][k] for s in SEGMENTS]
            ax.bar(x + (j - len(names) / 2 + 0.5) * width, vals, width, label=name)
        ax.axhline(target, color="k", ls="--", lw=1)
        ax.set_ylabel(k)
    axes[0].legend(fontsize=8)
    axes[-1].set_xticks(x, SEGMENTS)
    axes[0].set_title("IMU-derived segment kinematics vs truth (simulated walk 1.2/1.6 + run 3.0, "
                      "static+functional calibration); dashed = target")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------- realism
def realism_study(xsens_dir: Path, n_subjects: int, seed: int) -> dict:
    from ..body import SEGMENTS, SENSOR_SETS
    from ..evaluation.kinematics_accuracy import detect_strides, signal_summary
    from ..kinematics import Calibration, estimate_features, feature_names
    from ..kinematics.placement import default_placements
    from ..sim.gait import load_patterns
    from ..sim.imu import ImuErrorModel, synthesize_imu
    from ..sim.subjects import Condition, sample_subjects
    from ..sim.trial import simulate_trial

    t0 = time.perf_counter()
    from ..evaluation.xsens_walk import load_calibrated_walk

    real = load_calibrated_walk(xsens_dir)
    segs, rate, walk = real["segments"], real["rate_hz"], real["walk"]
    f, w, cal = real["f"][:, walk], real["w"][:, walk], real["cal"]
    i_sh = segs.index("shank_r")
    c = cal["shank_r"]
    flex = ((w[i_sh] - c.gyro_bias_rad_s) @ c.sensor_to_segment.T)[:, 1]
    starts = detect_strides(flex, rate)
    stride_real = float(np.median(np.diff(starts))) / rate
    # simulated walking speed with the real stride time for a 1.70 m subject (simulator's own model)
    pats = load_patterns()["walk"]
    speeds = np.linspace(0.6, 1.8, 61)
    st_time = np.array([pats.stride_length_m(v, 1.70) / v for v in speeds])
    speed = float(speeds[np.argmin(np.abs(st_time - stride_real))])
    cond = Condition("walk", round(speed, 2))
    real_sum = {s: signal_summary(f[i], w[i], rate) for i, s in enumerate(segs)}
    # how much of the real walk is turning (pelvis yaw rate, 1 s mean, above 0.3 rad/s)
    from scipy.ndimage import uniform_filter1d

    from ..kinematics import estimate_kinematics

    kp = estimate_kinematics((f[[segs.index("pelvis")]], w[[segs.index("pelvis")]]), ("pelvis",), rate,
                             {"pelvis": cal["pelvis"]})
    yaw = np.einsum("nij,nj->ni", kp.rotation["pelvis"], kp.angular_velocity_rad_s["pelvis"])[:, 2]
    turning = np.abs(uniform_filter1d(yaw, int(rate))) > 0.3
    straight = {s: {k: v for k, v in signal_summary(f[i][~turning], w[i][~turning], rate).items()
                    if not k.endswith("psd") and not k.endswith("freq_hz")} for i, s in enumerate(segs)}
    real_sum["stride_frequency_hz"] = 1.0 / stride_real
    sim_sum: list[dict] = []
    sim_feats, sim_starts = [], []
    rng = np.random.default_rng(seed + 1)
    for j, sub in enumerate(sample_subjects(n_subjects, rng, prefix="R")):
        tr = simulate_trial(sub, cond, n_strides=12, rate_hz=rate, imu_errors="ideal", seed=seed * 100 + j)
        ev = tr.meta["events"]
        syn = synthesize_imu(tr.truth_kinematics, default_placements(sub.model()), ImuErrorModel.mti3(), rate,
                             rng,
                             heel_strikes_s={"l": ev["heel_strikes_l_s"], "r": ev["heel_strikes_r_s"]})
        sf = np.stack([syn.signals[s].specific_force_m_s2 for s in SEGMENTS])
        sw = np.stack([syn.signals[s].angular_rate_rad_s for s in SEGMENTS])
        d: dict[str, Any] = {s: signal_summary(sf[SEGMENTS.index(s)], sw[SEGMENTS.index(s)], rate)
                             for s in segs}
        k = SEGMENTS.index("shank_r")
        mount = syn.placements
        om = sw[k] @ mount["shank_r"].sensor_to_segment.T
        st = detect_strides(om[:, 1], rate)
        d["stride_frequency_hz"] = float(rate / np.median(np.diff(st)))
        sim_sum.append(d)
        tcal = {s: Calibration.from_placement(mount[s]) for s in SEGMENTS}
        sim_feats.append(estimate_features((sf, sw), "7imu", rate, tcal))
        sim_starts.append(st)
    metrics = ("sf_rms_m_s2", "sf_peak_m_s2", "rate_rms_rad_s", "rate_peak_rad_s",
               "sf_band_0_3_hz_fraction", "sf_band_3_8_hz_fraction", "sf_band_8_20_hz_fraction",
               "rate_band_0_3_hz_fraction", "rate_band_3_8_hz_fraction", "rate_band_8_20_hz_fraction")
    table = {}
    for s in segs:
        for m in metrics:
            pop = np.array([d[s][m] for d in sim_sum])
            p5, p50, p95 = (float(np.percentile(pop, q)) for q in (5, 50, 95))
            table[f"{s}/{m}"] = {"real": real_sum[s][m], "sim_p5": p5, "sim_p50": p50, "sim_p95": p95,
                                 "inside_5_95": bool(p5 <= real_sum[s][m] <= p95)}
    pop = np.array([d["stride_frequency_hz"] for d in sim_sum])
    table["stride_frequency_hz"] = {"real": real_sum["stride_frequency_hz"],
                                    "sim_p5": float(np.percentile(pop, 5)), "sim_p50": float(np.median(pop)),
                                    "sim_p95": float(np.percentile(pop, 95)),
                                    "inside_5_95": bool(np.percentile(pop, 5)
                                                        <= real_sum["stride_frequency_hz"]
                                                        <= np.percentile(pop, 95))}
    # real features through the same library (7imu order), stride-normalised ensembles
    order = SENSOR_SETS["7imu"]
    idx = [segs.index(s) for s in order]
    real_feat = estimate_features((real["f"][idx][:, walk], real["w"][idx][:, walk]), "7imu", rate,
                                  {s: cal[s] for s in order})
    spectra = {"real": {s: {k: real_sum[s][k] for k in ("sf_psd_freq_hz", "sf_psd", "rate_psd")}
                        for s in segs},
               "sim": {s: {"sf_psd": np.array([d[s]["sf_psd"] for d in sim_sum]).tolist(),
                           "rate_psd": np.array([d[s]["rate_psd"] for d in sim_sum]).tolist(),
                           "freq_hz": sim_sum[0][s]["sf_psd_freq_hz"]} for s in segs}}
    return {
        "real_trial": str(xsens_dir), "rate_hz": rate, "sim_condition": cond.name, "sim_subjects": n_subjects,
        "real_turning_fraction": float(turning.mean()), "real_straight_only_summary": straight,
        "real_stride_time_s": stride_real, "real_strides": int(len(starts) - 1),
        "table": table, "spectra": spectra,
        "calibration": {s: cal[s].to_dict() for s in segs},
        "calibration_convergence_deg": real["convergence_deg"],
        "still_window_s": [real["still"].start / rate, real["still"].stop / rate],
        "feature_names": feature_names("7imu"),
        "_real_features": real_feat, "_real_starts": starts, "_sim_features": sim_feats,
        "_sim_starts": sim_starts,
        "wall_time_s": time.perf_counter() - t0,
    }


def _print_realism(real: dict) -> None:
    print(f"\n== realism: real Xsens walk vs {real['sim_subjects']} simulated subjects "
          f"({real['sim_condition']}, matched to the real stride time {real['real_stride_time_s']:.2f} s)")
    print(f"  {'signal':42s} {'real':>8s} {'sim p5':>8s} {'p50':>8s} {'p95':>8s}  inside")
    for k, v in real["table"].items():
        print(f"  {k:42s} {v['real']:8.3f} {v['sim_p5']:8.3f} {v['sim_p50']:8.3f} {v['sim_p95']:8.3f}  "
              f"{'yes' if v['inside_5_95'] else 'NO'}")
    print(f"  the real walk is turning {100 * real['real_turning_fraction']:.0f} % of the time "
          "(pelvis yaw rate > 0.3 rad/s); straight-walking-only real values:")
    for s, d in real["real_straight_only_summary"].items():
        print(f"    {s:8s} sf rms {d['sf_rms_m_s2']:.2f} peak {d['sf_peak_m_s2']:.2f}  rate rms "
              f"{d['rate_rms_rad_s']:.2f} peak {d['rate_peak_rad_s']:.2f}")
    print("  functional-axis convergence on the real walk (deg, successive 5 s windows vs whole walk):")
    for s, v in real["calibration_convergence_deg"].items():
        print(f"    {s:8s} " + " ".join(f"{x:6.1f}" for x in v))


def _plot_realism(real: dict, path: Path) -> None:
    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    segs = list(real["spectra"]["real"])
    fig, axes = plt.subplots(3, 2, figsize=(12, 10))
    for ax, m in zip(axes[0], ("sf_rms_m_s2", "rate_rms_rad_s"), strict=True):
        for j, s in enumerate(segs):
            for kind, off in ((m, -0.15), (m.replace("rms", "peak"), 0.15)):
                v = real["table"][f"{s}/{kind}"]
                err = [[v["sim_p50"] - v["sim_p5"]], [v["sim_p95"] - v["sim_p50"]]]
                ax.errorbar(j + off, v["sim_p50"], yerr=err, fmt="o", color="C0" if "rms" in kind else "C2",
                            capsize=3)
                ax.plot(j + off, v["real"], "x", color="C3", ms=9, mew=2)
        ax.set_xticks(range(len(segs)), segs, rotation=30)
        ax.set_title(f"{m.split('_')[0]}: RMS (left) / peak (right); sim 5-50-95 %, x = real")
    for row, s in zip(axes[1:], ("pelvis", "shank_r"), strict=True):
        for ax, k in zip(row, ("sf_psd", "rate_psd"), strict=True):
            fr = np.array(real["spectra"]["sim"][s]["freq_hz"])
            sim = np.array(real["spectra"]["sim"][s][k])
            ax.fill_between(fr, np.percentile(sim, 5, 0), np.percentile(sim, 95, 0), alpha=0.3,
                            label="sim 5-95 %")
            ax.semilogy(fr, np.median(sim, 0), label="sim median")
            ax.semilogy(real["spectra"]["real"][s]["sf_psd_freq_hz"], real["spectra"]["real"][s][k], "C3",
                        label="real Xsens")
            ax.set_title(f"{s}: PSD of |{'specific force' if k == 'sf_psd' else 'angular rate'}|")
            ax.set_xlabel("Hz")
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_features(real: dict, path: Path) -> None:
    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..evaluation.kinematics_accuracy import stride_ensemble

    names = real["feature_names"]
    show = ("pelvis", "thigh_r", "shank_r", "foot_r")
    comps = ("sf_com_x", "sf_com_z", "omega_y")
    fig, axes = plt.subplots(len(show), len(comps), figsize=(12, 11), sharex=True)
    rf = stride_ensemble(real["_real_features"], real["_real_starts"])
    sf = np.concatenate([stride_ensemble(x, st) for x, st in zip(real["_sim_features"], real["_sim_starts"],
                                                                    strict=True)])
    pct = np.linspace(0, 100, rf.shape[1])
    for i, s in enumerate(show):
        for j, cname in enumerate(comps):
            k = names.index(f"{s}/{cname}")
            ax = axes[i, j]
            for data, col, lab in ((sf[:, :, k], "C0", "simulated"), (rf[:, :, k], "C3", "real Xsens")):
                m, sd = data.mean(0), data.std(0)
                ax.plot(pct, m, col, label=f"{lab} (n={data.shape[0]})")
                ax.fill_between(pct, m - sd, m + sd, color=col, alpha=0.2)
            ax.set_title(f"{s} {cname}", fontsize=9)
    axes[0, 0].legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("% stride (from right mid-swing)")
    fig.suptitle("Segment-frame features (m/s^2, rad/s), real Xsens walk vs simulated, mean +- SD per stride")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
