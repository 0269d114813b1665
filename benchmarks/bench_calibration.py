"""Calibration accuracy without a mounting assumption (issue 14): `walking` vs `still`, side by side.

1. Simulated sensors (sim.trial + sim.imu), every sensor mounted at a rotation drawn uniformly over
   SO(3) and displaced +-5 cm per axis from its nominal site, MTi-3 errors (noise, bias, scale,
   misalignment, soft-tissue artefact, heel-strike transients). Subjects sampled from the population
   model; level walking 0.8-2.0 m/s (the targets), running 2.5-4.0 m/s and +-10 % slopes reported
   apart. The same motion and mounting go through `walking` (no standing) and `still` (2 s standing +
   1 s transition prepended). Per segment: rotation error, flexion (y) and vertical (z) axis errors,
   pelvis heading error, sign failures (axis sign or heading off by > 90 deg), undecided segments;
   streaming `Calibrator`: strides until it converged and the rotation error then.
2. Real Xsens walk (../shared/data/opensense_xsens_walk, own mounting, rate from orientation, turns):
   `walking` on the two halves of the walk, angle between the two per segment; streaming convergence;
   pelvis forward axis vs the walking direction (foot zero-velocity stride displacement, Xsens
   magnetometer orientation) on straight strides.
3. BioMAC real IMU signals (../shared/data/biomac_dorschky2019_imu; already in segment axes; one
   stride-averaged cycle tiled): each segment's signals rotated by a random rotation (many draws),
   `walking` must recover the segment axes. Nothing is fitted to these data.

Writes benchmarks/results/calibration.json and prints tables. `--quick` runs a small subset.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imu_torque_estimator.atomic import write_bytes_atomic  # noqa: E402
from imu_torque_estimator.body import SEGMENTS  # noqa: E402
from imu_torque_estimator.kinematics import calibration as C  # noqa: E402
from imu_torque_estimator.kinematics.calibration.still import StillMode  # noqa: E402
from imu_torque_estimator.kinematics.calibration.walking import PITCH_PRIOR_DEG, WalkingMode  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "calibration.json"
DATA = (ROOT / ".." / "shared" / "data").resolve()
MODES = ("walking", "still")


def rot_err_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(a @ b.T) - 1) / 2, -1.0, 1.0))))


def axis_err_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0))))


def segment_errors(est: np.ndarray, true: np.ndarray, segment: str) -> dict:
    """Errors of an estimated sensor_to_segment against the truth. The sign failure is the axis that
    carries the decided sign: flexion axis y for legs, heading x for the pelvis."""
    out = {
        "rot_deg": rot_err_deg(est, true),
        "y_deg": axis_err_deg(est[1], true[1]),
        "z_deg": axis_err_deg(est[2], true[2]),
    }
    if segment == "pelvis":
        # heading: the estimated x axis in the true segment frame, projected on the horizontal
        x = true @ est[0]
        out["heading_deg"] = float(np.degrees(abs(np.arctan2(x[1], x[0]))))
        out["sign_failure"] = bool(out["heading_deg"] > 90.0)
    else:
        out["sign_failure"] = bool(est[1] @ true[1] < 0)
    return out


# ------------------------------------------------------------------------------------------ simulated
def random_mounting(nominal: dict, rng: np.random.Generator) -> dict:
    """Every sensor at a rotation uniform over SO(3), its site displaced uniformly +-5 cm per axis."""
    from imu_torque_estimator.kinematics.placement import SensorPlacement

    return {
        s: SensorPlacement(
            s, p.position_m + rng.uniform(-0.05, 0.05, 3), Rotation.random(random_state=rng).as_matrix()
        )
        for s, p in nominal.items()
    }


def simulate_case(subject, condition: str, seed: int, n_strides: int):
    """One motion, one random mounting -> {mode: (recording, first gait sample)} + truth."""
    from imu_torque_estimator.kinematics.placement import default_placements
    from imu_torque_estimator.sim import imu
    from imu_torque_estimator.sim.trial import simulate_trial

    rng = np.random.default_rng(seed)
    tr = simulate_trial(
        subject, condition, n_strides=n_strides, rate_hz=100.0, imu_errors="ideal", seed=seed, trunk_passes=1
    )
    model = subject.model()
    nominal = default_placements(model)
    placements = random_mounting(nominal, rng)
    # the mounting is drawn above: the error model's own (+-10 deg, +-3 cm) perturbation is switched off
    errors = imu.ImuErrorModel.mti3().replace(mounting_rotation_max_rad=0.0, placement_offset_max_m=0.0)
    hs = {sd: np.asarray(tr.meta["events"][f"heel_strikes_{sd}_s"]) for sd in "lr"}
    cases = {}
    for mode in MODES:
        kin, first = tr.kinematics, 0
        if mode == "still":
            kin, first = imu.with_standing_prefix(tr.kinematics, 2.0, 1.0)
        shift = kin.time_s[first] - tr.time_s[0]
        sig = imu.synthesize_imu(
            kin,
            placements,
            errors,
            100.0,
            np.random.default_rng(seed + 1),
            heel_strikes_s={k: v + shift for k, v in hs.items()},
        ).signals
        rec = C.Recording.from_segments(
            {s: (sig[s].specific_force_m_s2, sig[s].angular_rate_rad_s) for s in SEGMENTS}, 100.0
        )
        cases[mode] = (rec, first, hs["r"] + shift, kin.time_s)
    return cases, placements, model


def run_case(subject, condition, seed, n_strides=10) -> dict:
    cases, placements, model = simulate_case(subject, condition, seed, n_strides)
    out = {
        "subject": subject.subject_id,
        "height_m": subject.height_m,
        "condition": condition,
        "seed": seed,
        "modes": {},
    }
    for mode, (rec, first, hs_r, t) in cases.items():
        t0 = time.perf_counter()
        res = C.calibrate_recording(rec, mode, body=model)
        batch_s = time.perf_counter() - t0
        m: dict = {
            "batch_s": batch_s,
            "gait": res.gait,
            "mode_used": res.mode_used,
            "messages": res.messages,
            "segments": {},
        }
        # ablation: the same mode without the knee-hinge refinement (which real thigh sensors never pass)
        arms = {s: res.segments[s].sensor_position_m for s in SEGMENTS}
        plain = WalkingMode(knee_hinge=False) if mode == "walking" else StillMode(knee_hinge=False)
        ablation = plain.calibrate(rec, arms)
        for s in SEGMENTS:
            c = res.segments[s]
            e = segment_errors(c.sensor_to_segment, placements[s].sensor_to_segment, s)
            e.update(decided=c.decided, confidence=c.confidence, decided_by=c.decided_by, reason=c.reason,
                     knee_hinge=c.quality.get("axis_from_knee_hinge", 0.0) == 1.0)
            a = ablation.segments[s]
            e["no_hinge"] = {**segment_errors(a.sensor_to_segment, placements[s].sensor_to_segment, s),
                             "decided": a.decided}
            m["segments"][s] = e
        # streaming: strides (true right heel strikes after the gait start) until converged
        cal = C.Calibrator(SEGMENTS, 100.0, mode, body=model)
        f = rec.specific_force_m_s2.transpose(1, 0, 2)
        w = rec.angular_rate_rad_s.transpose(1, 0, 2)
        t0 = time.perf_counter()
        k = 0
        for k in range(len(t)):
            if cal.update(f[k], w[k]) is C.CalibratorState.CALIBRATED:
                break
        m["stream_s"] = time.perf_counter() - t0
        conv = cal.state is C.CalibratorState.CALIBRATED
        gait_t0 = t[first]
        m["stream_converged"] = conv
        m["stream_strides"] = int(np.sum((hs_r > gait_t0) & (hs_r <= t[k]))) if conv else None
        m["stream_strides_seen"] = cal.strides_seen if conv else None
        m["stream_gait_s"] = float(t[k] - gait_t0) if conv else None
        if conv:
            m["stream_rot_deg"] = {
                s: rot_err_deg(cal.result.segments[s].sensor_to_segment, placements[s].sensor_to_segment)
                for s in SEGMENTS
            }
        out["modes"][mode] = m
    return out


def compact(case: dict) -> dict:
    """Per-case record for the results file: per segment [rotation, y, z error deg, decided, sign
    failure, knee hinge used] and the streaming outcome (the summary has the statistics)."""
    out = {k: case[k] for k in ("subject", "height_m", "condition", "seed")}
    out["columns"] = ["rot_deg", "y_deg", "z_deg", "decided", "sign_failure", "knee_hinge"]
    for mode, m in case["modes"].items():
        out[mode] = {"gait": m["gait"], "mode_used": m["mode_used"], "stream_strides": m["stream_strides"],
                     "stream_strides_seen": m["stream_strides_seen"], "stream_gait_s": m["stream_gait_s"],
                     "segments": {s: [round(e["rot_deg"], 2), round(e["y_deg"], 2), round(e["z_deg"], 2),
                                      e["decided"], e["sign_failure"], e["knee_hinge"]]
                                  for s, e in m["segments"].items()}}
    return out


def plan(quick: bool) -> list[tuple]:
    from imu_torque_estimator.sim.subjects import sample_subjects

    rng = np.random.default_rng(2026)
    n_sub = 4 if quick else 40
    subjects = sample_subjects(n_sub, rng, prefix="C")
    jobs = []
    for i, sub in enumerate(subjects):
        walk = [round(float(rng.uniform(0.8, 2.0)), 2) for _ in range(2)]
        jobs += [(sub, f"walk_{v}", 1000 + 10 * i + j) for j, v in enumerate(walk)]
        jobs.append((sub, f"run_{round(float(rng.uniform(2.5, 4.0)), 2)}", 1000 + 10 * i + 5))
        if i % 2 == 0:
            jobs.append((sub, f"walk_1.2_{'up' if i % 4 == 0 else 'down'}10", 1000 + 10 * i + 7))
    return jobs


def group_of(condition: str) -> str:
    if condition.startswith("run"):
        return "run"
    if "_up" in condition or "_down" in condition:
        return "walk_slope10"
    return "walk_level"


def summarise_sim(cases: list[dict]) -> dict:
    out: dict = {}
    for group in ("walk_level", "run", "walk_slope10"):
        sel = [c for c in cases if group_of(c["condition"]) == group]
        if not sel:
            continue
        g: dict = {"trials": len(sel)}
        for mode in MODES:
            ms: dict = {"segments": {}}
            all_fail = 0
            all_n = 0
            for s in SEGMENTS:
                rows = [c["modes"][mode]["segments"][s] for c in sel]
                dec = [r for r in rows if r["decided"]]
                fails = sum(r["sign_failure"] for r in dec)
                all_fail += fails
                all_n += len(rows)
                d = {
                    "n": len(rows),
                    "decided": len(dec),
                    "sign_failures": fails,
                    "sign_failures_incl_undecided": sum(r["sign_failure"] for r in rows),
                }
                ok = [r for r in dec if not r["sign_failure"]]
                for key in ("rot_deg", "y_deg", "z_deg", "heading_deg"):
                    v = [r[key] for r in ok if key in r]
                    if v:
                        d[key] = {
                            "p50": float(np.percentile(v, 50)),
                            "p95": float(np.percentile(v, 95)),
                            "max": float(np.max(v)),
                        }
                d["knee_hinge_used"] = sum(r["knee_hinge"] for r in rows)
                d["no_hinge_sign_failures"] = sum(r["no_hinge"]["sign_failure"] for r in rows)
                nh = [r["no_hinge"] for r in rows]
                nh = [r["rot_deg"] for r in nh if r["decided"] and not r["sign_failure"]]
                if nh:
                    d["no_hinge_rot_deg"] = {"p50": float(np.percentile(nh, 50)),
                                             "p95": float(np.percentile(nh, 95))}
                ms["segments"][s] = d
            ms["segment_trials"] = all_n
            ms["sign_failures"] = all_fail
            ms["undecided"] = sum(ms["segments"][s]["n"] - ms["segments"][s]["decided"] for s in SEGMENTS)
            conv = [c["modes"][mode] for c in sel]
            strides = [m["stream_strides"] for m in conv if m["stream_converged"]]
            ms["stream_converged"] = f"{len(strides)}/{len(conv)}"
            seen = [m["stream_strides_seen"] for m in conv if m["stream_converged"]]
            if seen:
                ms["stream_strides_seen"] = {"p50": float(np.percentile(seen, 50)),
                                             "p95": float(np.percentile(seen, 95)), "max": int(max(seen))}
            if strides:
                ms["stream_strides"] = {
                    "p50": float(np.percentile(strides, 50)),
                    "p95": float(np.percentile(strides, 95)),
                    "max": int(max(strides)),
                }
                rot = [m["stream_rot_deg"][s] for m in conv if m["stream_converged"] for s in SEGMENTS]
                ms["stream_rot_deg"] = {
                    "p50": float(np.percentile(rot, 50)),
                    "p95": float(np.percentile(rot, 95)),
                }
            ms["batch_s_mean"] = float(np.mean([m["batch_s"] for m in conv]))
            g[mode] = ms
        out[group] = g
    return out


def print_sim(summary: dict) -> None:
    for group, g in summary.items():
        print(
            f"\n== simulated, {group}: {g['trials']} trials x 7 segments, random SO(3) mounting, +-5 cm, "
            "MTi-3"
        )
        print(f"  {'segment':8s} " + " | ".join(f"{m:^44s}" for m in MODES))
        print(
            f"  {'':8s} "
            + " | ".join(
                f"{'rot p50/p95':>12s} {'y p95':>6s} {'z p95':>6s} {'head p95':>8s} {'fail':>4s} {'und':>4s}"
                for _ in MODES
            )
        )
        for s in SEGMENTS:
            cells = []
            for m in MODES:
                d = g[m]["segments"][s]
                r = d.get("rot_deg", {"p50": np.nan, "p95": np.nan})
                h = d.get("heading_deg", {}).get("p95", np.nan)
                cells.append(
                    f"{r['p50']:5.1f}/{r['p95']:5.1f}  {d.get('y_deg', {}).get('p95', np.nan):6.1f} "
                    f"{d.get('z_deg', {}).get('p95', np.nan):6.1f} {h:8.1f} {d['sign_failures']:4d} "
                    f"{d['n'] - d['decided']:4d}"
                )
            print(f"  {s:8s} " + " | ".join(cells))
        print("  the same without the knee-hinge refinement (real thigh sensors never pass its fit test, "
              "functional.MAX_HINGE_RESIDUAL_RAD_S): rotation p50/p95, and hinge use")
        for s in SEGMENTS:
            cells = []
            for m in MODES:
                d = g[m]["segments"][s]
                nh = d.get("no_hinge_rot_deg", {"p50": np.nan, "p95": np.nan})
                cells.append(f"{nh['p50']:5.1f}/{nh['p95']:5.1f}  hinge used "
                             f"{d['knee_hinge_used']:3d}/{d['n']:3d}")
            print(f"  {s:8s} " + " | ".join(cells))
        for m in MODES:
            ms = g[m]
            st = ms.get("stream_strides", {})
            print(
                f"  {m:8s} sign failures {ms['sign_failures']}/{ms['segment_trials']}, "
                f"undecided {ms['undecided']}; "
                f"streaming converged {ms['stream_converged']} after p50/p95/max {st.get('p50', np.nan):.0f}/"
                f"{st.get('p95', np.nan):.1f}/{st.get('max', 'n/a')} strides (heel strikes since gait start; "
                f"complete strides it saw: {ms.get('stream_strides_seen', {}).get('p50', np.nan):.0f}/"
                f"{ms.get('stream_strides_seen', {}).get('p95', np.nan):.1f}/"
                f"{ms.get('stream_strides_seen', {}).get('max', 'n/a')}), rotation error then p50/p95 "
                f"{ms.get('stream_rot_deg', {}).get('p50', np.nan):.1f}/"
                f"{ms.get('stream_rot_deg', {}).get('p95', np.nan):.1f} deg"
            )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few trials only (not written to results)")
    ap.add_argument("--sections", default="sim,xsens,biomac")
    args = ap.parse_args()
    t_start = time.perf_counter()
    result: dict = {
        "machine": {"cpu_count": os.cpu_count(), "load_avg_at_start": os.getloadavg()},
        "pitch_prior_deg": PITCH_PRIOR_DEG,
    }
    sections = args.sections.split(",")
    if "sim" in sections:
        jobs = plan(args.quick)
        cases = []
        for i, (sub, cond, seed) in enumerate(jobs):
            cases.append(run_case(sub, cond, seed))
            if (i + 1) % 10 == 0:
                print(f"  {i + 1}/{len(jobs)} simulated trials", flush=True)
        result["simulated"] = {"summary": summarise_sim(cases), "cases": [compact(c) for c in cases]}
        print_sim(result["simulated"]["summary"])
    if "xsens" in sections:
        from bench_calibration_real import xsens_section

        result["xsens"] = xsens_section(DATA)
    if "biomac" in sections:
        from bench_calibration_real import biomac_section

        result["biomac"] = biomac_section(DATA, draws=10 if args.quick else 60)
    result["wall_time_s"] = time.perf_counter() - t_start
    if not args.quick:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(OUT, json.dumps(result, indent=1, default=float).encode())
        print(f"\nwrote {OUT.relative_to(ROOT)} ({result['wall_time_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
