"""rosbag2 I/O for the pipeline's topics with `rosbags` (ROS-free; MCAP default, sqlite3 optional).

Topics (DESIGN.md contracts, `ns` = namespace, "" or "/subject1"):
  <ns>/<segment>/imu/data_raw   sensor_msgs/msg/Imu         specific force incl. gravity (m/s^2) and angular
                                                            rate (rad/s), sensor frame, stamp = sample time
  <ns>/<segment>/kinematics     sensor_msgs/msg/Imu         segment orientation, angular velocity (rad/s),
                                                            CoM acceleration (m/s^2), segment frame
  <ns>/joint_torques            sensor_msgs/msg/JointState  effort in Nm, name = body.JOINTS
  <ns>/joint_torques_truth      sensor_msgs/msg/JointState  ground truth (simulation), Nm
  /diagnostics                  diagnostic_msgs/msg/DiagnosticArray
  /clock                        rosgraph_msgs/msg/Clock
Only the standard ROS 2 message definitions of rosbags' typestore are used (no custom types), so
`ros2 bag play`, Foxglove and the `mcap` reader open the bags. Stamps are integer nanoseconds.

Every unreadable input raises `BagError(ValueError)` naming the file and the topic/field at fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..body import JOINTS, SEGMENTS
from ..units import NS_PER_S

IMU_TYPE = "sensor_msgs/msg/Imu"
JOINT_STATE_TYPE = "sensor_msgs/msg/JointState"
DIAGNOSTICS_TYPE = "diagnostic_msgs/msg/DiagnosticArray"
CLOCK_TYPE = "rosgraph_msgs/msg/Clock"
DIAGNOSTICS_TOPIC = "/diagnostics"
CLOCK_TOPIC = "/clock"
STORAGES = ("mcap", "sqlite3")
DISTROS = ("kilted", "humble", "jazzy")
# Expected message type per topic kind (the last path component(s) of the topic name).
_SEG = "|".join(SEGMENTS)
_TOPIC_RE = re.compile(
    rf"^(?P<ns>(?:/[^/]+)*?)(?:/(?P<segment>{_SEG})/(?P<kind>imu/data_raw|kinematics)"
    rf"|/(?P<jkind>joint_torques|joint_torques_truth))$")
_KIND_TYPE = {"imu/data_raw": IMU_TYPE, "kinematics": IMU_TYPE, "joint_torques": JOINT_STATE_TYPE,
              "joint_torques_truth": JOINT_STATE_TYPE, "diagnostics": DIAGNOSTICS_TYPE,
              "clock": CLOCK_TYPE}
_IMU_FLOATS = 37  # orientation 4, cov 9, angular_velocity 3, cov 9, linear_acceleration 3, cov 9
_CDR_LE = b"\x00\x01\x00\x00"


class BagError(ValueError):
    """A bag cannot be read or written as the pipeline expects (names the file and topic)."""


def imu_topic(segment: str, ns: str = "") -> str:
    return f"{_norm_ns(ns)}/{segment}/imu/data_raw"


def kinematics_topic(segment: str, ns: str = "") -> str:
    return f"{_norm_ns(ns)}/{segment}/kinematics"


def torque_topic(ns: str = "", truth: bool = False) -> str:
    return f"{_norm_ns(ns)}/joint_torques" + ("_truth" if truth else "")


def _norm_ns(ns: str) -> str:
    ns = ns.strip()
    if ns in ("", "/"):
        return ""
    if not re.fullmatch(r"(/?[A-Za-z_][A-Za-z0-9_]*)+", ns):
        raise BagError(f"invalid ROS namespace {ns!r}")
    return "/" + ns.strip("/")


@lru_cache(maxsize=4)
def typestore(distro: str = "kilted") -> Any:
    """rosbags typestore with the standard message definitions of a ROS 2 distribution."""
    from rosbags.typesys import Stores, get_typestore

    if distro not in DISTROS:
        raise BagError(f"unknown ROS distribution {distro!r}; choose one of {list(DISTROS)}")
    return get_typestore(getattr(Stores, f"ROS2_{distro.upper()}"))


# --------------------------------------------------------------------------------------------------
# Vectorised CDR codec for fixed-layout messages.
# rosbags (de)serialises one message per Python call (~20 us each, measured in benchmarks/bench_bags.py);
# a 10-minute 7-IMU bag has 840k IMU messages. Every IMU message of one topic has the same byte layout
# (only the stamp and the float block change), so we let rosbags serialise one template message and
# fill/extract stamps and floats for all messages at once with NumPy. Checked against rosbags itself in
# test/test_bags.py; anything not matching the template falls back to rosbags per message.


def _stamp_fields(stamp_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stamp_ns = np.asarray(stamp_ns, dtype=np.int64)
    return stamp_ns // NS_PER_S, stamp_ns % NS_PER_S


def _template(msg: Any, msgtype: str, distro: str) -> bytes:
    return bytes(typestore(distro).serialize_cdr(msg, msgtype))


def _header(stamp_ns: int, frame_id: str, distro: str) -> Any:
    ts = typestore(distro)
    sec, nsec = divmod(int(stamp_ns), NS_PER_S)
    return ts.types["std_msgs/msg/Header"](ts.types["builtin_interfaces/msg/Time"](sec, nsec), frame_id)


def _imu_msg(stamp_ns: int, frame_id: str, floats: np.ndarray, distro: str) -> Any:
    ts = typestore(distro)
    v3 = ts.types["geometry_msgs/msg/Vector3"]
    q = ts.types["geometry_msgs/msg/Quaternion"]
    f = np.asarray(floats, dtype=float)
    return ts.types[IMU_TYPE](
        _header(stamp_ns, frame_id, distro), q(*f[0:4]), f[4:13].copy(), v3(*f[13:16]), f[16:25].copy(),
        v3(*f[25:28]), f[28:37].copy())


def imu_float_block(angular_rate_rad_s: np.ndarray, specific_force_m_s2: np.ndarray,
                    orientation_xyzw: np.ndarray | None = None) -> np.ndarray:
    """(N, 37) float block of sensor_msgs/Imu in field order. No orientation -> covariance[0] = -1 and
    identity quaternion (REP-145); unknown covariances = 0."""
    w = np.asarray(angular_rate_rad_s, dtype=float)
    n = w.shape[0]
    block = np.zeros((n, _IMU_FLOATS))
    if orientation_xyzw is None:
        block[:, 3] = 1.0
        block[:, 4] = -1.0
    else:
        block[:, 0:4] = orientation_xyzw
    block[:, 13:16] = w
    block[:, 25:28] = specific_force_m_s2
    return block


def encode_imu(stamp_ns: np.ndarray, frame_id: str, block: np.ndarray, distro: str = "kilted") -> list[bytes]:
    """CDR bytes of N sensor_msgs/Imu messages (stamps ns (N,), float block (N, 37))."""
    block = np.ascontiguousarray(block, dtype="<f8")
    stamps = np.asarray(stamp_ns, dtype=np.int64).reshape(-1)
    if block.shape != (stamps.shape[0], _IMU_FLOATS):
        raise BagError(f"IMU float block must be ({stamps.shape[0]}, {_IMU_FLOATS}), got {block.shape}")
    if stamps.shape[0] == 0:
        return []
    tpl = _template(_imu_msg(0, frame_id, np.zeros(_IMU_FLOATS), distro), IMU_TYPE, distro)
    return _fill_template(tpl, stamps, block)


def _fill_template(tpl: bytes, stamps: np.ndarray, block: np.ndarray) -> list[bytes]:
    n, m = block.shape
    size = len(tpl)
    arr = np.tile(np.frombuffer(tpl, dtype=np.uint8), (n, 1))
    sec, nsec = _stamp_fields(stamps)
    if sec.size and (sec.min() < 0 or sec.max() > np.iinfo(np.int32).max):
        raise BagError("stamps must be >= 0 and < 2^31 s (builtin_interfaces/Time.sec is int32)")
    arr[:, 4:8] = sec.astype("<i4").view(np.uint8).reshape(n, 4)
    arr[:, 8:12] = nsec.astype("<u4").view(np.uint8).reshape(n, 4)
    arr[:, size - 8 * m:] = block.view(np.uint8).reshape(n, 8 * m)
    raw = arr.tobytes()
    return [raw[i * size:(i + 1) * size] for i in range(n)]


def _decode_fixed(raws: Sequence[bytes], n_floats: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Stamps (N,) ns and trailing float block (N, n_floats) if all messages share one layout and
    identical non-stamp/non-float bytes (little-endian CDR); None otherwise (caller falls back)."""
    size = len(raws[0])
    if size < 12 + 8 * n_floats or raws[0][:4] != _CDR_LE or any(len(r) != size for r in raws):
        return None
    arr = np.frombuffer(b"".join(raws), dtype=np.uint8).reshape(len(raws), size)
    fixed = arr[:, 12:size - 8 * n_floats]
    if fixed.size and not (fixed == fixed[0]).all():
        return None
    sec = arr[:, 4:8].copy().view("<i4").reshape(-1).astype(np.int64)
    nsec = arr[:, 8:12].copy().view("<u4").reshape(-1).astype(np.int64)
    floats = arr[:, size - 8 * n_floats:].copy().view("<f8").reshape(len(raws), n_floats)
    return sec * NS_PER_S + nsec, floats


