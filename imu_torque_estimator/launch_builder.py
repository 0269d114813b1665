"""Builds the launch descriptions of launch/three_imu.launch.py and launch/seven_imu.launch.py.

One `imu_driver` per sensor (node name `<segment>_imu_driver`), one `segment_kinematics`, one
`torque_estimator`, all in `namespace`. Parameters are layered, later wins:
config/<set>.yaml (documented defaults) -> `params_file` (the user's YAML) -> launch arguments that
were given (an empty argument leaves the YAML value). Every argument and YAML key is checked before
any node starts (`resolve_configuration`), so a bad setup stops the launch with one message naming
the problem instead of failing in one of ten node processes.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import yaml

from .body import SENSOR_SETS
from .paths import default_model_dir, share_dir

SOURCES = ("sim", "replay", "bag", "xsens")
CONFIG_FILES = {"3imu": "three_imu.yaml", "7imu": "seven_imu.yaml"}


class LaunchConfigError(RuntimeError):
    """A launch argument or parameter file problem; the message names it."""


def driver_node_name(segment: str) -> str:
    return f"{segment}_imu_driver"


def declared_parameters() -> dict[str, set[str]]:
    """Node executable -> declared parameter names (from the nodes' ParamSpec tables)."""
    from .nodes import imu_driver, segment_kinematics, torque_estimator

    tables = {"imu_driver": imu_driver.PARAMS, "segment_kinematics": segment_kinematics.PARAMS,
              "torque_estimator": torque_estimator.PARAMS}
    return {exe: {p.name for p in specs} | {"use_sim_time"} for exe, specs in tables.items()}


def node_executables(sensor_set: str) -> dict[str, str]:
    """Node name -> executable for a sensor set."""
    out = {driver_node_name(s): "imu_driver" for s in SENSOR_SETS[sensor_set]}
    out.update(segment_kinematics="segment_kinematics", torque_estimator="torque_estimator")
    return out


def load_params_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a ROS 2 parameter YAML -> {node-name pattern: {param: value}}; LaunchConfigError if unusable.

    Keys may be plain node names or ROS wildcards (`/**`, `/**/*_imu_driver`); the namespace part is
    dropped because the launch applies the file to the nodes it starts, whatever their namespace."""
    p = Path(path)
    if not p.is_file():
        raise LaunchConfigError(f"params_file {p} does not exist")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise LaunchConfigError(f"params_file {p} is not valid YAML: {' '.join(str(exc).split())}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise LaunchConfigError(f"params_file {p}: top level must map node names to ros__parameters")
    out: dict[str, dict[str, Any]] = {}
    for node, body in doc.items():
        params = body.get("ros__parameters") if isinstance(body, dict) else None
        if not isinstance(params, dict):
            raise LaunchConfigError(f"params_file {p}: node '{node}' has no 'ros__parameters' mapping")
        key = str(node).strip("/")
        key = "*" if key in ("**", "") else key.split("/")[-1]
        out[key] = params
    return out


def check_params(params: dict[str, dict[str, Any]], sensor_set: str, origin: str) -> None:
    """Every node pattern in `params` matches a node of this setup that declares every key given."""
    exes = node_executables(sensor_set)
    declared = declared_parameters()
    for pattern, values in params.items():
        nodes = [n for n in exes if fnmatch.fnmatchcase(n, pattern)]
        if not nodes:
            raise LaunchConfigError(f"{origin}: '{pattern}' matches no node of the {sensor_set} setup; "
                                    f"nodes are {sorted(exes)}")
        for node in nodes:
            unknown = sorted(set(values) - declared[exes[node]])
            if unknown and pattern != "*":
                raise LaunchConfigError(f"{origin}: unknown parameter(s) {unknown} for node '{node}'; "
                                        f"declared: {sorted(declared[exes[node]])}")
        if pattern == "*":
            common = set.intersection(*(declared[exes[n]] for n in nodes))
            if set(values) - common:
                raise LaunchConfigError(f"{origin}: parameter(s) {sorted(set(values) - common)} under "
                                        f"'/**' are not declared by every node")


def merged_parameters(layers: list[dict[str, dict[str, Any]]], sensor_set: str) -> dict[str, dict[str, Any]]:
    """Per-node parameters from YAML layers (later layers win, exact names over wildcards)."""
    out: dict[str, dict[str, Any]] = {}
    for node in node_executables(sensor_set):
        eff: dict[str, Any] = {}
        for layer in layers:
            for pattern in sorted(layer, key=lambda k: (k != "*", "*" not in k)):
                if fnmatch.fnmatchcase(node, pattern):
                    eff.update(layer[pattern])
        out[node] = eff
    return out


def _check_model(model: str, sensor_set: str) -> Path:
    path = Path(model) if model else default_model_dir(sensor_set)
    cfg = path / "config.json"
    if not cfg.is_file():
        raise LaunchConfigError(f"model {path}: no model bundle there (missing {cfg.name})")
    try:
        got = json.loads(cfg.read_text()).get("sensor_set")
    except (OSError, ValueError) as exc:
        raise LaunchConfigError(f"model {path}: unreadable bundle.json ({exc})") from None
    if got != sensor_set:
        raise LaunchConfigError(f"model {path} is for sensor set {got!r} but this launch file runs "
                                f"{sensor_set!r}: use the {'seven' if got == '7imu' else 'three'}_imu "
                                f"launch file or a {sensor_set} model")
    return path


def _check_port(port: str, segment: str) -> None:
    if not port:
        raise LaunchConfigError(f"source:=xsens needs the serial port of the {segment} sensor: "
                                f"port_{segment}:=/dev/ttyUSBx")
    try:
        import serial

        serial.Serial(port, timeout=0).close()
    except (OSError, ValueError, ImportError) as exc:  # serial.SerialException is an OSError
        raise LaunchConfigError(f"port_{segment}: cannot open {port}: {' '.join(str(exc).split())}") from None


def resolve_configuration(sensor_set: str, args: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Validate launch arguments + YAML files; return each node's effective parameters.

    `args`: the launch arguments as strings ('' = not given) plus `defaults_file`."""
    defaults_file = Path(args["defaults_file"])
    layers = [load_params_file(defaults_file)]
    check_params(layers[0], sensor_set, str(defaults_file))
    if args.get("params_file"):
        layers.append(load_params_file(args["params_file"]))
        check_params(layers[1], sensor_set, args["params_file"])
    eff = merged_parameters(layers, sensor_set)
    drivers = [driver_node_name(s) for s in SENSOR_SETS[sensor_set]]
    try:
        if args.get("rate_hz"):
            for node in eff:
                eff[node]["rate_hz"] = int(float(args["rate_hz"]))
        if args.get("body_mass_kg"):
            mass = float(args["body_mass_kg"])
            eff["torque_estimator"]["body_mass_kg"] = mass
            eff["segment_kinematics"]["subject_mass_kg"] = mass
    except ValueError as exc:
        raise LaunchConfigError(f"body_mass_kg and rate_hz must be numbers ({exc})") from None
    for seg, node in zip(SENSOR_SETS[sensor_set], drivers, strict=True):
        d = eff[node]
        d["segment"] = seg
        if args.get("source"):
            d["source"] = args["source"]
        if args.get("file"):
            d["file"] = args["file"]
        if args.get(f"port_{seg}"):
            d["port"] = args[f"port_{seg}"]
    if args.get("model"):
        eff["torque_estimator"]["model"] = args["model"]
    for node in ("segment_kinematics", "torque_estimator"):
        eff[node]["sensor_set"] = sensor_set

    # --- the effective configuration must be runnable
    source = eff[drivers[0]].get("source", "sim")
    if source not in SOURCES:
        raise LaunchConfigError(f"unknown source {source!r}; choose one of {list(SOURCES)}")
    rates = {int(v.get("rate_hz", 100)) for v in eff.values()}
    if not rates <= {100, 200} or len(rates) != 1:
        raise LaunchConfigError(f"rate_hz must be 100 or 200 and equal for every node, got {sorted(rates)}")
    mass = float(eff["torque_estimator"].get("body_mass_kg", 75.0))
    if not 1.0 <= mass <= 300.0:
        raise LaunchConfigError(f"body_mass_kg must be within 1..300 kg, got {mass:g}")
    model = _check_model(str(eff["torque_estimator"].get("model", "")), sensor_set)
    eff["torque_estimator"]["model"] = str(model)
    for seg, node in zip(SENSOR_SETS[sensor_set], drivers, strict=True):
        d = eff[node]
        if d.get("source", "sim") in ("replay", "bag"):
            if not d.get("file"):
                raise LaunchConfigError(f"source:={source} needs file:=<recording>")
            if not Path(d["file"]).exists():
                raise LaunchConfigError(f"file {d['file']} does not exist")
        if d.get("source") == "xsens":
            _check_port(str(d.get("port", "")), seg)
    return eff


def generate(sensor_set: str):  # -> launch.LaunchDescription
    """The launch description for a sensor set ('3imu' | '7imu')."""
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration

    segments = SENSOR_SETS[sensor_set]
    defaults_file = share_dir() / "config" / CONFIG_FILES[sensor_set]
    declared = [
        DeclareLaunchArgument("source", default_value="", description="sim | replay | bag | xsens "
                              "(empty = the YAML value, sim in the shipped config)"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of all nodes/topics"),
        DeclareLaunchArgument("body_mass_kg", default_value="", description="wearer's mass, kg "
                              "(empty = the YAML value)"),
        DeclareLaunchArgument("model", default_value="",
                              description=f"model bundle dir; empty = shipped models/{sensor_set}"),
        DeclareLaunchArgument("rate_hz", default_value="", description="IMU and output rate: 100 | 200 "
                              "(empty = the YAML value)"),
        DeclareLaunchArgument("params_file", default_value="",
                              description="your YAML (keyed by node name) overriding config defaults"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="use /clock (bag replay)"),
        DeclareLaunchArgument("file", default_value="", description="replay/bag source: recording path"),
        *(DeclareLaunchArgument(f"port_{s}", default_value="", description=f"xsens: serial port of {s}")
          for s in segments),
    ]
    names = ["source", "namespace", "body_mass_kg", "model", "rate_hz", "params_file", "use_sim_time",
             "file", *(f"port_{s}" for s in segments)]

    def setup(context, *_a, **_k):
        from launch_ros.actions import Node

        args = {n: LaunchConfiguration(n).perform(context) for n in names}
        args["defaults_file"] = str(defaults_file)
        params = resolve_configuration(sensor_set, args)
        sim_time = args["use_sim_time"].lower() in ("1", "true", "yes")
        actions = []
        for node_name, exe in node_executables(sensor_set).items():
            actions.append(Node(
                package="imu_torque_estimator", executable=exe, name=node_name,
                namespace=args["namespace"], output="screen", emulate_tty=True,
                parameters=[{**params[node_name], "use_sim_time": sim_time}],
            ))
        return actions

    return LaunchDescription([*declared, OpaqueFunction(function=setup)])
