"""`imu-torque demo`: the 3-IMU pipeline live on the simulated subject, recorded and scored.

Launches launch/imu_pipeline.launch.py (sensor_set:=<set>) with the `sim` source (a simulated subject
standing still for calibration, then walking and running) and the shipped model, records the IMU,
kinematics, torque and ground-truth topics to a rosbag2 file while it runs, then prints per-joint
RMSE of the published torques against the simulator's ground truth and writes a PNG of estimated vs
true torques.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAME = "demo"
HELP = "run the 3-IMU pipeline live on the simulated subject, record a bag, score it against truth"

def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..body import SENSOR_SETS

    p.add_argument("--sensor-set", choices=sorted(SENSOR_SETS), default="3imu")
    p.add_argument("--duration-s", type=float, default=20.0,
                   help="seconds of published torques to record (walking, then running)")
    p.add_argument("--condition", default="walk_run", help="simulated gait (sim.subjects.Condition syntax)")
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="bag, CSV, metrics and PNG go here")
    p.add_argument("--model", default="", help="model bundle (default: the shipped one of the sensor set)")
    p.add_argument("--body-mass-kg", type=float, default=75.0, help="simulated subject's and wearer's mass")
    p.add_argument("--timeout-s", type=float, default=120.0,
                   help="give up when the torques have not arrived this long after the trial start")
    p.add_argument("--startup-s", type=float, default=10.0,
                   help="time the nodes get to start before the simulated trial begins (all drivers share "
                        "this start stamp, so the subject stands still for calibration right after it)")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    prefix = Path(sys.prefix)
    if "AMENT_PREFIX_PATH" not in env or str(prefix) not in env["AMENT_PREFIX_PATH"].split(":"):
        env["AMENT_PREFIX_PATH"] = ":".join(p for p in (str(prefix), env.get("AMENT_PREFIX_PATH", "")) if p)
    # A private DDS domain so the demo does not mix with anything else running on the machine.
    env.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _stop(proc: subprocess.Popen, timeout_s: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn
    from rich.table import Table

    from ..model.bundle import load_bundle
    from ..pipeline.config import GENERIC_LAUNCH, model_dir

    console = Console(stderr=True)
    model = model_dir(args.model, args.sensor_set)
    bundle = load_bundle(model, expect_sensor_set=args.sensor_set)  # BundleError is a ValueError
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    bag = out / "bag"
    if bag.exists():
        import shutil

        shutil.rmtree(bag)
    console.print(f"[bold]imu_torque_estimator demo[/]: {args.sensor_set} pipeline, model {bundle.model_id} "
                  f"({model}), simulated subject {args.body_mass_kg:g} kg, condition {args.condition}")
    env = _env()
    params = Path(tempfile.mkstemp(prefix="demo_params_", suffix=".yaml")[1])
    driver_yaml = ("/**/*_imu_driver:\n  ros__parameters:\n"
                   f"    condition: {args.condition}\n    subject_mass_kg: {args.body_mass_kg}\n")
    params.write_text(driver_yaml)
    with console.status("simulating the subject (cached for the driver nodes)"):
        t0 = time.monotonic()
        _presimulate(args.sensor_set, params, model)
    console.print(f"simulated subject ready in {time.monotonic() - t0:.1f} s")
    # Whole-second anchor: exactly representable, so truth stamps fall on the kinematics grid.
    t_anchor = float(math.ceil(time.time() + args.startup_s))
    params.write_text(driver_yaml + f"    start_stamp_s: {t_anchor:.1f}\n")
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    launch_log = open(logs / "launch.log", "w")  # noqa: SIM115 - written by the child until it stops
    record_log = open(logs / "record.log", "w")  # noqa: SIM115
    os.environ.update({k: v for k, v in env.items() if k == "ROS_DOMAIN_ID"})
    launch = subprocess.Popen(
        [str(Path(sys.prefix) / "bin" / "ros2"), "launch", "imu_torque_estimator", GENERIC_LAUNCH,
         f"sensor_set:={args.sensor_set}", f"params_file:={params}", f"model:={model}",
         f"body_mass_kg:={args.body_mass_kg}"],
        stdout=launch_log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    recorder = None
    t_start = time.monotonic()
    counter = _TorqueCounter()
    try:
        recorder = subprocess.Popen(
            [sys.executable, "-m", "imu_torque_estimator.cli", "bag", "record", "--out", str(bag),
             "--sensor-set", args.sensor_set, "--mass-kg", f"{args.body_mass_kg}"],
            stdout=record_log, stderr=subprocess.STDOUT, env=env)
        target = int(args.duration_s * bundle.rate_hz)
        deadline = t_anchor + args.timeout_s
        with Progress(TextColumn("{task.description:<40}"), BarColumn(), TextColumn("{task.fields[info]}"),
                      console=console) as progress:
            boot = progress.add_task("starting nodes + bag recorder", total=args.startup_s, info="")
            cal = progress.add_task("standing still: calibrating", total=1, info="", visible=False)
            rec = progress.add_task("walking, running: torques", total=target, info="",
                                    visible=False)
            while counter.count < target:
                for proc, what, log in ((launch, "the launch", "launch.log"), (recorder, "bag record",
                                                                                 "record.log")):
                    if proc.poll() is not None:
                        tail = (logs / log).read_text()[-2000:]
                        raise RuntimeError(f"{what} stopped early (exit {proc.returncode}); see "
                                           f"{logs / log}:\n{tail}")
                now = time.time()
                if now > deadline:
                    raise RuntimeError(f"only {counter.count} torques after {args.timeout_s:g} s; see "
                                       f"{logs / 'launch.log'}")
                left = min(max(t_anchor - now, 0.0), args.startup_s)
                progress.update(boot, completed=args.startup_s - left)
                if now >= t_anchor:
                    progress.update(cal, visible=True, completed=1 if counter.count else 0,
                                    info="done" if counter.count else f"{now - t_anchor:.0f} s")
                if counter.count:
                    progress.update(rec, visible=True, completed=counter.count,
                                    info=f"{counter.count / bundle.rate_hz:.1f}/{args.duration_s:g} s, "
                                         f"last hip_flexion_r {counter.last_hip_nm:+.0f} N m")
                counter.spin(0.2)
            progress.update(rec, completed=target)
    finally:
        counter.close()
        if recorder is not None:
            _stop(recorder)
        _stop(launch)
        launch_log.close()
        record_log.close()
        params.unlink(missing_ok=True)
    console.print(f"recorded {bag} in {time.monotonic() - t_start:.1f} s; scoring against ground truth")
    return _score(bag, out, args.body_mass_kg, console, Table)


class _TorqueCounter:
    """Counts joint_torques in this process (live progress and the stop condition of the demo)."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import JointState

        from ..nodes.common import sensor_qos

        self.count = 0
        self.last_hip_nm = 0.0
        self._ctx = rclpy.Context()
        rclpy.init(context=self._ctx)
        self._node = rclpy.create_node("imu_torque_demo_monitor", context=self._ctx)
        self._node.create_subscription(JointState, "joint_torques", self._on_msg, sensor_qos(100))
        self._exec = SingleThreadedExecutor(context=self._ctx)
        self._exec.add_node(self._node)

    def _on_msg(self, msg) -> None:
        self.count += 1
        if len(msg.effort) > 1:
            self.last_hip_nm = msg.effort[1]

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._exec.spin_once(timeout_sec=max(end - time.monotonic(), 0.0))

    def close(self) -> None:
        self._exec.shutdown()
        self._node.destroy_node()
        self._ctx.try_shutdown()


