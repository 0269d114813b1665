"""`imu-torque train-defaults` (`make train`): build the default dataset if absent, then train the two
shipped bundles models/3imu and models/7imu with the recorded configuration.

The two models train in parallel, one process and one torch thread each (measured: on 2 cores two
1-thread trainings finish sooner than two sequential 2-thread ones, and 2-thread torch collapses
when the cores are shared). Features are extracted once (7 sensors, cached in the dataset directory);
3imu is a column subset. Writes models/<set>/ (bundle + train_log.jsonl + summary.json +
MODEL_CARD.md) and models/train_defaults.json (config, timings).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from pathlib import Path

NAME = "train-defaults"
HELP = "build the default dataset if needed and train the shipped models/3imu and models/7imu"
REQUIRES = ("torch",)  # extras.py: checked by the CLI before the command starts

DEFAULT_DATA = Path("datasets/paper12")
PRESET = "paper12"
# The recorded default configuration: the `imu-torque train` defaults with a fixed number of steps and
# NO time budget, so `make train` reproduces the shipped bundles bit for bit (same model_id) on the same
# platform (fixed seeds, one torch thread per model). Dataset size: 40 subjects x 12 conditions x 10
# strides (480 trials, ~465k samples at 100 Hz), so that building it plus training fits the
# 10-minute `make train` budget on 2 cores (measured: see models/train_defaults.json).
DEFAULT_MAX_STEPS = 1200
DEFAULT_SUBJECTS = 40
DEFAULT_STRIDES = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .train import add_training_arguments

    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"dataset directory ({DEFAULT_DATA})")
    parser.add_argument("--out", type=Path, default=Path("models"), help="parent of the 3imu/7imu bundles")
    parser.add_argument("--subjects", type=int, default=DEFAULT_SUBJECTS,
                        help=f"subjects when building the dataset ({DEFAULT_SUBJECTS})")
    parser.add_argument("--strides", type=int, default=DEFAULT_STRIDES,
                        help=f"strides per trial when building ({DEFAULT_STRIDES})")
    parser.add_argument("--test-fraction", type=float, default=0.1, help="subjects held out for test metrics")
    parser.add_argument("--sequential", action="store_true", help="train the two models one after the other")
    add_training_arguments(parser)
    parser.set_defaults(max_steps=DEFAULT_MAX_STEPS, threads=1)


def _has_trials(data: Path) -> bool:
    from ..sim.dataset import list_trials

    return data.is_dir() and bool(list_trials(data))


def _train_one(job: dict) -> dict:
    """Worker: load cached features for one sensor set, train, export, evaluate."""
    from .. import kinematics as kin
    from ..model.config import TrainConfig
    from ..model.workflow import train_and_export
    from ..sim.sequences import load_sequences
    from .train import dataset_rate_hz

    s = job["sensor_set"]
    seqs = load_sequences(job["data"], (s,), job["calibration"], workers=1, progress=False)[s]
    cfg = TrainConfig(**job["config"])
    _bundle, summary = train_and_export(
        seqs, s, job["out"], cfg, rate_hz=dataset_rate_hz(seqs), feature_spec_id=kin.FEATURE_SPEC_ID,
        feature_names=kin.feature_names(s), source=job["source"], test_fraction=job["test_fraction"],
        progress=job["progress"], extra_card={"calibration": job["calibration"], **job["card"]})
    return summary


def model_card(bundle, summary: dict) -> str:
    """Markdown model card: data, architecture, metrics, limits."""
    from .. import body
    from ..model.metrics import format_table

    t = bundle.training
    m = bundle.metrics["held_out_synthetic_subjects"]
    d = t["data"]
    net = bundle.network
    return "\n".join([
        f"# Model card: {bundle.sensor_set} ({bundle.model_id})", "",
        f"Estimates {', '.join(bundle.output_joints)} moments in Nm/kg (positive = internal flexion / "
        f"dorsiflexion, body.py) from the `{bundle.feature_spec_id}` features of the "
        f"{bundle.sensor_set} sensor set ({', '.join(body.SENSOR_SETS[bundle.sensor_set])}) at "
        f"{bundle.rate_hz:g} Hz.", "",
        "## Architecture",
        f"Causal {net.cell.upper()} {net.layers}x{net.hidden} + linear head, {t['n_parameters']} parameters; "
        f"input/output normalisation from the training split. Streaming engine: model/engine.py.", "",
        "## Training data",
        f"Synthesised gait ({d['source']}, preset {d.get('preset', '?')}): {d['n_trials']} trials, "
        f"{d['n_subjects']} subjects, {d['n_samples']} samples; mass {d.get('mass_kg_range')} kg, height "
        f"{d.get('height_m_range')} m; conditions: {', '.join(d['conditions'])}. Calibration of the "
        f"features: {t.get('calibration')} (see model/dataset.py trial_calibration). Validation subjects "
        f"(early stopping): {len(t['validation_subjects'])}; test subjects (never trained on): "
        f"{', '.join(t['test_subjects'])}.",
        "", "## Training",
        f"Config: `{json.dumps(t['config'])}`.  Stopped: {t['stop_reason']} (best step {t['best_step']}), "
        f"{t['train_time_s']} s.", "",
        "## Accuracy on held-out synthesised subjects",
        f"Engine batch path, whole trials from a reset state, first {m['warmup_samples_excluded']} samples "
        "excluded (warm-up).", "", "```", format_table(m["by_mode"], bundle.output_joints[:6]), "",
        format_table(m["by_condition"], bundle.output_joints[:6], "per condition"), "```", "",
        "## Limits",
        "- Trained on synthesised gait only (treadmill-like steady walking/running, the conditions above); "
        "accuracy on real motion is evaluated separately (held-out real trials) and is expected to be lower.",
        "- Sagittal moments only; needs the segment_kinematics node's static calibration (still standing) "
        "and the sensor placements of kinematics/placement.py default_placements.",
        "- The first ~0.5 s after a reset are warm-up (not published by the node).", ""])


def run(args: argparse.Namespace) -> int:
    from ..body import SENSOR_SETS
    from ..model.bundle import load_bundle
    from ..sim.sequences import load_sequences
    from .train import train_config

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    card: dict = {"preset": PRESET}
    if not _has_trials(args.data):
        from ..sim.dataset import build_dataset

        print(f"building the default dataset ({PRESET}) in {args.data} ...")
        build_dataset(PRESET, args.data, n_subjects=args.subjects, n_strides=args.strides, seed=0,
                      workers=args.workers, progress=not args.no_progress)
    timings["dataset_s"] = round(time.perf_counter() - t0, 1)
    card_path = args.data / "dataset_card.json"
    if card_path.is_file():
        dc = json.loads(card_path.read_text())
        card["dataset_card"] = {k: dc[k] for k in ("preset", "seed", "n_subjects", "n_strides", "counts")
                                if k in dc}
    t1 = time.perf_counter()
    load_sequences(args.data, ("7imu",), args.calibration, args.workers, progress=not args.no_progress)
    timings["features_s"] = round(time.perf_counter() - t1, 1)

    cfg = train_config(args)
    sets = tuple(SENSOR_SETS)  # every registered set gets its shipped bundle
    jobs = [{"sensor_set": s, "data": str(args.data), "out": str(args.out / s), "config": cfg.to_dict(),
             "calibration": args.calibration, "source": str(args.data), "test_fraction": args.test_fraction,
             "progress": (not args.no_progress) and (args.sequential or s == sets[-1]), "card": card}
            for s in sets]
    t2 = time.perf_counter()
    if args.sequential:
        summaries = [_train_one(j) for j in jobs]
    else:
        with mp.get_context("spawn").Pool(len(jobs)) as pool:
            summaries = pool.map(_train_one, jobs)
    timings["training_s"] = round(time.perf_counter() - t2, 1)
    for s, summary in zip(sets, summaries, strict=True):
        b = load_bundle(args.out / s)
        (args.out / s / "MODEL_CARD.md").write_text(model_card(b, summary))
    timings["total_s"] = round(time.perf_counter() - t0, 1)
    record = {"command": "imu-torque train-defaults", "data": str(args.data), "preset": PRESET,
              "calibration": args.calibration, "config": cfg.to_dict(), "parallel": not args.sequential,
              "timings": timings, "models": summaries}
    (args.out / "train_defaults.json").write_text(json.dumps(record, indent=1) + "\n")
    for summ in summaries:
        rm = summ["test_rmse_nm_per_kg"]
        print(f"{summ['sensor_set']}: {summ['model_id']} held-out RMSE Nm/kg " +
              " ".join(f"{j}={v:.3f}" for j, v in rm.items()))
    print(f"timings: {timings}")
    return 0
