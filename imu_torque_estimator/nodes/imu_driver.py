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

from ..body import JOINTS
from ..pipeline import params
from ..pipeline.sources import SourceConfig, create_source
from ..units import NS_PER_S
from . import common
from .common import ConfigError

NODE_NAME = "imu_driver"
PARAMS = params.IMU_DRIVER  # defined in pipeline/params.py (ROS-free, shared with config and gen_config)


class ImuDriverNode(Node):
    NODE_NAME = NODE_NAME

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, automatically_declare_parameters_from_overrides=False, **kwargs)
        p = common.declare_parameters(self, PARAMS)
        common.reject_unknown_parameters(self)
        self.segment: str = p["segment"]
        self.rate_hz = float(p["rate_hz"])
        self.frame_id = p["frame_id"] or f"{self.segment}_imu"
        cfg = SourceConfig.from_params(p)
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
