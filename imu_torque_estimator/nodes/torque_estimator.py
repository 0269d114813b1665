"""torque_estimator node: segment kinematics -> RNN -> joint torques for the exoskeleton controller.

Subscribes (SensorDataQoS) to `<segment>/kinematics` for every segment of the model bundle's sensor
set, joins them by exact stamp and steps the streaming engine once per complete sample
(pipeline.torque_estimator.TorqueEstimatorCore: invalid samples, gaps and warm-up). Publishes `joint_torques`
(sensor_msgs/JointState: name = body.JOINTS, effort in N m = Nm/kg x body_mass_kg, stamp = the input
sample's stamp, position/velocity empty) and `/diagnostics` (warm-up state, model id, per-sample
latency stamp -> publish, processing time, rejected samples by reason).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Imu, JointState

from ..body import SENSOR_SETS
from ..pipeline import params
from ..pipeline.config import EstimatorConfig, model_dir
from ..pipeline.torque_estimator import FEATURES_PER_SEGMENT, TorqueEstimatorCore
from ..units import NS_PER_S
from . import common
from .common import ConfigError

NODE_NAME = "torque_estimator"
PARAMS = params.TORQUE_ESTIMATOR  # defined in pipeline/params.py (ROS-free)


def load_engine(model: str, sensor_set: str, rate_hz: float, feature_spec_id: str) -> Any:
    """Load and check a bundle against the running configuration; ConfigError on any mismatch."""
    from ..model.architectures import make_engine
    from ..model.bundle import BundleError, load_bundle

    path = model_dir(model, sensor_set)
    try:
        bundle = load_bundle(path, expect_sensor_set=sensor_set, expect_rate_hz=rate_hz,
                             expect_feature_spec=feature_spec_id)
    except BundleError as exc:
        raise ConfigError(str(exc)) from None
    return make_engine(bundle)


class TorqueEstimatorNode(Node):
    NODE_NAME = NODE_NAME

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, automatically_declare_parameters_from_overrides=False, **kwargs)
        p = common.declare_parameters(self, PARAMS)
        common.reject_unknown_parameters(self)
        from .. import kinematics

        self.segments = SENSOR_SETS[p["sensor_set"]]
        self.engine = load_engine(p["model"], p["sensor_set"], float(p["rate_hz"]),
                                  kinematics.FEATURE_SPEC_IDS[p["feature_frame"]])
        try:
            self.core = TorqueEstimatorCore(self.engine, EstimatorConfig.from_params(p))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        bundle = self.engine.bundle
        self.model_id = bundle.model_id
        self._joints = list(bundle.output_joints)
        self._msg = JointState(name=self._joints)
        self._pub = self.create_publisher(JointState, "joint_torques", common.sensor_qos(10))
        self._feat = np.empty(FEATURES_PER_SEGMENT)
        self._acc, self._gyr = self._feat[:3], self._feat[3:]  # views: decoded in place
        qos = common.sensor_qos(p["queue_depth"])
        for seg in self.segments:
            # raw CDR decoded by common.read_imu_raw: ~20x cheaper than message objects (hot path)
            self.create_subscription(Imu, f"{seg}/kinematics",
                                     lambda raw, s=seg: self._on_kinematics(s, raw), qos, raw=True)
        self._diag = common.DiagnosticsPublisher(self)
        self._lat_ns: list[int] = []
        self._proc_ns: list[int] = []
        self._published_at_last = 0
        self._last_diag_ns = self.get_clock().now().nanoseconds
        self.create_timer(p["diagnostics_period_s"], self._publish_diagnostics)
        self.get_logger().info(
            f"model {self.model_id} ({bundle.sensor_set}, {bundle.rate_hz:g} Hz, {bundle.path}); "
            f"{', '.join(f'{s}/kinematics' for s in self.segments)} -> joint_torques; "
            f"body mass {p['body_mass_kg']:g} kg")

    def _on_kinematics(self, segment: str, raw: bytes) -> None:
        t0 = time.perf_counter_ns()
        stamp_ns = common.read_imu_raw(raw, self._acc, self._gyr)
        out = self.core.push(segment, stamp_ns, self._feat)
        if out is None:
            return
        m = self._msg
        common.ns_to_time_msg(stamp_ns, m.header.stamp)
        m.effort = out.torque_nm.tolist()
        self._pub.publish(m)
        now = self.get_clock().now().nanoseconds
        self._lat_ns.append(now - stamp_ns)
        self._proc_ns.append(time.perf_counter_ns() - t0)

    def _publish_diagnostics(self) -> None:
        now = self.get_clock().now().nanoseconds
        st = self.core.status
        dt = max((now - self._last_diag_ns) / NS_PER_S, 1e-9)
        rate = (st.published - self._published_at_last) / dt
        self._last_diag_ns, self._published_at_last = now, st.published
        values: dict[str, Any] = {"model_id": self.model_id, "published": st.published, "rate_hz": rate,
                                  "warming_up": st.warming_up, "state_resets": st.resets,
                                  "gap_resets": st.gap_resets, "limited": st.limited}
        for reason, n in sorted(st.rejected.items()):
            values[f"rejected.{reason}"] = n
        for key, buf in (("latency", self._lat_ns), ("processing", self._proc_ns)):
            if buf:
                a = np.asarray(buf) / 1e6
                values[f"{key}_p50_ms"] = float(np.percentile(a, 50))
                values[f"{key}_p99_ms"] = float(np.percentile(a, 99))
                values[f"{key}_max_ms"] = float(a.max())
            buf.clear()
        if st.published == 0 and not st.rejected:
            level, message = common.WARN, "waiting for kinematics"
        elif st.warming_up:
            level, message = common.WARN, "warming up: no torques published until the RNN state is valid"
        elif sum(st.rejected.values()):
            level, message = common.WARN, f"estimating; {sum(st.rejected.values())} samples rejected"
        else:
            level, message = common.OK, "estimating"
        self._diag.publish([common.make_status(f"{self.get_name()}: estimator", level, message, values,
                                               hardware_id=self.model_id)])


def main(args: list[str] | None = None) -> int:
    return common.run_node(TorqueEstimatorNode, args, NODE_NAME)


if __name__ == "__main__":
    raise SystemExit(main())
