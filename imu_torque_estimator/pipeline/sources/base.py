"""Source contracts (ROS-free): what the `imu_driver` node pulls samples from.

A source produces one sensor's samples (specific force incl. gravity, m/s^2, and angular rate,
rad/s, sensor frame) with stamps in int nanoseconds of the node's clock. Implementations live one
per module beside this one and are registered in `pipeline/sources/__init__.py`:
- `RecordedSource` (here): arrays paced against the caller's clock (sim, replay, bag);
- `DeviceSource` (here): live hardware behind the vendor-neutral `Device` protocol; one device may
  serve several sensors (a multi-IMU station), each source takes its own sensor's samples.

Pacing and stamps of recorded sources (sim, replay, bag): sample k of loop L has the stamp
anchor + L * loop_len + t_k, where t_k is the sample time in the recording (starting at 0) and
loop_len the recording length rounded up to whole periods (last sample plus about one period).
`poll(now_ns)` returns every sample whose stamp is <= now_ns. The anchor is `start_stamp_ns` when
given (pass the same value to every driver of a sensor set); otherwise it is the Unix epoch, so
every driver of the same recording computes the same sample for the same stamp whatever its start
time (one driver node per sensor stays aligned): with `loop` the node starts mid-cycle, without
`loop` it waits for the next cycle boundary and plays once.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ...body import SEGMENTS
from ...units import NS_PER_S


@dataclass
class SourceSample:
    """One sample of one sensor. `joint_torques_nm` (body.JOINTS order) is ground truth, given by
    sources that know it (sim), stamped `truth_stamp_ns` (the exact sample instant)."""

    stamp_ns: int
    specific_force_m_s2: np.ndarray
    angular_rate_rad_s: np.ndarray
    orientation_wxyz: np.ndarray | None = None
    joint_torques_nm: np.ndarray | None = None
    truth_stamp_ns: int | None = None


@dataclass
class SourceConfig:
    """Everything a source may need (the imu_driver node's parameters). Unused fields are ignored.

    condition: sim gait condition (sim.subjects.Condition.parse syntax, e.g. 'walk_1.2');
    n_strides / standing_s: sim trial length and the quiet standing prepended to it;
    cache_dir: where simulated recordings are cached (None = default, '' = no cache);
    imu_errors: 'mti3' (realistic) or 'ideal'; file: replay recording; port/baudrate: xsens;
    start_stamp_ns: common anchor of recorded sources (0 = Unix epoch, see module docstring);
    extra: free-form settings for sources registered by other modules."""

    segment: str
    rate_hz: float = 100.0
    seed: int = 0
    condition: str = "walk_1.2"
    n_strides: int = 20
    standing_s: float = 2.0
    cache_dir: str | None = None
    imu_errors: str = "mti3"
    subject_mass_kg: float = 75.0
    subject_height_m: float = 1.75
    subject_sex: str = "male"
    file: str = ""
    port: str = ""
    baudrate: int = 921600
    loop: bool = True
    start_stamp_ns: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.segment not in SEGMENTS:
            raise ValueError(f"unknown segment {self.segment!r}; known segments are {list(SEGMENTS)}")
        if not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ValueError(f"rate_hz must be > 0, got {self.rate_hz}")

    @classmethod
    def from_params(cls, p: Mapping[str, Any]) -> SourceConfig:
        """From the imu_driver node's parameter values (pipeline/params.py IMU_DRIVER names): cache_dir
        '' = default, 'none' = no cache; start_stamp_s in seconds."""
        cache = p["cache_dir"]
        return cls(segment=p["segment"], rate_hz=float(p["rate_hz"]), seed=p["seed"],
                   condition=p["condition"], n_strides=p["n_strides"],
                   standing_s=p["standing_s"], imu_errors=p["imu_errors"],
                   cache_dir=None if not cache else ("" if cache == "none" else cache),
                   subject_mass_kg=p["subject_mass_kg"], subject_height_m=p["subject_height_m"],
                   subject_sex=p["subject_sex"], file=p["file"], port=p["port"], baudrate=p["baudrate"],
                   loop=p["loop"], start_stamp_ns=int(round(p["start_stamp_s"] * NS_PER_S)))


class ImuSource(ABC):
    """One sensor's sample stream. `truth_joints` is non-empty when samples carry true torques."""

    segment: str
    rate_hz: float
    truth_joints: tuple[str, ...] = ()
    description: str = ""

    @abstractmethod
    def start(self, now_ns: int) -> None:
        """Begin streaming at `now_ns` (the node's clock)."""

    @abstractmethod
    def poll(self, now_ns: int) -> list[SourceSample]:
        """Samples due at or before `now_ns`, oldest first (empty when none are due)."""

    def close(self) -> None:  # noqa: B027 (optional hook, default: nothing to release)
        """Release devices/files."""

    @property
    def finished(self) -> bool:
        """True when a non-looping source has delivered everything."""
        return False

    def stats(self) -> dict[str, Any]:
        return {}


class RecordedSource(ImuSource):
    """A source backed by arrays (sim, replay, bags), paced against the caller's clock.

    time_s (N,) sample times of the recording (any origin, strictly increasing); signals (N, 3);
    truth_nm (N, J) optional (rows with NaN = unknown, not attached); truth_time_s (N,) the exact
    sample instants for the truth stamps."""

    def __init__(self, segment: str, rate_hz: float, time_s: np.ndarray, specific_force_m_s2: np.ndarray,
                 angular_rate_rad_s: np.ndarray, loop: bool, start_stamp_ns: int = 0,
                 orientation_wxyz: np.ndarray | None = None, truth_nm: np.ndarray | None = None,
                 truth_time_s: np.ndarray | None = None, truth_joints: tuple[str, ...] = (),
                 description: str = "") -> None:
        t = np.asarray(time_s, dtype=float)
        if t.ndim != 1 or t.size < 2:
            raise ValueError(f"{description or segment}: a recording needs at least 2 samples")
        if not np.all(np.diff(t) > 0):
            raise ValueError(f"{description or segment}: sample times must strictly increase")
        self.segment = segment
        self.rate_hz = float(rate_hz)
        self.description = description
        # origin: the first exact sample instant when known (jittered stamps may precede it)
        t0 = t[0] if truth_time_s is None else float(np.asarray(truth_time_s)[0])
        self._t_ns = np.round((t - t0) * NS_PER_S).astype(np.int64)
        self._f = np.asarray(specific_force_m_s2, dtype=float)
        self._w = np.asarray(angular_rate_rad_s, dtype=float)
        self._q = None if orientation_wxyz is None else np.asarray(orientation_wxyz, dtype=float)
        self._truth = None if truth_nm is None else np.asarray(truth_nm, dtype=float)
        self._truth_ok = None if self._truth is None else np.all(np.isfinite(self._truth), axis=1)
        self._truth_t_ns = (self._t_ns if truth_time_s is None else
                            np.round((np.asarray(truth_time_s, float) - t0) * NS_PER_S).astype(np.int64))
        self.truth_joints = truth_joints if truth_nm is not None else ()
        period_ns = self._period_ns = int(round(NS_PER_S / self.rate_hz))
        # recording length rounded to whole periods, so looped stamps stay on the rate's grid
        self.loop_len_ns = -(-(int(self._t_ns[-1]) + period_ns // 2) // period_ns) * period_ns
        self._loop = loop
        self._anchor = int(start_stamp_ns)
        self._cycle = 0
        self._k = 0
        self._started = False
        self._done = False
        self.published = 0
        self.loops = 0

    @property
    def n_samples(self) -> int:
        return int(self._t_ns.size)

    def stamp_ns(self, cycle: int, k: int) -> int:
        return self._anchor + cycle * self.loop_len_ns + int(self._t_ns[k])

    def start(self, now_ns: int) -> None:
        """Position the stream at the first sample due at/after `now_ns` (see module docstring)."""
        now_ns = int(now_ns)
        if self._anchor > 0:
            cycle = max(0, (now_ns - self._anchor) // self.loop_len_ns)
        elif self._loop:
            cycle = now_ns // self.loop_len_ns
        else:
            cycle = -(-now_ns // self.loop_len_ns)  # next cycle boundary
        if not self._loop and cycle > 0 and self._anchor > 0:
            self._done = True  # the single play-through is already over
        self._cycle = int(cycle)
        base = self.stamp_ns(self._cycle, 0)
        # skip samples more than half a period in the past (jittered stamps may precede the anchor)
        self._k = int(np.searchsorted(self._t_ns, now_ns - base - self._period_ns // 2, side="left"))
        if self._k >= self.n_samples:
            self._advance_cycle()
        self._started = True

    def _advance_cycle(self) -> None:
        self._k = 0
        if self._loop:
            self._cycle += 1
            self.loops += 1
        else:
            self._done = True

    @property
    def finished(self) -> bool:
        return self._done

    def poll(self, now_ns: int) -> list[SourceSample]:
        if not self._started:
            raise RuntimeError("RecordedSource.poll() before start()")
        out: list[SourceSample] = []
        while not self._done:
            k = self._k
            stamp = self.stamp_ns(self._cycle, k)
            if stamp > now_ns:
                break
            s = SourceSample(stamp, self._f[k], self._w[k], None if self._q is None else self._q[k])
            if self._truth is not None and self._truth_ok is not None and self._truth_ok[k]:
                s.joint_torques_nm = self._truth[k]
                s.truth_stamp_ns = self._anchor + self._cycle * self.loop_len_ns + int(self._truth_t_ns[k])
            out.append(s)
            self._k += 1
            if self._k >= self.n_samples:
                self._advance_cycle()
        self.published += len(out)
        return out

    def stats(self) -> dict[str, Any]:
        return {"published": self.published, "loops": self.loops, "samples_in_recording": self.n_samples,
                "loop_length_s": self.loop_len_ns / NS_PER_S}


# ------------------------------------------------------------------------------------ live devices
class Device(Protocol):
    """What a vendor driver offers (vendor-neutral; drivers/xsens_device.XsensDevice is one).

    `read_samples()` returns the samples received since the last call, oldest first, and must not
    block for long (the node polls it from a timer). Each sample has `stamp_ns` (int, node clock),
    `specific_force_m_s2` (3,), `angular_rate_rad_s` (3,) in the sensor frame, `orientation_wxyz`
    (4,) or None, and, on a device serving several sensors (a multi-IMU station), `sensor`: the
    body segment that sample belongs to (absent or None = the source's own segment)."""

    def connect(self) -> None: ...

    def read_samples(self) -> Sequence[Any]: ...

    def close(self) -> None: ...


class _SharedDevice:
    """One open device and the sensors of this process reading from it (demultiplexed by `sensor`)."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.pending: dict[str, list[Any]] = {}  # segment -> samples read but not yet polled
        self.connected = False

    def take(self, segment: str) -> list[Any]:
        for s in self.device.read_samples():
            seg = getattr(s, "sensor", None) or segment
            if seg in self.pending:  # samples of sensors nobody here reads are dropped
                self.pending[seg].append(s)
        out, self.pending[segment] = self.pending[segment], []
        return out


_SHARED: dict[Any, _SharedDevice] = {}


class DeviceSource(ImuSource):
    """One sensor's live samples from a `Device` (stamps are the device's own, see its driver).

    `open_device()` creates the device session. Sources built with the same `share_key` in one
    process share one session (one connection to a multi-IMU station, each source taking its
    sensor's samples); without a key every source opens its own. `errors`: the driver's exception
    types that `start` turns into a ValueError naming the source (OSError and ValueError always)."""

    def __init__(self, config: SourceConfig, open_device: Any, name: str, description: str = "",
                 share_key: Any = None, errors: tuple[type[BaseException], ...] = ()) -> None:
        self.segment = config.segment
        self.rate_hz = config.rate_hz
        self.name = name
        self.description = description or name
        self._errors: tuple[type[BaseException], ...] = (OSError, ValueError, *errors)
        shared = _SHARED.get(share_key) if share_key is not None else None
        if shared is None:
            shared = _SharedDevice(open_device())
            if share_key is not None:
                _SHARED[share_key] = shared
        if self.segment in shared.pending:
            raise ValueError(f"source {name!r}: segment {self.segment!r} already reads from this device")
        shared.pending[self.segment] = []
        self._key = share_key
        self._shared = shared
        self.published = 0

    @property
    def device(self) -> Device:
        return self._shared.device

    def start(self, now_ns: int) -> None:
        """Open the device (once per shared session); ValueError with the driver's message if that fails."""
        if self._shared.connected:
            return
        try:
            self._shared.device.connect()
        except self._errors as exc:
            raise ValueError(f"source {self.name!r}: {exc}") from None
        self._shared.connected = True

    def poll(self, now_ns: int) -> list[SourceSample]:
        out = [SourceSample(int(s.stamp_ns), np.asarray(s.specific_force_m_s2, float),
                            np.asarray(s.angular_rate_rad_s, float),
                            None if getattr(s, "orientation_wxyz", None) is None
                            else np.asarray(s.orientation_wxyz, float))
               for s in self._shared.take(self.segment)]
        self.published += len(out)
        return out

    def close(self) -> None:
        shared = self._shared
        shared.pending.pop(self.segment, None)
        if not shared.pending:  # last reader of this session
            shared.device.close()
            shared.connected = False
            if self._key is not None and _SHARED.get(self._key) is shared:
                del _SHARED[self._key]

    def stats(self) -> dict[str, Any]:
        st = getattr(self._shared.device, "stats", None)
        d = dataclasses.asdict(st) if dataclasses.is_dataclass(st) and not isinstance(st, type) else {}
        d["published"] = self.published
        return d


def require_file(params: Mapping[str, Any], segment: str) -> None:
    """Launch-time check of the recorded sources (replay, bag): a `file` that exists."""
    if not params.get("file"):
        raise ValueError(f"source:={params.get('source')} needs file:=<recording>")
    if not Path(params["file"]).exists():
        raise ValueError(f"file {params['file']} does not exist")
