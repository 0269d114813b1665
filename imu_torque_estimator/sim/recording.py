"""A simulated recording as the `sim` IMU source plays it (ROS-free): one subject and condition from
`trial.simulate_trial` (gait, true moments, IMU signals of all 7 sensors) with quiet standing
prepended for the still-standing calibration, cached on disk so that every driver node of a sensor
set (one process per sensor) simulates it only once.

Settings are read by name from any object that has them (`pipeline.sources.SourceConfig` does):
rate_hz, seed, condition, n_strides, standing_s, imu_errors ('mti3' | 'ideal'), subject_mass_kg,
subject_height_m, subject_sex.
"""

from __future__ import annotations

import fcntl
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..atomic import savez_atomic
from ..body import SEGMENTS, sensor_set
from ..motion import ImuSignals, SegmentKinematics
from ..paths import cache_dir as _cache_dir

# Files whose content determines a recording (the cache key hashes them).
_SIM_DIR = Path(__file__).parent
_SIM_SOURCES = (*(_SIM_DIR / n for n in ("recording.py", "trial.py", "gait.py", "grf.py", "chain.py",
                                         "imu.py", "subjects.py", "patterns.json")),
                _SIM_DIR.parent / "kinematics" / "placement.py")
_KEY_FIELDS = ("rate_hz", "seed", "condition", "n_strides", "standing_s", "imu_errors", "subject_mass_kg",
               "subject_height_m", "subject_sex")


class RecordingSettings(Protocol):
    """What determines a recording (pipeline.sources.SourceConfig and SimSettings have these; read-only
    members, so frozen dataclasses qualify)."""

    @property
    def rate_hz(self) -> float: ...

    @property
    def seed(self) -> int: ...

    @property
    def condition(self) -> str: ...

    @property
    def n_strides(self) -> int: ...

    @property
    def standing_s(self) -> float: ...

    @property
    def imu_errors(self) -> str: ...

    @property
    def subject_mass_kg(self) -> float: ...

    @property
    def subject_height_m(self) -> float: ...

    @property
    def subject_sex(self) -> str: ...


@dataclass(frozen=True)
class SimSettings:
    """RecordingSettings as a plain value (for callers without a SourceConfig, e.g. simulate_bag)."""

    rate_hz: float
    seed: int
    condition: str
    n_strides: int
    standing_s: float
    imu_errors: str
    subject_mass_kg: float
    subject_height_m: float
    subject_sex: str


@dataclass
class SimRecording:
    """What the sim source needs from a simulated trial: IMU signals of every synthesised sensor
    (stamps relative to the trial start), the exact sample instants `time_s`, true moments (N, 6)
    Nm/kg in body.JOINTS order (NaN where unknown, e.g. the standing prefix) and the subject mass."""

    signals: dict[str, ImuSignals]
    time_s: np.ndarray
    moments_nm_per_kg: np.ndarray
    mass_kg: float


def sim_cache_key(config: RecordingSettings) -> str:
    """Hash of everything that determines the recording, including the simulator's code."""
    h = hashlib.sha1()
    for name in _KEY_FIELDS:
        h.update(f"{name}={getattr(config, name)!r};".encode())
    for f in _SIM_SOURCES:
        h.update(f.read_bytes() if f.is_file() else b"-")
    return h.hexdigest()[:20]


def default_cache_dir() -> Path:
    """paths.cache_dir("sim") (the package's one cache convention)."""
    return _cache_dir("sim")


def simulate_recording(config: RecordingSettings, cache_dir: str | Path | None = None) -> SimRecording:
    """The configured subject/condition from simulate_trial (gait, true moments and IMU signals of
    all 7 sensors, one generator seeded by `config.seed`), with `standing_s` of quiet standing
    prepended (see `_with_standing`).

    Every driver node of a sensor set computes the same recording; to simulate it once, results are
    cached in `cache_dir` (default `default_cache_dir()`, "" disables) under a key that includes the
    simulator's source code, with a file lock so concurrently starting drivers wait for the first."""
    cache = default_cache_dir() if cache_dir is None else (Path(cache_dir) if str(cache_dir) else None)
    if cache is None:
        return _simulate(config)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{sim_cache_key(config)}.npz"
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


