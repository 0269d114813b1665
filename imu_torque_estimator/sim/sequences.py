"""The synthesised dataset (dataset.py layout) as training sequences: features from `kinematics`
(the same code the node runs, with the calibration of model.dataset.trial_calibration), cached per
shard, and target moments (Nm/kg).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ..atomic import savez_atomic
from ..body import SENSOR_SETS
from ..model.dataset import CALIBRATION_MODES, Sequence, select_features, trial_features, trial_meta
from .dataset import list_trials, load_trial


def _cache_path(cache_dir: Path, shard: Path) -> Path:
    return cache_dir / (shard.stem + ".npz")


@lru_cache(maxsize=1)
def _kinematics_code_hash() -> str:
    """Hash of the kinematics package sources: cached features are recomputed when that code changes
    (even if FEATURE_SPEC_ID was not bumped), so training always sees what the node computes."""
    import hashlib

    from .. import kinematics

    h = hashlib.sha256()
    for f in sorted(Path(kinematics.__file__).parent.rglob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _features_for_shard(args: tuple[str, str, str | None]) -> tuple[dict, np.ndarray, np.ndarray, list[str]]:
    """Worker: load a shard (validated by sim.dataset.load_trial), features via the cache."""
    import json


    shard, calibration, cache = Path(args[0]), args[1], args[2]
    stamp = f"{shard.stat().st_size}:{shard.stat().st_mtime_ns}:{calibration}:{_kinematics_code_hash()}"
    cpath = _cache_path(Path(cache), shard) if cache else None
    if cpath is not None and cpath.is_file():
        try:
            with np.load(cpath, allow_pickle=False) as z:
                if str(z["stamp"]) == stamp:
                    return (json.loads(str(z["meta"])), z["features"], z["targets"],
                            [str(n) for n in z["names"]])
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache entry: recompute
    trial = load_trial(shard)
    feats, names = trial_features(trial, calibration)
    meta = trial_meta(trial)
    targets = np.asarray(trial.moments_nm_per_kg, dtype=np.float32)
    if cpath is not None:
        cpath.parent.mkdir(parents=True, exist_ok=True)
        savez_atomic(cpath, features=feats.astype(np.float32), targets=targets, names=np.array(names),
                     meta=json.dumps(meta), stamp=stamp)
    return meta, feats.astype(np.float32), targets, names


def load_sequences(data_dir: str | Path, sensor_sets: tuple[str, ...] | None = None,
                   calibration: str = "static", workers: int = 2, cache: bool = True,
                   progress: bool = True) -> dict[str, list[Sequence]]:
    """All trials of a dataset directory (sim/dataset.py layout) as Sequences per sensor set.

    Features are computed once per trial for the 7 sensors and cached under
    `data_dir/features/<feature spec>__<calibration>/` (keyed by shard size/mtime); sensor sets
    are column subsets (default: every set of body.SENSOR_SETS). Parallel over `workers` processes.
    """
    from .. import kinematics as kin

    if calibration not in CALIBRATION_MODES:
        raise ValueError(f"unknown calibration mode {calibration!r}; choose one of {list(CALIBRATION_MODES)}")
    shards = [Path(p) for p in list_trials(data_dir)]
    if not shards:
        raise ValueError(f"no trials found in dataset directory {data_dir}")
    spec = kin.FEATURE_SPEC_ID.replace("/", "_").replace("+", "_")
    cache_dir = str(Path(data_dir) / "features" / f"{spec}__{calibration}") if cache else None
    jobs = [(str(p), calibration, cache_dir) for p in shards]
    results = []
    bar = None
    if progress:
        from rich.progress import Progress
        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task(f"features ({len(jobs)} trials)", total=len(jobs))
    try:
        if workers > 1 and len(jobs) > 1:
            import multiprocessing as mp

            with mp.get_context("spawn").Pool(workers) as pool:
                for r in pool.imap(_features_for_shard, jobs, chunksize=4):
                    results.append(r)
                    if bar:
                        bar.advance(task)
        else:
            for j in jobs:
                results.append(_features_for_shard(j))
                if bar:
                    bar.advance(task)
    finally:
        if bar:
            bar.stop()
    sets = tuple(SENSOR_SETS) if sensor_sets is None else tuple(sensor_sets)
    out: dict[str, list[Sequence]] = {s: [] for s in sets}
    for meta, feats, targets, names in results:
        for s in sets:
            out[s].append(Sequence(select_features(feats, names, s), targets[:, :6], meta))
    return out
