"""Offline pipeline over a bag (ROS-free, deterministic): the same library code as the live nodes.

    bag IMU messages, in arrival (log-time) order
      -> streams.StreamAligner          (validity checks + alignment onto the rate grid)
      -> streams.StillCalibration       (still-standing calibration, or a known calibration)
      -> kinematics.KinematicsEstimator (streaming step: features (F,) = per segment CoM acc, omega)
                                        (these three as in the segment_kinematics node)
      -> estimator.TorqueEstimatorCore    (exact-stamp join per segment, gap reset, warm-up, limits,
                                           model.engine.StreamingEngine step; as torque_estimator)
      -> torques, stamp of the input sample, Nm/kg and Nm.

Bad samples are skipped and counted exactly where the live nodes skip them (the same classes do it), so
no torque is produced from them. Alternatively `source="kinematics"` starts from recorded
`<ns>/<segment>/kinematics` topics and runs only the torque stage (what the torque_estimator node sees).
Stamps are integer ns; torques in body.JOINTS order (or the bundle's output joints).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .body import SENSOR_SETS, sensor_set
from .data.bags import BagData, BagError, read_bag
from .estimator import FEATURES_PER_SEGMENT, EstimatorConfig, TorqueEstimatorCore
from .streams import CalibrationState, StillCalibration, StreamAligner, StreamConfig


class FeatureFrontend(Protocol):
    """IMU samples in, feature vectors out (what the segment_kinematics node computes)."""

    def push(self, i: int, stamp_ns: int, accel_m_s2: np.ndarray, gyro_rad_s: np.ndarray,
             arrival_ns: int) -> list[tuple[int, np.ndarray]]: ...

    def report(self) -> dict[str, Any]: ...


class StepEstimator(Protocol):
    """kinematics.KinematicsEstimator streaming API."""

    def step(self, specific_force_m_s2: np.ndarray, angular_rate_rad_s: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...


class ImuFrontend:
    """StreamAligner -> calibration state machine -> streaming kinematics estimator.

    make_estimator(calibration) builds the kinematics estimator once a calibration exists;
    calibrate(accel (N,S,3), gyro (N,S,3)) -> calibration is called by StillCalibration on a still
    window; pass `calibration` to skip still-standing detection (known mounting). Re-anchoring of the
    grid after every sensor's clock jumped back resets the kinematics estimator's filter state.
    """

    def __init__(self, stream_config: StreamConfig, make_estimator: Callable[[Any], StepEstimator],
                 calibrate: Callable[[np.ndarray, np.ndarray], Any] | None = None, calibration: Any = None,
                 still_s: float = 1.0) -> None:
        self.aligner = StreamAligner(stream_config)
        self._make = make_estimator
        n = len(stream_config.segments)
        self.calibration = StillCalibration(n, stream_config.rate_hz, calibrate or _no_calibrate,
                                            still_s=still_s)
        self._est: StepEstimator | None = None
        self._preset = calibration is not None
        if calibration is not None:
            self.calibration.set_calibration(calibration)
        elif calibrate is None:
            raise ValueError("ImuFrontend needs a calibration or a calibrate function")
        self.samples_calibrating = 0
        self.features_out = 0
        self.estimator_resets = 0

    def push(self, i: int, stamp_ns: int, accel_m_s2: np.ndarray, gyro_rad_s: np.ndarray,
             arrival_ns: int) -> list[tuple[int, np.ndarray]]:
        out = []
        for s in self.aligner.push(i, stamp_ns, accel_m_s2, gyro_rad_s, arrival_ns):
            if self._est is None:
                if self.calibration.update(s.accel_m_s2, s.gyro_rad_s) is not CalibrationState.CALIBRATED:
                    self.samples_calibrating += 1
                    continue
                self._est = self._make(self.calibration.calibration)
                if not self._preset:  # the sample that completed the still window is calibration data
                    self.samples_calibrating += 1
                    continue
            elif s.reset:
                self._est.reset()
                self.estimator_resets += 1
            out.append((s.stamp_ns, self._est.step(s.accel_m_s2, s.gyro_rad_s).copy()))
            self.features_out += 1
        return out

    def report(self) -> dict[str, Any]:
        a = self.aligner
        segs = a.config.segments
        return {
            "imu_received": {s: c.received for s, c in zip(segs, a.counters, strict=True)},
            "imu_accepted": {s: c.accepted for s, c in zip(segs, a.counters, strict=True)},
            "imu_invalid": {s: {k: v for k, v in c.invalid.items() if v} for s, c in zip(segs, a.counters,
                                                                                         strict=True)},
            "imu_invalid_total": sum(c.invalid_total for c in a.counters),
            "grid_emitted": a.emitted, "grid_dropped": dict(sorted(a.dropped.items())),
            "grid_dropped_total": a.dropped_total(), "grid_reanchors": a.reanchors,
            "calibration_state": self.calibration.state.value,
            "samples_calibrating": self.samples_calibrating,
            "kinematics_samples": self.features_out, "kinematics_resets": self.estimator_resets,
        }


def _no_calibrate(_a: np.ndarray, _g: np.ndarray) -> Any:
    raise ValueError("no calibration function")


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
    limited: list[bool] = []
    n_seg = len(segments)
    k6 = FEATURES_PER_SEGMENT
    t0 = time.perf_counter()
    if frontend is not None:
        seg_idx, rows = bag.imu_arrival(segments)
        streams = [bag.imu[s] for s in segments]
        accel = [s.specific_force_m_s2 for s in streams]
        gyro = [s.angular_rate_rad_s for s in streams]
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
                limited.append(out.limited)
        report = {"kinematics_samples": int(sum(len(k) for k in kin))}
    st = core.status
    report.update({"torques_published": st.published, "estimator_rejected": dict(sorted(st.rejected.items())),
                   "estimator_rejected_total": int(sum(st.rejected.values())), "estimator_resets": st.resets,
                   "estimator_gap_resets": st.gap_resets, "estimator_limited": st.limited,
                   "pipeline_s": time.perf_counter() - t0})
    m = len(stamps)
    tq = np.array(torques).reshape(m, len(joints)) if m else np.zeros((0, len(joints)))
    mass = core.config.body_mass_kg
    return OfflineResult(tuple(joints), np.asarray(stamps, dtype=np.int64), tq, tq * mass,
                         np.asarray(limited, dtype=bool), mass, report)


def attach_truth(result: OfflineResult, bag: BagData) -> None:
    """Join `<ns>/joint_torques_truth` (Nm) to the estimates by exact stamp; metrics over the joined
    samples (model.metrics: RMSE Nm/kg, nRMSE %, Pearson r)."""
    if bag.truth is None or len(result.stamp_ns) == 0:
        return
    from .model.metrics import joint_metrics

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
    result.metrics = joint_metrics(result.torque_nm_per_kg[hit], truth[hit], result.joints)
    result.metrics["n_matched"] = int(hit.sum())
    result.metrics["n_estimates"] = int(len(hit))


# --------------------------------------------------------------------------------------------------
# Default wiring: bundle + kinematics library, configured like the nodes.


@dataclass
class OfflineConfig:
    """Run-time settings of the offline pipeline; defaults equal the nodes' parameter defaults."""

    sensor_set: str | None = None  # None: the bundle's
    rate_hz: float | None = None  # None: the bundle's
    body_mass_kg: float | None = None  # None: bag metadata `body_mass_kg`
    height_m: float | None = None  # nominal sensor placements; None: bag metadata or 1.75 m
    sex: str | None = None
    calibration_file: Path | None = None  # known calibration (JSON) instead of still standing
    still_s: float = 1.0
    stream: dict[str, Any] = field(default_factory=dict)  # StreamConfig overrides
    estimator: dict[str, Any] = field(default_factory=dict)  # EstimatorConfig overrides
    ns: str | None = None
    source: str = "imu"  # "imu" (full pipeline) or "kinematics" (recorded kinematics topics)


