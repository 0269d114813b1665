"""segment_kinematics node: IMU streams of a sensor set -> per-segment CoM kinematics.

Subscribes (SensorDataQoS) to `<segment>/imu/data_raw` for every segment of `sensor_set`; aligns the
streams onto a common grid at `rate_hz` and rejects bad samples (pipeline.alignment); calibrates
(pipeline.calibration.StillCalibration: waiting_for_still -> calibrating -> calibrated, from a still standing
period followed by `functional_s` of walking, with kinematics.calibrate and the nominal mountings of
the subject's body model; or a calibration file); then steps kinematics.KinematicsEstimator once
per grid sample and publishes
`<segment>/kinematics` (sensor_msgs/Imu, identical stamps for all segments of a sample):
orientation = segment -> gravity-aligned frame (VQF), angular_velocity and linear_acceleration = the
estimator's features for the segment (kinematics.FEATURE_SPEC_ID: CoM specific force, i.e. CoM
acceleration minus gravity, and angular velocity, both in segment axes for the default frame).
Service `~/recalibrate` (std_srvs/Trigger). `/diagnostics`: output rate, dropped grid samples and
invalid samples per reason and sensor, silent/missing sensors and sensors that went stale since the
last report (ERROR), calibration state,
alignment lag, processing time.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Imu
from std_srvs.srv import Trigger

from ..body import SENSOR_SETS
from ..pipeline import params
from ..pipeline.calibration import CalibrationState
from ..pipeline.config import KinematicsConfig
from ..pipeline.segment_kinematics import build_frontend
from ..units import NS_PER_S
from . import common
from .common import ConfigError

NODE_NAME = "segment_kinematics"
PARAMS = params.SEGMENT_KINEMATICS  # defined in pipeline/params.py (ROS-free)


class SegmentKinematicsNode(Node):
    NODE_NAME = NODE_NAME

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, automatically_declare_parameters_from_overrides=False, **kwargs)
        p = common.declare_parameters(self, PARAMS)
        common.reject_unknown_parameters(self)
        from .. import kinematics as kin  # heavy (scipy, vqf): after the parameter checks

        self._kin = kin
        self.sensor_set: str = p["sensor_set"]
        self.segments = SENSOR_SETS[self.sensor_set]
        self.rate_hz = float(p["rate_hz"])
        self.frame = p["feature_frame"]
        self._startup_timeout_ns = int(p["startup_timeout_s"] * NS_PER_S)
        try:  # the same front end as offline evaluation (pipeline.segment_kinematics)
            self.frontend = build_frontend(KinematicsConfig.from_params(p))
        except (OSError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        self.aligner = self.frontend.aligner
        self.calib = self.frontend.calibration

        qos = common.sensor_qos(p["queue_depth"])
        self._topics = [f"{s}/imu/data_raw" for s in self.segments]
        self._acc = [np.empty(3) for _ in self.segments]
        self._gyr = [np.empty(3) for _ in self.segments]
        for i, topic in enumerate(self._topics):
            # raw: CDR bytes decoded by common.read_imu_raw (much cheaper than message objects)
            self.create_subscription(Imu, topic, lambda raw, i=i: self._on_imu(i, raw), qos, raw=True)
        self._pubs = [self.create_publisher(Imu, f"{s}/kinematics", common.sensor_qos(10))
                      for s in self.segments]
        frame_ids = [s if self.frame == "segment" else f"{s}_heading" for s in self.segments]
        self._writers = [common.ImuWriter(f, with_orientation=True) for f in frame_ids]
        self.create_service(Trigger, "~/recalibrate", self._on_recalibrate)
        self._diag = common.DiagnosticsPublisher(self)
        self._start_ns = self._now_ns()
        self._published_at_last_diag = 0
        self._last_diag_ns = self._start_ns
        self._proc_s_max = 0.0
        self._stale_reported: dict[str, int] = {}
        self._proc_s_sum = 0.0
        self._proc_n = 0
        self.create_timer(p["diagnostics_period_s"], self._publish_diagnostics)
        self.get_logger().info(f"{self.sensor_set}: {', '.join(self._topics)} -> <segment>/kinematics at "
                               f"{self.rate_hz:g} Hz; calibration: {self.calib.state.value}")

    # ------------------------------------------------------------------------------ pipeline
    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_imu(self, i: int, raw: bytes) -> None:
        t0 = time.perf_counter()
        acc, gyr = self._acc[i], self._gyr[i]
        stamp = common.read_imu_raw(raw, acc, gyr)
        fe, calibrated_before = self.frontend, self.calib.completed
        for stamp_ns, feats in fe.iter_push(i, stamp, acc, gyr, arrival_ns=self._now_ns()):
            assert fe.estimator is not None  # features come only from a calibrated frontend
            q = fe.estimator.orientation_wxyz
            for k, pub in enumerate(self._pubs):
                j = 6 * k
                pub.publish(self._writers[k].encode(stamp_ns, feats[j:j + 3], feats[j + 3:j + 6], q[k]))
        if self.calib.completed != calibrated_before:
            self.get_logger().info("calibrated: " + "; ".join(
                f"{k} {c.method} tilt {c.quality.get('static_tilt_correction_deg', 0.0):.1f} deg"
                for k, c in self.calib.calibration.items()))
        dt = time.perf_counter() - t0
        self._proc_s_sum += dt
        self._proc_n += 1
        self._proc_s_max = max(self._proc_s_max, dt)

    def _on_recalibrate(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.frontend.recalibrate()
        response.success = True
        response.message = "recalibrating: stand still"
        self.get_logger().info("recalibration requested: waiting for still standing")
        return response

    # --------------------------------------------------------------------------- diagnostics
    def _publish_diagnostics(self) -> None:
        now = self._now_ns()
        dt = max((now - self._last_diag_ns) / NS_PER_S, 1e-9)
        published = self.frontend.features_out
        rate = (published - self._published_at_last_diag) / dt
        self._last_diag_ns, self._published_at_last_diag = now, published
        al = self.aligner
        started = now - self._start_ns > self._startup_timeout_ns
        silent = al.silent_segments(now)
        never = [s for s, c in zip(self.segments, al.counters, strict=True) if c.received == 0]
        lagging = al.lagging_segments()
        # sensors that made grid points drop as stale since the last report (even if back by now)
        stale_now = {k: v for k, v in al.dropped.items() if k.startswith("stale:")}
        recent = [k.split(":", 1)[1] for k, v in stale_now.items() if v > self._stale_reported.get(k, 0)]
        self._stale_reported = stale_now
        values: dict[str, Any] = {
            "output_rate_hz": rate, "configured_rate_hz": self.rate_hz, "published": published,
            "grid_emitted": al.emitted, "dropped_samples": al.dropped_points,
            "alignment_lag_last_s": al.lag_s_last, "alignment_lag_max_s": al.lag_s_max,
            "estimator_resets": self.frontend.estimator_resets, "reanchors": al.reanchors,
            "processing_mean_s": self._proc_s_sum / max(self._proc_n, 1),
            "processing_max_s": self._proc_s_max,
        }
        for k, v in sorted(al.dropped.items()):
            values[f"dropped.{k}"] = v
        invalid_total = 0
        for seg, c in zip(self.segments, al.counters, strict=True):
            values[f"{seg}.received"] = c.received
            invalid_total += c.invalid_total
            for reason, n in c.invalid.items():
                if n:
                    values[f"{seg}.invalid.{reason}"] = n
        values["invalid_total"] = invalid_total
        if never and started:
            level, message = common.ERROR, f"no data on {', '.join(f'{s}/imu/data_raw' for s in never)}"
            values["missing_topics"] = ",".join(never)
            values["publishers"] = ",".join(f"{t}={self.count_publishers(t)}" for t in self._topics)
        elif recent or ((silent or lagging) and al.emitted + al.dropped_points > 0):
            stale = sorted(set(silent) | set(lagging) | set(recent), key=self.segments.index)
            level, message = common.ERROR, f"stale sensor(s): {', '.join(stale)}; output stopped"
            values["stale_segments"] = ",".join(stale)
        elif invalid_total or al.dropped_points:
            level, message = common.WARN, f"{invalid_total} invalid samples, {al.dropped_points} dropped"
        elif never:
            level, message = common.OK, "starting"
        else:
            level, message = common.OK, "streaming"
        cal_values: dict[str, Any] = {"state": self.calib.state.value, "phase": self.calib.phase,
                                      "motion_collected_s": self.calib.motion_samples / self.rate_hz,
                                      "attempts": self.calib.attempts, "completed": self.calib.completed}
        if self.calib.last_error:
            cal_values["last_error"] = self.calib.last_error
        if self.calib.calibration:
            for seg, c in self.calib.calibration.items():
                cal_values[f"{seg}.method"] = c.method
                for k, v in c.quality.items():
                    cal_values[f"{seg}.{k}"] = float(v)
            # the calibration in use, exactly (kinematics.calibrations_from_dict reads it back)
            cal_values["calibration_json"] = json.dumps(
                self._kin.calibrations_to_dict(self.calib.calibration))
        cal_level = common.OK if self.calib.state is CalibrationState.CALIBRATED else common.WARN
        name = self.get_name()
        self._diag.publish([
            common.make_status(f"{name}: streams", level, message, values, hardware_id=self.sensor_set),
            common.make_status(f"{name}: calibration", cal_level, self.calib.state.value, cal_values,
                               hardware_id=self.sensor_set),
        ])


def main(args: list[str] | None = None) -> int:
    return common.run_node(SegmentKinematicsNode, args, NODE_NAME)


if __name__ == "__main__":
    raise SystemExit(main())
