"""Shared rclpy helpers for the package's nodes (generic: no node-specific logic here).

- QoS: `sensor_qos(depth)` = SensorDataQoS (best effort, volatile) with an adjustable queue depth.
- Time: `ns_to_time_msg` / `time_msg_to_ns` (builtin_interfaces/Time <-> int nanoseconds).
- Imu: `fill_imu_msg` (arrays -> sensor_msgs/Imu, REP-145 covariance conventions), `read_imu_msg`
  (sensor_msgs/Imu -> arrays, without allocating when output buffers are given), `read_imu_raw`
  (the same from serialized CDR bytes of a raw subscription, fast path), `ImuWriter` (serialized
  messages for publish(bytes), fast path).
- Parameters: the ROS-free `ParamSpec` tables of pipeline/params.py declared with
  `declare_parameters` (ParameterDescriptor with description, ranges, read_only, allowed values) and
  `reject_unknown_parameters` (a YAML key or `-p` override the node does not declare is a startup error).
- Diagnostics: `DiagnosticsPublisher` (diagnostic_msgs/DiagnosticArray on /diagnostics).
- `run_node(NodeClass)`: main wrapper; startup configuration errors become one line on stderr and
  exit code 2, Ctrl-C / SIGTERM exit cleanly.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import rclpy
import rclpy.executors
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy._rclpy_pybind11 import RCLError
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import Imu

from ..pipeline.config import ConfigError  # `run_node` prints it as one line, exit code 2
from ..pipeline.params import ParamSpec
from ..units import NS_PER_S

OK = DiagnosticStatus.OK
WARN = DiagnosticStatus.WARN
ERROR = DiagnosticStatus.ERROR
STALE = DiagnosticStatus.STALE


# --------------------------------------------------------------------------------------------- QoS
def sensor_qos(depth: int = 5) -> QoSProfile:
    """SensorDataQoS (best effort, volatile, keep last) with queue `depth`."""
    qos = QoSProfile(depth=depth)
    qos.reliability = qos_profile_sensor_data.reliability
    qos.durability = qos_profile_sensor_data.durability
    qos.history = qos_profile_sensor_data.history
    qos.depth = depth
    return qos


# -------------------------------------------------------------------------------------------- time
def ns_to_time_msg(stamp_ns: int, msg: Time | None = None) -> Time:
    """int nanoseconds -> builtin_interfaces/Time (fills `msg` if given)."""
    msg = Time() if msg is None else msg
    sec, nsec = divmod(int(stamp_ns), NS_PER_S)
    msg.sec = sec
    msg.nanosec = nsec
    return msg


def time_msg_to_ns(msg: Time) -> int:
    """builtin_interfaces/Time -> int nanoseconds."""
    return int(msg.sec) * NS_PER_S + int(msg.nanosec)


# --------------------------------------------------------------------------------------------- Imu
_NO_COV = np.zeros(9)


def fill_imu_msg(
    msg: Imu,
    stamp_ns: int,
    frame_id: str,
    linear_acceleration_m_s2: Sequence[float],
    angular_velocity_rad_s: Sequence[float],
    orientation_wxyz: Sequence[float] | None = None,
    covariance: bool = True,
) -> Imu:
    """Fill a sensor_msgs/Imu: stamp, frame, vectors; covariance unknown (all zeros);
    without orientation, orientation_covariance[0] = -1 (REP-145). `covariance=False` skips
    (re)writing the covariance arrays: for a reused message whose covariances are already set
    and whose orientation presence does not change (saves most of the cost per call)."""
    ns_to_time_msg(stamp_ns, msg.header.stamp)
    msg.header.frame_id = frame_id
    a, w = msg.linear_acceleration, msg.angular_velocity
    a.x, a.y, a.z = (float(v) for v in linear_acceleration_m_s2)
    w.x, w.y, w.z = (float(v) for v in angular_velocity_rad_s)
    q = msg.orientation
    if orientation_wxyz is None:
        q.w, q.x, q.y, q.z = 1.0, 0.0, 0.0, 0.0
    else:
        q.w, q.x, q.y, q.z = (float(v) for v in orientation_wxyz)
    if covariance:
        cov = _NO_COV.copy()
        if orientation_wxyz is None:
            cov[0] = -1.0
        msg.orientation_covariance = cov
        msg.angular_velocity_covariance = _NO_COV
        msg.linear_acceleration_covariance = _NO_COV
    return msg


def read_imu_msg(
    msg: Imu, accel_out: np.ndarray | None = None, gyro_out: np.ndarray | None = None
) -> tuple[int, np.ndarray, np.ndarray]:
    """sensor_msgs/Imu -> (stamp_ns, linear_acceleration (3,) m/s^2, angular_velocity (3,) rad/s).
    Writes into `accel_out` / `gyro_out` when given (no allocation)."""
    a = np.empty(3) if accel_out is None else accel_out
    w = np.empty(3) if gyro_out is None else gyro_out
    la, av = msg.linear_acceleration, msg.angular_velocity
    a[0], a[1], a[2] = la.x, la.y, la.z
    w[0], w[1], w[2] = av.x, av.y, av.z
    return time_msg_to_ns(msg.header.stamp), a, w


_LE_F8 = np.dtype("<f8")


def read_imu_raw(raw: bytes, accel_out: np.ndarray, gyro_out: np.ndarray) -> int:
    """Serialized sensor_msgs/Imu (CDR, as delivered by a `raw=True` subscription) -> stamp_ns,
    writing linear_acceleration and angular_velocity into the output arrays.

    Reads the fixed little-endian CDR layout directly: ~20x cheaper than rclpy's deserialisation
    into Python message objects (the hot path of segment_kinematics at 7 x 200 Hz; see
    benchmarks/bench_node_latency.py). Other encodings fall back to rclpy's deserializer.
    Layout after the 4-byte encapsulation: stamp (int32 sec, uint32 nanosec), frame_id (uint32
    length incl. NUL + chars), then 8-aligned doubles: orientation (4), orientation_covariance (9),
    angular_velocity (3), its covariance (9), linear_acceleration (3), its covariance (9)."""
    if raw[1] != 1:  # not CDR little-endian
        from rclpy.serialization import deserialize_message

        stamp, _, _ = read_imu_msg(deserialize_message(raw, Imu), accel_out, gyro_out)
        return stamp
    sec = int.from_bytes(raw[4:8], "little", signed=True)
    nsec = int.from_bytes(raw[8:12], "little")
    n = int.from_bytes(raw[12:16], "little")
    q = 16 + n
    q += (-(q - 4)) % 8  # doubles are 8-aligned relative to the payload start (offset 4)
    if len(raw) < q + 296:
        raise ValueError(f"serialized Imu too short: {len(raw)} bytes")
    gyro_out[:] = np.frombuffer(raw, _LE_F8, 3, q + 104)
    accel_out[:] = np.frombuffer(raw, _LE_F8, 3, q + 200)
    return sec * NS_PER_S + nsec


class ImuWriter:
    """Serialized sensor_msgs/Imu for one frame_id, for `Publisher.publish(bytes)`: the message
    `fill_imu_msg` would build, written into a CDR template with struct.pack_into. Measured
    ~8 us per encode+publish against ~35 us for fill_imu_msg + publish(msg) (the output hot path
    of segment_kinematics: 7 messages per sample at 200 Hz)."""

    def __init__(self, frame_id: str, with_orientation: bool) -> None:
        from rclpy.serialization import serialize_message

        msg = fill_imu_msg(Imu(), 0, frame_id, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0),
                           (1.0, 0.0, 0.0, 0.0) if with_orientation else None)
        self._tpl = bytes(serialize_message(msg))
        if self._tpl[1] != 1:
            raise RuntimeError("ImuWriter expects little-endian CDR from rclpy's serializer")
        n = int.from_bytes(self._tpl[12:16], "little")
        q = 16 + n
        self._q = q + (-(q - 4)) % 8
        self._with_q = with_orientation

    def encode(self, stamp_ns: int, linear_acceleration_m_s2: Sequence[float] | np.ndarray,
               angular_velocity_rad_s: Sequence[float] | np.ndarray,
               orientation_wxyz: Sequence[float] | np.ndarray | None = None) -> bytes:
        b = bytearray(self._tpl)
        sec, nsec = divmod(int(stamp_ns), NS_PER_S)
        struct.pack_into("<iI", b, 4, sec, nsec)
        q = self._q
        if self._with_q and orientation_wxyz is not None:
            w, x, y, z = orientation_wxyz  # geometry_msgs/Quaternion field order is x, y, z, w
            struct.pack_into("<4d", b, q, x, y, z, w)
        struct.pack_into("<3d", b, q + 104, *angular_velocity_rad_s)
        struct.pack_into("<3d", b, q + 200, *linear_acceleration_m_s2)
        return bytes(b)


# -------------------------------------------------------------------------------------- parameters
def _descriptor(spec: ParamSpec) -> ParameterDescriptor:
    d = ParameterDescriptor(name=spec.name, description=spec.description, read_only=spec.read_only)
    if spec.type_ is not None:
        d.type = int(spec.type_)
    choices = spec.allowed()
    if choices is not None:
        d.additional_constraints = "one of " + ", ".join(str(c) for c in choices)
    if spec.range is not None:
        lo, hi = spec.range
        if isinstance(spec.default, bool) or not isinstance(spec.default, (int, float)):
            raise TypeError(f"parameter {spec.name}: range needs an int or float default")
        if isinstance(spec.default, int):
            d.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    return d


def declare_parameters(node: Node, specs: Iterable[ParamSpec]) -> dict[str, Any]:
    """Declare `specs` on `node` (overrides from YAML/-p apply) and return name -> value.

    Raises ConfigError naming the parameter for a wrong type, an out-of-range value or a value
    outside `choices`."""
    values: dict[str, Any] = {}
    for spec in specs:
        p: Parameter
        try:
            if spec.type_ is not None and spec.default in (None, [], ()):
                p = node.declare_parameter(spec.name, spec.type_, _descriptor(spec))
            else:
                p = node.declare_parameter(spec.name, spec.default, _descriptor(spec))
        except ParameterException as exc:  # wrong type / out of range / invalid value
            raise ConfigError(f"parameter '{spec.name}': {_one_line(exc)}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"parameter '{spec.name}': {_one_line(exc)}") from None
        value = p.value
        if value is None and spec.type_ is not None:
            value = []
        if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
            value = list(value)
        choices = spec.allowed()
        if choices is not None and value not in choices:
            raise ConfigError(
                f"parameter '{spec.name}': {value!r} is not allowed; choose one of {list(choices)}")
        values[spec.name] = value
    return values


def reject_unknown_parameters(node: Node) -> None:
    """Raise ConfigError if a parameter override (params file or -p) names a parameter the node
    did not declare. Call after all declarations (node must use
    automatically_declare_parameters_from_overrides=False)."""
    unknown = sorted(n for n in node._parameter_overrides if not node.has_parameter(n))
    if unknown:
        known = sorted(node._parameters)
        raise ConfigError(f"unknown parameter(s) {unknown} for node '{node.get_name()}'; "
                          f"declared parameters are {known}")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


# ------------------------------------------------------------------------------------- diagnostics
def make_status(
    name: str, level: bytes, message: str, values: Mapping[str, Any] | None = None, hardware_id: str = ""
) -> DiagnosticStatus:
    """One DiagnosticStatus (level = OK/WARN/ERROR/STALE of this module); `values` are
    stringified (floats with 6 significant digits)."""
    st = DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id)
    for k, v in (values or {}).items():
        sv = f"{v:.6g}" if isinstance(v, float) else str(v)
        st.values.append(KeyValue(key=str(k), value=sv))
    return st


class DiagnosticsPublisher:
    """Publishes diagnostic_msgs/DiagnosticArray on the absolute topic /diagnostics."""

    def __init__(self, node: Node, topic: str = "/diagnostics") -> None:
        self._node = node
        self._pub = node.create_publisher(DiagnosticArray, topic, 10)

    def publish(self, statuses: Sequence[DiagnosticStatus]) -> DiagnosticArray:
        arr = DiagnosticArray()
        arr.header.stamp = self._node.get_clock().now().to_msg()
        arr.status = list(statuses)
        self._pub.publish(arr)
        return arr


# ------------------------------------------------------------------------------------------- main
def run_node(node_factory: Callable[[], Node], args: list[str] | None = None,
             name: str | None = None) -> int:
    """Create the node, spin until shutdown, return the process exit code.

    A ConfigError (or rclpy parameter error) raised while constructing the node is printed as ONE
    line `<name>: configuration error: ...` on stderr and logged, and the exit code is 2.
    Ctrl-C / SIGTERM shut down cleanly with exit code 0."""
    label = name or getattr(node_factory, "NODE_NAME", None) or getattr(node_factory, "__name__", "node")
    try:
        rclpy.init(args=args)
    except RCLError as exc:  # e.g. an unparsable --params-file
        print(f"{label}: configuration error: {_one_line(exc)}", file=sys.stderr, flush=True)
        return 2
    node: Node | None = None
    try:
        try:
            node = node_factory()
        except (ConfigError, ParameterException, FileNotFoundError) as exc:
            print(f"{label}: configuration error: {_one_line(exc)}", file=sys.stderr, flush=True)
            return 2
        try:
            # SingleThreadedExecutor: rclpy.experimental.EventsExecutor (kilted wheels) was tried and
            # busy-looped at ~50 % CPU while idle and ignored SIGTERM, so it is not used.
            rclpy.spin(node, rclpy.executors.SingleThreadedExecutor())
        except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
            pass
        return 0
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
