"""Train -> export -> evaluate, shared by `imu-torque train`, `evaluate` and `train-defaults`.

Subjects are split three ways (test subjects never touch training or early stopping); the test
metrics are computed with the streaming engine's batch path on whole trials from a reset state,
excluding the first `warmup_samples` of each trial (the node does not publish while warming up).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence as SequenceABC
from pathlib import Path

import numpy as np

from .. import body
from . import metrics as M
from .bundle import Bundle, save_bundle, update_bundle_metrics
from .dataset import Sequence, split_by_subject
from .engine import run_sequence
from .train import TrainConfig, train


def split_three(seqs: SequenceABC[Sequence], test_fraction: float, val_fraction: float, seed: int
                ) -> tuple[list[Sequence], list[Sequence], list[Sequence]]:
    """Subject-wise train / validation / test split (fractions of subjects; test drawn first)."""
    rest, test = split_by_subject(seqs, test_fraction, seed + 1000)
    val_of_rest = val_fraction / max(1e-9, 1.0 - test_fraction)
    train_seqs, val = split_by_subject(rest, min(0.9, val_of_rest), seed)
    return train_seqs, val, test


def evaluate_sequences(bundle: Bundle, seqs: SequenceABC[Sequence], warmup_samples: int) -> dict:
    """Metrics of a bundle on whole sequences (engine batch path): overall, per mode and per condition."""
    items = []
    for s in seqs:
        pred = run_sequence(bundle, s.features)[warmup_samples:, :len(body.JOINTS)]
        items.append((s.meta, pred, s.targets[warmup_samples:, :len(body.JOINTS)]))
    joints = bundle.output_joints[:len(body.JOINTS)]
    return {"by_condition": M.grouped_metrics(items, joints, M.condition_key),
            "by_mode": M.grouped_metrics(items, joints, lambda m: str(m.get("mode", "?"))),
            "n_trials": len(items), "subjects": sorted({s.subject for s in seqs}),
            "warmup_samples_excluded": int(warmup_samples)}


def data_card(seqs: SequenceABC[Sequence], source: str, extra: dict | None = None) -> dict:
    """Summary of the data a model saw: counts, conditions, body sizes."""
    metas = [s.meta for s in seqs]
    conds = sorted({M.condition_key(m) for m in metas})
    mass = [float(m["mass_kg"]) for m in metas if "mass_kg" in m]
    height = [float(m["height_m"]) for m in metas if "height_m" in m]
    card = {"source": source, "n_trials": len(seqs), "n_samples": int(sum(len(s) for s in seqs)),
            "n_subjects": len({s.subject for s in seqs}), "subjects": sorted({s.subject for s in seqs}),
            "conditions": conds}
    if mass:
        card["mass_kg_range"] = [min(mass), max(mass)]
    if height:
        card["height_m_range"] = [min(height), max(height)]
    return card | (extra or {})


def train_and_export(seqs: SequenceABC[Sequence], sensor_set: str, out: str | Path, cfg: TrainConfig, *,
                     rate_hz: float, feature_spec_id: str, feature_names: list[str], source: str,
                     test_fraction: float = 0.1, progress: bool = True, extra_card: dict | None = None
                     ) -> tuple[Bundle, dict]:
    """Split by subject, train, write the bundle to `out` (with train_log.jsonl), evaluate on the
    held-out test subjects and store the metrics in the bundle. Returns (bundle, summary)."""
    t0 = time.perf_counter()
    train_seqs, val_seqs, test_seqs = split_three(seqs, test_fraction, cfg.val_fraction, cfg.seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    res = train(train_seqs, cfg, log_path=out / "train_log.jsonl", progress=progress, val_seqs=val_seqs)
    training = {"config": cfg.to_dict(), "stop_reason": res.stop_reason, "best_step": res.best_step,
                "best_val_loss": res.best_val_loss, "train_time_s": round(res.elapsed_s, 1),
                "n_parameters": res.model.n_parameters(),
                "data": data_card(train_seqs, source, extra_card),
                "validation_subjects": res.val_subjects,
                "test_subjects": sorted({s.subject for s in test_seqs}),
                "calibration": extra_card.get("calibration") if extra_card else None}
    bundle = save_bundle(out, res.model, sensor_set=sensor_set, rate_hz=rate_hz,
                         feature_spec_id=feature_spec_id, feature_names=feature_names, training=training)
    test_metrics = evaluate_sequences(bundle, test_seqs, cfg.burn_in)
    bundle = update_bundle_metrics(out, {"held_out_synthetic_subjects": test_metrics})
    summary = {"sensor_set": sensor_set, "model_id": bundle.model_id, "out": str(out),
               "train_time_s": round(res.elapsed_s, 1), "total_time_s": round(time.perf_counter() - t0, 1),
               "stop_reason": res.stop_reason, "best_step": res.best_step,
               "test_rmse_nm_per_kg": {j: v["rmse_nm_per_kg"] for j, v in
                                       test_metrics["by_mode"]["all"].items() if j != "n_samples"}}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return bundle, summary


def mean_rmse(metrics_all: dict) -> float:
    """Mean of the per-joint RMSE values of one metrics group."""
    return float(np.mean([v["rmse_nm_per_kg"] for k, v in metrics_all.items() if k != "n_samples"]))
