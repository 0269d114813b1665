"""Added latency through the segment_kinematics node at 7 x 200 Hz (issue 5 target: p99 <= 1 ms).

Three measurements side by side (one run):
- library: the node's per-sample work without ROS (7 alignment.StreamAligner pushes + one
  kinematics.KinematicsEstimator step), timed in this process;
- transport: one DDS hop, publisher process -> this process (foot_r/imu/data_raw, the last sensor
  published each period);
- end_to_end: publisher process publishes the 7 IMU samples of a period -> segment_kinematics
  (subprocess) -> pelvis/kinematics received here, from the publish time of the LAST of the 7.
  added = end_to_end - transport of the same stamp: what the node adds (its processing, executor
  wake-up and the output hop), the issue's "added latency through the node".
Writes benchmarks/results/node_latency.json and prints a table. Publisher and receiver share the
host clock (time.time_ns). Usage: python benchmarks/bench_node_latency.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
NS = 1_000_000_000
RATE = 200
SEGMENTS = ("pelvis", "thigh_l", "thigh_r", "shank_l", "shank_r", "foot_l", "foot_r")
G = 9.80665


def _mountings() -> list[np.ndarray]:
    """Nominal sensor_to_segment rotations (kinematics.placement.default_placements), so the synthetic signals
    are consistent with the mountings the node calibrates against."""
    from imu_torque_estimator.body import lower_body_model
    from imu_torque_estimator.kinematics.placement import default_placements

    p = default_placements(lower_body_model(75.0, 1.75, "male"))
    return [p[s].sensor_to_segment for s in SEGMENTS]


def imu_values(c: np.ndarray, i: int, t_s: float, moving: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sensor-frame specific force and rate of segment i: still standing, or a gait-like wobble."""
    acc = np.array([0.0, 0.0, G])
    gyr = np.zeros(3)
    if moving:
        ph = 0.3 * i
        acc += [2.0 * math.sin(6 * t_s + ph), 0.5, 1.5 * math.cos(6 * t_s + ph)]
        gyr += [0.2, 2.0 * math.sin(6 * t_s + ph), 0.1]
    return c.T @ acc, c.T @ gyr