def _meta(bag: BagData, key: str, value: Any, default: Any = None) -> Any:
    if value is not None:
        return value
    if key in bag.metadata:
        return bag.metadata[key]
    if default is None:
        raise BagError(f"{bag.path}: `{key}` is not in the bag metadata; give it explicitly")
    return default


def build_core(engine: Any, segments: Sequence[str], rate_hz: float, body_mass_kg: float,
               overrides: dict[str, Any] | None = None) -> TorqueEstimatorCore:
    return TorqueEstimatorCore(engine, EstimatorConfig(segments=tuple(segments), rate_hz=rate_hz,
                                                       body_mass_kg=body_mass_kg, **(overrides or {})))


def default_frontend(bag: BagData, segments: Sequence[str], rate_hz: float, cfg: OfflineConfig,
                     body_mass_kg: float) -> ImuFrontend:
    """Kinematics front end wired like the segment_kinematics node: nominal placements from the body
    model (height, sex), still-standing calibration (or a calibration file), KinematicsEstimator."""
    from . import kinematics
    from .body import lower_body_model
    from .kinematics.calibration import calibrate, load_calibrations
    from .sim.imu import default_placements

    set_name = next(k for k, v in SENSOR_SETS.items() if tuple(v) == tuple(segments))

    def make(cal: Any) -> StepEstimator:
        return kinematics.KinematicsEstimator(set_name, rate_hz, cal)

    stream_cfg = StreamConfig(segments=tuple(segments), rate_hz=rate_hz, **cfg.stream)
    if cfg.calibration_file is not None:
        return ImuFrontend(stream_cfg, make, calibration=load_calibrations(cfg.calibration_file))
    model = lower_body_model(body_mass_kg, float(_meta(bag, "height_m", cfg.height_m, 1.75)),
                             str(_meta(bag, "sex", cfg.sex, "male")))
    nominal = {s: p for s, p in default_placements(model).items() if s in segments}

    def still(acc: np.ndarray, gyr: np.ndarray) -> Any:
        return calibrate(nominal, static={s: (acc[:, i], gyr[:, i]) for i, s in enumerate(segments)})

    return ImuFrontend(stream_cfg, make, calibrate=still, still_s=cfg.still_s)