def _decode_imu(raws: Sequence[bytes], distro: str) -> tuple[np.ndarray, np.ndarray, str]:
    first = typestore(distro).deserialize_cdr(raws[0], IMU_TYPE)
    fast = _decode_fixed(raws, _IMU_FLOATS)
    if fast is not None:
        return fast[0], fast[1], first.header.frame_id
    stamps = np.empty(len(raws), dtype=np.int64)
    block = np.empty((len(raws), _IMU_FLOATS))
    ts = typestore(distro)
    for i, raw in enumerate(raws):
        m = ts.deserialize_cdr(raw, IMU_TYPE)
        stamps[i] = m.header.stamp.sec * NS_PER_S + m.header.stamp.nanosec
        o, w, a = m.orientation, m.angular_velocity, m.linear_acceleration
        block[i] = np.concatenate([[o.x, o.y, o.z, o.w], m.orientation_covariance, [w.x, w.y, w.z],
                                   m.angular_velocity_covariance, [a.x, a.y, a.z],
                                   m.linear_acceleration_covariance])
    return stamps, block, first.header.frame_id


def encode_joint_state(stamp_ns: np.ndarray, names: Sequence[str], effort: np.ndarray, frame_id: str = "",
                       distro: str = "kilted") -> list[bytes]:
    """CDR bytes of N sensor_msgs/JointState messages with `name` and `effort` (N, J); position and
    velocity empty (DESIGN.md torque topic contract)."""
    effort = np.ascontiguousarray(effort, dtype="<f8")
    stamps = np.asarray(stamp_ns, dtype=np.int64).reshape(-1)
    if effort.shape != (stamps.shape[0], len(names)):
        raise BagError(f"effort must be ({stamps.shape[0]}, {len(names)}), got {effort.shape}")
    if stamps.shape[0] == 0:
        return []
    ts = typestore(distro)
    msg = ts.types[JOINT_STATE_TYPE](_header(0, frame_id, distro), list(names), np.zeros(0), np.zeros(0),
                                     np.zeros(len(names)))
    return _fill_template(_template(msg, JOINT_STATE_TYPE, distro), stamps, effort)


