"""imu_driver node: publishes ONE sensor's raw IMU samples from a source (sim | replay | bag | xsens).

Topics (relative, so the node namespace applies):
- `<segment>/imu/data_raw` sensor_msgs/Imu (REP-145): specific force incl. gravity (m/s^2) and
  angular rate (rad/s) in the sensor frame, frame_id `<segment>_imu`, header.stamp = sample time,
  SensorDataQoS, covariances unknown (zeros), orientation_covariance[0] = -1 (no orientation).
- `joint_torques_truth` sensor_msgs/JointState (effort in Nm, body.JOINTS order): ground truth, from
  the pelvis driver of the `sim` source only (`truth_topic`, empty to disable).
- `/diagnostics`.
Paced by a wall-clock timer at `rate_hz`; stamps follow pipeline.sources.RecordedSource's rule (recording
time + a common anchor, so the drivers of a sensor set agree sample for sample).
"""

from __future__ import annotations

from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import Imu, JointState

from ..body import JOINTS, SEGMENTS
from ..pipeline.sources import SourceConfig, create_source, source_names
from ..units import NS_PER_S
from . import common
from .common import ConfigError, ParamSpec

NODE_NAME = "imu_driver"

PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("source", "sim", "where samples come from", choices=source_names()),
    ParamSpec("segment", "pelvis", "body segment the sensor is on (topic prefix)", choices=SEGMENTS),
    ParamSpec("rate_hz", 100, "output sample rate, Hz", choices=(100, 200)),
    ParamSpec("frame_id", "", "header.frame_id; empty = '<segment>_imu'"),
    ParamSpec("condition", "walk_1.2", "sim: gait condition, e.g. walk_1.2, run_3.0, walk_1.2_up10"),
    ParamSpec("seed", 0, "sim: random seed (subject style, mounting errors, noise); same for all drivers",
              range=(0, 2**31 - 1)),
    ParamSpec("n_strides", 20, "sim: strides in the trial before it loops", range=(1, 2000)),
    ParamSpec("standing_s", 2.0, "sim: quiet standing before the strides (calibration), s",
              range=(0.0, 20.0)),
    ParamSpec("cache_dir", "", "sim: cache of simulated recordings shared by the drivers; empty = "
              "~/.cache/imu_torque_estimator/sim, 'none' = no cache"),
    ParamSpec("imu_errors", "mti3", "sim: sensor error model", choices=("mti3", "ideal")),
    ParamSpec("subject_mass_kg", 75.0, "sim: body mass, kg", range=(45.0, 110.0)),
    ParamSpec("subject_height_m", 1.75, "sim: body height, m", range=(1.5, 1.95)),
    ParamSpec("subject_sex", "male", "sim: de Leva anthropometrics", choices=("male", "female")),
    ParamSpec("file", "", "replay/bag: recording path (.csv IMU CSV, .txt Xsens export, bag)"),
    ParamSpec("port", "", "xsens: serial port, e.g. /dev/ttyUSB0"),
    ParamSpec("baudrate", 921600, "xsens: serial baud rate", range=(9600, 4000000)),
    ParamSpec("loop", True, "sim/replay/bag: restart the recording at its end"),
    ParamSpec("start_stamp_s", 0.0, "sim/replay/bag: common stamp of the recording start, s since the "
              "epoch (same value for all drivers); 0 = epoch-aligned cycles", range=(0.0, 1.0e10)),
    ParamSpec("truth_topic", "joint_torques_truth", "sim: ground-truth torque topic, published by the "
              "pelvis driver only; empty = off"),
    ParamSpec("diagnostics_period_s", 1.0, "diagnostics publishing period, s", range=(0.1, 60.0)),
)


