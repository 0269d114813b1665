"""`imu-torque bag record|simulate|evaluate|info|export-csv`: rosbag2 in and out of the pipeline.

Only `record` touches ROS (rclpy, imported lazily); everything else works on the bag files alone.
The library behind it: data/bag_tools.py, data/bags.py, sim/recording.py (simulate_bag),
pipeline/offline.py (evaluate), evaluation/plots.py.
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

from ..body import SENSOR_SETS
from ..data import bags
from ..data.bag_tools import export_csv, record_topics, write_bag_with_torques, write_result_csv

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


def cmd_simulate(args: argparse.Namespace) -> int:
    _prepare_out(args.out, args.force)
    t0 = time.perf_counter()
    from ..sim.recording import simulate_bag

    meta = simulate_bag(args.out, args.condition, args.sensor_set, args.strides, args.rate_hz, args.seed,
                        args.errors, args.mass_kg, args.height_m, args.sex, args.storage, args.ns)
    info = bags.bag_info(args.out)
    print(f"wrote {args.out} ({info['storage']}, {info['duration_s']:.1f} s, {info['message_count']} "
          f"messages, {meta['sensor_set']} {meta['condition']}) in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..pipeline.offline import OfflineConfig, evaluate_bag

    cfg = OfflineConfig(params_file=args.params_file, body_mass_kg=args.mass_kg, height_m=args.height_m,
                        sex=args.sex, calibration_file=args.calibration, ns=args.ns, source=args.source)
    res = evaluate_bag(args.bag, args.model, cfg, sensor_set_name=args.sensor_set)
    out = args.out or args.bag.with_name(args.bag.name.rstrip("/") + "_eval")
    out.mkdir(parents=True, exist_ok=True)
    write_result_csv(out / "torques.csv", res)
    summary = {"report": res.report, "metrics": res.metrics}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2, default=_json_default))
    if not args.no_plot:
        from ..evaluation.plots import plot_result

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
