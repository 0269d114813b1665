"""A dummy sensor set and a dummy IMU vendor, added through the registries alone (no edit of the
package): what test_extension.py runs offline and as a node graph. `register()` adds

- sensor set `duo` = pelvis + right thigh (body.register_sensor_set), and
- source `fakestation`: a vendor driver whose one device (`FakeStation`, the `Device` protocol of
  pipeline/sources/base.py) serves both sensors, like a multi-IMU station; the sources of one process
  share one station session (DeviceSource share_key) and each takes its own sensor's samples.

The station streams quiet standing as the nominal mountings (kinematics.placement) read it, on the
rate grid of its clock (time.time_ns, or `SourceConfig.extra["clock_ns"]`), so the drivers of
different processes agree on stamps.
Run as a script (`python dummy_plugin.py <node> --ros-args ...`) it registers both, then runs the
package's node: the node processes of the test's graph. In the test process the registrations go
through monkeypatch instead, so that they end with the test.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from imu_torque_estimator.body import GRAVITY_M_S2, lower_body_model, register_sensor_set
from imu_torque_estimator.kinematics.placement import default_placements
from imu_torque_estimator.pipeline.sources import DeviceSource, SourceConfig, register_source

SET_NAME = "duo"
SEGMENTS = ("pelvis", "thigh_r")
SOURCE = "fakestation"


@dataclass(frozen=True)
class StationSample:
    sensor: str  # the segment this sample belongs to (the Device protocol's multi-sensor field)
    stamp_ns: int
    specific_force_m_s2: np.ndarray
    angular_rate_rad_s: np.ndarray
    orientation_wxyz: np.ndarray | None = None


class FakeStation:
    """One device serving several sensors: every call returns, for each sensor, the samples on the
    rate grid since the last call (at most `max_batch` per sensor, as a real buffer would)."""

    opened = 0  # sessions opened in this process (the test checks that sharing opens one)

    def __init__(self, sensors: tuple[str, ...], rate_hz: float, max_batch: int = 50,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.sensors = sensors
        self.clock_ns = clock_ns
        self.period_ns = int(round(1e9 / rate_hz))
        self.max_batch = max_batch
        placements = default_placements(lower_body_model(75.0, 1.75))
        up = np.array([0.0, 0.0, GRAVITY_M_S2])  # standing still: specific force = +g (ground z)
        self._f = {s: placements[s].sensor_to_segment.T @ up for s in sensors}
        self._next: int | None = None
        self.connected = False
        self.reads = 0

    def connect(self) -> None:
        FakeStation.opened += 1
        self.connected = True

    def read_samples(self) -> list[StationSample]:
        self.reads += 1
        now = self.clock_ns() // self.period_ns * self.period_ns
        if self._next is None:
            self._next = now
        stamps = range(max(self._next, now - (self.max_batch - 1) * self.period_ns), now + 1, self.period_ns)
        self._next = now + self.period_ns
        return [StationSample(s, t, self._f[s].copy(), np.zeros(3)) for t in stamps for s in self.sensors]

    def close(self) -> None:
        self.connected = False


def fakestation_source(config: SourceConfig) -> DeviceSource:
    """The vendor's registry entry: one shared FakeStation per process for all its sensors."""
    clock = config.extra.get("clock_ns", time.time_ns)
    return DeviceSource(config, lambda: FakeStation(SEGMENTS, config.rate_hz, clock_ns=clock), SOURCE,
                        description=f"fake station {config.segment}", share_key=(SOURCE, config.rate_hz))


def register() -> None:
    register_sensor_set(SET_NAME, SEGMENTS)
    register_source(SOURCE, fakestation_source)


if __name__ == "__main__":
    import importlib

    register()
    node = sys.argv.pop(1)
    raise SystemExit(importlib.import_module(f"imu_torque_estimator.nodes.{node}").main())
