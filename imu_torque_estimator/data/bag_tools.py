"""Bag tools of the pipeline (ROS-free, over data/bags.py): write a recording or the estimates as a
bag, export a bag's pipeline topics as CSV, the topic list `imu-torque bag record` subscribes to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..body import JOINTS, sensor_set
from . import bags


def write_recording_bag(out: Path, rec: Any, segments: tuple[str, ...], storage: str = "mcap", ns: str = "",
                        extra_meta: dict[str, Any] | None = None, t0_ns: int = 1_000_000_000) -> dict:
    """Write a sim.recording.SimRecording (per-sensor ImuSignals with their own, possibly jittered, stamps;
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