def _presimulate(sensor_set: str, params: Path, model: Path) -> None:
    """Simulate the recording the sim drivers will play, with their exact parameters, into the shared
    cache (sim.recording.simulate_recording), so the nodes start in seconds and the trial starts on time."""
    from ..body import SENSOR_SETS
    from ..pipeline.config import driver_node_name, resolve_configuration
    from ..pipeline.sources import SourceConfig
    from ..sim.recording import simulate_recording

    args = {"params_file": str(params), "model": str(model)}
    first = SENSOR_SETS[sensor_set][0]
    cfg = SourceConfig.from_params(resolve_configuration(sensor_set, args)[driver_node_name(first)])
    simulate_recording(cfg, cfg.cache_dir)  # exactly what each sim driver node calls


def _score(bag: Path, out: Path, mass_kg: float, console, table_cls) -> int:
    import json

    import numpy as np

    from ..data import bags
    from ..data.bag_tools import write_result_csv
    from ..evaluation.plots import plot_result
    from ..extras import MissingExtraError
    from ..pipeline.offline import OfflineResult, attach_truth

    data = bags.read_bag(bag, require_imu=False)
    if data.torques is None or len(data.torques) == 0:
        raise RuntimeError(f"{bag}: no joint_torques were recorded; see {out / 'logs'}")
    if data.truth is None:
        raise RuntimeError(f"{bag}: no joint_torques_truth were recorded; see {out / 'logs'}")
    tq = data.torques
    joints = tuple(tq.names)
    res = OfflineResult(joints, tq.stamp_ns, tq.effort_nm / mass_kg, tq.effort_nm,
                        np.zeros(len(tq.stamp_ns), bool), mass_kg)
    attach_truth(res, data)
    write_result_csv(out / "torques.csv", res)
    try:  # a runtime install without the 'plot' extra still gets the numbers, CSV and bag
        plot_result(out / "torques.png", res)
        plot_note = f"plot: {out / 'torques.png'}   "
    except MissingExtraError as exc:
        plot_note = f"(no plot: {exc})\n"
    metrics = res.metrics
    assert metrics is not None  # attach_truth filled them
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    n = metrics["n_matched"]
    table = table_cls(title=f"Published torques vs simulator ground truth ({n} samples)")
    for col in ("joint", "RMSE Nm/kg", "RMSE Nm", "nRMSE %", "r"):
        table.add_column(col, justify="right" if col != "joint" else "left")
    for j in joints:
        m = metrics[j]
        table.add_row(j, f"{m['rmse_nm_per_kg']:.3f}", f"{m['rmse_nm_per_kg'] * mass_kg:.1f}",
                      f"{m['nrmse_pct']:.1f}", f"{m['r']:.3f}")
    from rich.console import Console

    Console().print(table)
    console.print(f"{plot_note}CSV: {out / 'torques.csv'}   bag: {bag}")
    return 0
