"""Architecture choice by measurement: cell type and size vs held-out accuracy, training time, engine latency.

Same data, same subject split, same number of optimisation steps for every candidate (one torch
thread each); held-out test subjects evaluated with the streaming engine's batch path. Writes
benchmarks/results/model_selection.json and prints a table. Needs a dataset (imu-torque
build-dataset; default datasets/paper12).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imu_torque_estimator import kinematics as kin  # noqa: E402
from imu_torque_estimator.model.architectures import make_engine  # noqa: E402
from imu_torque_estimator.model.bundle import save_bundle  # noqa: E402
from imu_torque_estimator.model.train import TrainConfig, train  # noqa: E402
from imu_torque_estimator.model.workflow import evaluate_sequences, mean_rmse, split_three  # noqa: E402
from imu_torque_estimator.sim.sequences import load_sequences  # noqa: E402

CANDIDATES = ("lstm:2:64", "gru:2:64", "lstm:1:64", "lstm:1:128")


def _step_us(bundle, n: int = 3000) -> float:
    eng = make_engine(bundle)
    x = np.random.default_rng(0).normal(size=(n, bundle.n_in))
    t = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter_ns()
        eng.step(x[i])
        t[i] = time.perf_counter_ns() - t0
    return float(np.median(t) / 1e3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "datasets" / "paper12")
    ap.add_argument("--sensor-set", default="3imu", choices=("3imu", "7imu"))
    ap.add_argument("--candidates", nargs="*", default=list(CANDIDATES), help="cell:layers:hidden")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "model_selection.json")
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"no dataset at {args.data}: run `imu-torque build-dataset` first", file=sys.stderr)
        return 2
    seqs = load_sequences(args.data, (args.sensor_set,), progress=False)[args.sensor_set]
    tr, va, te = split_three(seqs, 0.1, 0.15, 0)
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for c in args.candidates:
            cell, layers, hidden = c.split(":")
            cfg = TrainConfig(cell=cell, layers=int(layers), hidden=int(hidden), max_steps=args.steps,
                              eval_every=max(1, args.steps // 10), patience=args.steps, threads=1)
            r = train(tr, cfg, progress=False, val_seqs=va)
            b = save_bundle(Path(td) / c.replace(":", "_"), r.model, sensor_set=args.sensor_set,
                            rate_hz=100.0, feature_spec_id=kin.FEATURE_SPEC_ID,
                            feature_names=kin.feature_names(args.sensor_set))
            m = evaluate_sequences(b, te, cfg.burn_in)["by_mode"]["all"]
            row = {"candidate": c, "n_parameters": r.model.n_parameters(),
                   "train_time_s": round(r.elapsed_s, 1),
                   "steps": args.steps, "best_val_loss": round(r.best_val_loss, 4),
                   "test_mean_rmse_nm_per_kg": round(mean_rmse(m), 4),
                   "test_rmse_nm_per_kg": {j: round(v["rmse_nm_per_kg"], 4) for j, v in m.items()
                                           if j != "n_samples"},
                   "engine_step_p50_us": round(_step_us(b), 1)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"benchmark": "model_selection", "data": str(args.data), "sensor_set": args.sensor_set,
              "n_train_trials": len(tr), "n_val_trials": len(va), "n_test_trials": len(te), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'candidate':<12}{'params':>8}{'train s':>9}{'test RMSE':>11}{'engine us':>11}")
    for r in rows:
        print(f"{r['candidate']:<12}{r['n_parameters']:>8}{r['train_time_s']:>9.1f}"
              f"{r['test_mean_rmse_nm_per_kg']:>11.4f}{r['engine_step_p50_us']:>11.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