def _decode_joint_state(raws: Sequence[bytes], distro: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    ts = typestore(distro)
    first = ts.deserialize_cdr(raws[0], JOINT_STATE_TYPE)
    names = tuple(first.name)
    fast = _decode_fixed(raws, len(names)) if len(first.effort) == len(names) else None
    if fast is not None:
        return fast[0], fast[1], names
    stamps = np.empty(len(raws), dtype=np.int64)
    effort = np.full((len(raws), len(names)), np.nan)
    for i, raw in enumerate(raws):
        m = ts.deserialize_cdr(raw, JOINT_STATE_TYPE)
        stamps[i] = m.header.stamp.sec * NS_PER_S + m.header.stamp.nanosec
        if tuple(m.name) != names or len(m.effort) != len(names):
            continue  # a message with other joints: effort stays NaN for this sample (counted by callers)
        effort[i] = m.effort
    return stamps, effort, names


def encode_diagnostics(stamp_ns: int, statuses: Iterable[dict[str, Any]], distro: str = "kilted") -> bytes:
    """One DiagnosticArray. statuses: dicts with name, level (0 OK, 1 WARN, 2 ERROR, 3 STALE), message,
    hardware_id (optional), values (dict str -> str)."""
    ts = typestore(distro)
    status_t = ts.types["diagnostic_msgs/msg/DiagnosticStatus"]
    kv_t = ts.types["diagnostic_msgs/msg/KeyValue"]
    items = [status_t(int(s.get("level", 0)), s["name"], s.get("message", ""), s.get("hardware_id", ""),
                      [kv_t(str(k), str(v)) for k, v in s.get("values", {}).items()])
             for s in statuses]
    msg = ts.types[DIAGNOSTICS_TYPE](_header(stamp_ns, "", distro), items)
    return bytes(ts.serialize_cdr(msg, DIAGNOSTICS_TYPE))


def encode_clock(stamp_ns: int, distro: str = "kilted") -> bytes:
    ts = typestore(distro)
    sec, nsec = divmod(int(stamp_ns), NS_PER_S)
    msg = ts.types[CLOCK_TYPE](ts.types["builtin_interfaces/msg/Time"](sec, nsec))
    return bytes(ts.serialize_cdr(msg, CLOCK_TYPE))


# --------------------------------------------------------------------------------------------------
# Writer


class BagWriter:
    """Write a rosbag2 (MCAP default) with the pipeline's topics.

    With `sort_on_close=True` (offline writers: simulate, evaluate --write-bag) messages are buffered
    and written in log-time order on close, so players see one merged, time-ordered stream; the
    recorder uses `sort_on_close=False` and writes as messages arrive. Bag metadata (sensor set, rate,
    body mass, ...) goes to rosbag2 `custom_data` (shown by `ros2 bag info`).
    """

    def __init__(self, path: str | Path, storage: str = "mcap", distro: str = "kilted", ns: str = "",
                 metadata: dict[str, Any] | None = None, sort_on_close: bool = True) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

        self.path = Path(path)
        if storage not in STORAGES:
            raise BagError(f"unknown bag storage {storage!r}; choose one of {list(STORAGES)}")
        self.distro = distro
        self.ns = _norm_ns(ns)
        self._ts = typestore(distro)
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        try:
            self._writer = Writer(self.path, version=9, storage_plugin=plugin)
            for key, value in (metadata or {}).items():
                self._writer.set_custom_data(str(key), json.dumps(value))
            self._writer.open()
        except (WriterError, OSError) as exc:
            raise BagError(f"{self.path}: cannot create bag: {exc}") from None
        self._conns: dict[str, Any] = {}
        self._sort = sort_on_close
        self._buffer: list[tuple[int, int, str, bytes]] = []
        self._closed = False

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self, topic: str, msgtype: str) -> Any:
        conn = self._conns.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msgtype, typestore=self._ts)
            self._conns[topic] = conn
        elif conn.msgtype != msgtype:
            raise BagError(f"{self.path}: topic {topic} already has type {conn.msgtype}, not {msgtype}")
        return conn

    def write_raw(self, topic: str, msgtype: str, log_time_ns: int, data: bytes) -> None:
        """One serialised (CDR) message; `log_time_ns` = receive time (the bag's timestamp)."""
        conn = self._connection(topic, msgtype)
        if self._sort:
            self._buffer.append((int(log_time_ns), len(self._buffer), topic, bytes(data)))
        else:
            self._writer.write(conn, int(log_time_ns), data)

    def write_many(self, topic: str, msgtype: str, log_time_ns: np.ndarray, datas: Sequence[bytes]) -> None:
        for t, d in zip(np.asarray(log_time_ns, dtype=np.int64).tolist(), datas, strict=True):
            self.write_raw(topic, msgtype, t, d)

    def write_imu(self, segment: str, stamp_ns: np.ndarray, specific_force_m_s2: np.ndarray,
                  angular_rate_rad_s: np.ndarray, log_time_ns: np.ndarray | None = None,
                  frame_id: str | None = None) -> None:
        """Raw IMU samples of one sensor (sensor frame): stamps (N,) ns, (N, 3) arrays."""
        stamps = np.atleast_1d(np.asarray(stamp_ns, dtype=np.int64))
        block = imu_float_block(np.reshape(angular_rate_rad_s, (-1, 3)),
                                np.reshape(specific_force_m_s2, (-1, 3)))
        datas = encode_imu(stamps, frame_id if frame_id is not None else f"{segment}_imu", block, self.distro)
        self.write_many(imu_topic(segment, self.ns), IMU_TYPE, stamps if log_time_ns is None else log_time_ns,
                        datas)

    def write_kinematics(self, segment: str, stamp_ns: np.ndarray, orientation_xyzw: np.ndarray,
                         angular_velocity_rad_s: np.ndarray, com_acceleration_m_s2: np.ndarray,
                         log_time_ns: np.ndarray | None = None) -> None:
        """Segment kinematics (segment frame) as sensor_msgs/Imu, frame_id = segment name."""
        stamps = np.atleast_1d(np.asarray(stamp_ns, dtype=np.int64))
        block = imu_float_block(np.reshape(angular_velocity_rad_s, (-1, 3)),
                                np.reshape(com_acceleration_m_s2, (-1, 3)),
                                np.reshape(orientation_xyzw, (-1, 4)))
        self.write_many(kinematics_topic(segment, self.ns), IMU_TYPE,
                        stamps if log_time_ns is None else log_time_ns,
                        encode_imu(stamps, segment, block, self.distro))

    def write_torques(self, stamp_ns: np.ndarray, effort_nm: np.ndarray, names: Sequence[str] = JOINTS,
                      truth: bool = False, log_time_ns: np.ndarray | None = None) -> None:
        """Joint torques (N, J) in Nm on <ns>/joint_torques (or _truth)."""
        stamps = np.atleast_1d(np.asarray(stamp_ns, dtype=np.int64))
        effort = np.asarray(effort_nm, dtype=float)
        if effort.ndim == 1:
            effort = effort[None, :]
        self.write_many(torque_topic(self.ns, truth), JOINT_STATE_TYPE,
                        stamps if log_time_ns is None else log_time_ns,
                        encode_joint_state(stamps, names, effort, distro=self.distro))

    def write_diagnostics(self, stamp_ns: int, statuses: Iterable[dict[str, Any]],
                          log_time_ns: int | None = None) -> None:
        self.write_raw(DIAGNOSTICS_TOPIC, DIAGNOSTICS_TYPE, stamp_ns if log_time_ns is None else log_time_ns,
                       encode_diagnostics(stamp_ns, statuses, self.distro))

    def write_clock(self, stamp_ns: int) -> None:
        self.write_raw(CLOCK_TOPIC, CLOCK_TYPE, stamp_ns, encode_clock(stamp_ns, self.distro))

    def close(self) -> None:
        """Flush (sorted by log time when buffering) and finalise; leaves a valid bag."""
        if self._closed:
            return
        self._closed = True
        if self._sort:
            self._buffer.sort(key=lambda item: (item[0], item[1]))
            for t, _i, topic, data in self._buffer:
                self._writer.write(self._conns[topic], t, data)
            self._buffer.clear()
        self._writer.close()


