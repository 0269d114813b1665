"""`imu-torque build-dataset`: synthesise a sharded training dataset (sim/dataset.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "build-dataset"
HELP = "Synthesise a dataset of gait trials (IMU signals + ground-truth moments) into DIR/shards."


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..sim.subjects import PRESETS

    p.add_argument("--preset", default="paper12", help=f"one of {sorted(PRESETS)} (default paper12)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--subjects", type=int, default=None, help="number of subjects (default: preset's)")
    p.add_argument("--strides", type=int, default=None, help="strides per trial (default: preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="parallel processes")
    p.add_argument("--rate-hz", type=float, default=100.0)
    p.add_argument("--imu-errors", choices=("mti3", "ideal"), default="mti3")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..sim.dataset import build_dataset

    card = build_dataset(
        args.preset,
        args.out,
        args.subjects,
        args.strides,
        args.seed,
        args.workers,
        progress=not args.no_progress,
        rate_hz=args.rate_hz,
        imu_errors=args.imu_errors,
    )
    c, q = card["counts"], card["quality"]
    print(
        f"{c['trials']} trials ({card['build']['resumed_trials']} resumed), {c['subjects']} subjects, "
        f"{c['samples']} samples in {card['build']['seconds']:.1f} s -> {args.out}"
    )
    print(
        f"residual force max {q['residual_force_max_pct_bw']['max']:.2e} % BW, residual moment max "
        f"{q['residual_moment_max_pct_bw_height']['max']:.2f} % BW*height, peak vertical GRF "
        f"{q['peak_vertical_grf_bw']['min']:.2f}..{q['peak_vertical_grf_bw']['max']:.2f} BW"
    )
    return 0
