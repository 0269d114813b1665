"""Synthetic dataset: builder (parallel, deterministic, resumable), shard format and reader.

Layout of DIR:
  dataset_card.json      counts, distributions, seeds, preset, versions, build time, quality summary
  shards/<trial_id>.npz  one trial each, written atomically (temporary file + os.replace), arrays:
    time_s                  (N,)        float64  s
    imu_specific_force_m_s2 (7, N, 3)   float32  sensor frame, incl. gravity, body.SEGMENTS order
    imu_angular_rate_rad_s  (7, N, 3)   float32  sensor frame
    imu_stamp_s             (7, N)      float64  per-sensor stamps (with jitter)
    rotation                (7, N, 3,3) float32  segment -> ground (truth)
    com_acceleration_m_s2   (7, N, 3)   float32  segment CoM acceleration, ground, no gravity (truth)
    angular_velocity_rad_s  (7, N, 3)   float32  ground frame (truth)
    sensor_to_segment       (7, 3, 3)   float64  true mounting rotation (sensor -> segment)
    sensor_position_m       (7, 3)      float64  true sensor position relative to the segment CoM
    moments_nm_per_kg       (N, 6)      float32  body.JOINTS order (inverse dynamics / body mass)
    grf_n                   (2, N, 3)   float32  [l, r] ground frame
    cop_m                   (2, N, 3)   float32  [l, r] ground frame
    meta                    ()          str      JSON: trial_id, subject_id, sex, mass_kg, height_m,
                                                 mode, speed_m_s, slope_pct, seed, rate_hz, events
                                                 (heel strikes / toe offs per foot, s), diagnostics
A shard is complete when it loads and validates; a build skips complete shards (resume) and never
leaves a partial file under the final name.
"""

from __future__ import annotations

import json
import os
import platform
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import savez_atomic, write_bytes_atomic
from ..body import JOINTS, SEGMENTS
from .subjects import Condition, Subject, get_preset, sample_conditions, sample_subjects
from .trial import SimTrial, simulate_trial

SHARD_DIR = "shards"
CARD = "dataset_card.json"
FORMAT_VERSION = 1
_F32 = (
    "imu_specific_force_m_s2",
    "imu_angular_rate_rad_s",
    "rotation",
    "com_acceleration_m_s2",
    "angular_velocity_rad_s",
    "moments_nm_per_kg",
    "grf_n",
    "cop_m",
)


class DatasetError(ValueError):
    """A shard or dataset folder is missing, partial or malformed (message names the file/field)."""


def _expected_shapes(n: int) -> dict[str, tuple[int, ...]]:
    s = len(SEGMENTS)
    return {
        "time_s": (n,),
        "imu_specific_force_m_s2": (s, n, 3),
        "imu_angular_rate_rad_s": (s, n, 3),
        "imu_stamp_s": (s, n),
        "rotation": (s, n, 3, 3),
        "com_acceleration_m_s2": (s, n, 3),
        "angular_velocity_rad_s": (s, n, 3),
        "sensor_to_segment": (s, 3, 3),
        "sensor_position_m": (s, 3),
        "moments_nm_per_kg": (n, len(JOINTS)),
        "grf_n": (2, n, 3),
        "cop_m": (2, n, 3),
    }


META_KEYS = (
    "trial_id",
    "subject_id",
    "sex",
    "mass_kg",
    "height_m",
    "mode",
    "speed_m_s",
    "slope_pct",
    "seed",
    "rate_hz",
    "events",
)
SUMMARY_KEYS = META_KEYS[:-2]  # per-trial row of the dataset card: no rate, no gait events


def write_shard(trial: SimTrial, out_dir: str | Path) -> Path:
    """Write one trial atomically to out_dir/shards/<trial_id>.npz."""
    d = Path(out_dir) / SHARD_DIR
    d.mkdir(parents=True, exist_ok=True)
    final = d / f"{trial.trial_id}.npz"
    arrays = trial.arrays()
    for k in _F32:
        arrays[k] = np.asarray(arrays[k], dtype=np.float32)
    meta = dict(trial.meta)
    meta["diagnostics"] = trial.diagnostics
    arrays["meta"] = np.array(json.dumps(meta))
    return savez_atomic(final, **arrays)  # type: ignore[arg-type]  # arrays never has a 'compressed' key


