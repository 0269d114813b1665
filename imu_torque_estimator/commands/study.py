"""`imu-torque study`: the paper's comparison study -> benchmarks/results/study.json, study.md, PNGs."""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

NAME = "study"
HELP = "comparison study: shipped models on real trials and held-out subjects, RNN vs IMU-driven ID"

_ROOT = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=Path, default=_ROOT / "models", help="folder with 3imu/ and 7imu/")
    parser.add_argument("--data", type=Path, default=_ROOT / "datasets" / "paper12",
                        help="dataset the models were trained on (its test subjects are evaluated)")
    parser.add_argument("--out", type=Path, default=_ROOT / "benchmarks" / "results",
                        help="output folder (study.json, study.md, study_*.png)")
    parser.add_argument("--sim-trials", type=int, default=None,
                        help="only the first N test-subject trials for RNN vs ID (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="processes for feature extraction (2)")
    parser.add_argument("--cv", action="store_true",
                        help="also run the 3-fold grouped-by-subject CV (6 short trainings, ~7 min, 2 cores) "
                             "and write study_cv.json; without it an existing study_cv.json is reported")
    parser.add_argument("--cv-budget-s", type=float, default=120.0, help="training time per CV fold (120 s)")


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(args: argparse.Namespace) -> int:
    from ..evaluation import report
    from ..evaluation.study import run_study

    if not (args.models / "7imu").is_dir() or not (args.models / "3imu").is_dir():
        raise FileNotFoundError(f"{args.models}: needs model bundles 3imu/ and 7imu/")
    if not (args.data / "shards").is_dir():
        raise FileNotFoundError(f"{args.data}: no dataset shards (imu-torque build-dataset)")
    t0 = time.perf_counter()
    res, real = run_study(args.models, args.data, args.workers,
                          progress=lambda m: print(f"[{time.perf_counter() - t0:6.1f} s] {m}", flush=True),
                          sim_trials=args.sim_trials)
    cv_path = args.out / "study_cv.json"
    if args.cv:
        from ..evaluation.cv import grouped_cv

        cv = grouped_cv(args.data, 3, args.cv_budget_s, workers=args.workers,
                        progress=lambda m: print(f"[{time.perf_counter() - t0:6.1f} s] {m}", flush=True))
        args.out.mkdir(parents=True, exist_ok=True)
        cv_path.write_text(json.dumps(cv, indent=1) + "\n")
    if cv_path.is_file():
        res["cv"] = json.loads(cv_path.read_text())
    res["runtime_s"] = round(time.perf_counter() - t0, 1)
    res["git_commit"] = _git_commit()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "study.json").write_text(json.dumps(res, indent=1) + "\n")
    md = report.write_markdown(res, args.out / "study.md")
    report.plot_ankle_to_hip(res, args.out / "study_ankle_to_hip.png")
    report.plot_conditions(res, args.out / "study_conditions.png")
    show = ("opensim_walk_rajagopal", "ktk_walk", "hamner_run_subject04_run300")
    picks = [c for c in real if c.name in show]
    report.plot_traces(picks or real[:3], args.out / "study_traces.png")
    print(md.read_text())
    print(f"wrote {args.out}/study.json, study.md, study_*.png in {res['runtime_s']:.0f} s")
    return 0