# --------------------------------------------------------------------------------------------------
# Reader


@dataclass
class ImuTopic:
    """All messages of one sensor_msgs/Imu topic, in bag (log-time) order, NOT sorted by stamp.

    log_time_ns (N,) receive time; stamp_ns (N,) header stamps; arrays in the message frame."""

    topic: str
    segment: str
    frame_id: str
    log_time_ns: np.ndarray
    stamp_ns: np.ndarray
    specific_force_m_s2: np.ndarray  # linear_acceleration field (CoM acceleration on kinematics topics)
    angular_rate_rad_s: np.ndarray  # angular_velocity field
    orientation_xyzw: np.ndarray
    seq: np.ndarray  # global position of each message in the bag's message order

    def __len__(self) -> int:
        return int(self.stamp_ns.shape[0])


@dataclass
class JointTopic:
    """All messages of one sensor_msgs/JointState topic in bag order: effort (N, J) Nm."""

    topic: str
    names: tuple[str, ...]
    log_time_ns: np.ndarray
    stamp_ns: np.ndarray
    effort_nm: np.ndarray

    def __len__(self) -> int:
        return int(self.stamp_ns.shape[0])


@dataclass
class BagData:
    """Decoded pipeline topics of one bag (one namespace)."""

    path: Path
    ns: str
    storage: str
    metadata: dict[str, Any]
    topics: dict[str, tuple[str, int]]  # every topic in the bag -> (msgtype, count)
    imu: dict[str, ImuTopic] = field(default_factory=dict)
    kinematics: dict[str, ImuTopic] = field(default_factory=dict)
    torques: JointTopic | None = None
    truth: JointTopic | None = None
    diagnostics_count: int = 0
    start_ns: int = 0
    end_ns: int = 0

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) * 1e-9

    def imu_arrival(self, segments: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Merged arrival order of the given segments' IMU messages: (segment index (M,), row (M,))."""
        seg_idx = np.concatenate([np.full(len(self.imu[s]), i) for i, s in enumerate(segments)])
        rows = np.concatenate([np.arange(len(self.imu[s])) for s in segments])
        seq = np.concatenate([self.imu[s].seq for s in segments])
        order = np.argsort(seq, kind="stable")
        return seg_idx[order], rows[order]


def _open_reader(path: Path) -> Any:
    from rosbags.rosbag2 import Reader

    if not path.exists():
        raise BagError(f"{path}: no such bag (expected a rosbag2 directory or a .mcap/.db3 file)")
    try:
        reader = Reader(path)
        reader.open()
    except BagError:
        raise
    except Exception as exc:  # rosbags raises ReaderError, struct/zstd/yaml/sqlite errors on corrupt input
        raise BagError(f"{path}: not a readable rosbag2 (truncated or corrupt?): {exc}") from None
    return reader


def _storage_of(path: Path) -> str:
    files = [path] if path.is_file() else list(path.iterdir())
    return "sqlite3" if any(f.suffix == ".db3" for f in files) else "mcap"


def classify_topic(topic: str) -> tuple[str, str | None, str] | None:
    """(namespace, segment or None, kind) for a pipeline topic name, None for others."""
    if topic == DIAGNOSTICS_TOPIC:
        return "", None, "diagnostics"
    if topic == CLOCK_TOPIC:
        return "", None, "clock"
    m = _TOPIC_RE.match(topic)
    if m is None:
        return None
    if m.group("jkind"):
        return m.group("ns"), None, m.group("jkind")
    return m.group("ns"), m.group("segment"), m.group("kind")


def bag_info(path: str | Path) -> dict[str, Any]:
    """Topics (type, count), duration, storage, namespaces, metadata; raises BagError if unreadable."""
    path = Path(path)
    reader = _open_reader(path)
    try:
        topics = {t: (info.msgtype or "?", int(info.msgcount)) for t, info in reader.topics.items()}
        custom = _custom_data(reader)
        n = reader.message_count
        # rosbags' end_time is one past the last message's timestamp
        span_ns = int(reader.end_time) - 1 - int(reader.start_time) if n else 0
        out = {"path": str(path), "storage": _storage_of(path), "duration_s": span_ns * 1e-9,
               "start_ns": int(reader.start_time) if n else 0, "end_ns": int(reader.end_time) - 1 if n else 0,
               "message_count": int(reader.message_count), "ros_distro": reader.ros_distro,
               "topics": topics, "metadata": custom,
               "namespaces": sorted({c[0] for t in topics
                                     if (c := classify_topic(t)) and c[2] == "imu/data_raw"})}
    except BagError:
        raise
    except Exception as exc:
        raise BagError(f"{path}: cannot read bag metadata: {exc}") from None
    finally:
        reader.close()
    return out


def _custom_data(reader: Any) -> dict[str, Any]:
    meta = getattr(reader.storage, "metadata", None)
    raw = (getattr(meta, "custom", None) or {}) if meta is not None else {}
    out: dict[str, Any] = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except (TypeError, ValueError):
            out[k] = v
    return out


def read_bag(path: str | Path, ns: str | None = None, segments: Sequence[str] | None = None,
             require_imu: bool = True, distro: str = "kilted") -> BagData:
    """Read and decode the pipeline topics of namespace `ns` (None: the bag's only namespace).

    segments: IMU segments that must be present (e.g. body.SENSOR_SETS["3imu"]); None = whatever is
    there. Raises BagError for unreadable/truncated files, missing expected topics and topics whose
    message type differs from the contract.
    """
    path = Path(path)
    reader = _open_reader(path)
    try:
        return _read(reader, path, ns, segments, require_imu, distro)
    except BagError:
        raise
    except Exception as exc:  # corrupt chunk / record in the middle of the file
        raise BagError(f"{path}: error while reading messages (truncated or corrupt bag?): {exc}") from None
    finally:
        reader.close()


def _read(reader: Any, path: Path, ns: str | None, segments: Sequence[str] | None, require_imu: bool,
          distro: str) -> BagData:
    topics = {t: (info.msgtype or "?", int(info.msgcount)) for t, info in reader.topics.items()}
    classified = {t: c for t in topics if (c := classify_topic(t)) is not None}
    for t, (_ns, _seg, kind) in classified.items():
        if topics[t][0] != _KIND_TYPE[kind]:
            raise BagError(f"{path}: topic {t} has message type {topics[t][0]}, expected {_KIND_TYPE[kind]}")
    namespaces = sorted({c[0] for c in classified.values() if c[2] == "imu/data_raw"})
    if ns is None:
        if len(namespaces) > 1:
            raise BagError(f"{path}: IMU topics in several namespaces {namespaces}; choose one with ns=")
        ns = namespaces[0] if namespaces else ""
    ns = _norm_ns(ns)
    wanted = {t: c for t, c in classified.items() if c[0] == ns or c[2] in ("diagnostics", "clock")}
    imu_segs = [c[1] for c in wanted.values() if c[2] == "imu/data_raw" and c[1] is not None]
    if require_imu and not imu_segs:
        shown = ", ".join(f"{t} [{ty}]" for t, (ty, _n) in sorted(topics.items())) or "none"
        raise BagError(f"{path}: no IMU topics <ns>/<segment>/imu/data_raw (namespace {ns or '/'}); "
                       f"topics in the bag: {shown}")
    if segments is not None:
        missing = [s for s in segments if s not in imu_segs]
        if missing:
            raise BagError(f"{path}: missing IMU topic(s) {[imu_topic(s, ns) for s in missing]} "
                           f"(present: {sorted(imu_topic(s, ns) for s in imu_segs)})")
    fast = _scan_mcap(path, set(wanted))
    if fast is not None:
        raws, logs, seqs = fast
    else:
        raws = {t: [] for t in wanted}
        logs = {t: [] for t in wanted}
        seqs = {t: [] for t in wanted}
        conns = [c for c in reader.connections if c.topic in wanted]
        for i, (conn, log_ns, raw) in enumerate(reader.messages(connections=conns) if conns else ()):
            raws[conn.topic].append(raw)
            logs[conn.topic].append(log_ns)
            seqs[conn.topic].append(i)
    data = BagData(path=path, ns=ns, storage=_storage_of(path), metadata=_custom_data(reader), topics=topics,
                   start_ns=int(reader.start_time) if reader.message_count else 0,
                   end_ns=int(reader.end_time) - 1 if reader.message_count else 0)
    for t, (_ns, seg, kind) in sorted(wanted.items()):
        if not raws[t]:
            continue
        log = np.asarray(logs[t], dtype=np.int64)
        if kind in ("imu/data_raw", "kinematics"):
            try:
                stamps, block, frame_id = _decode_imu(raws[t], distro)
            except Exception as exc:
                raise BagError(f"{path}: topic {t}: cannot decode sensor_msgs/Imu (corrupt message?): "
                               f"{exc}") from None
            assert seg is not None
            item = ImuTopic(t, seg, frame_id, log, stamps, block[:, 25:28].copy(), block[:, 13:16].copy(),
                            block[:, 0:4].copy(), np.asarray(seqs[t], dtype=np.int64))
            (data.imu if kind == "imu/data_raw" else data.kinematics)[seg] = item
        elif kind in ("joint_torques", "joint_torques_truth"):
            try:
                stamps, effort, names = _decode_joint_state(raws[t], distro)
            except Exception as exc:
                raise BagError(f"{path}: topic {t}: cannot decode sensor_msgs/JointState (corrupt message?): "
                               f"{exc}") from None
            jt = JointTopic(t, names, log, stamps, effort)
            if kind == "joint_torques":
                data.torques = jt
            else:
                data.truth = jt
        elif kind == "diagnostics":
            data.diagnostics_count = len(raws[t])
    return data


_MCAP_MAGIC = b"\x89MCAP0\r\n"


def _scan_mcap(path: Path, topics: set[str]) -> tuple[dict, dict, dict] | None:
    """Messages of `topics` straight from a single MCAP file with uncompressed chunks (what rosbags and
    this module write): {topic: [cdr bytes]}, {topic: [log_time_ns]}, {topic: [position]} in the order
    rosbags' reader yields them (log time, ties by file position). About 6x less CPU per message than
    iterating rosbags' reader (benchmarks/bench_bags.py), which matters for 10^6-message bags. Returns
    None for anything else (split or compressed bags, sqlite3, unexpected records): the caller then
    reads with rosbags, which also produces the error messages for damaged files."""
    import struct

    files = [path] if path.is_file() else sorted(path.glob("*.mcap"))
    if len(files) != 1 or files[0].suffix != ".mcap" or (path.is_dir() and any(path.glob("*.db3"))):
        return None
    buf = files[0].read_bytes()
    n = len(buf)
    if n < 16 or buf[:8] != _MCAP_MAGIC or buf[-8:] != _MCAP_MAGIC:
        return None
    unpack = struct.unpack_from
    channels: dict[int, str] = {}
    ch: list[int] = []
    lt: list[int] = []
    off: list[int] = []
    ln: list[int] = []

    def records(pos: int, end: int) -> bool:
        while pos < end:
            if pos + 9 > end:
                return False
            op, rlen = unpack("<BQ", buf, pos)
            body, nxt = pos + 9, pos + 9 + rlen
            if nxt > end:
                return False
            if op == 0x05:  # Message: channel u16, sequence u32, log_time u64, publish_time u64, data
                if rlen < 22:
                    return False
                cid, _seq, log = unpack("<HIQ", buf, body)
                ch.append(cid)
                lt.append(log)
                off.append(body + 22)
                ln.append(rlen - 22)
            elif op == 0x04:  # Channel: id u16, schema_id u16, topic string, ...
                cid, _sid, tlen = unpack("<HHI", buf, body)
                channels[cid] = buf[body + 8:body + 8 + tlen].decode()
            elif op == 0x06:  # Chunk: start, end, uncompressed size u64 x3, crc u32, compression, records
                q = body + 28
                (clen,) = unpack("<I", buf, q)
                if buf[q + 4:q + 4 + clen]:  # compressed: leave it to rosbags
                    return False
                q += 4 + clen
                (rl,) = unpack("<Q", buf, q)
                if q + 8 + rl > nxt or not records(q + 8, q + 8 + rl):
                    return False
            elif op == 0x0F:  # DataEnd: the summary section follows
                return True
            pos = nxt
        return True

    try:
        if not records(8, n - 8):
            return None
    except (struct.error, UnicodeDecodeError):
        return None
    if not ch:
        return ({t: [] for t in topics}, {t: [] for t in topics}, {t: [] for t in topics})
    cids = np.asarray(ch, dtype=np.int64)
    logs_a = np.asarray(lt, dtype=np.int64)
    order = np.lexsort((np.arange(len(ch)), logs_a))  # log time, ties by file position
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    raws: dict[str, list[bytes]] = {t: [] for t in topics}
    logs: dict[str, list[int]] = {t: [] for t in topics}
    seqs: dict[str, list[int]] = {t: [] for t in topics}
    for cid, topic in channels.items():
        if topic not in topics:
            continue
        idx = np.flatnonzero(cids == cid)
        idx = idx[np.argsort(rank[idx], kind="stable")]
        raws[topic].extend(buf[off[i]:off[i] + ln[i]] for i in idx.tolist())
        logs[topic].extend(logs_a[idx].tolist())
        seqs[topic].extend(rank[idx].tolist())
    return raws, logs, seqs


def iter_raw(path: str | Path, topics: Sequence[str] | None = None) -> Iterator[tuple[str, str, int, bytes]]:
    """(topic, msgtype, log_time_ns, cdr bytes) in bag order, for replay; BagError on corrupt input."""
    path = Path(path)
    reader = _open_reader(path)
    try:
        conns = [c for c in reader.connections if topics is None or c.topic in topics]
        for conn, log_ns, raw in reader.messages(connections=conns) if conns else ():
            yield conn.topic, conn.msgtype, int(log_ns), raw
    except BagError:
        raise
    except Exception as exc:
        raise BagError(f"{path}: error while reading messages (truncated or corrupt bag?): {exc}") from None
    finally:
        reader.close()