def load_trial(path: str | Path) -> SimTrial:
    """Read and validate one shard; DatasetError naming the file and field when partial/malformed."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DatasetError(f"{p}: shard not found") from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{p}: not a complete shard ({exc})") from None
    if "meta" not in data:
        raise DatasetError(f"{p}: field 'meta' missing")
    try:
        meta = json.loads(str(data["meta"]))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{p}: field 'meta' is not valid JSON ({exc})") from None
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise DatasetError(f"{p}: meta lacks {missing}")
    if "time_s" not in data:
        raise DatasetError(f"{p}: field 'time_s' missing")
    n = int(data["time_s"].shape[0])
    for k, shape in _expected_shapes(n).items():
        if k not in data:
            raise DatasetError(f"{p}: field {k!r} missing")
        if data[k].shape != shape:
            raise DatasetError(f"{p}: field {k!r} has shape {data[k].shape}, expected {shape}")
        if not np.all(np.isfinite(data[k])):
            raise DatasetError(f"{p}: field {k!r} contains NaN or inf")
    extra = data.get("moments_extra_nm_per_kg")
    names = tuple(str(x) for x in data.get("moments_extra_names", np.array([], dtype=str)))
    diag = meta.pop("diagnostics", {})
    return SimTrial(
        time_s=data["time_s"],
        imu_specific_force_m_s2=data["imu_specific_force_m_s2"],
        imu_angular_rate_rad_s=data["imu_angular_rate_rad_s"],
        imu_stamp_s=data["imu_stamp_s"],
        rotation=data["rotation"],
        com_acceleration_m_s2=data["com_acceleration_m_s2"],
        angular_velocity_rad_s=data["angular_velocity_rad_s"],
        sensor_to_segment=data["sensor_to_segment"],
        sensor_position_m=data["sensor_position_m"],
        moments_nm_per_kg=data["moments_nm_per_kg"],
        grf_n=data["grf_n"],
        cop_m=data["cop_m"],
        meta=meta,
        moments_extra_nm_per_kg=extra,
        moments_extra_names=names,
        diagnostics=diag,
    )


def list_trials(directory: str | Path) -> list[Path]:
    """Complete-looking shard files of a dataset folder (sorted; temporary files excluded)."""
    d = Path(directory)
    if not d.is_dir():
        raise DatasetError(f"{d}: dataset folder not found")
    sd = d / SHARD_DIR if (d / SHARD_DIR).is_dir() else d
    return sorted(p for p in sd.glob("*.npz") if not p.name.startswith("."))


@dataclass(frozen=True)
class Job:
    subject: Subject
    condition: Condition
    n_strides: int
    rate_hz: float
    imu_errors: str
    seed: int

    @property
    def trial_id(self) -> str:
        return f"{self.subject.subject_id}_{self.condition.name}"


def plan_jobs(
    preset: str,
    n_subjects: int | None,
    n_strides: int | None,
    seed: int,
    rate_hz: float = 100.0,
    imu_errors: str = "mti3",
) -> list[Job]:
    """All trials of a build, validated before any work (ValueError on a bad preset/range)."""
    p = get_preset(preset)
    n_subj = p.n_subjects if n_subjects is None else int(n_subjects)
    n_str = p.n_strides if n_strides is None else int(n_strides)
    if n_subj < 1:
        raise ValueError(f"number of subjects must be >= 1, got {n_subj}")
    if n_str < 1:
        raise ValueError(f"number of strides must be >= 1, got {n_str}")
    if not np.isfinite(rate_hz) or not 50 <= rate_hz <= 2000:
        raise ValueError(f"rate_hz must be in 50..2000 Hz, got {rate_hz}")
    if imu_errors not in ("mti3", "ideal"):
        raise ValueError(f"imu_errors must be 'mti3' or 'ideal', got {imu_errors!r}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0]))
    subjects = sample_subjects(n_subj, rng)
    jobs = []
    for i, subj in enumerate(subjects):
        conds = list(p.conditions)
        if p.random_conditions:
            conds += sample_conditions(p.random_conditions, np.random.default_rng([int(seed), 1, i]))
        for j, c in enumerate(conds):
            trial_seed = int(np.random.SeedSequence([int(seed), 2, i, j]).generate_state(1)[0])
            jobs.append(Job(subj, c, n_str, float(rate_hz), imu_errors, trial_seed))
    ids = [j.trial_id for j in jobs]
    if len(set(ids)) != len(ids):
        raise ValueError("preset produces duplicate trial ids (same subject and condition twice)")
    return jobs


def _run_job(args: tuple[Job, str]) -> dict:
    job, out = args
    tr = simulate_trial(
        job.subject,
        job.condition,
        job.n_strides,
        job.rate_hz,
        job.imu_errors,
        job.seed,
        trial_id=job.trial_id,
    )
    write_shard(tr, out)
    return _summary(tr)


def _summary(tr: SimTrial) -> dict:
    """The dataset card's row for one trial: subject/condition metadata, length, diagnostics."""
    return {**{k: tr.meta[k] for k in SUMMARY_KEYS}, "n_samples": int(tr.time_s.shape[0]),
            "diagnostics": tr.diagnostics}


