"""Multi-sensor IMU stream handling (ROS-free): validity checks and alignment onto a common time grid.
First step of the kinematics stage (pipeline/segment_kinematics.py), so the segment_kinematics node
and the offline bag pipeline skip and count bad samples identically.

Time is integer nanoseconds everywhere (`stamp_ns`); samples are specific force (m/s^2, incl.
gravity) and angular rate (rad/s) in each sensor's frame.

Alignment: the grid is t_k = k * period_ns in absolute stamp time (period_ns = round(1e9 / rate_hz)),
so sensors whose stamps already lie on that grid (the simulated and replayed drivers) are passed
through exactly; jittered stamps are linearly interpolated between the two bracketing samples.
A grid point is emitted once every sensor has a sample at or after it. It is dropped (counted,
never output) when a sensor's bracketing samples are further apart than `max_gap_s` (a missing or
rejected sample: "gap:<segment>") or when a sensor lags the newest stamp of the set by more than
`stale_timeout_s` ("stale:<segment>"); output resumes by itself when the sensor is back.

Bad samples (counted per sensor and reason, never buffered): NaN/inf ("nan_inf"), a component at
or above `saturation_fraction` of the full scale ("saturated"), a stamp equal to the previous one
("duplicate_stamp"), a stamp older than the previous one ("out_of_order"), and a stamp older than
the previous one by more than `backward_jump_s` ("backward_jump": the sensor's clock restarted; its
buffer restarts from the new timeline, and once every sensor has jumped the grid is re-anchored).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..body import GRAVITY_M_S2, check_segments
from ..units import NS_PER_S

# Invalid-sample reasons (diagnostic keys).
NAN_INF = "nan_inf"
SATURATED = "saturated"
DUPLICATE = "duplicate_stamp"
OUT_OF_ORDER = "out_of_order"
BACKWARD_JUMP = "backward_jump"
SAMPLE_REASONS: tuple[str, ...] = (NAN_INF, SATURATED, DUPLICATE, OUT_OF_ORDER, BACKWARD_JUMP)
# Grid-point drop reasons (suffixed with ":<segment>").
STALE = "stale"
GAP = "gap"


@dataclass(frozen=True)
class StreamConfig:
    """Alignment and validity settings. Full scales default to the Xsens MTi-3 ranges (+-16 g,
    +-2000 deg/s); `max_gap_s` defaults to 1.5 sample periods (one missing sample is a gap)."""

    segments: tuple[str, ...]
    rate_hz: float
    stale_timeout_s: float = 0.1
    max_gap_s: float | None = None
    backward_jump_s: float = 0.5
    accel_full_scale_m_s2: float = 16.0 * GRAVITY_M_S2
    gyro_full_scale_rad_s: float = math.radians(2000.0)
    saturation_fraction: float = 0.995

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", check_segments(tuple(self.segments)))
        if not self.segments:
            raise ValueError("StreamConfig.segments is empty")
        if len(set(self.segments)) != len(self.segments):
            raise ValueError(f"StreamConfig.segments has duplicates: {list(self.segments)}")
        if not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ValueError(f"StreamConfig.rate_hz must be > 0, got {self.rate_hz}")
        for name in ("stale_timeout_s", "backward_jump_s", "accel_full_scale_m_s2",
                     "gyro_full_scale_rad_s", "saturation_fraction"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"StreamConfig.{name} must be > 0, got {v}")
        if self.max_gap_s is not None and not self.max_gap_s > 0:
            raise ValueError(f"StreamConfig.max_gap_s must be > 0, got {self.max_gap_s}")

    @property
    def period_ns(self) -> int:
        return int(round(NS_PER_S / self.rate_hz))

    @property
    def max_gap_ns(self) -> int:
        return int(round(1.5 * self.period_ns if self.max_gap_s is None else self.max_gap_s * NS_PER_S))


@dataclass
class SensorCounters:
    """Per-sensor counters: received samples, accepted ones, rejected ones per reason."""

    received: int = 0
    accepted: int = 0
    invalid: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SAMPLE_REASONS, 0))

    @property
    def invalid_total(self) -> int:
        return sum(self.invalid.values())


class SampleValidator:
    """Validity checks of one sensor's samples (see module docstring for the reasons)."""

    def __init__(self, config: StreamConfig) -> None:
        self._acc_lim = config.saturation_fraction * config.accel_full_scale_m_s2
        self._gyr_lim = config.saturation_fraction * config.gyro_full_scale_rad_s
        self._jump_ns = int(config.backward_jump_s * NS_PER_S)
        self.last_stamp_ns: int | None = None
        self.counters = SensorCounters()

    def check(self, stamp_ns: int, accel_m_s2: np.ndarray, gyro_rad_s: np.ndarray) -> str | None:
        """Return None for a valid sample (and remember its stamp) or the rejection reason.
        A backward jump is returned as BACKWARD_JUMP but the stamp IS taken as the new timeline."""
        c = self.counters
        c.received += 1
        reason = self._reason(stamp_ns, accel_m_s2, gyro_rad_s)
        if reason is None:
            c.accepted += 1
            self.last_stamp_ns = stamp_ns
        else:
            c.invalid[reason] += 1
            if reason == BACKWARD_JUMP:
                self.last_stamp_ns = stamp_ns
        return reason

    def _reason(self, stamp_ns: int, a: np.ndarray, w: np.ndarray) -> str | None:
        # Python-level checks on 3-vectors: faster than numpy calls on such tiny arrays.
        a0, a1, a2 = float(a[0]), float(a[1]), float(a[2])
        w0, w1, w2 = float(w[0]), float(w[1]), float(w[2])
        isf = math.isfinite
        if not (isf(a0) and isf(a1) and isf(a2) and isf(w0) and isf(w1) and isf(w2)):
            return NAN_INF
        la, lw = self._acc_lim, self._gyr_lim
        if max(abs(a0), abs(a1), abs(a2)) >= la or max(abs(w0), abs(w1), abs(w2)) >= lw:
            return SATURATED
        last = self.last_stamp_ns
        if last is not None:
            if stamp_ns == last:
                return DUPLICATE
            if stamp_ns < last:
                return BACKWARD_JUMP if last - stamp_ns > self._jump_ns else OUT_OF_ORDER
        return None


