"""Shared harness for tests with real nodes: subprocess nodes on a private ROS domain plus an
in-process probe node (own rclpy context) that collects /diagnostics."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from installed import ament_prefix_path, ros2_command  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _env(domain: int) -> dict[str, str]:
    env = dict(os.environ)
    # let the venv's ROS wheel bootstrapper rebuild LD_LIBRARY_PATH in the child: importing opensim
    # in this process (other test modules) overwrites LD_LIBRARY_PATH, which breaks rclpy's libraries
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    env.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               AMENT_PREFIX_PATH=ament_prefix_path(), PYTHONUNBUFFERED="1")
    return env


class Graph:
    """Subprocess nodes + an in-process rclpy node (own context) on a private domain."""

    def __init__(self, tmp_path: Path) -> None:
        self.domain = random.randint(1, 200)
        self.tmp = tmp_path
        self.procs: list[tuple[subprocess.Popen, Path]] = []
        self.sessions: list[int] = []  # process groups of `ros2 launch` runs
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=self.domain)
        self.node = rclpy.create_node("h7_test_probe", context=self.ctx)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.lock = threading.Lock()
        self.diag: dict[str, dict[str, str]] = {}
        self.diag_level: dict[str, int] = {}
        self.diag_history: list[tuple[str, int, str]] = []
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._stop = False
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop and self.ctx.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        with self.lock:
            for st in msg.status:
                self.diag[st.name] = {kv.key: kv.value for kv in st.values}
                self.diag_level[st.name] = st.level[0]
                self.diag_history.append((st.name, st.level[0], st.message))

    def start(self, module: str, name: str, params: dict) -> subprocess.Popen:
        args = [sys.executable, "-m", f"imu_torque_estimator.nodes.{module}", "--ros-args", "-r",
                f"__node:={name}"]
        for k, v in params.items():
            args += ["-p", f"{k}:={v}"]
        return self.start_cmd(args, name)

    def start_cmd(self, args: list[str], name: str) -> subprocess.Popen:
        """Any command on this graph's domain; its output goes to <tmp>/<name>.log."""
        log = self.tmp / f"{name}.log"
        p = subprocess.Popen(args, cwd=REPO, env=_env(self.domain), stdout=log.open("w"),
                             stderr=subprocess.STDOUT)
        self.procs.append((p, log))
        return p

    def start_launch(self, launch_file: str, args: dict, name: str = "launch") -> subprocess.Popen:
        """`ros2 launch imu_torque_estimator <launch_file> k:=v ...` on this graph's domain."""
        cmd = [ros2_command(), "launch", "imu_torque_estimator", launch_file,
               *(f"{k}:={v}" for k, v in args.items())]
        log = self.tmp / f"{name}.log"
        p = subprocess.Popen(cmd, cwd=REPO, env=_env(self.domain), stdout=log.open("w"),
                             stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((p, log))
        self.sessions.append(p.pid)
        return p

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-2000:]}" for _, log in self.procs)

    def close(self) -> None:
        for p, _ in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p, _ in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        # `ros2 launch` runs in its own session: whatever it left behind (it was killed, or it did
        # not stop its nodes) must not outlive the test and load the machine for the next tests
        for pgid in self.sessions:
            _kill_group(pgid)
        self._stop = True
        self._thread.join(2)
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)

    def wait_for(self, cond, timeout_s: float, what: str) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self.lock:
                if cond():
                    return
            dead = [log.name for p, log in self.procs if p.poll() is not None]
            if dead:
                raise AssertionError(f"node(s) exited while waiting for {what}: {dead}\n{self.logs()}")
            time.sleep(0.05)
        raise AssertionError(f"timeout ({timeout_s} s) waiting for {what}\n{self.logs()}")


def _kill_group(pgid: int) -> None:
    """SIGTERM, then SIGKILL, every process left in process group `pgid`."""
    for sig, pause in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        time.sleep(pause)


@pytest.fixture
def graph(tmp_path):
    g = Graph(tmp_path)
    yield g
    g.close()
