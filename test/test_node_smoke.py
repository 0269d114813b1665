"""Every node executable, as installed (what `ros2 run` and the launch files start), comes up, publishes
its diagnostics and shuts down cleanly on SIGINT (exit code 0, no traceback), without any optional
extra installed (torch, matplotlib, ezc3d, opensim are made unimportable in the node processes)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from installed import package_executable
from rosgraph import _env
from rosgraph import graph as graph
from test_bags import write_test_bag

from imu_torque_estimator import extras

BLOCKER = Path(__file__).resolve().parent / "extras_blocker"
EXECUTABLES = {  # executable -> (parameters, diagnostics status name after the node name)
    "imu_driver": ({"source": "sim", "segment": "pelvis", "n_strides": 2}, "pelvis IMU"),
    "segment_kinematics": ({"sensor_set": "3imu"}, "streams"),
    "torque_estimator": ({"sensor_set": "3imu"}, "estimator"),
    "bag_replay": ({"bag": "{tmp}/bag"}, "replay"),
}


def test_every_console_script_node_is_covered():
    """setup.py's node list and this test's list are the same set (a new node gets smoke-tested)."""
    import importlib.metadata

    scripts = {ep.name for ep in importlib.metadata.distribution("imu_torque_estimator").entry_points
               if ep.group == "console_scripts"}
    assert scripts - {"imu-torque"} == set(EXECUTABLES)


@pytest.mark.ros
@pytest.mark.parametrize("exe", sorted(EXECUTABLES))
def test_node_starts_and_stops_cleanly_on_sigint(exe, graph, tmp_path):
    params, status = EXECUTABLES[exe]
    if exe == "bag_replay":
        write_test_bag(tmp_path / "bag", n=200)
    name = f"smoke_{exe}"
    args = [str(package_executable(exe)), "--ros-args", "-r", f"__node:={name}"]
    for k, v in params.items():
        args += ["-p", f"{k}:={str(v).replace('{tmp}', str(tmp_path))}"]
    env = _env(graph.domain)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BLOCKER), env.get("PYTHONPATH", "")) if p)
    env["IMU_TORQUE_TEST_BLOCK"] = ",".join(extras.EXTRA_OF_MODULE)
    log = tmp_path / f"{exe}.log"
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    graph.procs.append((proc, log))  # the fixture kills it if this test fails half-way
    graph.wait_for(lambda: f"{name}: {status}" in graph.diag, 60.0, f"diagnostics of {exe}")
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"{exe} did not stop within 15 s of SIGINT\n{log.read_text()[-2000:]}") from None
    text = log.read_text()
    assert code == 0, f"{exe} exited {code} after SIGINT\n{text[-2000:]}"
    assert "Traceback" not in text, text[-2000:]