@dataclass
class AlignedSample:
    """One grid point: stamp, specific force and angular rate of every sensor (S, 3) in
    StreamConfig.segments order, and the time since the previous emitted grid point minus one
    period (`gap_s` = 0 for contiguous output; `reset` = first sample after (re)anchoring)."""

    stamp_ns: int
    accel_m_s2: np.ndarray
    gyro_rad_s: np.ndarray
    gap_s: float
    reset: bool


class StreamAligner:
    """Validates and aligns the samples of several sensors onto the common grid.

    `push(i, stamp_ns, accel, gyro)` returns the grid samples completed by this sample (usually
    0 or 1). `counters[i]` hold per-sensor sample counters, `dropped` the grid-point drops per
    reason (a grid point with gaps in several sensors counts once per sensor), `emitted` the number
    of output samples, `dropped_points` the grid points not output, `lag_s_max`/`lag_s_last` the alignment lag
    (stamp of the sample that completed a grid point minus the grid time)."""

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self._n = len(config.segments)
        self._period = config.period_ns
        self._gap = config.max_gap_ns
        self._stale = int(config.stale_timeout_s * NS_PER_S)
        self._validators = [SampleValidator(config) for _ in range(self._n)]
        # per-sensor buffers of (stamp_ns, accel (3,), gyro (3,)), oldest first
        self._buf: list[deque[tuple[int, np.ndarray, np.ndarray]]] = [deque() for _ in range(self._n)]
        self._latest: list[int | None] = [None] * self._n
        self._arrival_ns: list[int | None] = [None] * self._n
        self._jumped = [False] * self._n
        self._next_grid: int | None = None
        self._last_emitted: int | None = None
        self._pending_reset = True
        self.emitted = 0
        self.dropped_points = 0  # grid points not output (each counted once)
        self.dropped: dict[str, int] = {}
        self.reanchors = 0
        self.lag_s_last = 0.0
        self.lag_s_max = 0.0

    # -------------------------------------------------------------------------------- queries
    @property
    def counters(self) -> list[SensorCounters]:
        return [v.counters for v in self._validators]

    def index(self, segment: str) -> int:
        try:
            return self.config.segments.index(segment)
        except ValueError:
            raise ValueError(f"segment {segment!r} is not in this stream set "
                             f"{list(self.config.segments)}") from None

    def silent_segments(self, now_ns: int) -> list[str]:
        """Segments with no accepted sample within stale_timeout_s of `now_ns` (arrival time as
        passed to push, e.g. the node's clock) -- including sensors never heard from."""
        out = []
        for seg, t in zip(self.config.segments, self._arrival_ns, strict=True):
            if t is None or now_ns - t > self._stale:
                out.append(seg)
        return out

    def lagging_segments(self) -> list[str]:
        """Segments whose newest stamp lags the set's newest stamp by more than stale_timeout_s."""
        known = [t for t in self._latest if t is not None]
        if not known:
            return []
        newest = max(known)
        return [s for s, t in zip(self.config.segments, self._latest, strict=True)
                if t is None or newest - t > self._stale]

    def dropped_total(self) -> int:
        """Sum of the per-reason/per-sensor drop counters (>= dropped_points)."""
        return sum(self.dropped.values())

    # ------------------------------------------------------------------------------ pushing
    def push(self, i: int, stamp_ns: int, accel_m_s2: np.ndarray, gyro_rad_s: np.ndarray,
             arrival_ns: int | None = None) -> list[AlignedSample]:
        """Offer one sample of sensor `i`; returns the grid samples it completes."""
        stamp_ns = int(stamp_ns)
        reason = self._validators[i].check(stamp_ns, accel_m_s2, gyro_rad_s)
        if reason is not None:
            if reason != BACKWARD_JUMP:
                return []
            self._on_backward_jump(i)
        buf = self._buf[i]
        buf.append((stamp_ns, np.array(accel_m_s2, dtype=float), np.array(gyro_rad_s, dtype=float)))
        self._latest[i] = stamp_ns
        self._arrival_ns[i] = stamp_ns if arrival_ns is None else int(arrival_ns)
        return self._advance(stamp_ns)

    def reset(self) -> None:
        """Forget all buffered samples and re-anchor the grid on the next samples."""
        for b in self._buf:
            b.clear()
        self._latest = [None] * self._n
        self._jumped = [False] * self._n
        self._next_grid = None
        self._last_emitted = None
        self._pending_reset = True

    def _on_backward_jump(self, i: int) -> None:
        self._buf[i].clear()
        self._latest[i] = None
        self._jumped[i] = True
        if all(self._jumped):  # every clock restarted: re-anchor on the new timeline
            self.reanchors += 1
            self._jumped = [False] * self._n
            self._next_grid = None
            self._last_emitted = None
            self._pending_reset = True

    def _advance(self, trigger_ns: int) -> list[AlignedSample]:
        latest = self._latest
        if self._next_grid is None:
            if any(t is None for t in latest):
                return []
            first = max(b[0][0] for b in self._buf)
            self._next_grid = -(-first // self._period) * self._period  # ceil to the grid
        out: list[AlignedSample] = []
        newest = max(t for t in latest if t is not None)
        while True:
            g = self._next_grid
            if all(t is not None and t >= g for t in latest):
                sample = self._interpolate(g)
                if sample is not None:
                    lag = (trigger_ns - g) / NS_PER_S
                    self.lag_s_last = lag
                    self.lag_s_max = max(self.lag_s_max, lag)
                    out.append(sample)
            elif newest - g > self._stale:
                self.dropped_points += 1
                for seg, t in zip(self.config.segments, latest, strict=True):
                    if t is None or t < g:
                        key = f"{STALE}:{seg}"
                        self.dropped[key] = self.dropped.get(key, 0) + 1
            else:
                break
            self._next_grid = g + self._period
        self._trim()
        return out

    def _interpolate(self, g: int) -> AlignedSample | None:
        acc = np.empty((self._n, 3))
        gyr = np.empty((self._n, 3))
        ok = True
        for i, buf in enumerate(self._buf):
            lo = hi = None
            for item in buf:  # short (trimmed) buffers: linear scan
                if item[0] <= g:
                    lo = item
                if item[0] >= g:
                    hi = item
                    break
            if lo is None or hi is None or hi[0] - lo[0] > self._gap:
                key = f"{GAP}:{self.config.segments[i]}"  # counted for every sensor with a gap
                self.dropped[key] = self.dropped.get(key, 0) + 1
                ok = False
                continue
            if hi[0] == lo[0]:
                acc[i] = lo[1]
                gyr[i] = lo[2]
            else:
                f = (g - lo[0]) / (hi[0] - lo[0])
                acc[i] = lo[1] + f * (hi[1] - lo[1])
                gyr[i] = lo[2] + f * (hi[2] - lo[2])
        if not ok:
            self.dropped_points += 1
            return None
        gap_s = 0.0 if self._last_emitted is None else (g - self._last_emitted - self._period) / NS_PER_S
        reset = self._pending_reset
        self._pending_reset = False
        self._last_emitted = g
        self.emitted += 1
        return AlignedSample(g, acc, gyr, gap_s, reset)

    def _trim(self) -> None:
        """Keep, per sensor, the newest sample before the next grid point and everything after."""
        g = self._next_grid
        if g is None:
            return
        for buf in self._buf:
            while len(buf) >= 2 and buf[1][0] <= g:
                buf.popleft()