class ImuDriverNode(Node):
    NODE_NAME = NODE_NAME

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, automatically_declare_parameters_from_overrides=False, **kwargs)
        p = common.declare_parameters(self, PARAMS)
        common.reject_unknown_parameters(self)
        self.segment: str = p["segment"]
        self.rate_hz = float(p["rate_hz"])
        self.frame_id = p["frame_id"] or f"{self.segment}_imu"
        cfg = SourceConfig(
            segment=self.segment, rate_hz=self.rate_hz, seed=p["seed"], condition=p["condition"],
            n_strides=p["n_strides"], standing_s=p["standing_s"], imu_errors=p["imu_errors"],
            cache_dir=None if not p["cache_dir"] else ("" if p["cache_dir"] == "none" else p["cache_dir"]),
            subject_mass_kg=p["subject_mass_kg"], subject_height_m=p["subject_height_m"],
            subject_sex=p["subject_sex"], file=p["file"], port=p["port"], baudrate=p["baudrate"],
            loop=p["loop"], start_stamp_ns=int(round(p["start_stamp_s"] * NS_PER_S)))
        try:
            self.source = create_source(p["source"], cfg)
        except (ValueError, FileNotFoundError) as exc:
            raise ConfigError(str(exc)) from None
        self._topic = f"{self.segment}/imu/data_raw"
        self._pub = self.create_publisher(Imu, self._topic, common.sensor_qos(10))
        self._truth_pub = None
        if p["truth_topic"] and self.segment == "pelvis" and self.source.truth_joints:
            self._truth_pub = self.create_publisher(JointState, p["truth_topic"], 10)
            self._truth_msg = JointState(name=list(JOINTS))
        self._writer = common.ImuWriter(self.frame_id, with_orientation=False)  # CDR template, REP-145
        self._diag = common.DiagnosticsPublisher(self)
        self._error: str | None = None
        self._published = 0
        self._published_at_last_diag = 0
        self._last_diag_ns = self._now_ns()
        try:
            self.source.start(self._now_ns())
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.create_timer(1.0 / self.rate_hz, self._tick)
        self.create_timer(p["diagnostics_period_s"], self._publish_diagnostics)
        self.get_logger().info(f"publishing {self._topic} at {self.rate_hz:g} Hz from "
                               f"{self.source.description or p['source']}"
                               + (f"; truth on {p['truth_topic']}" if self._truth_pub else ""))

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _tick(self) -> None:
        try:
            samples = self.source.poll(self._now_ns())
        except (OSError, ValueError) as exc:  # device trouble: report, keep polling (reconnects)
            if self._error is None:
                self.get_logger().error(f"source error: {exc}")
            self._error = str(exc)
            return
        self._error = None
        for s in samples:
            self._pub.publish(self._writer.encode(s.stamp_ns, s.specific_force_m_s2, s.angular_rate_rad_s))
            if self._truth_pub is not None and s.joint_torques_nm is not None:
                tm = self._truth_msg
                common.ns_to_time_msg(s.truth_stamp_ns if s.truth_stamp_ns is not None else s.stamp_ns,
                                      tm.header.stamp)
                tm.effort = [float(v) for v in s.joint_torques_nm]
                self._truth_pub.publish(tm)
        self._published += len(samples)

    def _publish_diagnostics(self) -> None:
        now = self._now_ns()
        dt = max((now - self._last_diag_ns) / NS_PER_S, 1e-9)
        rate = (self._published - self._published_at_last_diag) / dt
        self._last_diag_ns, self._published_at_last_diag = now, self._published
        values: dict[str, Any] = {"topic": self._topic, "rate_hz": rate, "published": self._published,
                                  **self.source.stats()}
        if self._error is not None:
            level, message = common.ERROR, f"source error: {self._error}"
        elif self.source.finished:
            level, message = common.WARN, "recording finished"
        elif rate < 0.5 * self.rate_hz:
            level, message = common.WARN, f"publishing {rate:.1f} Hz, configured {self.rate_hz:g} Hz"
        else:
            level, message = common.OK, "publishing"
        self._diag.publish([common.make_status(f"{self.get_name()}: {self.segment} IMU", level, message,
                                               values, hardware_id=self.frame_id)])

    def close(self) -> None:
        self.source.close()


def main(args: list[str] | None = None) -> int:
    return common.run_node(ImuDriverNode, args, NODE_NAME)


if __name__ == "__main__":
    raise SystemExit(main())
