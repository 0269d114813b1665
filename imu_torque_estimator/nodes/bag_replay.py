"""bag_replay node: plays a rosbag2's IMU topics (or all pipeline topics) into the graph.

Messages are published as the recorded CDR bytes (nothing re-serialised) at their recorded log-time
spacing divided by `rate`, and `/clock` (rosgraph_msgs/Clock) follows the bag's time so the other
nodes can run with use_sim_time. With `loop`, every pass shifts header stamps and /clock by the bag
duration plus one sample period, so the pipeline sees one continuous timeline (no backward jump).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock

from ..data import bags
from ..units import NS_PER_S
from .common import (
    OK,
    ConfigError,
    DiagnosticsPublisher,
    ParamSpec,
    declare_parameters,
    make_status,
    reject_unknown_parameters,
    run_node,
    sensor_qos,
)

PARAMS = (
    ParamSpec("bag", "", "rosbag2 directory or .mcap/.db3 file to play"),
    ParamSpec("rate", 1.0, "playback rate factor (2.0 = twice as fast as recorded)", range=(0.01, 1000.0)),
    ParamSpec("loop", False, "restart at the end; stamps continue (shifted by the bag duration)"),
    ParamSpec("publish_clock", True, "publish /clock from the bag time for use_sim_time"),
    ParamSpec("clock_rate_hz", 100.0, "/clock publishing rate (bag time)", range=(1.0, 10000.0)),
    ParamSpec("topics", "imu", "which topics to play: imu (<ns>/<segment>/imu/data_raw) or all",
              choices=("imu", "all")),
    ParamSpec("start_delay_s", 0.5, "wall-clock wait before the first message (lets subscribers match)",
              range=(0.0, 60.0)),
    ParamSpec("wait_for_subscribers", 0, "wait until every IMU topic has at least this many subscribers",
              range=(0, 100)),
)
_HEADER_TYPES = {bags.IMU_TYPE, bags.JOINT_STATE_TYPE, bags.DIAGNOSTICS_TYPE}


def shift_header_stamp(raw: bytes, shift_ns: int) -> bytes:
    """CDR message starting with std_msgs/Header: header.stamp + shift_ns (little-endian CDR only)."""
    if shift_ns == 0:
        return raw
    if raw[:2] != b"\x00\x01":
        raise bags.BagError("only little-endian CDR messages can be re-stamped")
    sec = int(np.frombuffer(raw, "<i4", 1, 4)[0])
    nsec = int(np.frombuffer(raw, "<u4", 1, 8)[0])
    s, n = divmod(sec * NS_PER_S + nsec + shift_ns, NS_PER_S)
    return raw[:4] + np.int32(s).tobytes() + np.uint32(n).tobytes() + raw[12:]


class BagReplay(Node):
    NODE_NAME = "bag_replay"

    def __init__(self) -> None:
        super().__init__(self.NODE_NAME, automatically_declare_parameters_from_overrides=False)
        p = declare_parameters(self, PARAMS)
        reject_unknown_parameters(self)
        if not p["bag"]:
            raise ConfigError("parameter 'bag' is required (a rosbag2 directory or .mcap/.db3 file)")
        try:
            info = bags.bag_info(p["bag"])
        except bags.BagError as exc:
            raise ConfigError(str(exc)) from None
        self.p = p
        topics = {}
        for t, (ty, n) in info["topics"].items():
            kind = bags.classify_topic(t)
            if t == bags.CLOCK_TOPIC or n == 0:
                continue
            if p["topics"] == "imu" and (kind is None or kind[2] != "imu/data_raw"):
                continue
            topics[t] = ty
        if not any((k := bags.classify_topic(t)) and k[2] == "imu/data_raw" for t in topics):
            raise ConfigError(f"{p['bag']}: no IMU topics <ns>/<segment>/imu/data_raw to play")
        self._topics = topics
        self._pubs: dict[str, Any] = {}
        for t, ty in topics.items():
            pkg, _m, cls = ty.split("/")
            msg_cls = getattr(__import__(f"{pkg}.msg", fromlist=[cls]), cls)
            imu = ty == bags.IMU_TYPE
            qos = sensor_qos(100) if imu else QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
            self._pubs[t] = self.create_publisher(msg_cls, t, qos)
        self._clock_pub = self.create_publisher(Clock, "/clock", 10) if p["publish_clock"] else None
        self._diag = DiagnosticsPublisher(self)
        self._duration_ns = info["end_ns"] - info["start_ns"]
        rate_hz = float(info["metadata"].get("rate_hz", 200.0))
        self._period_ns = int(round(1e9 / rate_hz))
        self.published = 0
        self.loops = 0
        self.lag_s_max = 0.0
        self.done = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._play, daemon=True)
        self._thread.start()
        self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(f"playing {len(topics)} topics of {p['bag']} at x{p['rate']:g}"
                               f"{' (loop)' if p['loop'] else ''}")

    def _messages(self) -> Iterator[tuple[str, str, int, bytes]]:
        return bags.iter_raw(self.p["bag"], topics=list(self._topics))

    def _wait_for_subscribers(self) -> None:
        need = self.p["wait_for_subscribers"]
        imu_pubs = [pub for t, pub in self._pubs.items() if self._topics[t] == bags.IMU_TYPE]
        while need and not self._stop.is_set() and any(p.get_subscription_count() < need for p in imu_pubs):
            time.sleep(0.05)

    def _play(self) -> None:
        try:
            self._wait_for_subscribers()
            self._stop.wait(self.p["start_delay_s"])
            rate = self.p["rate"]
            clock_step = int(round(1e9 / self.p["clock_rate_hz"]))
            shift = 0
            wall0: float | None = None
            bag0 = 0
            next_clock = None
            while not self._stop.is_set():
                for topic, ty, log_ns, raw in self._messages():
                    if self._stop.is_set():
                        return
                    t_bag = log_ns + shift
                    if wall0 is None:
                        wall0, bag0 = time.monotonic(), t_bag
                    due = wall0 + (t_bag - bag0) * 1e-9 / rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        self._stop.wait(delay)
                    else:
                        self.lag_s_max = max(self.lag_s_max, -delay)
                    if self._clock_pub is not None and (next_clock is None or t_bag >= next_clock):
                        self._publish_clock(t_bag)
                        next_clock = t_bag + clock_step
                    data = shift_header_stamp(raw, shift) if ty in _HEADER_TYPES else raw
                    self._pubs[topic].publish(data)
                    self.published += 1
                if not self.p["loop"]:
                    break
                self.loops += 1
                shift += self._duration_ns + self._period_ns
            self.done = True
            self.get_logger().info(f"finished: {self.published} messages, {self.loops} loops")
        except bags.BagError as exc:
            self.get_logger().error(str(exc))
            self.done = True
        except Exception:  # publishing after the context shut down (Ctrl-C): stop quietly
            if self.context.ok() and not self._stop.is_set():
                raise

    def _publish_clock(self, t_ns: int) -> None:
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(int(t_ns), NS_PER_S)
        if self._clock_pub is not None:
            self._clock_pub.publish(msg)

    def _publish_diagnostics(self) -> None:
        self._diag.publish([make_status(
            f"{self.get_name()}: replay", OK, "finished" if self.done else "playing",
            {"published": self.published, "loops": self.loops, "lag_s_max": self.lag_s_max,
             "bag": self.p["bag"], "rate": self.p["rate"]})])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)


def main(args: list[str] | None = None) -> int:
    return run_node(BagReplay, args)


if __name__ == "__main__":
    raise SystemExit(main())