def evaluate_bag(path: str | Path, bundle_path: str | Path, cfg: OfflineConfig | None = None,
                 frontend_factory: Callable[..., FeatureFrontend] | None = None) -> OfflineResult:
    """Read the bag, run the offline pipeline with the model bundle, join ground truth if present."""
    from .model.bundle import load_bundle
    from .model.engine import StreamingEngine

    cfg = cfg or OfflineConfig()
    t0 = time.perf_counter()
    bundle = load_bundle(bundle_path, expect_sensor_set=cfg.sensor_set, expect_rate_hz=cfg.rate_hz)
    segments = sensor_set(bundle.sensor_set)
    if cfg.source not in ("imu", "kinematics"):
        raise ValueError(f"source must be 'imu' or 'kinematics', got {cfg.source!r}")
    bag = read_bag(path, ns=cfg.ns, segments=segments if cfg.source == "imu" else None,
                   require_imu=cfg.source == "imu")
    t_read = time.perf_counter() - t0
    mass = float(_meta(bag, "body_mass_kg", cfg.body_mass_kg))
    rate = float(bundle.rate_hz)
    core = build_core(StreamingEngine(bundle), segments, rate, mass, cfg.estimator)
    frontend = None
    if cfg.source == "imu":
        frontend = (frontend_factory or default_frontend)(bag, segments, rate, cfg, mass)
    result = run_pipeline(bag, segments, frontend, core, tuple(bundle.output_joints))
    attach_truth(result, bag)
    result.report.update({"bag": str(bag.path), "ns": bag.ns or "/", "model_id": bundle.model_id,
                          "sensor_set": bundle.sensor_set, "rate_hz": rate, "body_mass_kg": mass,
                          "source": cfg.source, "bag_duration_s": bag.duration_s, "read_s": t_read})
    return result
