"""`imu-torque evaluate`: per-joint RMSE / nRMSE / r of a model bundle on a dataset (table + JSON)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "evaluate"
HELP = "evaluate a model bundle on a dataset: per-joint RMSE (Nm/kg), nRMSE (%%), r, per condition"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="model bundle directory")
    parser.add_argument("--data", type=Path, required=True,
                        help="dataset directory (imu-torque build-dataset)")
    parser.add_argument("--subjects", choices=("test", "all"), default="test",
                        help="'test': only the subjects the bundle held out from training (default); 'all'")
    parser.add_argument("--calibration", choices=("static", "true", "nominal"), default=None,
                        help="calibration for the features (default: the one the model was trained with)")
    parser.add_argument("--json", type=Path, default=None, help="write the metrics JSON here")
    parser.add_argument("--workers", type=int, default=2, help="processes for feature extraction (2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from .. import kinematics as kin
    from ..model.bundle import load_bundle
    from ..model.metrics import format_table
    from ..model.workflow import evaluate_sequences
    from ..sim.sequences import load_sequences
    from .train import dataset_rate_hz

    bundle = load_bundle(args.model, expect_feature_spec=kin.FEATURE_SPEC_ID)
    if not args.data.is_dir():
        raise FileNotFoundError(f"dataset directory {args.data} does not exist")
    calibration = args.calibration or bundle.training.get("calibration") or "static"
    seqs = load_sequences(args.data, (bundle.sensor_set,), calibration, args.workers,
                          progress=not args.no_progress)[bundle.sensor_set]
    rate = dataset_rate_hz(seqs)
    if abs(rate - bundle.rate_hz) > 1e-6:
        raise ValueError(f"dataset {args.data} is sampled at {rate:g} Hz but model {args.model} at "
                         f"{bundle.rate_hz:g} Hz")
    used = "all"
    if args.subjects == "test":
        test = set(bundle.training.get("test_subjects", []))
        chosen = [s for s in seqs if s.subject in test]
        if chosen:
            seqs, used = chosen, "test"
        else:
            print(f"note: none of the bundle's test subjects are in {args.data}; evaluating all "
                  f"{len(seqs)} trials")
    trained = set(bundle.training.get("data", {}).get("subjects", []))
    warmup = int(bundle.training.get("config", {}).get("burn_in", 50))
    m = evaluate_sequences(bundle, seqs, warmup)
    result = {"model": str(args.model), "model_id": bundle.model_id, "sensor_set": bundle.sensor_set,
              "data": str(args.data), "subject_selection": used, "calibration": calibration,
              "overlaps_training_subjects": bool(trained & set(m["subjects"])), **m}
    print(format_table(m["by_mode"], bundle.output_joints[:6], f"{bundle.sensor_set} {bundle.model_id} on "
                       f"{args.data} ({used} subjects, {m['n_trials']} trials)"))
    print()
    print(format_table(m["by_condition"], bundle.output_joints[:6], "per condition"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0
