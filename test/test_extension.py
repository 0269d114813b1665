"""Extension points (issue 12): a new sensor set and a new IMU vendor join through the registries
alone. test/dummy_plugin.py adds sensor set `duo` (pelvis + right thigh) with a tiny random bundle,
and vendor source `fakestation` whose one device serves both sensors; both run through the offline
pipeline and through a graph of the package's real nodes exchanging real messages. Plus the bad
inputs of the registries: an unknown sensor set, an unregistered source, a bundle of an unknown
architecture kind: one message naming the valid choices, from one place each."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import dummy_plugin as dp
import numpy as np
import pytest
import yaml
from helpers_bundle import make_bundle

from imu_torque_estimator import body
from imu_torque_estimator.pipeline import config as C
from imu_torque_estimator.pipeline import sources
from imu_torque_estimator.pipeline.sources import SourceConfig

TEST_DIR = Path(__file__).resolve().parent


@pytest.fixture
def registered(monkeypatch):
    """The dummy set and vendor, registered for this test only (restored afterwards)."""
    monkeypatch.setitem(body.SENSOR_SETS, dp.SET_NAME, dp.SEGMENTS)
    monkeypatch.setattr(sources, "_REGISTRY", dict(sources._REGISTRY))
    sources.register_source(dp.SOURCE, dp.fakestation_source)
    monkeypatch.setattr(dp.FakeStation, "opened", 0)


@pytest.fixture
def duo_bundle(registered, tmp_path):
    return make_bundle(tmp_path / "duo_model", dp.SET_NAME, hidden=8)


def _record_station(seconds: float, rate_hz: float = 100.0) -> dict[str, tuple[np.ndarray, ...]]:
    """Poll the fakestation sources of both sensors on a virtual clock: stamps, force, rate per sensor."""
    clock = {"ns": 1_700_000_000 * 10**9}
    extra = {"clock_ns": lambda: clock["ns"]}
    srcs = {s: sources.create_source(dp.SOURCE, SourceConfig(s, rate_hz, extra=extra)) for s in dp.SEGMENTS}
    for src in srcs.values():
        src.start(clock["ns"])
    assert dp.FakeStation.opened == 1  # one station session serves both sensors
    got: dict[str, list] = {s: [] for s in dp.SEGMENTS}
    for _ in range(int(seconds * rate_hz)):
        for s, src in srcs.items():
            got[s] += src.poll(clock["ns"])
        clock["ns"] += int(1e9 / rate_hz)
    for src in srcs.values():
        src.close()
    return {s: (np.array([x.stamp_ns for x in v]), np.array([x.specific_force_m_s2 for x in v]),
                np.array([x.angular_rate_rad_s for x in v])) for s, v in got.items()}


def test_dummy_set_and_vendor_run_through_the_offline_pipeline(duo_bundle, tmp_path):
    from imu_torque_estimator.data.bags import BagWriter
    from imu_torque_estimator.pipeline.offline import OfflineConfig, evaluate_bag

    rec = _record_station(4.0)
    assert all(len(v[0]) == 400 for v in rec.values())
    np.testing.assert_array_equal(rec["pelvis"][0], rec["thigh_r"][0])  # one device clock for both
    bag = tmp_path / "duo_bag"
    with BagWriter(bag, metadata={"sensor_set": dp.SET_NAME, "rate_hz": 100.0, "body_mass_kg": 70.0}) as w:
        for s, (stamp, f, g) in rec.items():
            w.write_imu(s, stamp, f, g)
    cfg = OfflineConfig(overrides={"segment_kinematics": {"functional_s": 0.0}})
    res = evaluate_bag(bag, duo_bundle, cfg)
    rep = res.report
    assert rep["sensor_set"] == dp.SET_NAME and rep["calibration_state"] == "calibrated"
    assert rep["imu_invalid_total"] == 0 and rep["grid_dropped_total"] == 0
    # 400 grid samples: 100 calibrate (still_s 1 s), 50 warm up (warmup_s 0.5 s), 250 torques
    assert rep["samples_calibrating"] == 100 and len(res.stamp_ns) == 250
    assert res.joints == body.JOINTS and np.isfinite(res.torque_nm).all()
    np.testing.assert_allclose(res.torque_nm, res.torque_nm_per_kg * 70.0)


def test_dummy_set_derives_launch_configuration_from_the_registries(duo_bundle):
    eff = C.resolve_configuration(dp.SET_NAME, {"source": dp.SOURCE, "model": str(duo_bundle)})
    assert set(eff) == {"pelvis_imu_driver", "thigh_r_imu_driver", "segment_kinematics", "torque_estimator"}
    assert {eff[f"{s}_imu_driver"]["source"] for s in dp.SEGMENTS} == {dp.SOURCE}
    assert eff["segment_kinematics"]["sensor_set"] == dp.SET_NAME
    assert C.launch_command(dp.SET_NAME) == f"imu_pipeline.launch.py sensor_set:={dp.SET_NAME}"
    sys.path.insert(0, str(TEST_DIR.parent / "scripts"))
    try:
        import gen_config
    finally:
        sys.path.pop(0)
    text = gen_config.render(dp.SET_NAME)  # what `scripts/gen_config.py` would write as config/duo.yaml
    assert "thigh_r_imu_driver:" in text and f"[3imu | 7imu | {dp.SET_NAME}]" in text
    assert f"[sim | replay | xsens | bag | {dp.SOURCE}]" in text


@pytest.mark.ros
def test_dummy_set_and_vendor_run_as_a_node_graph(duo_bundle, tmp_path):
    """Two imu_driver nodes on the fake station, segment_kinematics and torque_estimator for `duo`
    (node processes: dummy_plugin.py registers, then runs the package's node main)."""
    from rosgraph import Graph
    from sensor_msgs.msg import JointState

    from imu_torque_estimator.nodes.common import sensor_qos

    user = tmp_path / "user.yaml"
    user.write_text("segment_kinematics:\n  ros__parameters:\n    functional_s: 0.0\n")
    eff = C.resolve_configuration(dp.SET_NAME, {"source": dp.SOURCE, "model": str(duo_bundle),
                                                "params_file": str(user)})
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({n: {"ros__parameters": p} for n, p in eff.items()}))
    g = Graph(tmp_path)
    got: list[JointState] = []
    g.node.create_subscription(JointState, "/joint_torques", got.append, sensor_qos(100))
    try:
        for node, exe in C.node_executables(dp.SET_NAME).items():
            g.start_cmd([sys.executable, str(TEST_DIR / "dummy_plugin.py"), exe, "--ros-args", "-r",
                         f"__node:={node}", "--params-file", str(params)], node)
        g.wait_for(lambda: len(got) >= 100, 120, "100 joint_torques from the duo graph")
        msgs = list(got)
    finally:
        g.close()
    logs = "\n".join(p.read_text() for p in tmp_path.glob("*.log"))
    assert "fake station pelvis" in logs and "fake station thigh_r" in logs
    stamps = np.array([m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in msgs])
    assert np.all(np.diff(stamps) > 0) and np.all(stamps % 10_000_000 == 0)  # the station's 100 Hz grid
    assert all(list(m.name) == list(body.JOINTS) for m in msgs)
    assert np.isfinite(np.array([m.effort for m in msgs])).all()


