"""Dataset build benchmark: time to synthesise the default training set (paper12: 100 subjects x 12
conditions x 20 strides, target <= 10 min on 2 cores), and side by side: 1 vs 2 workers on a subset,
per-trial cost by condition, and the quality summary of the build (residuals, GRF peaks).

    .venv/bin/python benchmarks/bench_dataset.py            # full default build (minutes)
    .venv/bin/python benchmarks/bench_dataset.py --quick    # subset only, full time extrapolated

Writes benchmarks/results/dataset.json and prints a table. The machine load (1-min load average) is
recorded because other jobs on the same 2 cores slow the build down proportionally.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _commit() -> str:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            check=False,
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def _cpu_s() -> float:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _build(preset: str, out: Path, subjects: int, workers: int, seed: int = 0) -> tuple[float, float, dict]:
    """(wall s, CPU s of this process and its workers, card)."""
    from imu_torque_estimator.sim.dataset import build_dataset

    t0, c0 = time.perf_counter(), _cpu_s()
    card = build_dataset(preset, out, n_subjects=subjects, seed=seed, workers=workers, progress=False)
    return time.perf_counter() - t0, _cpu_s() - c0, card


def moments_vs_speed(n_subjects: int = 6, n_strides: int = 4) -> dict:
    """Peak sagittal moments (right leg, Nm/kg) of synthesised walking and running versus speed, with
    the real trials' (real-trials cache of `imu-torque real-trials`, if built; $IMU_TORQUE_CACHE selects
    it) for comparison; PNG plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from imu_torque_estimator.sim.subjects import Condition, sample_subjects
    from imu_torque_estimator.sim.trial import simulate_trial

    subjects = sample_subjects(n_subjects, np.random.default_rng(123))
    speeds = {"walk": [0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8], "run": [2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]}
    joints = {"hip": 1, "knee": 3, "ankle": 5}
    sim: dict = {}
    for mode, vs in speeds.items():
        for v in vs:
            rows = []
            for i, subj in enumerate(subjects):
                tr = simulate_trial(subj, Condition(mode, v), n_strides, 100.0, "ideal", seed=i)
                m = tr.moments_nm_per_kg
                rows.append(
                    {f"{j}_max": float(m[:, c].max()) for j, c in joints.items()}
                    | {f"{j}_min": float(m[:, c].min()) for j, c in joints.items()}
                    | {"resid_max": tr.diagnostics["residual_moment_max_pct_bw_height"]}
                )
            sim[f"{mode}_{v:g}"] = {
                "mode": mode,
                "speed_m_s": v,
                **{k: [r[k] for r in rows] for k in rows[0]},
            }
    real = []
    try:
        from imu_torque_estimator.data.real_trials import CACHE_VERSION, default_cache_dir, load_trial

        for f in sorted(default_cache_dir().glob(f"*.v{CACHE_VERSION}.npz")):
            try:
                t = load_trial(f)
            except ValueError as exc:  # stale cache entry
                print(f"skipping {f}: {exc}")
                continue
            m = t.moments_nm_per_kg
            real.append(
                {
                    "name": t.name,
                    "mode": t.mode,
                    "speed_m_s": float(t.speed_m_s),
                    **{f"{j}_max": float(m[:, c].max()) for j, c in joints.items()},
                    **{f"{j}_min": float(m[:, c].min()) for j, c in joints.items()},
                }
            )
    except Exception as exc:  # the real-trials cache is optional here
        print(f"real trials not available for the plot: {exc}")
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), sharex=True)
    for col, j in enumerate(joints):
        for row, ext in enumerate(("max", "min")):
            ax = axes[row, col]
            for mode, color in (("walk", "tab:blue"), ("run", "tab:red")):
                keys = [k for k in sim if sim[k]["mode"] == mode]
                v = [sim[k]["speed_m_s"] for k in keys]
                vals = [np.asarray(sim[k][f"{j}_{ext}"]) for k in keys]
                ax.plot(v, [np.median(x) for x in vals], color=color, label=f"synthesised {mode} (median)")
                ax.fill_between(
                    v,
                    [np.percentile(x, 5) for x in vals],
                    [np.percentile(x, 95) for x in vals],
                    color=color,
                    alpha=0.2,
                )
            for r in real:
                ax.plot(r["speed_m_s"], r[f"{j}_{ext}"], "k^" if r["mode"] == "run" else "ko")
            pos, neg = ("dorsiflexion", "plantarflexion") if j == "ankle" else ("flexion", "extension")
            ax.set_title(f"{j} {pos if ext == 'max' else neg} moment peak")
            ax.set_ylabel("Nm/kg")
            ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("speed (m/s)")
    axes[0, 0].plot([], [], "ko", label="real walking (ID)")
    axes[0, 0].plot([], [], "k^", label="real running (ID)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Peak sagittal moments (right leg) vs speed: synthesised (5-95 % band) vs real trials")
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(RESULTS / "gait_sim_moments.png", dpi=90)
    return {"synthesised": sim, "real": real, "plot": "benchmarks/results/gait_sim_moments.png"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="subset only; extrapolate the full build")
    ap.add_argument("--subset-subjects", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-moments", action="store_true", help="skip the moments-vs-speed comparison")
    ap.add_argument(
        "--moments-only",
        action="store_true",
        help="only redo the moments-vs-speed comparison (merged into the existing JSON)",
    )
    args = ap.parse_args()
    if args.moments_only:
        path = RESULTS / "dataset.json"
        res = json.loads(path.read_text()) if path.exists() else {}
        res["moments_vs_speed"] = moments_vs_speed()
        path.write_text(json.dumps(res, indent=1))
        print(
            f"real trials: {[r['name'] for r in res['moments_vs_speed']['real']]}; "
            f"plot {res['moments_vs_speed']['plot']}"
        )
        return 0
    from imu_torque_estimator.sim.dataset import plan_jobs
    from imu_torque_estimator.sim.subjects import get_preset

    preset = get_preset("paper12")
    n_full = len(plan_jobs("paper12", None, None, 0))
    previous = (
        json.loads((RESULTS / "dataset.json").read_text()) if (RESULTS / "dataset.json").exists() else {}
    )
    res: dict = {
        "git_commit": _commit(),
        "preset": "paper12",
        "full_trials": n_full,
        "strides_per_trial": preset.n_strides,
        "cores": os.cpu_count(),
        "load_avg_1min_start": os.getloadavg()[0],
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench_dataset_"))
    try:
        rows = []
        for w in (1, args.workers):
            t, cpu, card = _build("paper12", tmp / f"subset_w{w}", args.subset_subjects, w)
            n = card["counts"]["trials"]
            rows.append(
                {
                    "what": f"subset {args.subset_subjects} subj x 12 cond, workers={w}",
                    "trials": n,
                    "seconds": round(t, 2),
                    "s_per_trial": round(t / n, 3),
                    "cpu_s_per_trial": round(cpu / n, 3),
                    "extrapolated_full_s": round(t / n * n_full, 1),
                    "idle_2core_estimate_full_s": round(cpu / n * n_full / 2, 1),
                }
            )
        res["subset"] = rows
        if not args.quick:
            t, cpu, card = _build("paper12", tmp / "full", preset.n_subjects, args.workers)
            res["full_build"] = {
                "git_commit": res["git_commit"],
                "seconds": round(t, 1),
                "cpu_seconds": round(cpu, 1),
                "minutes": round(t / 60, 2),
                "workers": args.workers,
                "trials": card["counts"]["trials"],
                "samples": card["counts"]["samples"],
                "meets_10_min_target": t <= 600.0,
                "disk_mb": round(sum(p.stat().st_size for p in (tmp / "full").rglob("*.npz")) / 1e6, 1),
            }
        else:
            card = json.loads((tmp / f"subset_w{args.workers}" / "dataset_card.json").read_text())
            if "full_build" in previous:  # keep the last full measurement (with its own commit)
                res["full_build"] = {
                    **previous["full_build"],
                    "git_commit": previous["full_build"].get("git_commit", previous.get("git_commit", "?")),
                }
        res["quality"] = card["quality"]
        if not args.no_moments:
            t0 = time.perf_counter()
            res["moments_vs_speed"] = moments_vs_speed()
            res["moments_vs_speed"]["seconds"] = round(time.perf_counter() - t0, 1)
        res["load_avg_1min_end"] = os.getloadavg()[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dataset.json").write_text(json.dumps(res, indent=1))
    print(
        f"{'run':44s} {'trials':>6s} {'s':>7s} {'s/trial':>8s} {'cpu s/trial':>11s} {'full extrap. s':>14s} "
        f"{'full idle-2-core s':>18s}"
    )
    for r in res["subset"]:
        print(
            f"{r['what']:44s} {r['trials']:6d} {r['seconds']:7.1f} {r['s_per_trial']:8.3f} "
            f"{r['cpu_s_per_trial']:11.3f} {r['extrapolated_full_s']:14.1f} "
            f"{r['idle_2core_estimate_full_s']:18.1f}"
        )
    if "full_build" in res:
        f = res["full_build"]
        print(
            f"{'full paper12 build, workers=' + str(f['workers']):50s} {f['trials']:7d} {f['seconds']:8.1f} "
            f"{f['seconds'] / f['trials']:8.3f}   target 600 s: "
            f"{'met' if f['meets_10_min_target'] else 'MISSED'}"
        )
    if "moments_vs_speed" in res:
        print(f"moments vs speed plot: {res['moments_vs_speed']['plot']}")
    q = res["quality"]
    print("quality (min / median / max over trials):")
    for k, v in q.items():
        print(f"  {k:40s} {v['min']:10.4g} {v['median']:10.4g} {v['max']:10.4g}")
    print(
        f"load average {res['load_avg_1min_start']:.1f} -> {res['load_avg_1min_end']:.1f} "
        f"on {res['cores']} cores"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
