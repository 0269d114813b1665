"""`imu-torque bag record|simulate|evaluate|info|export-csv`: rosbag2 in and out of the pipeline.

Only `record` touches ROS (rclpy, imported lazily); everything else works on the bag files alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..body import JOINTS, SENSOR_SETS, sensor_set
from ..data import bags

NAME = "bag"
HELP = "record, simulate, evaluate, inspect and export rosbag2 files (MCAP default) of the pipeline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bag_command", required=True, metavar="ACTION")

    p = sub.add_parser("simulate", help="write a bag of synthesised IMU data with true torques (no ROS)")
    p.add_argument("--out", type=Path, required=True, help="output bag directory (must not exist)")
    p.add_argument("--condition", default="walk_1.2", help="e.g. walk_1.2, run_3.0, walk_1.2_up10, walk_run")
    p.add_argument("--sensor-set", default="7imu", choices=sorted(SENSOR_SETS))
    p.add_argument("--strides", type=int, default=10, help="number of gait strides after quiet standing")
    p.add_argument("--rate-hz", type=float, default=200.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--errors", choices=("mti3", "ideal"), default="mti3", help="IMU error model")
    p.add_argument("--mass-kg", type=float, default=75.0)
    p.add_argument("--height-m", type=float, default=1.75)
    p.add_argument("--sex", choices=("male", "female"), default="male")
    _common_write(p)

    p = sub.add_parser("evaluate", help="run the kinematics + torque pipeline offline over a bag")
    p.add_argument("bag", type=Path)
    p.add_argument("--model", type=Path, default=None,
                   help="model bundle directory (default: the shipped bundle of the sensor set)")
    p.add_argument("--sensor-set", choices=sorted(SENSOR_SETS), default=None,
                   help="sensor set to run (default: the model's, else the bag metadata's)")
    p.add_argument("--params-file", type=Path, default=None,
                   help="node parameter YAML (as for the launch files) over config/<set>.yaml")
    p.add_argument("--out", type=Path, default=None, help="results directory (default: <bag>_eval)")
    p.add_argument("--source", choices=("imu", "kinematics"), default="imu",
                   help="start from the IMU topics (full pipeline) or recorded kinematics topics")
    p.add_argument("--ns", default=None, help="namespace of the topics (default: the bag's only one)")
    p.add_argument("--mass-kg", type=float, default=None, help="body mass (default: bag metadata)")
    p.add_argument("--height-m", type=float, default=None,
                   help="subject height for the nominal sensor placements (default: bag metadata, else YAML)")
    p.add_argument("--sex", choices=("male", "female"), default=None)
    p.add_argument("--calibration", type=Path, default=None,
                   help="calibration JSON instead of still standing")
    p.add_argument("--write-bag", type=Path, default=None,
                   help="copy of the bag with the estimated torques added")
    p.add_argument("--no-plot", action="store_true")

    p = sub.add_parser("info", help="topics, types, counts, duration and metadata of a bag")
    p.add_argument("bag", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("export-csv", help="one CSV per pipeline topic (IMU, kinematics, torques)")
    p.add_argument("bag", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--ns", default=None)

    p = sub.add_parser("record", help="record the pipeline topics of a running graph (Ctrl-C stops cleanly)")
    p.add_argument("--out", type=Path, required=True, help="output bag directory (must not exist)")
    p.add_argument("--sensor-set", default="7imu", choices=sorted(SENSOR_SETS),
                   help="IMU/kinematics topics to subscribe to")
    p.add_argument("--duration-s", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--topic", action="append", default=[], metavar="TOPIC:TYPE",
                   help="extra topic, e.g. /foo:sensor_msgs/msg/Imu (repeatable)")
    p.add_argument("--mass-kg", type=float, default=None, help="stored as bag metadata for evaluation")
    _common_write(p)


def _common_write(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", choices=bags.STORAGES, default="mcap")
    p.add_argument("--ns", default="", help="topic namespace, e.g. /subject1")
    p.add_argument("--force", action="store_true", help="replace an existing output bag")


def run(args: argparse.Namespace) -> int:
    return {"simulate": cmd_simulate, "evaluate": cmd_evaluate, "info": cmd_info,
            "export-csv": cmd_export_csv, "record": cmd_record}[args.bag_command](args)


def _prepare_out(path: Path, force: bool) -> None:
    if path.exists():
        if not force:
            raise bags.BagError(f"{path} exists; use --force to replace it")
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


# ------------------------------------------------------------------------------------------- simulate
def simulate_bag(out: Path, condition: str = "walk_1.2", set_name: str = "7imu", strides: int = 10,
                 rate_hz: float = 200.0, seed: int = 0, errors: str = "mti3", mass_kg: float = 75.0,
                 height_m: float = 1.75, sex: str = "male", storage: str = "mcap", ns: str = "",
                 standing_s: float = 2.0) -> dict[str, Any]:
    """Simulate what the live `sim` drivers publish (sources.simulate_recording: sim.trial.simulate_trial
    with IMU synthesis, `standing_s` of quiet standing first for calibration) and write the set's IMU
    topics, ground-truth torques (Nm; none during standing, where they are unknown) and /clock."""
    from ..sources import SourceConfig, simulate_recording

    segments = sensor_set(set_name)
    cfg = SourceConfig(segment=segments[0], rate_hz=rate_hz, seed=seed, condition=condition,
                       n_strides=strides, standing_s=standing_s, imu_errors=errors, subject_mass_kg=mass_kg,
                       subject_height_m=height_m, subject_sex=sex)
    rec = simulate_recording(cfg, cache_dir="")
    return write_recording_bag(out, rec, segments, storage, ns, {
        "sensor_set": set_name, "condition": condition, "height_m": height_m, "sex": sex, "seed": seed,
        "imu_errors": errors, "strides": strides, "standing_s": standing_s})


def write_recording_bag(out: Path, rec: Any, segments: tuple[str, ...], storage: str = "mcap", ns: str = "",
                        extra_meta: dict[str, Any] | None = None, t0_ns: int = 1_000_000_000) -> dict:
    """Write a sources.SimRecording (per-sensor ImuSignals with their own, possibly jittered, stamps;
    exact sample instants time_s; moments Nm/kg, NaN = unknown) as a bag. Message log time = the later
    of the stamp and the exact sample instant (a sample cannot arrive before it is taken)."""
    time_s = np.asarray(rec.time_s, dtype=float)
    rate_hz = float(round(1.0 / np.median(np.diff(time_s))))
    meta = {"generator": "imu-torque bag simulate", "rate_hz": rate_hz, "body_mass_kg": float(rec.mass_kg),
            "segments": list(segments), **(extra_meta or {})}
    grid_ns = t0_ns + np.round(time_s * 1e9).astype(np.int64)
    with bags.BagWriter(out, storage=storage, ns=ns, metadata=meta) as w:
        for s in segments:
            sig = rec.signals[s]
            st = t0_ns + np.round(np.asarray(sig.time_s) * 1e9).astype(np.int64)
            w.write_imu(s, st, sig.specific_force_m_s2, sig.angular_rate_rad_s,
                        log_time_ns=np.maximum(st, grid_ns))
        moments = np.asarray(rec.moments_nm_per_kg)[:, :len(JOINTS)]
        known = np.isfinite(moments).all(axis=1)
        w.write_torques(grid_ns[known], moments[known] * float(rec.mass_kg), truth=True)
        for t in grid_ns[:: max(1, int(rate_hz // 100))].tolist():  # /clock at 100 Hz
            w.write_clock(t)
    return meta


def cmd_simulate(args: argparse.Namespace) -> int:
    _prepare_out(args.out, args.force)
    t0 = time.perf_counter()
    meta = simulate_bag(args.out, args.condition, args.sensor_set, args.strides, args.rate_hz, args.seed,
                        args.errors, args.mass_kg, args.height_m, args.sex, args.storage, args.ns)
    info = bags.bag_info(args.out)
    print(f"wrote {args.out} ({info['storage']}, {info['duration_s']:.1f} s, {info['message_count']} "
          f"messages, {meta['sensor_set']} {meta['condition']}) in {time.perf_counter() - t0:.1f} s")
    return 0


# ------------------------------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..offline import OfflineConfig, evaluate_bag

    cfg = OfflineConfig(params_file=args.params_file, body_mass_kg=args.mass_kg, height_m=args.height_m,
                        sex=args.sex, calibration_file=args.calibration, ns=args.ns, source=args.source)
    res = evaluate_bag(args.bag, args.model, cfg, sensor_set_name=args.sensor_set)
    out = args.out or args.bag.with_name(args.bag.name.rstrip("/") + "_eval")
    out.mkdir(parents=True, exist_ok=True)
    write_result_csv(out / "torques.csv", res)
    summary = {"report": res.report, "metrics": res.metrics}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    if not args.no_plot:
        plot_result(out / "torques.png", res)
    if args.write_bag is not None:
        write_bag_with_torques(args.bag, args.write_bag, res, cfg.ns)
    rep = res.report
    rt = rep["bag_duration_s"] / max(rep["pipeline_s"] + rep["read_s"], 1e-9)
    print(f"{args.bag}: {rep['torques_published']} torques, invalid IMU samples "
          f"{rep.get('imu_invalid_total', 0)}, dropped grid samples {rep.get('grid_dropped_total', 0)}, "
          f"estimator rejected "
          f"{rep['estimator_rejected_total']}, {rt:.0f}x real time -> {out}")
    recd = rep.get("recorded_torques")
    if recd:
        print(f"  recorded {recd['topic']}: {recd['matched']} stamps in common, max |offline - recorded| "
              f"{recd['max_abs_diff_nm']} N m, only recorded {recd['only_recorded']}, only offline "
              f"{recd['only_offline']}")
    if res.metrics:
        for j in res.joints:
            m = res.metrics[j]
            print(f"  {j:22s} RMSE {m['rmse_nm_per_kg']:.3f} Nm/kg  nRMSE {m['nrmse_pct']:.1f} %  "
                  f"r {m['r']:.3f}")
    return 0


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def write_result_csv(path: Path, res: Any) -> None:
    """stamp_ns, time_s, <joint>_nm (estimate), <joint>_true_nm (if truth) per published torque."""
    cols = [res.torque_nm]
    header = ["stamp_ns", "time_s"] + [f"{j}_nm" for j in res.joints]
    if res.truth_nm_per_kg is not None:
        cols.append(res.truth_nm_per_kg * res.body_mass_kg)
        header += [f"{j}_true_nm" for j in res.joints]
    t0 = res.stamp_ns[0] if len(res.stamp_ns) else 0
    with open(path, "w") as fh:
        fh.write(",".join(header) + "\n")
        vals = np.hstack(cols) if len(res.stamp_ns) else np.zeros((0, len(header) - 2))
        for st, row in zip(res.stamp_ns.tolist(), vals, strict=True):
            fh.write(f"{st},{(st - t0) * 1e-9:.9f}," + ",".join(f"{v:.9g}" for v in row) + "\n")


def plot_result(path: Path, res: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(res.joints)
    rows = (n + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(12, 2.4 * rows), sharex=True, squeeze=False)
    t = (res.stamp_ns - (res.stamp_ns[0] if len(res.stamp_ns) else 0)) * 1e-9
    for k, j in enumerate(res.joints):
        ax = axes[k // 2][k % 2]
        if res.truth_nm_per_kg is not None:
            ax.plot(t, res.truth_nm_per_kg[:, k], "k-", lw=1.0, label="true")
        ax.plot(t, res.torque_nm_per_kg[:, k], "C3-", lw=0.8, label="estimated")
        title = j
        if res.metrics and j in res.metrics:
            title += f"  RMSE {res.metrics[j]['rmse_nm_per_kg']:.3f} Nm/kg, r {res.metrics[j]['r']:.2f}"
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("Nm/kg")
    axes[0][0].legend(fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_bag_with_torques(src: Path, dst: Path, res: Any, ns: str | None) -> None:
    """Copy every message of `src` and add the estimates on <ns>/joint_torques (replacing a recorded
    joint_torques topic, which would otherwise mix two sources)."""
    data_ns = bags.read_bag(src, ns=ns, require_imu=False).ns
    target = bags.torque_topic(data_ns)
    meta = bags.bag_info(src)["metadata"]
    meta["torques"] = "imu-torque bag evaluate"
    with bags.BagWriter(dst, storage=bags.bag_info(src)["storage"], ns=data_ns, metadata=meta) as w:
        for topic, msgtype, log_ns, raw in bags.iter_raw(src):
            if topic != target:
                w.write_raw(topic, msgtype, log_ns, raw)
        w.write_torques(res.stamp_ns, res.torque_nm, names=res.joints)


# ------------------------------------------------------------------------------------------ info, csv
def cmd_info(args: argparse.Namespace) -> int:
    info = bags.bag_info(args.bag)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"bag:       {info['path']} ({info['storage']})")
    print(f"duration:  {info['duration_s']:.3f} s, {info['message_count']} messages")
    print(f"namespace: {', '.join(n or '/' for n in info['namespaces']) or '-'}")
    for k, v in sorted(info["metadata"].items()):
        print(f"meta:      {k} = {v}")
    width = max((len(t) for t in info["topics"]), default=10)
    for t, (ty, n) in sorted(info["topics"].items()):
        rate = n / info["duration_s"] if info["duration_s"] > 0 else 0.0
        print(f"  {t:{width}s}  {ty:38s} {n:8d} msgs  {rate:7.1f} Hz")
    return 0


def cmd_export_csv(args: argparse.Namespace) -> int:
    files = export_csv(args.bag, args.out, args.ns)
    for f in files:
        print(f)
    return 0


def export_csv(bag_path: Path, out: Path, ns: str | None = None) -> list[Path]:
    """IMU and kinematics topics -> <topic>.csv (stamp_ns, log_time_ns, ax..az, wx..wz[, qx..qw]);
    joint torque topics -> stamp_ns, log_time_ns, one column per joint (Nm)."""
    data = bags.read_bag(bag_path, ns=ns, require_imu=False)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for kind, group in (("imu", data.imu), ("kinematics", data.kinematics)):
        for seg, t in sorted(group.items()):
            f = out / f"{seg}_{kind}.csv"
            cols = ["acc_x_m_s2", "acc_y_m_s2", "acc_z_m_s2", "gyr_x_rad_s", "gyr_y_rad_s", "gyr_z_rad_s"]
            arrs = [t.specific_force_m_s2, t.angular_rate_rad_s]
            if kind == "kinematics":
                cols += ["q_x", "q_y", "q_z", "q_w"]
                arrs.append(t.orientation_xyzw)
            _write_rows(f, ["stamp_ns", "log_time_ns", *cols], t.stamp_ns, t.log_time_ns, np.hstack(arrs))
            files.append(f)
    for name, jt in (("joint_torques", data.torques), ("joint_torques_truth", data.truth)):
        if jt is not None:
            f = out / f"{name}.csv"
            _write_rows(f, ["stamp_ns", "log_time_ns", *[f"{j}_nm" for j in jt.names]], jt.stamp_ns,
                        jt.log_time_ns, jt.effort_nm)
            files.append(f)
    if not files:
        raise bags.BagError(f"{bag_path}: no pipeline topics to export")
    return files


def _write_rows(path: Path, header: list[str], stamps: np.ndarray, logs: np.ndarray,
                vals: np.ndarray) -> None:
    with open(path, "w") as fh:
        fh.write(",".join(header) + "\n")
        for s, lg, row in zip(stamps.tolist(), logs.tolist(), vals.tolist(), strict=True):
            fh.write(f"{s},{lg}," + ",".join(repr(v) for v in row) + "\n")


# --------------------------------------------------------------------------------------------- record
RECORD_TYPES = {"imu": bags.IMU_TYPE, "torque": bags.JOINT_STATE_TYPE}


def record_topics(set_name: str, ns: str, extra: list[str]) -> dict[str, str]:
    """Topic -> type recorded by `bag record`: IMU and kinematics of the set, torques, truth, diagnostics."""
    topics = {}
    for s in sensor_set(set_name):
        topics[bags.imu_topic(s, ns)] = bags.IMU_TYPE
        topics[bags.kinematics_topic(s, ns)] = bags.IMU_TYPE
    topics[bags.torque_topic(ns)] = bags.JOINT_STATE_TYPE
    topics[bags.torque_topic(ns, truth=True)] = bags.JOINT_STATE_TYPE
    topics[bags.DIAGNOSTICS_TOPIC] = bags.DIAGNOSTICS_TYPE
    for item in extra:
        topic, sep, ty = item.partition(":")
        if not sep or not topic.startswith("/") or ty.count("/") != 2:
            raise ValueError(f"--topic {item!r}: expected /topic:package/msg/Type")
        topics[topic] = ty
    return topics


def cmd_record(args: argparse.Namespace) -> int:
    import importlib
    import signal

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions

    topics = record_topics(args.sensor_set, args.ns, args.topic)
    _prepare_out(args.out, args.force)
    meta: dict[str, Any] = {"generator": "imu-torque bag record", "sensor_set": args.sensor_set}
    if args.mass_kg is not None:
        meta["body_mass_kg"] = args.mass_kg
    stop = {"flag": False}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["flag"] = True

    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    writer = bags.BagWriter(args.out, storage=args.storage, ns=args.ns, metadata=meta, sort_on_close=False)
    counts = dict.fromkeys(topics, 0)
    node = rclpy.create_node("imu_torque_bag_recorder")
    # Best effort matches both best-effort (SensorDataQoS) and reliable publishers.
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT)
    for topic, ty in topics.items():
        def cb(raw: bytes, topic: str = topic, ty: str = ty) -> None:
            writer.write_raw(topic, ty, time.time_ns(), raw)
            counts[topic] += 1
        pkg, _msg, cls = ty.split("/")
        msg_class = getattr(importlib.import_module(f"{pkg}.msg"), cls)
        node.create_subscription(msg_class, topic, cb, qos, raw=True)
    try:  # far less per-callback overhead than SingleThreadedExecutor (fewer drops at high rates)
        from rclpy.experimental import EventsExecutor

        executor = EventsExecutor()
    except ImportError:
        executor = SingleThreadedExecutor()
    executor.add_node(node)
    print(f"recording {len(topics)} topics to {args.out} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    t_end = None if args.duration_s is None else time.monotonic() + args.duration_s
    try:
        while not stop["flag"] and (t_end is None or time.monotonic() < t_end):
            executor.spin_once(timeout_sec=0.05)
    finally:
        writer.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    total = sum(counts.values())
    print(f"wrote {args.out}: {total} messages ({', '.join(f'{t} {n}' for t, n in counts.items() if n)})",
          file=sys.stderr)
    return 0
