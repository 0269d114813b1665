"""Offline pipeline over a bag (ROS-free, deterministic): the same library code as the live nodes.

    bag IMU messages, in arrival (log-time) order
      -> alignment.StreamAligner        (validity checks + alignment onto the rate grid)
      -> calibration.StillCalibration   (still-standing calibration, or a known calibration)
      -> kinematics.KinematicsEstimator (streaming step: features (F,) = per segment CoM acc, omega)
                                        (these three as in the segment_kinematics node)
      -> torque_estimator.TorqueEstimatorCore (exact-stamp join per segment, gap reset, warm-up, limits,
                                           model.architectures.make_engine step; as torque_estimator)
      -> torques, stamp of the input sample, Nm/kg and Nm.

Bad samples are skipped and counted exactly where the live nodes skip them (the same classes do it), so
no torque is produced from them. Alternatively `source="kinematics"` starts from recorded
`<ns>/<segment>/kinematics` topics and runs only the torque stage (what the torque_estimator node sees).
Stamps are integer ns; torques in body.JOINTS order (or the bundle's output joints).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..body import sensor_set
from ..data.bags import BagData, BagError, read_bag
from . import config as C
from .config import EstimatorConfig, KinematicsConfig
from .segment_kinematics import FeatureFrontend, build_frontend
from .torque_estimator import FEATURES_PER_SEGMENT, TorqueEstimatorCore


@dataclass
class OfflineResult:
    """Torques published by the offline pipeline, per input-sample stamp (ns), plus the report."""

    joints: tuple[str, ...]
    stamp_ns: np.ndarray  # (M,)
    torque_nm_per_kg: np.ndarray  # (M, J)
    torque_nm: np.ndarray  # (M, J)
    limited: np.ndarray  # (M,) bool
    body_mass_kg: float
    report: dict[str, Any] = field(default_factory=dict)
    truth_nm_per_kg: np.ndarray | None = None  # (M, J) truth at the same stamps (NaN where absent)
    metrics: dict[str, Any] | None = None


def run_pipeline(bag: BagData, segments: Sequence[str], frontend: FeatureFrontend | None,
                 core: TorqueEstimatorCore, joints: Sequence[str]) -> OfflineResult:
    """Drive the pipeline over the bag's messages in arrival order (deterministic).

    frontend None: use the bag's recorded kinematics topics (features = CoM acceleration, angular
    velocity per segment) and run only the torque stage.
    """
    stamps: list[int] = []
    torques: list[np.ndarray] = []
    torques_nm: list[np.ndarray] = []  # exactly what the torque_estimator node publishes
    limited: list[bool] = []
    n_seg = len(segments)
    k6 = FEATURES_PER_SEGMENT
    t0 = time.perf_counter()
    if frontend is not None:
        seg_idx, rows = bag.imu_arrival(segments)
        streams = [bag.imu[s] for s in segments]
        # Python lists of floats (same values): the aligner's per-sample checks read them ~15 % faster
        # than NumPy rows (benchmarks/bench_bags.py)
        accel = [s.specific_force_m_s2.tolist() for s in streams]
        gyro = [s.angular_rate_rad_s.tolist() for s in streams]
        stamp = [s.stamp_ns.tolist() for s in streams]
        log = [s.log_time_ns.tolist() for s in streams]
        push = frontend.push
        core_push = core.push
        for i, r in zip(seg_idx.tolist(), rows.tolist(), strict=True):
            for st, feats in push(i, stamp[i][r], accel[i][r], gyro[i][r], log[i][r]):
                out = None
                for j in range(n_seg):
                    res = core_push(segments[j], st, feats[j * k6:(j + 1) * k6])
                    out = res if res is not None else out
                if out is not None:
                    stamps.append(out.stamp_ns)
                    torques.append(out.torque_nm_per_kg)
                    torques_nm.append(out.torque_nm)
                    limited.append(out.limited)
        report = frontend.report()
    else:
        missing = [s for s in segments if s not in bag.kinematics]
        if missing:
            raise BagError(f"{bag.path}: no kinematics topics for {missing} (use source=imu instead)")
        kin = [bag.kinematics[s] for s in segments]
        seg_idx = np.concatenate([np.full(len(k), i) for i, k in enumerate(kin)])
        rows = np.concatenate([np.arange(len(k)) for k in kin])
        order = np.argsort(np.concatenate([k.seq for k in kin]), kind="stable")
        feats6 = [np.hstack([k.specific_force_m_s2, k.angular_rate_rad_s]) for k in kin]
        kstamp = [k.stamp_ns.tolist() for k in kin]
        for i, r in zip(seg_idx[order].tolist(), rows[order].tolist(), strict=True):
            out = core.push(segments[i], kstamp[i][r], feats6[i][r])
            if out is not None:
                stamps.append(out.stamp_ns)
                torques.append(out.torque_nm_per_kg)
                torques_nm.append(out.torque_nm)
                limited.append(out.limited)
        report = {"kinematics_samples": int(sum(len(k) for k in kin))}
    status = core.status
    report.update({"torques_published": status.published,
                   "estimator_rejected": dict(sorted(status.rejected.items())),
                   "estimator_rejected_total": int(sum(status.rejected.values())),
                   "estimator_resets": status.resets,
                   "estimator_gap_resets": status.gap_resets, "estimator_limited": status.limited,
                   "pipeline_s": time.perf_counter() - t0})
    m, shape = len(stamps), (len(stamps), len(joints))
    tq = np.array(torques, dtype=float).reshape(shape) if m else np.zeros(shape)
    tq_nm = np.array(torques_nm, dtype=float).reshape(shape) if m else np.zeros(shape)
    return OfflineResult(tuple(joints), np.asarray(stamps, dtype=np.int64), tq, tq_nm,
                         np.asarray(limited, dtype=bool), core.config.body_mass_kg, report)


def attach_truth(result: OfflineResult, bag: BagData) -> None:
    """Join `<ns>/joint_torques_truth` (Nm) to the estimates by exact stamp; metrics over the joined
    samples (model.metrics: RMSE Nm/kg, nRMSE %, Pearson r)."""
    if bag.truth is None or len(result.stamp_ns) == 0:
        return
    from ..model.metrics import joint_metrics

    names = bag.truth.names
    missing = [j for j in result.joints if j not in names]
    if missing:
        raise BagError(f"{bag.path}: {bag.truth.topic} lacks joint(s) {missing}")
    cols = [names.index(j) for j in result.joints]
    order = np.argsort(bag.truth.stamp_ns, kind="stable")
    ts = bag.truth.stamp_ns[order]
    pos = np.clip(np.searchsorted(ts, result.stamp_ns), 0, len(ts) - 1)
    hit = ts[pos] == result.stamp_ns
    truth = np.full(result.torque_nm_per_kg.shape, np.nan)
    truth[hit] = bag.truth.effort_nm[order[pos[hit]]][:, cols] / result.body_mass_kg
    result.truth_nm_per_kg = truth
    metrics: dict[str, Any] = joint_metrics(result.torque_nm_per_kg[hit], truth[hit], result.joints)
    metrics["n_matched"] = int(hit.sum())
    metrics["n_estimates"] = len(hit)
    result.metrics = metrics


def compare_recorded(result: OfflineResult, bag: BagData) -> dict[str, Any] | None:
    """Regression check against torques the live graph published into the bag (`<ns>/joint_torques`,
    e.g. from `imu-torque bag record`): stamps only one side has, and the largest difference (N m) over
    the stamps both have. None when the bag has no recorded torques."""
    rec = bag.torques
    if rec is None:
        return None
    cols = [rec.names.index(j) for j in result.joints if j in rec.names]
    if len(cols) != len(result.joints):
        raise BagError(f"{bag.path}: {rec.topic} joints {list(rec.names)} differ from {list(result.joints)}")
    common, i_off, i_rec = np.intersect1d(result.stamp_ns, rec.stamp_ns, return_indices=True)
    diff = np.abs(result.torque_nm[i_off] - rec.effort_nm[i_rec][:, cols])
    out = {"topic": rec.topic, "recorded": len(rec), "offline": len(result.stamp_ns), "matched": len(common),
           "only_recorded": len(np.setdiff1d(rec.stamp_ns, result.stamp_ns)),
           "only_offline": len(np.setdiff1d(result.stamp_ns, rec.stamp_ns)),
           "max_abs_diff_nm": float(diff.max()) if diff.size else None}
    result.report["recorded_torques"] = out
    return out


# --------------------------------------------------------------------------------------------------
# Default wiring: bundle + kinematics library, parameters as the launched nodes get them.


@dataclass
class OfflineConfig:
    """Run-time settings of the offline pipeline.

    Node parameters come from the same layers as the launch files (config.py): the set's defaults
    (config/<set>.yaml), then `params_file`, then the subject: `body_mass_kg` (config.set_body_mass, as
    the launch argument does), `height_m`,
    `sex`; None = the bag's metadata (written by `bag simulate`/`bag record --mass-kg`) else the YAML.
    The rate and sensor set are the bundle's.
    """

    params_file: Path | None = None
    body_mass_kg: float | None = None
    height_m: float | None = None
    sex: str | None = None
    calibration_file: Path | None = None  # known calibration (JSON) instead of still standing
    ns: str | None = None
    source: str = "imu"  # "imu" (full pipeline) or "kinematics" (recorded kinematics topics)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # node name -> {param: value}


def node_parameters(set_name: str, cfg: OfflineConfig,
                    bag: BagData | None = None) -> dict[str, dict[str, Any]]:
    """Effective parameters of `segment_kinematics` and `torque_estimator` for an offline run."""
    layers = [C.default_layer(set_name)]
    if cfg.params_file is not None:
        layers.append(C.load_params_file(cfg.params_file))
    layers.append(cfg.overrides)
    eff = C.merged_parameters(layers, set_name)
    kin, est = eff["segment_kinematics"], eff["torque_estimator"]
    meta = bag.metadata if bag is not None else {}
    mass = cfg.body_mass_kg if cfg.body_mass_kg is not None else meta.get("body_mass_kg")
    if mass is not None:
        C.set_body_mass(eff, mass)
    for key, attr in (("subject_height_m", "height_m"), ("subject_sex", "sex")):
        value = getattr(cfg, attr) if getattr(cfg, attr) is not None else meta.get(attr)
        if value is not None:
            kin[key] = value
    if cfg.calibration_file is not None:
        kin["calibration_file"] = str(cfg.calibration_file)
    return {"segment_kinematics": kin, "torque_estimator": est}


def build_core(engine: Any, segments: Sequence[str], rate_hz: float, body_mass_kg: float,
               overrides: dict[str, Any] | None = None) -> TorqueEstimatorCore:
    return TorqueEstimatorCore(engine, EstimatorConfig(segments=tuple(segments), rate_hz=rate_hz,
                                                       body_mass_kg=body_mass_kg, **(overrides or {})))


def evaluate_bag(path: str | Path, bundle_path: str | Path | None = None,
                 cfg: OfflineConfig | None = None, sensor_set_name: str | None = None) -> OfflineResult:
    """Read the bag, run the offline pipeline (parameters: `node_parameters`), join ground truth.

    bundle_path None: the torque_estimator `model` parameter, else the shipped bundle of the sensor set
    (`sensor_set_name`, else the bag metadata's `sensor_set`)."""
    from ..model.architectures import make_engine
    from ..model.bundle import load_bundle

    cfg = cfg or OfflineConfig()
    if cfg.source not in ("imu", "kinematics"):
        raise ValueError(f"source must be 'imu' or 'kinematics', got {cfg.source!r}")
    t0 = time.perf_counter()
    bag = read_bag(path, ns=cfg.ns, require_imu=cfg.source == "imu")
    t_read = time.perf_counter() - t0
    set_name = sensor_set_name or (load_bundle(bundle_path).sensor_set if bundle_path else None) \
        or bag.metadata.get("sensor_set")
    if set_name is None:
        raise BagError(f"{bag.path}: no sensor_set in the bag metadata; give a model or the sensor set")
    segments = sensor_set(str(set_name))
    missing = [s for s in segments if s not in (bag.imu if cfg.source == "imu" else bag.kinematics)]
    if missing:
        raise BagError(f"{bag.path}: missing {cfg.source} topics for {missing} of sensor set {set_name}")
    params = node_parameters(str(set_name), cfg, bag)
    kp, ep = params["segment_kinematics"], params["torque_estimator"]
    from ..kinematics import FEATURE_SPEC_IDS

    model = C.model_dir(bundle_path or ep.get("model"), str(set_name))
    bundle = load_bundle(model, expect_sensor_set=str(set_name),
                         expect_feature_spec=FEATURE_SPEC_IDS[kp["feature_frame"]])
    rate = float(bundle.rate_hz)
    mass = ep.get("body_mass_kg")
    if mass is None:
        raise BagError(f"{bag.path}: no body_mass_kg in the bag metadata; give it explicitly")
    core = build_core(make_engine(bundle), segments, rate, float(mass),
                      {"max_gap_s": ep["max_gap_s"], "warmup_s": ep["warmup_s"],
                       "output_limit_nm_per_kg": ep["output_limit_nm_per_kg"]})
    frontend = build_frontend(KinematicsConfig.from_params(kp, rate_hz=rate)) if cfg.source == "imu" else None
    result = run_pipeline(bag, segments, frontend, core, tuple(bundle.output_joints))
    attach_truth(result, bag)
    compare_recorded(result, bag)
    result.report.update({"bag": str(bag.path), "ns": bag.ns or "/", "model_id": bundle.model_id,
                          "model": str(bundle.path), "sensor_set": bundle.sensor_set, "rate_hz": rate,
                          "body_mass_kg": float(mass), "source": cfg.source,
                          "bag_duration_s": bag.duration_s,
                          "read_s": t_read, "parameters": params})
    return result
