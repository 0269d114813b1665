"""IMU sample sources the `imu_driver` node pulls from (ROS-free).

A source produces one sensor's samples (specific force incl. gravity, m/s^2, and angular rate,
rad/s, sensor frame) with stamps in int nanoseconds of the node's clock:
- `sim`: a synthesised subject (gait from sim.trial.simulate_trial, IMU signals from
  sim.imu.synthesize_imu) with ground-truth joint torques (Nm);
- `replay`: a recording, Xsens MT Manager text export (data.xsens_text) or the package's IMU CSV
  (data.imu_csv);
- `xsens`: a live Xsens MTi over serial (drivers.xsens_device.XsensDevice);
- `bag`: registered lazily from data.bags (`bag_source(config)`), see `register_source`.

Pacing and stamps of recorded sources (sim, replay): sample k of loop L has the stamp
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
import fcntl
import hashlib
import importlib
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import savez_atomic
from .body import JOINTS, SEGMENTS
from .motion import ImuSignals, SegmentKinematics

NS_PER_S = 1_000_000_000


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
            if self._truth is not None and self._truth_ok[k]:
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


# ------------------------------------------------------------------------------------------ sim
@dataclass
class SimRecording:
    """What the sim source needs from a simulated trial: IMU signals of every synthesised sensor
    (stamps relative to the trial start), the exact sample instants `time_s`, true moments (N, 6)
    Nm/kg in body.JOINTS order (NaN where unknown, e.g. the standing prefix) and the subject mass."""

    signals: dict[str, ImuSignals]
    time_s: np.ndarray
    moments_nm_per_kg: np.ndarray
    mass_kg: float


_SIM_SOURCES = ("trial.py", "gait.py", "grf.py", "chain.py", "imu.py", "subjects.py", "patterns.json")


def _sim_cache_key(config: SourceConfig) -> str:
    """Hash of everything that determines the recording, including the simulator's code."""
    h = hashlib.sha1()
    for name in ("rate_hz", "seed", "condition", "n_strides", "standing_s", "imu_errors", "subject_mass_kg",
                 "subject_height_m", "subject_sex"):
        h.update(f"{name}={getattr(config, name)!r};".encode())
    sim_dir = Path(__file__).parent / "sim"
    for name in _SIM_SOURCES:
        f = sim_dir / name
        h.update(f.read_bytes() if f.is_file() else b"-")
    return h.hexdigest()[:20]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "imu_torque_estimator" / "sim"