# ------------------------------------------------------------------------------ publisher role
def publisher(still_s: float, seconds: float, out: str) -> None:
    import rclpy
    from sensor_msgs.msg import Imu

    from imu_torque_estimator.nodes import common

    rclpy.init()
    node = rclpy.create_node("bench_imu_publisher")
    pubs = [node.create_publisher(Imu, f"{s}/imu/data_raw", common.sensor_qos(50)) for s in SEGMENTS]
    msg = Imu()
    mount = _mountings()
    period = NS // RATE
    deadline = time.monotonic() + 60.0  # wait until the node and the probe are matched (discovery)
    while time.monotonic() < deadline and (min(p.get_subscription_count() for p in pubs) < 1
                                           or pubs[-1].get_subscription_count() < 2):
        rclpy.spin_once(node, timeout_sec=0.1)
    start_ns = (time.time_ns() // NS + 1) * NS
    n = int((still_s + seconds) * RATE)
    sent = np.zeros(n, dtype=np.int64)
    stamps = start_ns + period * np.arange(n, dtype=np.int64)
    for k in range(n):
        t = int(stamps[k])
        delay = (t - time.time_ns()) / NS
        if delay > 0:
            time.sleep(delay)
        moving = k >= still_s * RATE
        for i, pub in enumerate(pubs):
            acc, gyr = imu_values(mount[i], i, t / NS, moving)
            common.fill_imu_msg(msg, t, f"{SEGMENTS[i]}_imu", acc, gyr)
            pub.publish(msg)
        sent[k] = time.time_ns()  # after the last of the 7 publishes
    np.savez(out, stamps=stamps, sent=sent)
    node.destroy_node()
    rclpy.shutdown()


# --------------------------------------------------------------------------------- library role
def library_cost(n: int = 3000) -> np.ndarray:
    """Per-period cost (s) of the node's work without ROS: 7 aligner pushes + 1 estimator step."""
    from imu_torque_estimator import kinematics as kin
    from imu_torque_estimator.body import lower_body_model
    from imu_torque_estimator.kinematics.placement import default_placements
    from imu_torque_estimator.pipeline.alignment import StreamAligner, StreamConfig

    placements = default_placements(lower_body_model(75.0, 1.75, "male"))
    est = kin.KinematicsEstimator("7imu", float(RATE), kin.calibrate(placements), orientation=True)
    al = StreamAligner(StreamConfig(SEGMENTS, float(RATE)))
    period = NS // RATE
    mount = _mountings()
    arrs = [[imu_values(mount[i], i, k / RATE, True) for i in range(7)] for k in range(n)]
    out = np.empty(n)
    for k in range(n):
        t0 = time.perf_counter()
        for i in range(7):
            for s in al.push(i, k * period, arrs[k][i][0], arrs[k][i][1]):
                est.step(s.accel_m_s2, s.gyro_rad_s)
        out[k] = time.perf_counter() - t0
    return out[100:]


# ---------------------------------------------------------------------------------------- main
def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stats_ms(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, float) * 1e3
    return {"n": int(x.size), "mean_ms": float(x.mean()), "p50_ms": float(np.percentile(x, 50)),
            "p90_ms": float(np.percentile(x, 90)), "p99_ms": float(np.percentile(x, 99)),
            "max_ms": float(x.max())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="measured streaming time")
    ap.add_argument("--profile", default="", help="write a cProfile of the node to this path")
    ap.add_argument("--role", default="main", help=argparse.SUPPRESS)
    ap.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    still_s = 1.5
    if args.role == "publisher":
        publisher(still_s, args.seconds, args.out)
        return 0

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Imu

    from imu_torque_estimator.nodes import common

    lib = library_cost()
    domain = random.randint(1, 200)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    os.environ.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    rclpy.init()
    node = rclpy.create_node("bench_latency_probe")
    kin_rx: dict[int, int] = {}
    imu_rx: dict[int, int] = {}

    def on_kin(m: Imu) -> None:
        kin_rx[common.time_msg_to_ns(m.header.stamp)] = time.time_ns()

    def on_imu(m: Imu) -> None:
        imu_rx[common.time_msg_to_ns(m.header.stamp)] = time.time_ns()

    diag_seen = threading.Event()

    node_diag: dict[str, dict[str, str]] = {}

    def on_diag(m: DiagnosticArray) -> None:
        for st in m.status:
            if "segment_kinematics" in st.name:
                node_diag[st.name] = {"message": st.message, **{kv.key: kv.value for kv in st.values}}
                diag_seen.set()

    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)
    node.create_subscription(Imu, "pelvis/kinematics", on_kin, common.sensor_qos(100))
    node.create_subscription(Imu, "foot_r/imu/data_raw", on_imu, common.sensor_qos(100))
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    stop = threading.Event()
    th = threading.Thread(target=lambda: [ex.spin_once(timeout_sec=0.05) for _ in iter(stop.is_set, True)],
                          daemon=True)
    th.start()
    log = open(Path("/tmp") / f"bench_node_latency_{os.getpid()}.log", "w")  # noqa: SIM115
    kin_proc = subprocess.Popen(
        [sys.executable, *(["-m", "cProfile", "-o", args.profile] if args.profile else []),
         "-m", "imu_torque_estimator.nodes.segment_kinematics", "--ros-args", "-p",
         "sensor_set:=7imu", "-p", f"rate_hz:={RATE}", "-p", "still_s:=0.5", "-p", "functional_s:=0.0",
         "-p", "queue_depth:=100"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    if not diag_seen.wait(120.0):  # node up (imports take seconds on a loaded machine)
        print("segment_kinematics did not come up", file=sys.stderr)
        kin_proc.kill()
        return 1
    out = Path("/tmp") / f"bench_node_latency_{os.getpid()}.npz"
    cpu0 = _cpu_s(kin_proc.pid)
    wall0 = time.monotonic()
    pub = subprocess.run([sys.executable, __file__, "--role", "publisher", "--seconds", str(args.seconds),
                          "--out", str(out)], cwd=REPO, env=env, timeout=args.seconds + 180)
    node_cpu = (_cpu_s(kin_proc.pid) - cpu0) / (time.monotonic() - wall0)
    time.sleep(2.0)  # last diagnostics
    stop.set()
    th.join(2)
    kin_proc.send_signal(2)
    kin_proc.wait(10)
    load = os.getloadavg()
    if pub.returncode != 0:
        print("publisher failed", file=sys.stderr)
        return 1
    with np.load(out) as z:
        sent = dict(zip(z["stamps"].tolist(), z["sent"].tolist(), strict=True))
        start_ns = int(z["stamps"][0])
    out.unlink(missing_ok=True)
    moving_from = start_ns + int(still_s * NS) + NS // 2  # after calibration settled
    e2e, hop, added = [], [], []
    for st, t_sent in sent.items():
        if st < moving_from:
            continue
        if st in imu_rx and st not in kin_rx:
            hop.append((imu_rx[st] - t_sent) / NS)
        if st in kin_rx:
            e2e.append((kin_rx[st] - t_sent) / NS)
            if st in imu_rx:
                hop.append((imu_rx[st] - t_sent) / NS)
                added.append((kin_rx[st] - imu_rx[st]) / NS)
    n_expected = sum(1 for st in sent if st >= moving_from)
    result = {
        "rate_hz": RATE, "sensors": 7, "seconds": args.seconds, "target_p99_ms": 1.0,
        "library_per_period": stats_ms(lib),
        "transport_one_hop": stats_ms(np.array(hop)) if hop else None,
        "end_to_end": stats_ms(np.array(e2e)) if e2e else None,
        "added_by_node": stats_ms(np.array(added)) if added else None,
        "kinematics_received_fraction": len(e2e) / max(n_expected, 1),
        "node_cpu_core_fraction": node_cpu,
        "node_diagnostics": {k: {kk: vv for kk, vv in v.items() if kk != "calibration_json"}
                             for k, v in node_diag.items()},
        "load_average_1_5_15": list(load), "cpu_count": os.cpu_count(),
        "note": "added_by_node = kinematics receive time - receive time of the same stamp's last IMU "
                "message in this process (node processing + executor wake-up + output hop)",
    }
    res_dir = REPO / "benchmarks" / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / "node_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"segment_kinematics latency, 7 x {RATE} Hz, {args.seconds:g} s "
          f"(load average {load[0]:.1f} on {os.cpu_count()} cores)")
    print(f"{'measurement':<22}{'n':>7}{'mean ms':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for key in ("library_per_period", "transport_one_hop", "end_to_end", "added_by_node"):
        s = result[key]
        if s:
            print(f"{key:<22}{s['n']:>7}{s['mean_ms']:>10.3f}{s['p50_ms']:>10.3f}{s['p99_ms']:>10.3f}"
                  f"{s['max_ms']:>10.3f}")
    print(f"kinematics received for {100 * result['kinematics_received_fraction']:.1f} % of stamps; "
          f"node CPU {100 * node_cpu:.0f} % of one core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