def _summary_from_shard(path: Path) -> dict | None:
    try:
        tr = load_trial(path)
    except DatasetError:
        return None
    return _summary(tr)


def build_dataset(
    preset: str,
    out: str | Path,
    n_subjects: int | None = None,
    n_strides: int | None = None,
    seed: int = 0,
    workers: int = 2,
    progress: bool = True,
    rate_hz: float = 100.0,
    imu_errors: str = "mti3",
) -> dict:
    """Build (or resume) a dataset; returns the dataset card (also written to DIR/dataset_card.json)."""
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    jobs = plan_jobs(preset, n_subjects, n_strides, seed, rate_hz, imu_errors)
    out = Path(out)
    (out / SHARD_DIR).mkdir(parents=True, exist_ok=True)
    for stale in (out / SHARD_DIR).glob(".*.tmp"):
        stale.unlink()  # leftovers of an interrupted build
    t0 = time.time()
    summaries: dict[str, dict] = {}
    todo = []
    for j in jobs:
        f = out / SHARD_DIR / f"{j.trial_id}.npz"
        s = _summary_from_shard(f) if f.exists() else None
        if s is not None and s["seed"] == j.seed:
            summaries[j.trial_id] = s
        else:
            todo.append(j)
    skipped = len(summaries)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("[bold]build-dataset"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("trials", total=len(jobs), completed=skipped)
        if workers == 1 or len(todo) <= 1:
            for j in todo:
                s = _run_job((j, str(out)))
                summaries[s["trial_id"]] = s
                bar.advance(task)
        else:
            import multiprocessing as mp

            ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
            with ctx.Pool(workers) as pool:
                for s in pool.imap_unordered(_run_job, [(j, str(out)) for j in todo], chunksize=1):
                    summaries[s["trial_id"]] = s
                    bar.advance(task)
    card = dataset_card(
        preset, seed, jobs, summaries, time.time() - t0, skipped, workers, rate_hz, imu_errors
    )
    write_bytes_atomic(out / CARD, json.dumps(card, indent=1).encode())
    return card


def _dist(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {
        "min": float(a.min()),
        "p5": float(np.percentile(a, 5)),
        "median": float(np.median(a)),
        "p95": float(np.percentile(a, 95)),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }


def dataset_card(
    preset: str,
    seed: int,
    jobs: list[Job],
    summaries: dict[str, dict],
    build_s: float,
    skipped: int,
    workers: int,
    rate_hz: float,
    imu_errors: str,
) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    from .gait import load_patterns

    try:
        pkg_version = version("imu_torque_estimator")
    except PackageNotFoundError:
        pkg_version = "unknown"

    rows = [summaries[j.trial_id] for j in jobs]
    subj = {r["subject_id"]: r for r in rows}
    diag = [r["diagnostics"] for r in rows]
    conds: dict[str, int] = {}
    for j in jobs:
        conds[j.condition.name] = conds.get(j.condition.name, 0) + 1
    return {
        "format_version": FORMAT_VERSION,
        "preset": preset,
        "seed": int(seed),
        "rate_hz": rate_hz,
        "imu_errors": imu_errors,
        "segments": list(SEGMENTS),
        "joints": list(JOINTS),
        "counts": {
            "trials": len(rows),
            "subjects": len(subj),
            "samples": int(sum(r["n_samples"] for r in rows)),
            "strides_per_trial": jobs[0].n_strides if jobs else 0,
            "by_condition": conds,
            "by_sex": {s: sum(1 for r in subj.values() if r["sex"] == s) for s in ("male", "female")},
        },
        "distributions": {
            "mass_kg": _dist([r["mass_kg"] for r in subj.values()]),
            "height_m": _dist([r["height_m"] for r in subj.values()]),
            "speed_m_s": _dist([r["speed_m_s"] for r in rows]),
            "slope_pct": _dist([r["slope_pct"] for r in rows]),
        },
        "quality": {
            k: _dist([d[k] for d in diag])
            for k in (
                "residual_force_max_pct_bw",
                "residual_moment_max_pct_bw_height",
                "residual_moment_rms_pct_bw_height",
                "peak_vertical_grf_bw",
                "stance_slip_rms_m_s",
                "cop_clamped_fraction",
                "trunk_correction_max_deg",
            )
        },
        "trial_seeds": {r["trial_id"]: r["seed"] for r in rows},
        "versions": {
            "package": pkg_version,
            "format": FORMAT_VERSION,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "patterns_fitted_utc": load_patterns().meta.get("fitted_utc", ""),
        },
        "build": {
            "seconds": round(build_s, 2),
            "workers": workers,
            "resumed_trials": skipped,
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }
