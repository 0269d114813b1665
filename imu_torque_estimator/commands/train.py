"""`imu-torque train`: train one model bundle on a synthesised dataset (sim/dataset.py layout)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "train"
HELP = "train an RNN torque model for one sensor set on a dataset and export the bundle"
REQUIRES = ("torch",)  # extras.py: checked by the CLI before the command starts


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Hyper-parameters shared with `train-defaults` (defaults = model.train.TrainConfig)."""
    from ..model.architectures import architecture_kinds
    from ..model.config import TrainConfig

    d = TrainConfig()
    parser.add_argument("--cell", choices=architecture_kinds(), default=d.cell,
                        help=f"recurrent cell ({d.cell}: chosen by measurement, see model/train.py)")
    parser.add_argument("--hidden", type=int, default=d.hidden, help=f"hidden units per layer ({d.hidden})")
    parser.add_argument("--layers", type=int, default=d.layers, help=f"recurrent layers ({d.layers})")
    parser.add_argument("--window", type=int, default=d.window,
                        help=f"samples with loss per window ({d.window})")
    parser.add_argument("--burn-in", type=int, default=d.burn_in,
                        help=f"warm-up samples per window, excluded from loss and metrics ({d.burn_in})")
    parser.add_argument("--batch", type=int, default=d.batch, help=f"windows per step ({d.batch})")
    parser.add_argument("--lr", type=float, default=d.lr, help=f"Adam learning rate ({d.lr})")
    parser.add_argument("--max-steps", type=int, default=d.max_steps,
                        help=f"optimisation steps ({d.max_steps})")
    parser.add_argument("--eval-every", type=int, default=d.eval_every, help="steps between validations")
    parser.add_argument("--patience", type=int, default=d.patience, help="validations without improvement")
    parser.add_argument("--time-budget-s", type=float, default=None, help="stop training after this long")
    parser.add_argument("--seed", type=int, default=0, help="seed of split, init and sampling (0)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    parser.add_argument("--calibration", choices=("static", "true", "nominal"), default="static",
                        help="sensor-to-segment calibration used for the training features (static = as the "
                             "segment_kinematics node: nominal mounting + still-standing tilt correction)")
    parser.add_argument("--workers", type=int, default=2, help="processes for feature extraction (2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def train_config(args: argparse.Namespace):
    from ..model.config import TrainConfig

    return TrainConfig(cell=args.cell, hidden=args.hidden, layers=args.layers, window=args.window,
                       burn_in=args.burn_in, batch=args.batch, lr=args.lr, max_steps=args.max_steps,
                       eval_every=args.eval_every, patience=args.patience, time_budget_s=args.time_budget_s,
                       seed=args.seed, threads=args.threads)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True,
                        help="dataset directory (imu-torque build-dataset)")
    from ..body import SENSOR_SETS

    parser.add_argument("--sensor-set", choices=sorted(SENSOR_SETS), required=True)
    parser.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    parser.add_argument("--test-fraction", type=float, default=0.1,
                        help="fraction of subjects held out for the test metrics (0.1)")
    add_training_arguments(parser)


def dataset_rate_hz(seqs) -> float:
    rates = {float(s.meta["rate_hz"]) for s in seqs if "rate_hz" in s.meta}
    if len(rates) != 1:
        raise ValueError(f"dataset must have one sample rate, found {sorted(rates)}")
    return rates.pop()


def run(args: argparse.Namespace) -> int:
    from .. import kinematics as kin
    from ..model.metrics import format_table
    from ..model.workflow import train_and_export
    from ..sim.sequences import load_sequences

    if not args.data.is_dir():
        raise FileNotFoundError(f"dataset directory {args.data} does not exist (imu-torque build-dataset)")
    cfg = train_config(args)
    seqs = load_sequences(args.data, (args.sensor_set,), args.calibration, args.workers,
                          progress=not args.no_progress)[args.sensor_set]
    bundle, summary = train_and_export(
        seqs, args.sensor_set, args.out, cfg, rate_hz=dataset_rate_hz(seqs),
        feature_spec_id=kin.FEATURE_SPEC_ID, feature_names=kin.feature_names(args.sensor_set),
        source=str(args.data), test_fraction=args.test_fraction, progress=not args.no_progress,
        extra_card={"calibration": args.calibration})
    m = bundle.metrics["held_out_synthetic_subjects"]
    print(format_table(m["by_mode"], bundle.output_joints, f"{args.sensor_set} model {bundle.model_id}: "
                       f"held-out subjects {m['subjects']}"))
    print(json.dumps(summary))
    return 0
