"""Launch configuration: shipped YAMLs match the nodes' declarations; every bad input named in issue 7
(unknown source, missing or invalid params_file, unknown key, model/sensor-set mismatch, port that
cannot be opened) stops with one clear message before any node starts."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from helpers_bundle import make_bundle
from installed import ros2_command
from rosgraph import _env

from imu_torque_estimator.body import SENSOR_SETS
from imu_torque_estimator.pipeline import config as lb

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    return {s: make_bundle(root / s, s) for s in SENSOR_SETS}


def _args(sensor_set, bundles, **kw):
    args = {"source": "", "namespace": "", "body_mass_kg": "", "model": str(bundles[sensor_set]),
            "rate_hz": "", "params_file": "", "use_sim_time": "false", "file": "",
            "defaults_file": str(REPO / "config" / f"{lb.file_stem(sensor_set)}.yaml")}
    args.update(kw)
    return args


def test_shipped_config_is_generated_from_the_node_declarations():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import gen_config
    finally:
        sys.path.pop(0)
    for sensor_set in SENSOR_SETS:
        name = f"{lb.file_stem(sensor_set)}.yaml"
        assert (REPO / "config" / name).read_text() == gen_config.render(sensor_set), \
            f"config/{name} is stale: run scripts/gen_config.py"


@pytest.mark.parametrize("sensor_set", list(SENSOR_SETS))
def test_every_declared_parameter_is_in_the_shipped_yaml_and_every_key_is_declared(sensor_set):
    params = lb.load_params_file(REPO / "config" / f"{lb.file_stem(sensor_set)}.yaml")
    lb.check_params(params, sensor_set, "shipped")  # raises on any undeclared key
    eff = lb.merged_parameters([params], sensor_set)
    declared = lb.declared_parameters()
    for node, exe in lb.node_executables(sensor_set).items():
        assert set(eff[node]) == declared[exe] - {"use_sim_time"}, node


@pytest.mark.parametrize("sensor_set", list(SENSOR_SETS))
def test_resolved_configuration_layers_yaml_then_arguments(sensor_set, bundles, tmp_path):
    user = tmp_path / "user.yaml"
    user.write_text("torque_estimator:\n  ros__parameters:\n    body_mass_kg: 61.5\n"
                    "/**/*_imu_driver:\n  ros__parameters:\n    condition: run_3.0\n")
    eff = lb.resolve_configuration(sensor_set, _args(sensor_set, bundles, params_file=str(user)))
    assert eff["torque_estimator"]["body_mass_kg"] == 61.5  # YAML wins over the default
    assert eff["torque_estimator"]["sensor_set"] == sensor_set
    assert all(eff[lb.driver_node_name(s)]["condition"] == "run_3.0" for s in SENSOR_SETS[sensor_set])
    assert [eff[lb.driver_node_name(s)]["segment"] for s in SENSOR_SETS[sensor_set]] == \
        list(SENSOR_SETS[sensor_set])
    eff = lb.resolve_configuration(sensor_set, _args(sensor_set, bundles, params_file=str(user),
                                                     body_mass_kg="90", rate_hz="200"))
    assert eff["torque_estimator"]["body_mass_kg"] == 90.0  # a given argument wins over YAML
    assert {v["rate_hz"] for v in eff.values()} == {200}


def _error(sensor_set, bundles, **kw) -> str:
    with pytest.raises(lb.ConfigError) as exc:
        lb.resolve_configuration(sensor_set, _args(sensor_set, bundles, **kw))
    return str(exc.value)


def test_unknown_source(bundles):
    assert "unknown source 'usb'" in _error("3imu", bundles, source="usb")


def test_missing_params_file(bundles, tmp_path):
    assert "does not exist" in _error("3imu", bundles, params_file=str(tmp_path / "nope.yaml"))


def test_invalid_yaml(bundles, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("torque_estimator:\n  ros__parameters: [unclosed\n")
    assert "not valid YAML" in _error("3imu", bundles, params_file=str(bad))


def test_unknown_parameter_key_is_named(bundles, tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("torque_estimator:\n  ros__parameters:\n    body_mass: 70.0\n")
    msg = _error("3imu", bundles, params_file=str(bad))
    assert "unknown parameter(s) ['body_mass']" in msg and "torque_estimator" in msg


def test_node_that_is_not_in_the_setup(bundles, tmp_path):
    bad = tmp_path / "thigh.yaml"
    bad.write_text("thigh_l_imu_driver:\n  ros__parameters:\n    port: /dev/ttyUSB3\n")
    assert "matches no node of the 3imu setup" in _error("3imu", bundles, params_file=str(bad))


def test_model_for_another_sensor_set(bundles):
    msg = _error("3imu", bundles, model=str(bundles["7imu"]))
    assert "is for sensor set '7imu'" in msg and "seven_imu" in msg


def test_missing_model(bundles, tmp_path):
    assert "no model bundle there" in _error("7imu", bundles, model=str(tmp_path / "none"))


def test_xsens_port_that_cannot_be_opened(bundles):
    msg = _error("3imu", bundles, source="xsens", port_pelvis="/dev/does_not_exist",
                 port_shank_l="/dev/does_not_exist", port_shank_r="/dev/does_not_exist")
    assert "port_pelvis: cannot open /dev/does_not_exist" in msg


def test_xsens_without_port(bundles):
    assert "port_pelvis:=" in _error("3imu", bundles, source="xsens")


def test_replay_without_file(bundles):
    assert "needs file:=" in _error("3imu", bundles, source="replay")


@pytest.mark.ros
def test_ros2_launch_stops_with_one_clear_message(bundles, tmp_path):
    """The real `ros2 launch` prints the builder's message once and starts no node."""
    bad = tmp_path / "typo.yaml"
    bad.write_text("segment_kinematics:\n  ros__parameters:\n    rate: 100\n")
    env = {**_env(random.randint(1, 200)), "HOME": str(tmp_path), "ROS_LOG_DIR": str(tmp_path / "log")}
    out = subprocess.run([ros2_command(), "launch", "imu_torque_estimator",
                          "three_imu.launch.py", f"params_file:={bad}", f"model:={bundles['3imu']}"],
                         capture_output=True, text=True, timeout=60, env=env)
    text = out.stdout + out.stderr
    assert "unknown parameter(s) ['rate'] for node 'segment_kinematics'" in text
    assert text.count("Caught exception in launch") == 1
    assert "process started" not in text