def _simulate(config: RecordingSettings) -> SimRecording:
    from .subjects import Condition, Subject
    from .trial import simulate_trial

    subject = Subject("sim", config.subject_sex, config.subject_mass_kg, config.subject_height_m,
                      style_seed=config.seed)
    trial = simulate_trial(subject, Condition.parse(config.condition), n_strides=int(config.n_strides),
                           rate_hz=config.rate_hz, imu_errors=error_model(config.imu_errors),
                           seed=config.seed)
    signals = {s: ImuSignals(trial.imu_stamp_s[i], trial.imu_specific_force_m_s2[i],
                             trial.imu_angular_rate_rad_s[i]) for i, s in enumerate(SEGMENTS)}
    rec = SimRecording(signals, np.asarray(trial.time_s, float), np.asarray(trial.moments_nm_per_kg, float),
                       subject.mass_kg)
    if config.standing_s > 0:
        assert trial.kinematics is not None
        rec = _with_standing(rec, trial.kinematics, trial.sensor_to_segment, trial.sensor_position_m, config)
    return rec


def _with_standing(rec: SimRecording, kin: SegmentKinematics, sensor_to_segment: np.ndarray,
                   sensor_position_m: np.ndarray, config: RecordingSettings) -> SimRecording:
    """Prepend `standing_s` of quiet neutral standing (imu.with_standing_prefix without a transition:
    every segment frame aligned with ground, no motion), synthesised with the trial's actual sensor
    mountings and the same error model (noise, biases; mounting offsets are already in the
    mountings). The motion then starts abruptly at the first gait sample: a step in the signals that
    a real subject would not show (simulate_trial has no standing phase of its own). True moments
    are NaN (unknown) while standing."""
    from ..kinematics.placement import SensorPlacement
    from .imu import synthesize_imu, with_standing_prefix

    full, n = with_standing_prefix(kin, config.standing_s, transition_s=None)
    standing = SegmentKinematics(np.arange(n) / config.rate_hz, *(
        {s: getattr(full, a)[s][:n] for s in SEGMENTS}
        for a in ("rotation", "com_position_m", "com_acceleration_m_s2", "angular_velocity_rad_s",
                  "angular_acceleration_rad_s2")))
    placements = {s: SensorPlacement(s, sensor_position_m[i], sensor_to_segment[i])
                  for i, s in enumerate(SEGMENTS)}
    errors = error_model(config.imu_errors).replace(mounting_rotation_max_rad=0.0,
                                                    placement_offset_max_m=0.0)
    rng = np.random.default_rng([config.seed, 1])
    synth = synthesize_imu(standing, placements, errors, config.rate_hz, rng)
    shift = n / config.rate_hz
    signals = {}
    for s, g in rec.signals.items():
        st = synth.signals[s]
        signals[s] = ImuSignals(np.concatenate([st.time_s, g.time_s + shift]),
                                np.concatenate([st.specific_force_m_s2, g.specific_force_m_s2]),
                                np.concatenate([st.angular_rate_rad_s, g.angular_rate_rad_s]))
    moments = np.concatenate([np.full((n, rec.moments_nm_per_kg.shape[1]), np.nan), rec.moments_nm_per_kg])
    return SimRecording(signals, np.concatenate([standing.time_s, rec.time_s + shift]), moments, rec.mass_kg)


IMU_ERROR_MODELS = ("mti3", "ideal")


def error_model(name: str) -> Any:
    """imu.ImuErrorModel by name (IMU_ERROR_MODELS); ValueError naming the choices."""
    from .imu import ImuErrorModel

    if name not in IMU_ERROR_MODELS:
        raise ValueError(f"unknown imu_errors {name!r}; choose one of {list(IMU_ERROR_MODELS)}")
    return getattr(ImuErrorModel, name)()


def simulate_bag(out: Path, condition: str = "walk_1.2", set_name: str = "7imu", strides: int = 10,
                 rate_hz: float = 200.0, seed: int = 0, errors: str = "mti3", mass_kg: float = 75.0,
                 height_m: float = 1.75, sex: str = "male", storage: str = "mcap", ns: str = "",
                 standing_s: float = 2.0) -> dict[str, Any]:
    """Simulate what the live `sim` drivers publish (simulate_recording: sim.trial.simulate_trial
    with IMU synthesis, `standing_s` of quiet standing first for calibration) and write the set's IMU
    topics, ground-truth torques (Nm; none during standing, where they are unknown) and /clock."""
    from ..data.bag_tools import write_recording_bag

    segments = sensor_set(set_name)
    cfg = SimSettings(rate_hz=rate_hz, seed=seed, condition=condition, n_strides=strides,
                      standing_s=standing_s, imu_errors=errors, subject_mass_kg=mass_kg,
                      subject_height_m=height_m, subject_sex=sex)
    rec = simulate_recording(cfg, cache_dir="")
    return write_recording_bag(out, rec, segments, storage, ns, {
        "sensor_set": set_name, "condition": condition, "height_m": height_m, "sex": sex, "seed": seed,
        "imu_errors": errors, "strides": strides, "standing_s": standing_s})
