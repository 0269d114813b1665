"""End-to-end latency of the launched 7-IMU pipeline at 200 Hz (issue 7 target: p99 <= 2 ms).

`ros2 launch imu_torque_estimator seven_imu.launch.py source:=sim rate_hz:=200` (7 imu_driver, the
segment_kinematics and the torque_estimator processes) runs for `--seconds` of walking; this process
subscribes to joint_torques and the pelvis IMU topic and measures, side by side in one run for two
sensor models:
- ideal:  sensor stamps exactly on the 200 Hz grid (what a hardware-synchronised sensor set gives);
- mti3:   the MTi-3 error model incl. timestamp jitter, so the aligner interpolates each grid sample
          and must wait for every sensor's next sample (up to one period).
Per run: stamp -> joint_torques receipt (p50/p99/max), the driver's own pacing (pelvis sample stamp ->
receipt of that IMU message here; the sim drivers publish a sample on the first 200 Hz timer tick after
its stamp), the difference of the medians (what segment_kinematics + torque_estimator add), and dropped
samples (grid stamps in the window without a torque). The shipped 7imu model runs at 100 Hz, so a
bundle with the shipped architecture (LSTM 1x128) and random weights at 200 Hz is used: the latency
does not depend on the weights. Writes benchmarks/results/e2e_latency.json.
Usage: python benchmarks/bench_e2e_latency.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
NS = 1_000_000_000
RATE = 200


def make_bundle_200hz(path: Path) -> Path:
    import torch

    from imu_torque_estimator import kinematics
    from imu_torque_estimator.model.bundle import load_bundle, save_bundle
    from imu_torque_estimator.model.network import NetworkConfig, TorqueRNN
    from imu_torque_estimator.paths import default_model_dir

    shipped = load_bundle(default_model_dir("7imu")).network
    torch.manual_seed(0)
    names = kinematics.feature_names("7imu")
    model = TorqueRNN(NetworkConfig(n_in=len(names), hidden=shipped.hidden, layers=shipped.layers,
                                    cell=shipped.cell))
    save_bundle(path, model, sensor_set="7imu", rate_hz=RATE, feature_spec_id=kinematics.FEATURE_SPEC_ID,
                feature_names=list(names), training={"note": "random weights, latency benchmark only"})
    return path


def presimulate(params: Path, cache: Path) -> None:
    from imu_torque_estimator.pipeline.config import resolve_configuration
    from imu_torque_estimator.pipeline.sources import SourceConfig
    from imu_torque_estimator.sim.recording import simulate_recording

    eff = resolve_configuration("7imu", {"params_file": str(params), "rate_hz": str(RATE), "model": "",
                                         "defaults_file": str(REPO / "config" / "seven_imu.yaml")})
    d = eff["pelvis_imu_driver"]
    keys = ("rate_hz", "seed", "condition", "n_strides", "standing_s", "imu_errors", "subject_mass_kg",
            "subject_height_m", "subject_sex")
    simulate_recording(SourceConfig("pelvis", **{k: d[k] for k in keys}), str(cache))


def run_once(errors: str, seconds: float, model: Path, tmp: Path) -> dict:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Imu, JointState

    from imu_torque_estimator.nodes import common

    cache = tmp / "simcache"
    params = tmp / f"{errors}.yaml"
    n_strides = int(seconds / 1.0) + 10
    base = (f"/**/*_imu_driver:\n  ros__parameters:\n    imu_errors: {errors}\n    cache_dir: {cache}\n"
            f"    n_strides: {n_strides}\n")
    params.write_text(base)
    print(f"[{errors}] simulating {n_strides} strides at {RATE} Hz ...", flush=True)
    presimulate(params, cache)
    anchor = math.ceil(time.time()) + 15
    params.write_text(base + f"    start_stamp_s: {float(anchor)}\n")
    domain = 150 + os.getpid() % 50
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), AMENT_PREFIX_PATH=str(REPO / ".venv"),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    log = open(tmp / f"launch_{errors}.log", "w")  # noqa: SIM115 - the launch process writes it until stopped
    launch = subprocess.Popen([str(REPO / ".venv/bin/ros2"), "launch", "imu_torque_estimator",
                               "seven_imu.launch.py", f"params_file:={params}", f"model:={model}",
                               f"rate_hz:={RATE}"], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("e2e_latency_probe", context=ctx)
    torque: list[tuple[int, int]] = []
    imu: list[tuple[int, int]] = []
    lock = threading.Lock()

    def on_torque(m: JointState) -> None:
        now = time.time_ns()
        with lock:
            torque.append((common.time_msg_to_ns(m.header.stamp), now))

    def on_imu(raw: bytes) -> None:
        now = time.time_ns()
        stamp = common.read_imu_raw(raw, np.empty(3), np.empty(3))
        with lock:
            imu.append((stamp, now))

    node.create_subscription(JointState, "joint_torques", on_torque, common.sensor_qos(1000))
    node.create_subscription(Imu, "pelvis/imu/data_raw", on_imu, common.sensor_qos(1000), raw=True)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    try:
        # standing, calibration and warm-up, then `seconds` of measurement
        t_first = None
        deadline = anchor + 60 + seconds
        while time.time() < deadline:
            ex.spin_once(timeout_sec=0.05)
            with lock:
                if torque and t_first is None:
                    t_first = time.time()
            if t_first is not None and time.time() > t_first + seconds + 2:
                break
            if launch.poll() is not None:
                raise RuntimeError(f"launch exited: {(tmp / f'launch_{errors}.log').read_text()[-2000:]}")
        if t_first is None:
            raise RuntimeError(f"no torques; see {tmp / f'launch_{errors}.log'}")
    finally:
        launch.send_signal(signal.SIGINT)
        try:
            launch.wait(20)
        except subprocess.TimeoutExpired:
            launch.kill()
        ex.shutdown()
        node.destroy_node()
        ctx.try_shutdown()
        log.close()
    st = np.array(torque, dtype=np.int64)
    st = st[np.argsort(st[:, 0])]
    # the measured window: `seconds` of stamps after the first second of output
    lo = st[0, 0] + NS
    win = st[(st[:, 0] >= lo) & (st[:, 0] < lo + int(seconds * NS))]
    lat_ms = (win[:, 1] - win[:, 0]) / 1e6
    expected = int(round(seconds * RATE))
    got = len(np.unique(win[:, 0]))
    im = np.array(imu, dtype=np.int64)
    pace_ms = (im[:, 1] - im[:, 0]) / 1e6
    pace_ms = pace_ms[(im[:, 0] >= lo) & (im[:, 0] < lo + int(seconds * NS))]
    pct = {f"p{q}": float(np.percentile(lat_ms, q)) for q in (50, 90, 99)}
    pace = {f"p{q}": float(np.percentile(pace_ms, q)) for q in (50, 99)}
    return {"imu_errors": errors, "seconds": seconds, "torques_in_window": got,
            "grid_stamps_in_window": expected, "dropped": expected - got,
            "stamp_to_torque_ms": {**pct, "max": float(lat_ms.max()), "mean": float(lat_ms.mean())},
            "stamp_to_imu_receipt_ms": pace,
            "pipeline_added_p50_ms": pct["p50"] - pace["p50"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="e2e_latency_"))
    model = make_bundle_200hz(tmp / "bundle_200hz")
    runs = [run_once(e, args.seconds, model, tmp) for e in ("ideal", "mti3")]
    out = {"benchmark": "e2e_latency", "launch": "seven_imu.launch.py", "rate_hz": RATE,
           "target_p99_ms": 2.0, "cpu_count": os.cpu_count(), "load_avg_1min": os.getloadavg()[0],
           "runs": runs}
    res = REPO / "benchmarks" / "results" / "e2e_latency.json"
    res.write_text(json.dumps(out, indent=2) + "\n")
    print(f"\n7-IMU pipeline at {RATE} Hz, {args.seconds:g} s per run (load {out['load_avg_1min']:.1f})")
    print(f"{'sensors':8s} {'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} {'pacing p50':>11s} "
          f"{'added p50':>10s} {'dropped':>8s}")
    for r in runs:
        s = r["stamp_to_torque_ms"]
        print(f"{r['imu_errors']:8s} {s['p50']:8.2f} {s['p90']:8.2f} {s['p99']:8.2f} {s['max']:8.2f} "
              f"{r['stamp_to_imu_receipt_ms']['p50']:11.2f} {r['pipeline_added_p50_ms']:10.2f} "
              f"{r['dropped']:5d}/{r['grid_stamps_in_window']}")
    print(f"-> {res}")


if __name__ == "__main__":
    main()
