"""Launch descriptions of launch/imu_pipeline.launch.py (any sensor set, `sensor_set:=`) and of its thin
wrappers launch/three_imu.launch.py and launch/seven_imu.launch.py (launch-side only).

One `imu_driver` per sensor (node name `<segment>_imu_driver`), one `segment_kinematics`, one
`torque_estimator`, all in `namespace`. Parameters are layered and checked by
pipeline.config.resolve_configuration before any node starts (an unknown sensor set or source, a bad
YAML key, a model for another set... stops the launch with one message).
"""

from __future__ import annotations

from typing import Any

from .body import SEGMENTS, SENSOR_SETS
from .pipeline import config as C
from .pipeline.params import RATES_HZ

# Launch arguments of the generic launch file (port_<segment> for every segment it may run).
_ARGS = ("sensor_set", "source", "namespace", "body_mass_kg", "model", "rate_hz", "params_file",
         "use_sim_time", "file")


def generate(sensor_set: str | None = None):  # -> launch.LaunchDescription
    """The launch description for a sensor set; None = the set comes from the `sensor_set` argument."""
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration

    from .pipeline.sources import source_names

    if sensor_set is not None:
        C.check_sensor_set(sensor_set)
    segments = SENSOR_SETS[sensor_set] if sensor_set is not None else SEGMENTS
    declared = [
        DeclareLaunchArgument("source", default_value="", description=f"{' | '.join(source_names())} "
                              "(empty = the YAML value, sim in the shipped config)"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of all nodes/topics"),
        DeclareLaunchArgument("body_mass_kg", default_value="", description="wearer's mass, kg "
                              "(empty = the YAML value)"),
        DeclareLaunchArgument("model", default_value="", description="model bundle dir; empty = shipped "
                              f"models/{sensor_set or '<sensor_set>'}"),
        DeclareLaunchArgument("rate_hz", default_value="", description=f"IMU and output rate: "
                              f"{' | '.join(str(r) for r in RATES_HZ)} (empty = the YAML value)"),
        DeclareLaunchArgument("params_file", default_value="",
                              description="your YAML (keyed by node name) overriding config defaults"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (bag replay)"),
        DeclareLaunchArgument("file", default_value="", description="replay/bag source: recording path"),
        *(DeclareLaunchArgument(f"port_{s}", default_value="", description=f"xsens: serial port of {s}")
          for s in segments),
    ]
    if sensor_set is None:
        declared.insert(0, DeclareLaunchArgument(
            "sensor_set", description=f"sensor set to run: {' | '.join(SENSOR_SETS)} (body.SENSOR_SETS)"))

    def setup(context: Any, *_a: Any, **_k: Any) -> list[Any]:
        from launch_ros.actions import Node

        args = {n: LaunchConfiguration(n).perform(context) for n in _ARGS if n != "sensor_set"}
        set_name = sensor_set or LaunchConfiguration("sensor_set").perform(context)
        C.check_sensor_set(set_name)
        args.update({f"port_{s}": LaunchConfiguration(f"port_{s}", default="").perform(context)
                     for s in SENSOR_SETS[set_name]})
        params = C.resolve_configuration(set_name, args)
        sim_time = args["use_sim_time"].lower() in ("1", "true", "yes")
        def node(node_name: str, exe: str) -> Any:
            node_params: dict[Any, Any] = {**params[node_name], "use_sim_time": sim_time}
            return Node(package="imu_torque_estimator", executable=exe, name=node_name,
                        namespace=args["namespace"], output="screen", emulate_tty=True,
                        parameters=[node_params])

        return [node(n, exe) for n, exe in C.node_executables(set_name).items()]

    return LaunchDescription([*declared, OpaqueFunction(function=setup)])
