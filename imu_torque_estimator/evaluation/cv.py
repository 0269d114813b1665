"""Grouped-by-subject k-fold cross-validation of the RNN with a short training budget per fold.

True leave-one-subject-out (one retraining per subject) does not fit the project's 2-core machine;
this is the affordable substitute: subjects are split into `n_folds` groups (seeded), each fold trains
on the other groups (validation subjects for early stopping drawn from them, as model.train does) with
`budget_s` of training, and is evaluated on its held-out group with model.workflow.evaluate_sequences.
Both sensor sets run in parallel (one process and one thread each).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np


def subject_folds(subjects: list[str], n_folds: int, seed: int = 0) -> list[list[str]]:
    """Seeded partition of `subjects` into `n_folds` groups of (nearly) equal size."""
    if n_folds < 2 or n_folds > len(subjects):
        raise ValueError(f"n_folds must be in 2..{len(subjects)} (number of subjects), got {n_folds}")
    order = np.random.default_rng(seed).permutation(sorted(subjects))
    return [sorted(order[i::n_folds].tolist()) for i in range(n_folds)]


def _fold_job(args: tuple) -> dict:
    dataset_dir, sensor_set, test_subjects, budget_s, seed, fold = args
    from .. import kinematics as K
    from ..model.bundle import save_bundle
    from ..model.train import TrainConfig, train
    from ..model.workflow import evaluate_sequences, mean_rmse
    from ..sim.sequences import load_sequences

    seqs = load_sequences(dataset_dir, (sensor_set,), "static", workers=1, progress=False)[sensor_set]
    test = [s for s in seqs if s.subject in set(test_subjects)]
    rest = [s for s in seqs if s.subject not in set(test_subjects)]
    cfg = dataclasses.replace(TrainConfig(), max_steps=100000, time_budget_s=float(budget_s), seed=seed,
                              threads=1)
    t0 = time.perf_counter()
    res = train(rest, cfg, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        rate = float(test[0].meta.get("rate_hz", 100.0))
        b = save_bundle(tmp, res.model, sensor_set=sensor_set, rate_hz=rate,
                        feature_spec_id=K.FEATURE_SPEC_ID, feature_names=K.feature_names(sensor_set))
        ev = evaluate_sequences(b, test, cfg.burn_in)
    return {"fold": fold, "sensor_set": sensor_set, "test_subjects": list(test_subjects),
            "train_s": round(time.perf_counter() - t0, 1), "best_step": res.best_step,
            "steps": int(res.history[-1]["step"]) if res.history else 0,
            "stop_reason": res.stop_reason,
            "by_mode": ev["by_mode"], "mean_rmse_nm_per_kg": mean_rmse(ev["by_mode"]["all"])}


def grouped_cv(dataset_dir: str | Path, n_folds: int = 3, budget_s: float = 120.0, seed: int = 0,
               sensor_sets: tuple[str, ...] = ("3imu", "7imu"), workers: int = 2, progress=None) -> dict:
    """Run the folds (sensor sets x folds jobs on `workers` processes); returns per-fold metrics."""
    import multiprocessing as mp

    from ..sim.dataset import list_trials

    subjects = sorted({Path(p).stem.split("_")[0] for p in list_trials(dataset_dir)})
    folds = subject_folds(subjects, n_folds, seed)
    jobs = [(str(dataset_dir), s, f, budget_s, seed, i) for i, f in enumerate(folds) for s in sensor_sets]
    out = []
    with mp.get_context("spawn").Pool(workers) as pool:
        for r in pool.imap_unordered(_fold_job, jobs):
            out.append(r)
            if progress:
                progress(f"CV fold {r['fold']} {r['sensor_set']}: mean RMSE "
                         f"{r['mean_rmse_nm_per_kg']:.3f} Nm/kg "
                         f"({r['steps']} steps, {r['train_s']:.0f} s)")
    out.sort(key=lambda r: (r["sensor_set"], r["fold"]))
    summary = {}
    for s in sensor_sets:
        rs = [r for r in out if r["sensor_set"] == s]
        joints = [j for j in rs[0]["by_mode"]["all"] if j != "n_samples"]
        summary[s] = {j: float(np.mean([r["by_mode"]["all"][j]["rmse_nm_per_kg"] for r in rs]))
                      for j in joints}
        summary[s]["mean"] = float(np.mean([r["mean_rmse_nm_per_kg"] for r in rs]))
    return {"n_folds": n_folds, "budget_s_per_fold": budget_s, "seed": seed, "folds": folds, "results": out,
            "mean_over_folds_rmse_nm_per_kg": summary}