# ------------------------------------------------------------------------------------ bad inputs
def test_unknown_sensor_set_names_the_registered_sets_from_one_place(registered):
    with pytest.raises(ValueError) as ref:
        body.sensor_set("9imu")
    expected = str(ref.value)
    assert "'duo'" in expected and "'3imu'" in expected  # the registry as it is now
    with pytest.raises(C.ConfigError) as exc:
        C.resolve_configuration("9imu", {})
    assert str(exc.value) == expected
    with pytest.raises(C.ConfigError) as exc:
        C.KinematicsConfig.from_params(sensor_set="9imu")
    assert str(exc.value) == expected


def test_unregistered_source_names_the_registered_sources_from_one_place(duo_bundle):
    with pytest.raises(ValueError) as ref:
        sources.check_source_name("usb")
    expected = str(ref.value)
    assert f"'{dp.SOURCE}'" in expected and "'sim'" in expected
    with pytest.raises(ValueError) as exc:
        sources.create_source("usb", SourceConfig("pelvis"))
    assert str(exc.value) == expected
    with pytest.raises(C.ConfigError) as exc:
        C.resolve_configuration(dp.SET_NAME, {"source": "usb", "model": str(duo_bundle)})
    assert str(exc.value) == expected


def test_bundle_of_an_unknown_architecture_kind(tmp_path):
    from imu_torque_estimator.model.architectures import architecture
    from imu_torque_estimator.model.bundle import BundleError, load_bundle

    bad = tmp_path / "bad"
    shutil.copytree(make_bundle(tmp_path / "ok", "3imu", hidden=8), bad)
    cfg = json.loads((bad / "config.json").read_text())
    cfg["network"]["cell"] = "transformer"
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError) as ref:
        architecture("transformer")
    expected = str(ref.value)
    assert "'gru'" in expected and "'lstm'" in expected
    with pytest.raises(BundleError) as exc:
        load_bundle(bad)
    assert str(exc.value) == f"model bundle {bad}: {expected}"
    with pytest.raises(C.ConfigError) as exc:
        C.resolve_configuration("3imu", {"model": str(bad)})
    assert expected in str(exc.value)


@pytest.mark.ros
def test_launch_with_an_unknown_sensor_set_stops_with_one_message(tmp_path):
    """`ros2 launch imu_pipeline.launch.py sensor_set:=9imu`: body.sensor_set's message once, no node."""
    import subprocess

    with pytest.raises(ValueError) as ref:
        body.sensor_set("9imu")
    repo = TEST_DIR.parent
    env = {"AMENT_PREFIX_PATH": str(repo / ".venv"), "PATH": str(repo / ".venv" / "bin") + ":/usr/bin:/bin",
           "HOME": str(tmp_path), "ROS_LOG_DIR": str(tmp_path / "log")}
    out = subprocess.run([str(repo / ".venv/bin/ros2"), "launch", "imu_torque_estimator",
                          "imu_pipeline.launch.py", "sensor_set:=9imu"],
                         capture_output=True, text=True, timeout=60, env=env)
    text = out.stdout + out.stderr
    assert str(ref.value) in text and text.count("Caught exception in launch") == 1, text
    assert "process started" not in text
