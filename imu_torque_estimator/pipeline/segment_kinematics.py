"""Kinematics stage: IMU samples -> segment-kinematics features, one sample at a time (ROS-free).

The per-sample logic of the `segment_kinematics` node and of offline bag evaluation: stream
alignment and validity (alignment.StreamAligner), the calibration state machine
(calibration.StillCalibration), then the streaming kinematics estimator (kinematics.KinematicsEstimator).
Both call `build_frontend` with a `config.KinematicsConfig` built from the node's parameters, so
what is evaluated offline is what runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast

import numpy as np

from .alignment import StreamAligner, StreamConfig
from .calibration import CalibrationState, StillCalibration
from .config import KinematicsConfig


class FeatureFrontend(Protocol):
    """IMU samples in, feature vectors out (what the segment_kinematics node computes)."""

    def push(self, i: int, stamp_ns: int, accel_m_s2: np.ndarray, gyro_rad_s: np.ndarray,
             arrival_ns: int) -> list[tuple[int, np.ndarray]]: ...

    def report(self) -> dict[str, Any]: ...


class StepEstimator(Protocol):
    """kinematics.KinematicsEstimator streaming API."""

    def step(self, specific_force_m_s2: np.ndarray, angular_rate_rad_s: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...

    @property
    def orientation_wxyz(self) -> np.ndarray: ...


class ImuFrontend:
    """StreamAligner -> calibration state machine -> streaming kinematics estimator, step for step as
    the segment_kinematics node (`_process`): the sample completing the still window is calibration
    data; the estimator's filter state is reset on grid re-anchoring (`reset`) or an output gap longer
    than `reset_gap_s`, once features have been produced.

    make_estimator(calibration) builds the kinematics estimator once a calibration exists;
    calibrate(accel (N,S,3), gyro (N,S,3)[, gyro_motion (M,S,3)]) -> calibration is called by
    StillCalibration (`still` = its keyword arguments, e.g. motion_s for the functional part); pass
    `calibration` to skip still standing (known mounting).
    """

    def __init__(self, stream_config: StreamConfig, make_estimator: Callable[[Any], StepEstimator],
                 calibrate: Callable[..., Any] | None = None, calibration: Any = None,
                 reset_gap_s: float = 0.25, **still: float) -> None:
        self.aligner = StreamAligner(stream_config)
        self._make = make_estimator
        n = len(stream_config.segments)
        self.calibration = StillCalibration(n, stream_config.rate_hz, calibrate or _no_calibrate, **still)
        self._reset_gap_s = reset_gap_s
        self._est: StepEstimator | None = None
        if calibration is not None:
            self.calibration.set_calibration(calibration)
            self._est = make_estimator(calibration)
        elif calibrate is None:
            raise ValueError("ImuFrontend needs a calibration or a calibrate function")
        self.samples_calibrating = 0
        self.features_out = 0
        self.estimator_resets = 0

    @property
    def estimator(self) -> StepEstimator | None:
        """The kinematics estimator in use (None until calibrated); e.g. for orientation_wxyz."""
        return self._est

    def iter_push(self, i: int, stamp_ns: int, accel_m_s2: np.ndarray, gyro_rad_s: np.ndarray,
                  arrival_ns: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Feed one sensor sample; yield (grid stamp, features) for every grid sample it completes.
        The features array is the estimator's buffer: valid until the next yield (no allocation)."""
        cal = self.calibration
        for s in self.aligner.push(i, stamp_ns, accel_m_s2, gyro_rad_s, arrival_ns):
            if cal.state is not CalibrationState.CALIBRATED:
                if cal.update(s.accel_m_s2, s.gyro_rad_s) is CalibrationState.CALIBRATED:
                    self._est = self._make(cal.calibration)
                self.samples_calibrating += 1
                continue
            est = self._est
            assert est is not None
            if (s.reset or s.gap_s > self._reset_gap_s) and self.features_out:
                est.reset()
                self.estimator_resets += 1
            feats = est.step(s.accel_m_s2, s.gyro_rad_s)
            self.features_out += 1
            yield s.stamp_ns, feats

    def push(self, i: int, stamp_ns: int, accel_m_s2: np.ndarray, gyro_rad_s: np.ndarray,
             arrival_ns: int | None = None) -> list[tuple[int, np.ndarray]]:
        """`iter_push` collected into a list (features copied)."""
        return [(st, f.copy()) for st, f in self.iter_push(i, stamp_ns, accel_m_s2, gyro_rad_s, arrival_ns)]

    def recalibrate(self) -> None:
        """Start over: wait for still standing again; no features until calibrated."""
        self.calibration.recalibrate()
        self._est = None

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


def build_frontend(config: KinematicsConfig) -> ImuFrontend:
    """The kinematics stage from its typed configuration (the segment_kinematics node and offline
    evaluation both build theirs here). Raises ValueError / OSError on a bad configuration."""
    from .. import kinematics
    from ..body import Sex, lower_body_model
    from ..kinematics.placement import default_placements

    c = config
    segments = c.segments

    def make(cal: Any) -> StepEstimator:
        return kinematics.KinematicsEstimator(c.sensor_set, c.rate_hz, cal, frame=c.feature_frame,
                                              orientation=True)

    stream_cfg = StreamConfig(segments, c.rate_hz, stale_timeout_s=c.stale_timeout_s,
                              max_gap_s=c.max_gap_s or None, backward_jump_s=c.backward_jump_s,
                              accel_full_scale_m_s2=c.accel_full_scale_m_s2,
                              gyro_full_scale_rad_s=c.gyro_full_scale_rad_s)
    still: dict[str, Any] = {"still_s": c.still_s, "gyro_still_rad_s": c.still_gyro_rad_s,
             "accel_still_m_s2": c.still_accel_m_s2}
    if c.functional_s:  # walking after the still window for the functional flexion axes
        still["motion_s"] = c.functional_s
    if c.calibration_file:
        try:
            cal = kinematics.load_calibrations(c.calibration_file)
        except (OSError, ValueError) as exc:
            raise ValueError(f"calibration_file: {exc}") from None
        missing = [s for s in segments if s not in cal]
        if missing:
            raise ValueError(f"calibration_file {c.calibration_file}: no calibration for segment(s) "
                             f"{missing} of sensor set {c.sensor_set}")
        return ImuFrontend(stream_cfg, make, calibration={s: cal[s] for s in segments},
                           reset_gap_s=c.reset_gap_s, **still)
    model = lower_body_model(c.subject_mass_kg, c.subject_height_m,
                             cast(Sex, c.subject_sex))  # one of the parameter table's choices
    placements = default_placements(model)
    nominal = {s: placements[s] for s in segments}

    def calibrate(acc: np.ndarray, gyr: np.ndarray, gyr_motion: np.ndarray | None = None) -> Any:
        static = {s: (acc[:, i], gyr[:, i]) for i, s in enumerate(segments)}
        walking = None if gyr_motion is None else {s: gyr_motion[:, i] for i, s in enumerate(segments)}
        return kinematics.calibrate(nominal, static=static, walking_rate_rad_s=walking)

    return ImuFrontend(stream_cfg, make, calibrate=calibrate, reset_gap_s=c.reset_gap_s, **still)