def simulate_recording(config: SourceConfig, cache_dir: str | Path | None = None) -> SimRecording:
    """The configured subject/condition from H4's simulate_trial (gait, true moments and IMU
    signals of all 7 sensors, one generator seeded by `config.seed`), with `standing_s` of quiet
    standing prepended (see `_standing_prefix`).

    Every driver node of a sensor set computes the same recording; to simulate it once, results are
    cached in `cache_dir` (default `default_cache_dir()`, "" disables) under a key that includes the
    simulator's source code, with a file lock so concurrently starting drivers wait for the first."""
    cache = default_cache_dir() if cache_dir is None else (Path(cache_dir) if str(cache_dir) else None)
    if cache is None:
        return _simulate(config)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{_sim_cache_key(config)}.npz"
    with open(cache / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if path.is_file():
                try:
                    return _load_recording(path)
                except (OSError, ValueError, KeyError):
                    path.unlink(missing_ok=True)  # unreadable cache entry: simulate again
            rec = _simulate(config)
            sig = list(rec.signals.values())
            savez_atomic(path, time_s=rec.time_s, moments_nm_per_kg=rec.moments_nm_per_kg,
                         mass_kg=rec.mass_kg, segments=np.array(list(rec.signals)),
                         stamp_s=np.stack([v.time_s for v in sig]),
                         specific_force_m_s2=np.stack([v.specific_force_m_s2 for v in sig]),
                         angular_rate_rad_s=np.stack([v.angular_rate_rad_s for v in sig]))
            return rec
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _load_recording(path: Path) -> SimRecording:
    with np.load(path) as z:
        segs = [str(s) for s in z["segments"]]
        signals = {s: ImuSignals(z["stamp_s"][i], z["specific_force_m_s2"][i], z["angular_rate_rad_s"][i])
                   for i, s in enumerate(segs)}
        return SimRecording(signals, z["time_s"], z["moments_nm_per_kg"], float(z["mass_kg"]))


def _simulate(config: SourceConfig) -> SimRecording:
    from .sim.subjects import Condition, Subject
    from .sim.trial import simulate_trial

    subject = Subject("sim", config.subject_sex, config.subject_mass_kg, config.subject_height_m,
                      style_seed=config.seed)
    trial = simulate_trial(subject, Condition.parse(config.condition), n_strides=int(config.n_strides),
                           rate_hz=config.rate_hz, imu_errors=_error_model(config.imu_errors),
                           seed=config.seed)
    signals = {s: ImuSignals(trial.imu_stamp_s[i], trial.imu_specific_force_m_s2[i],
                             trial.imu_angular_rate_rad_s[i]) for i, s in enumerate(SEGMENTS)}
    rec = SimRecording(signals, np.asarray(trial.time_s, float), np.asarray(trial.moments_nm_per_kg, float),
                       subject.mass_kg)
    if config.standing_s > 0:
        rec = _standing_prefix(rec, trial.sensor_to_segment, trial.sensor_position_m, config)
    return rec


def _standing_prefix(rec: SimRecording, sensor_to_segment: np.ndarray, sensor_position_m: np.ndarray,
                     config: SourceConfig) -> SimRecording:
    """Prepend `standing_s` of quiet neutral standing (every segment frame aligned with ground, no
    motion) synthesised with the trial's actual sensor mountings and the same error model (noise,
    biases; mounting offsets are already in the mountings). The motion then jumps to the first gait
    sample: a step in the signals that a real subject would not show (simulate_trial has no standing
    phase of its own). True moments are NaN (unknown) while standing."""
    from .sim.imu import SensorPlacement, synthesize_imu

    n = int(round(config.standing_s * config.rate_hz))
    t = np.arange(n) / config.rate_hz
    eye = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    zero = np.zeros((n, 3))
    kin = SegmentKinematics(t, {s: eye.copy() for s in SEGMENTS}, {s: zero.copy() for s in SEGMENTS},
                            {s: zero.copy() for s in SEGMENTS}, {s: zero.copy() for s in SEGMENTS},
                            {s: zero.copy() for s in SEGMENTS})
    placements = {s: SensorPlacement(s, sensor_position_m[i], sensor_to_segment[i])
                  for i, s in enumerate(SEGMENTS)}
    errors = _error_model(config.imu_errors)
    if hasattr(errors, "replace"):
        errors = errors.replace(mounting_rotation_max_rad=0.0, placement_offset_max_m=0.0)
    synth = synthesize_imu(kin, placements, errors, config.rate_hz, np.random.default_rng([config.seed, 1]))
    shift = n / config.rate_hz
    signals = {}
    for s, g in rec.signals.items():
        st = synth.signals[s]
        signals[s] = ImuSignals(np.concatenate([st.time_s, g.time_s + shift]),
                                np.concatenate([st.specific_force_m_s2, g.specific_force_m_s2]),
                                np.concatenate([st.angular_rate_rad_s, g.angular_rate_rad_s]))
    moments = np.concatenate([np.full((n, rec.moments_nm_per_kg.shape[1]), np.nan), rec.moments_nm_per_kg])
    return SimRecording(signals, np.concatenate([t, rec.time_s + shift]), moments, rec.mass_kg)


def _error_model(name: str) -> Any:
    from .sim.imu import ImuErrorModel

    models = {"mti3": ImuErrorModel.mti3, "ideal": ImuErrorModel.ideal}
    try:
        return models[name]()
    except KeyError:
        raise ValueError(f"unknown imu_errors {name!r}; choose one of {list(models)}") from None


class SimSource(RecordedSource):
    """Synthesised subject. Carries true torques (Nm, body.JOINTS) when `with_truth`."""

    def __init__(self, config: SourceConfig, recording: SimRecording | None = None,
                 with_truth: bool = True) -> None:
        rec = simulate_recording(config, config.cache_dir) if recording is None else recording
        if config.segment not in rec.signals:
            raise ValueError(f"sim source: segment {config.segment!r} was not synthesised "
                             f"(have {list(rec.signals)})")
        sig = rec.signals[config.segment]
        truth = np.asarray(rec.moments_nm_per_kg, float) * rec.mass_kg if with_truth else None
        super().__init__(config.segment, config.rate_hz, sig.time_s, sig.specific_force_m_s2,
                         sig.angular_rate_rad_s, config.loop, config.start_stamp_ns,
                         truth_nm=truth, truth_time_s=rec.time_s, truth_joints=JOINTS,
                         description=f"sim {config.condition} seed {config.seed}")
        self.recording = rec


# --------------------------------------------------------------------------------------- replay
def read_recording(path: str | Path, segment: str, default_rate_hz: float = 100.0) -> ImuSignals:
    """One segment's signals from an IMU CSV (data.imu_csv) or an Xsens text export (.txt)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"replay file {p} does not exist")
    if p.suffix.lower() == ".csv":
        from .data.imu_csv import read_imu_csv

        signals = read_imu_csv(p)
        if segment not in signals:
            raise ValueError(f"{p}: no samples for segment {segment!r} (has {list(signals)})")
        return signals[segment]
    from .data.xsens_text import read_xsens_export

    return read_xsens_export(p, default_rate_hz).to_imu_signals()


class ReplaySource(RecordedSource):
    """A recording paced in real time; rows with NaN (missing cells) are published as they are
    (the kinematics node counts and drops them)."""

    def __init__(self, config: SourceConfig, signals: ImuSignals | None = None) -> None:
        if not config.file and signals is None:
            raise ValueError("source 'replay' needs the 'file' parameter (an .csv or Xsens .txt export)")
        sig = read_recording(config.file, config.segment, config.rate_hz) if signals is None else signals
        dt = float(np.median(np.diff(sig.time_s)))
        if abs(1.0 / dt - config.rate_hz) > 0.02 * config.rate_hz:
            raise ValueError(f"{config.file or 'recording'}: sample rate {1.0 / dt:.4g} Hz does not match "
                             f"rate_hz={config.rate_hz:g}")
        super().__init__(config.segment, config.rate_hz, sig.time_s, sig.specific_force_m_s2,
                         sig.angular_rate_rad_s, config.loop, config.start_stamp_ns,
                         orientation_wxyz=sig.orientation_wxyz, description=f"replay {config.file}")


# ---------------------------------------------------------------------------------------- xsens
class XsensSource(ImuSource):
    """Live Xsens MTi through drivers.xsens_device.XsensDevice (stamps mapped by the device)."""

    def __init__(self, config: SourceConfig, device: Any = None) -> None:
        if device is None:
            if not config.port:
                raise ValueError("source 'xsens' needs the 'port' parameter (e.g. /dev/ttyUSB0)")
            try:
                from .drivers.xsens_device import XsensDevice
            except ImportError as exc:
                raise ValueError(f"source 'xsens' needs imu_torque_estimator.drivers.xsens_device ({exc})"
                                 ) from None
            device = XsensDevice(config.port, rate_hz=int(config.rate_hz), baudrate=config.baudrate)
        self.segment = config.segment
        self.rate_hz = config.rate_hz
        self.description = f"xsens {config.port}"
        self._dev = device
        self.published = 0

    def start(self, now_ns: int) -> None:
        """Open and configure the device; ValueError with the device's message if that fails."""
        errors: tuple[type[BaseException], ...] = (OSError, ValueError)
        try:
            from .drivers.xsens_device import XsensError

            errors += (XsensError,)
        except ImportError:
            pass
        try:
            self._dev.connect()
        except errors as exc:
            raise ValueError(f"source 'xsens': {exc}") from None

    def poll(self, now_ns: int) -> list[SourceSample]:
        out = [SourceSample(int(s.stamp_ns), np.asarray(s.specific_force_m_s2, float),
                            np.asarray(s.angular_rate_rad_s, float),
                            None if s.orientation_wxyz is None else np.asarray(s.orientation_wxyz, float))
               for s in self._dev.read_samples()]
        self.published += len(out)
        return out

    def close(self) -> None:
        self._dev.close()

    def stats(self) -> dict[str, Any]:
        st = getattr(self._dev, "stats", None)
        d = dataclasses.asdict(st) if dataclasses.is_dataclass(st) else {}
        d["published"] = self.published
        return d


# ------------------------------------------------------------------------------------- registry
SourceFactory = Callable[[SourceConfig], ImuSource]
_REGISTRY: dict[str, SourceFactory | str] = {
    "sim": SimSource,
    "replay": ReplaySource,
    "xsens": XsensSource,
    "bag": "imu_torque_estimator.data.bags:bag_source",
}


def register_source(name: str, factory: SourceFactory | str) -> None:
    """Add a source: a callable `factory(SourceConfig) -> ImuSource`, or 'module:attr' imported
    on first use (keeps heavy imports out of the driver's startup)."""
    _REGISTRY[name] = factory


def source_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def create_source(name: str, config: SourceConfig) -> ImuSource:
    """Build the named source; ValueError naming the known sources for an unknown one."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown source {name!r}; choose one of {list(_REGISTRY)}") from None
    if isinstance(factory, str):
        mod_name, _, attr = factory.partition(":")
        try:
            factory = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"source {name!r} is not available ({factory}: {exc})") from None
    return factory(config)
