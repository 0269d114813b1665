"""`imu-torque study`: shipped models beside baselines on real signals, and the paper's comparison study
-> benchmarks/results/study.json, study.md, PNGs; the model cards' and the README's results blocks."""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

NAME = "study"
HELP = ("comparison study: shipped models beside baselines (zero, gait-phase mean curve) on real and "
        "simulated data with bootstrap intervals, RNN vs IMU-driven ID")

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
    shared = _ROOT / ".." / "shared" / "data"
    parser.add_argument("--biomac", type=Path, default=shared / "biomac_dorschky2019_imu" / "converted",
                        help="held-out real-IMU cycles (BioMAC converted/*.npz); skipped if absent")
    parser.add_argument("--xsens", type=Path, default=shared / "opensense_xsens_walk",
                        help="real Xsens walk for the plausibility check; skipped if absent")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap replicates per interval (2000)")
    parser.add_argument("--no-update-docs", action="store_true",
                        help="do not rewrite the results blocks of models/*/MODEL_CARD.md and README.md")


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _public(x):
    """The results without private entries (keys starting with '_': arrays kept for plots only)."""
    if isinstance(x, dict):
        return {k: _public(v) for k, v in x.items() if not str(k).startswith("_")}
    if isinstance(x, list):
        return [_public(v) for v in x]
    return x


def run(args: argparse.Namespace) -> int:
    from ..atomic import write_bytes_atomic
    from ..evaluation import report
    from ..evaluation.study import run_study

    if not (args.models / "7imu").is_dir() or not (args.models / "3imu").is_dir():
        raise FileNotFoundError(f"{args.models}: needs model bundles 3imu/ and 7imu/")
    if not (args.data / "shards").is_dir():
        raise FileNotFoundError(f"{args.data}: no dataset shards (imu-torque build-dataset)")
    t0 = time.perf_counter()
    res, real = run_study(args.models, args.data, args.workers,
                          progress=lambda m: print(f"[{time.perf_counter() - t0:6.1f} s] {m}", flush=True),
                          sim_trials=args.sim_trials,
                          biomac_dir=args.biomac if args.biomac.is_dir() else None,
                          xsens_dir=args.xsens if args.xsens.is_dir() else None, n_boot=args.n_boot)
    res.pop("_biomac_results", None)
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
    write_bytes_atomic(args.out / "study.json", (json.dumps(_public(res), indent=1) + "\n").encode())
    md = report.write_markdown(res, args.out / "study.md")
    report.plot_yardstick(res, args.out / "study_yardstick.png")
    if not args.no_update_docs and args.models.resolve() == (_ROOT / "models").resolve():
        for s in ("3imu", "7imu"):
            report.replace_block(args.models / s / "MODEL_CARD.md", report.model_card_block(res, s),
                                 report.CARD_START, report.CARD_END, append_if_missing=True)
        report.replace_block(_ROOT / "README.md", report.readme_block(res), report.README_START,
                             report.README_END)
    report.plot_ankle_to_hip(res, args.out / "study_ankle_to_hip.png")
    report.plot_conditions(res, args.out / "study_conditions.png")
    show = ("opensim_walk_rajagopal", "ktk_walk", "hamner_run_subject04_run300")
    picks = [c for c in real if c.name in show]
    report.plot_traces(picks or real[:3], args.out / "study_traces.png")
    print(md.read_text())
    print(f"wrote {args.out}/study.json, study.md, study_*.png in {res['runtime_s']:.0f} s")
    return 0
