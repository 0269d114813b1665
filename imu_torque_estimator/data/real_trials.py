"""Real-motion evaluation trials from ../shared/data: kinematics, GRF and ground-truth joint moments.

Each trial becomes an `EvalTrial`: segment kinematics of the 7 project segments (ground frame of
body.py), per-foot ground contact, sagittal joint moments in Nm/kg (body.JOINTS order, project sign
convention), sagittal joint angles, and a quality record (what was done, IK marker RMS, ID residuals).

Pipeline per trial (offline; needs the `opensim` extra):
1. Coordinates: given (`opensim_walk_rajagopal`, `opensim_subject01_walk`) or from OpenSim IK on the
   markers with a model scaled to the subject (`hamner_run_subject04` runs, see data/ik.py; the
   subject is scaled once, from run200, and that model serves all four speeds; the C3D walks
   `opensim_c3d_walking2/5` (FULLBODY_2009 markers) and `ktk_walk` (Plug-in-Gait markers mapped onto
   the same generic model), see `_c3d_inputs`).
2. Segment kinematics + composite inertials from the OpenSim model (data/opensim_model.py), with the
   coordinate low-pass of the trial (6 Hz walking, as the OpenSim reference setups; 12 Hz running).
   The Hamner/C3D models are given to it with their coordinates unlocked (see build_trial).
3. GRF per foot from the ExternalLoads XML (walking) or the GRF table (running), in the project's
   ground frame, on the kinematics' time base. Running and C3D GRF is low-pass filtered at the same
   cutoff as the coordinates (force and moment about the origin filtered, CoP and free moment recomputed),
   which avoids the impact artefacts that mismatched filtering causes (Kristianslund et al. 2012,
   J Biomech 45:666). Walking GRF is used unfiltered, as in the OpenSim references.
4. Newton-Euler inverse dynamics (dynamics.inverse_dynamics) and sagittal moments projected on each
   OpenSim coordinate's generalized direction (dynamics.sagittal_moments with the model's joint axes
   and joint-centre partial velocities), divided by body mass.
Quality: IK marker RMS/max (m) where IK ran; whole-body residual force/moment on the pelvis (the
upper body is lumped on the pelvis) RMS and peak, also as % of body weight (and of BW x height or
BW x 1 m where the height is unknown).

Built trials are cached as .npz (one per trial) in `cache_dir` (default: paths.cache_dir, i.e.
$IMU_TORQUE_CACHE/real_trials or ~/.cache/imu_torque_estimator/real_trials); `CACHE_VERSION`
invalidates old files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import butter, filtfilt

from ..atomic import savez_atomic
from ..body import GRAVITY_M_S2, JOINTS, R_OSIM_TO_ROS, SEGMENTS
from ..motion import JOINT_CENTRES, FootContact, SegmentKinematics

CACHE_VERSION = 2  # 2: kinematics on the unlocked model copy (v1 files built before it are wrong)
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
RUN_FILTER_HZ = 12.0
WALK_FILTER_HZ = 6.0
GRF_THRESHOLD_N = 20.0
# Frames this close to either end of the coordinate record are dropped: the filtered splines' second
# derivatives are unreliable there (on hamner run200 the vertical whole-body residual falls from 15 to
# 11 % BW RMS when 0.03-0.05 s are trimmed; further trimming changes nothing).
EDGE_TRIM_S = 0.05

Progress = Callable[[str], None]


@dataclass
class EvalTrial:
    """One real trial, ground frame of body.py, sampled on kinematics.time_s (N frames).

    moments_nm_per_kg (N, 6): body.JOINTS order, positive = internal flexion/dorsiflexion moment.
    angles_rad (N, 6): sagittal joint angles, body.JOINTS order, positive = flexion/dorsiflexion.
    contacts: {"l", "r"} -> FootContact (ground on foot). quality: see module docstring.
    height_m is NaN when the source does not give it.
    """

    name: str
    mode: str
    speed_m_s: float
    mass_kg: float
    height_m: float
    kinematics: SegmentKinematics
    contacts: dict[str, FootContact]
    moments_nm_per_kg: np.ndarray
    angles_rad: np.ndarray
    quality: dict[str, object] = field(default_factory=dict)

    @property
    def time_s(self) -> np.ndarray:
        return self.kinematics.time_s

    def moment(self, joint: str) -> np.ndarray:
        """(N,) Nm/kg of one body.JOINTS joint."""
        if joint not in JOINTS:
            raise ValueError(f"unknown joint {joint!r}; known joints are {list(JOINTS)}")
        return self.moments_nm_per_kg[:, JOINTS.index(joint)]


@dataclass(frozen=True)
class TrialSpec:
    """Where a trial's files are and how to process it (paths relative to the data dir)."""

    name: str
    mode: str
    folder: str
    model: str
    filter_hz: float
    coordinates: str | None = None
    grf_xml: str | None = None
    trc: str | None = None
    grf_mot: str | None = None
    speed_m_s: float | None = None
    subject_json: str | None = None
    c3d: str | None = None
    c3d_options: str = "fullbody"

    def file(self, field: str) -> str:
        """The file named by an optional field that this trial's processing needs."""
        value = getattr(self, field)
        if not value:
            raise ValueError(f"trial {self.name}: no {field} file in its spec")
        return str(value)


_HAMNER = "hamner_run_subject04"
TRIALS: dict[str, TrialSpec] = {
    "opensim_walk_rajagopal": TrialSpec(
        "opensim_walk_rajagopal", "walk", "opensim_walk_rajagopal", "subject_walk_scaled.osim",
        WALK_FILTER_HZ, coordinates="coordinates.sto", grf_xml="grf_walk.xml"),
    "opensim_subject01_walk": TrialSpec(
        "opensim_subject01_walk", "walk", "opensim_subject01_walk", "subject01.osim", WALK_FILTER_HZ,
        coordinates="subject01_walk1_ik.mot", grf_xml="subject01_walk1_grf.xml"),
    **{f"{_HAMNER}_run{v}": TrialSpec(
        f"{_HAMNER}_run{v}", "run", _HAMNER, "unscaled_generic.osim", RUN_FILTER_HZ,
        trc=f"run{v}/markers.trc", grf_mot=f"run{v}/grf.mot", speed_m_s=v / 100.0,
        subject_json="_subject.json") for v in (200, 300, 400, 500)},
    # Stanford FULLBODY_2009 marker set = the marker set of the Hamner generic model (same lab).
    **{f"opensim_c3d_{w}": TrialSpec(
        f"opensim_c3d_{w}", "walk", "opensim_c3d_walk", f"../{_HAMNER}/unscaled_generic.osim",
        WALK_FILTER_HZ, c3d=f"{w}.c3d") for w in ("walking2", "walking5")},
    "ktk_walk": TrialSpec(
        "ktk_walk", "walk", "ktk_walk_c3d", f"../{_HAMNER}/unscaled_generic.osim", WALK_FILTER_HZ,
        c3d="walk.c3d.zip", c3d_options="plugin_gait"),
}
# Trials considered and not built, with the reason (reported by list_real_trials / the CLI).
NOT_BUILT: dict[str, str] = {}
_GRF_IDS = {"r": ("R_ground_force_v", "R_ground_force_p", "R_ground_torque_"),
            "l": ("L_ground_force_v", "L_ground_force_p", "L_ground_torque_")}


def list_real_trials() -> list[str]:
    """Names of the evaluation trials `build_trial` can build."""
    return list(TRIALS)


def default_cache_dir() -> Path:
    """paths.cache_dir("real_trials") (the package's one cache convention)."""
    from ..paths import cache_dir

    return cache_dir("real_trials")


def _spec(name: str) -> TrialSpec:
    try:
        return TRIALS[name]
    except KeyError:
        raise ValueError(f"unknown real trial {name!r}; known trials are {list(TRIALS)}") from None


def _say(progress: Progress | None, msg: str) -> None:
    if progress is not None:
        progress(msg)


# ------------------------------------------------------------------------------------------- cache
def _cache_path(cache_dir: Path, name: str) -> Path:
    return cache_dir / f"{name}.v{CACHE_VERSION}.npz"


def save_trial(trial: EvalTrial, path: str | Path) -> Path:
    """Write an EvalTrial as one .npz (atomic: written to a temp name, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    k = trial.kinematics
    arrays: dict[str, np.ndarray] = {"time_s": k.time_s, "moments_nm_per_kg": trial.moments_nm_per_kg,
                                     "angles_rad": trial.angles_rad}
    for s in k.segments:
        arrays[f"rot/{s}"] = k.rotation[s]
        arrays[f"com/{s}"] = k.com_position_m[s]
        arrays[f"acc/{s}"] = k.com_acceleration_m_s2[s]
        arrays[f"omega/{s}"] = k.angular_velocity_rad_s[s]
        arrays[f"alpha/{s}"] = k.angular_acceleration_rad_s2[s]
    for j, p in k.joint_position_m.items():
        arrays[f"joint/{j}"] = p
    for side, c in trial.contacts.items():
        arrays[f"grf/{side}"] = c.force_n
        arrays[f"cop/{side}"] = c.cop_m
        arrays[f"tz/{side}"] = c.free_moment_nm
    meta = {"name": trial.name, "mode": trial.mode, "speed_m_s": trial.speed_m_s, "mass_kg": trial.mass_kg,
            "height_m": trial.height_m, "quality": trial.quality, "cache_version": CACHE_VERSION}
    arrays["meta_json"] = np.array(json.dumps(meta))
    return savez_atomic(path, compressed=True, **arrays)


def load_trial(path: str | Path) -> EvalTrial:
    """Read an .npz written by `save_trial`; ValueError naming the file if it is not one."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        meta = json.loads(str(a["meta_json"]))
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a real-trial cache file ({exc})") from exc
    if meta.get("cache_version") != CACHE_VERSION:
        raise ValueError(f"{path}: cache version {meta.get('cache_version')} != {CACHE_VERSION}")
    segs = [s for s in SEGMENTS if f"rot/{s}" in a]
    kin = SegmentKinematics(
        time_s=a["time_s"], rotation={s: a[f"rot/{s}"] for s in segs},
        com_position_m={s: a[f"com/{s}"] for s in segs},
        com_acceleration_m_s2={s: a[f"acc/{s}"] for s in segs},
        angular_velocity_rad_s={s: a[f"omega/{s}"] for s in segs},
        angular_acceleration_rad_s2={s: a[f"alpha/{s}"] for s in segs},
        joint_position_m={j: a[f"joint/{j}"] for j in JOINT_CENTRES if f"joint/{j}" in a})
    contacts = {s: FootContact(a[f"grf/{s}"], a[f"cop/{s}"], a[f"tz/{s}"])
                for s in ("l", "r") if f"grf/{s}" in a}
    return EvalTrial(name=meta["name"], mode=meta["mode"], speed_m_s=float(meta["speed_m_s"]),
                     mass_kg=float(meta["mass_kg"]), height_m=float(meta["height_m"]), kinematics=kin,
                     contacts=contacts, moments_nm_per_kg=a["moments_nm_per_kg"], angles_rad=a["angles_rad"],
                     quality=meta["quality"])


# --------------------------------------------------------------------------------------------- GRF
def filter_contact(contact: FootContact, rate_hz: float, cutoff_hz: float,
                   threshold_n: float = GRF_THRESHOLD_N) -> FootContact:
    """Zero-phase 4th-order Butterworth low-pass of one foot's load (ground frame, floor z = CoP z).

    Force F and moment about the origin M = p x F + T are filtered (they are continuous through
    touch-down, CoP is not); then CoP = ((h Fx - My) / Fz, (Mx + h Fy) / Fz, h) with h the median CoP
    height, free moment Tz = Mz - px Fy + py Fx. Below `threshold_n` vertical force the foot is unloaded.
    """
    f = contact.force_n
    loaded = f[:, 2] > threshold_n
    if not loaded.any():
        return contact
    h = float(np.median(contact.cop_m[loaded, 2]))
    cop = np.where(loaded[:, None], contact.cop_m, 0.0)
    on0 = loaded[:, None]
    m = np.cross(cop, np.where(on0, f, 0.0)) + np.where(on0, contact.free_moment_nm, 0.0)
    b, a = butter(2, cutoff_hz / (0.5 * rate_hz))  # 2nd order, run forward+backward -> 4th order
    ff = filtfilt(b, a, np.where(loaded[:, None], f, 0.0), axis=0)
    mf = filtfilt(b, a, m, axis=0)
    on = ff[:, 2] > threshold_n
    fz = np.where(on, ff[:, 2], 1.0)
    px = (h * ff[:, 0] - mf[:, 1]) / fz
    py = (mf[:, 0] + h * ff[:, 1]) / fz
    tz = mf[:, 2] - px * ff[:, 1] + py * ff[:, 0]
    force = np.where(on[:, None], ff, 0.0)
    cop_out = np.column_stack([np.where(on, px, 0.0), np.where(on, py, 0.0), np.full(len(f), h)])
    free = np.zeros_like(force)
    free[:, 2] = np.where(on, tz, 0.0)
    return FootContact(force, cop_out, free)


def _contacts_on(loads, time_s: np.ndarray, cutoff_hz: float | None) -> dict[str, FootContact]:
    """Per-foot contacts (ROS frame), optionally filtered at the GRF rate, resampled on `time_s`."""
    ros = loads.in_ros_frame()
    if cutoff_hz is not None:
        rate = 1.0 / float(np.median(np.diff(ros.time_s)))
        ros = type(ros)(ros.time_s, {s: filter_contact(c, rate, cutoff_hz) for s, c in ros.contacts.items()},
                        dict(ros.applied_to_body), ros.frame)
    return ros.resampled(time_s).contacts


# ------------------------------------------------------------------------------------------- build
def _hamner_subject(data_dir: Path, cache_dir: Path, progress: Progress | None) -> tuple[Path, dict]:
    """Scaled model of hamner subject04 (fitted once from run200, cached)."""
    from . import ik

    spec = TRIALS[f"{_HAMNER}_run200"]
    folder = data_dir / spec.folder
    subj = json.loads((folder / "_subject.json").read_text())
    out_dir = cache_dir / f"{_HAMNER}_model"
    model = out_dir / "scaled.osim"
    info_path = out_dir / "scale_info.json"
    if model.exists() and info_path.exists():
        return model, json.loads(info_path.read_text())
    _say(progress, f"{_HAMNER}: scaling the generic model to {subj['massKg']} kg, {subj['heightM']} m "
                   "(leg factor search, a few IK runs)")
    generic = ik.strip_forces(folder / spec.model, out_dir / "generic_no_muscles.osim")
    fit = ik.fit_subject(generic, folder / spec.file("trc"), float(subj["massKg"]), float(subj["heightM"]),
                         out_dir)
    info = {"factors": fit.factors, "search": fit.search, "seconds": round(fit.seconds, 1),
            "mass_kg": float(subj["massKg"]), "height_m": float(subj["heightM"]),
            "fitted_on": spec.trc}
    info_path.write_text(json.dumps(info, indent=1))
    return model, info


def walking_speed_m_s(kin: SegmentKinematics, contacts: dict[str, FootContact], mass_kg: float) -> float:
    """Gait speed relative to the ground surface: mean horizontal pelvis CoM velocity minus the median
    horizontal velocity of the feet while they carry > 50 % body weight (0 overground, the belt
    velocity on a treadmill)."""
    t = kin.time_s
    v_pelvis = np.gradient(kin.com_position_m["pelvis"][:, :2], t, axis=0).mean(axis=0)
    v_feet = []
    for side, c in contacts.items():
        seg = f"foot_{side}"
        if seg in kin.com_position_m:
            stance = c.force_n[:, 2] > 0.5 * mass_kg * GRAVITY_M_S2
            v = np.gradient(kin.com_position_m[seg][:, :2], t, axis=0)
            v_feet.append(v[stance])
    belt = np.median(np.vstack(v_feet), axis=0) if v_feet and sum(len(v) for v in v_feet) else np.zeros(2)
    return float(np.linalg.norm(v_pelvis - belt))


def _angles(tk, coords, time_s: np.ndarray, cutoff_hz: float) -> np.ndarray:
    """Sagittal angles (N, 6) rad, project sign, from the coordinates table, low-passed like the
    kinematics and interpolated on `time_s`."""
    from .opensim_io import coordinates_rad

    rad = coordinates_rad(coords)
    t = rad.time_s
    out = np.zeros((len(time_s), len(JOINTS)))
    b, a = butter(2, cutoff_hz / (0.5 / float(np.median(np.diff(t)))))
    for k, j in enumerate(JOINTS):
        cname, sign = tk.coordinate_of_joint[j]
        q = rad.column(cname)
        if len(q) > 3 * max(len(a), len(b)):
            q = filtfilt(b, a, q)
        out[:, k] = sign * np.interp(time_s, t, q)
    return out


# Markers of the FULLBODY_2009 set that the generic model lacks, added (movable) to the calcaneus at
# nominal first/second metatarsal-head positions (OpenSim calcn frame: x forward, y up, z right);
# the MarkerPlacer then moves them to where the subject's are.
_C3D_EXTRA_MARKERS = {
    "RMT1": ("calcn_r", (0.17, 0.01, -0.03)), "RMT2": ("calcn_r", (0.18, 0.015, 0.0)),
    "LMT1": ("calcn_l", (0.17, 0.01, 0.03)), "LMT2": ("calcn_l", (0.18, 0.015, 0.0)),
}
_C3D_LEG_MARKERS = ("ASI", "PSI", "TH1", "TH2", "TH3", "TB1", "TB2", "TB3", "CAL", "MT1", "MT2")


def _sided(pairs: dict[str, tuple[str, tuple[float, float, float]]]) -> dict:
    """{suffix: (body stem, right-side location)} -> per-side markers, z mirrored for the left."""
    out = {}
    for suffix, (stem, (x, y, z)) in pairs.items():
        out[f"R{suffix}"] = (f"{stem}_r", (x, y, z))
        out[f"L{suffix}"] = (f"{stem}_l", (x, y, -z))
    return out


# Plug-in-Gait (CGM) marker set onto the FULLBODY generic model: PiG names renamed to the model's
# landmark of the same anatomy (KNE lateral epicondyle = LFC, ANK lateral malleolus = LMAL, HEE = CAL,
# TOE (2nd metatarsal head) = the model's TOE, made movable), the thigh/shank wands added movable.
_PIG_RENAME = {f"{s}{a}": f"{s}{b}" for s in "LR"
               for a, b in (("KNE", "LFC"), ("ANK", "LMAL"), ("HEE", "CAL"))}
_PIG_EXTRA = _sided({"THI": ("femur", (0.0, -0.28, 0.08)), "THI2": ("femur", (0.0, -0.15, 0.09)),
                     "TIB": ("tibia", (0.0, -0.22, 0.06))})
_PIG_LEG_MARKERS = ("ASI", "PSI", "THI", "TIB", "CAL", "TOE", "LFC", "LMAL")


@dataclass(frozen=True)
class C3DOptions:
    """How a C3D walk maps onto the generic model (see `_c3d_inputs`)."""

    rename: dict[str, str]
    add_markers: dict[str, tuple[str, tuple[float, float, float]]]
    unfix: tuple[str, ...]
    leg_markers: tuple[str, ...]
    skip_scale: tuple[str, ...] = ()
    femur_search: bool = False


C3D_OPTIONS: dict[str, C3DOptions] = {
    "fullbody": C3DOptions({}, _C3D_EXTRA_MARKERS, ("RMT5", "LMT5"), _C3D_LEG_MARKERS),
    # No hip-centre marker in the CGM output (FEO = KJC), so the femur factor is searched; PiG TOE is
    # not the model's toe tip, so the feet follow the tibias.
    "plugin_gait": C3DOptions(_PIG_RENAME, _PIG_EXTRA, ("RMT5", "LMT5", "RTOE", "LTOE"), _PIG_LEG_MARKERS,
                              skip_scale=("foot_r", "foot_l"), femur_search=True),
}


def _foot_centre(markers: dict[str, np.ndarray], side: str, k: int) -> np.ndarray:
    """Mean of a foot's heel and forefoot markers at frame k (NaN if none)."""
    names = [f"{side.upper()}{m}" for m in ("CAL", "MT1", "MT2", "MT5", "TOE")]
    pts = [markers[n][k] for n in names if n in markers and np.all(np.isfinite(markers[n][k]))]
    return np.mean(pts, axis=0) if pts else np.full(3, np.nan)


def _stances(loaded: np.ndarray) -> list[tuple[int, int]]:
    """Complete loaded intervals [start, end) that begin and end inside the record."""
    edges = np.diff(loaded.astype(int))
    starts, ends = np.flatnonzero(edges == 1) + 1, np.flatnonzero(edges == -1) + 1
    return [(int(a), int(b)) for a in starts for b in ends[ends > a][:1]]


def _c3d_inputs(spec: TrialSpec, data_dir: Path, cache_dir: Path, rebuild: bool,
                progress: Progress | None) -> dict:
    """Markers (TRC in the OpenSim frame), per-foot GRF, body mass, analysis window and scaled model
    of an overground C3D walk over force plates (`spec.c3d_options` picks the marker mapping).

    - Frames: the lab is z up; the ground frame is the lab rotated about z so that +x is the mean
      walking direction (pelvis markers). The TRC keeps the longest run of frames where every leg
      marker is present.
    - GRF: plate channel offsets removed (median of the unloaded samples), each plate's stance assigned
      to the foot whose centre (mean of heel and forefoot markers, 3-D, so a lifted foot is far) is
      nearest the mean CoP at mid-stance (the heel alone picked the wrong foot on walking2).
    - Mass (and height): from the C3D PROCESSING parameters when present (ktk), else from the
      vertical impulse of two consecutive stances (one per foot) over one stride, the stride being
      twice the time between their onsets (steady walking): m = (J1 + J2) / (g 2 dt).
    - Window: only while every foot on the ground is on a plate: over the longest chain of stances
      alternating feet and overlapping in time, from the first onset plus the first double support
      to the last stance end minus the last double support.
    - Scaling: pelvis, torso from marker distances, femur HJC-KJC and tibia KJC-AJC per side from the
      lab's joint-centre markers, feet follow the tibia; MarkerPlacer at mid-stance of the first plate.
      (An IK-RMS search of the femur factor on walking2, ik.fit_subject(search="femur"), found 1.146,
      the same as HJC-KJC (1.144 / 1.134), so the measured factors are used.)
    """
    from . import ik
    from .c3d import read_c3d
    from .opensim_io import ExternalLoads
    from .trc import MarkerData, read_trc, write_trc

    opts = C3D_OPTIONS[spec.c3d_options]
    d = read_c3d(data_dir / spec.folder / spec.file("c3d"))
    steps = [f"C3D {spec.folder}/{spec.c3d}: markers {d.point_rate_hz:g} Hz, {len(d.force_plates)} plates "
             f"{d.analog_rate_hz:g} Hz (ezc3d)"]
    v = np.nanmedian(np.concatenate([np.gradient(d.markers[m][:, :2], d.time_s, axis=0)
                                     for m in ("RASI", "LASI", "RPSI", "LPSI")]), axis=0)
    heading = float(np.arctan2(v[1], v[0]))
    c, s_ = np.cos(-heading), np.sin(-heading)
    r_lab_to_ros = np.array([[c, -s_, 0.0], [s_, c, 0.0], [0.0, 0.0, 1.0]])
    steps.append(f"ground frame: lab rotated {np.degrees(-heading):.0f} deg about z (walking along +x)")
    markers = {opts.rename.get(m, m): p @ r_lab_to_ros.T for m, p in d.markers.items()}
    if opts.rename:
        steps.append("markers renamed to the model's: "
                     + ", ".join(f"{a}->{b}" for a, b in opts.rename.items()))
    legs = [m for m in markers if m[:1] in "RL" and m[1:] in opts.leg_markers]
    ok = np.all([np.isfinite(markers[m]).all(axis=1) for m in legs], axis=0)
    runs = _stances(np.r_[False, ok, False])
    a, b = max(runs, key=lambda r: r[1] - r[0])
    a, b = a - 1, b - 1  # undo the padding
    osim_markers = {m: p[a:b] @ R_OSIM_TO_ROS for m, p in markers.items()}  # ROS -> OpenSim: R^T v
    trc = write_trc(cache_dir / f"{spec.name}.trc", MarkerData(d.time_s[a:b], osim_markers, d.point_rate_hz))
    steps.append(f"markers frames {d.time_s[a]:.3f}-{d.time_s[b - 1]:.3f} s (all leg markers present)")

    fs = d.analog_rate_hz
    t_an = d.analog_time_s
    per_side: dict[str, list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]] = {"l": [], "r": []}
    stances = []
    for plate in d.force_plates:
        loaded0 = plate.loaded()
        if not loaded0.any():
            continue
        force = (plate.force_n - np.median(plate.force_n[~loaded0], axis=0)) @ r_lab_to_ros.T
        cop = plate.cop_m @ r_lab_to_ros.T
        free = plate.free_moment_nm @ r_lab_to_ros.T
        loaded = loaded0 & (force[:, 2] > GRF_THRESHOLD_N)
        for i0, i1 in _stances(loaded):
            if i1 - i0 < 0.1 * fs:  # blips at the load threshold are not stances
                continue
            mid_cop = np.nanmean(cop[i0:i1], axis=0)
            k = np.clip(np.searchsorted(d.time_s, t_an[(i0 + i1) // 2]), 0, len(d.time_s) - 1)
            dist = {s: np.linalg.norm(_foot_centre(markers, s, k) - mid_cop) for s in ("l", "r")}
            side = min(dist, key=lambda s: dist[s] if np.isfinite(dist[s]) else np.inf)
            per_side[side].append((i0, i1, force, cop, free))
            stances.append((i0, i1, side, float(np.sum(force[i0:i1, 2]) / fs)))
    stances.sort()
    # Longest chain of stances alternating feet and overlapping in time (double support on plates),
    # so no step lands off the plates inside it.
    chains: list[list] = []
    for st in stances:
        if chains and chains[-1][-1][2] != st[2] and st[0] < chains[-1][-1][1]:
            chains[-1].append(st)
        else:
            chains.append([st])
    chain = max(chains, key=len)
    if len(chain) < 2:
        raise ValueError(f"{spec.name}: needs two consecutive, overlapping plate stances of opposite feet")
    s1, s2 = chain[0], chain[1]
    step_s = (s2[0] - s1[0]) / fs
    subject: dict[str, Any] = d.parameters.get("PROCESSING", {})
    if "Bodymass" in subject and float(np.ravel(subject["Bodymass"])[0]) > 0:
        mass_kg = float(np.ravel(subject["Bodymass"])[0])
        height_m = float(np.ravel(subject.get("Height", [np.nan]))[0]) / 1000.0
        steps.append(f"body mass {mass_kg:.1f} kg, height {height_m:.3f} m from the C3D PROCESSING "
                     "parameters")
    else:
        mass_kg = (s1[3] + s2[3]) / (GRAVITY_M_S2 * 2.0 * step_s)
        height_m = float("nan")
        steps.append(f"body mass {mass_kg:.1f} kg from the vertical impulse of the {s1[2]} and {s2[2]} "
                     f"stances over a {2 * step_s:.3f} s stride (steady walking)")
    ds_first = max(0.0, (s1[1] - s2[0]) / fs)
    ds_last = max(0.0, (chain[-2][1] - chain[-1][0]) / fs)
    window = (t_an[s1[0]] + ds_first, t_an[chain[-1][1] - 1] - ds_last)
    steps.append(f"analysis window {window[0]:.3f}-{window[1]:.3f} s over {len(chain)} plate stances "
                 "(every foot on the ground is on a plate)")
    n = len(t_an)
    contacts = {}
    for side in ("l", "r"):
        f_tot, m_tot = np.zeros((n, 3)), np.zeros((n, 3))
        for i0, i1, force, cop, free in per_side[side]:
            sl = slice(i0, i1)
            f_tot[sl] += force[sl]
            m_tot[sl] += np.cross(np.nan_to_num(cop[sl]), force[sl]) + free[sl]
        on = f_tot[:, 2] > GRF_THRESHOLD_N
        fz = np.where(on, f_tot[:, 2], 1.0)
        cop_side = np.zeros((n, 3))
        cop_side[:, 0] = np.where(on, -m_tot[:, 1] / fz, 0.0)  # plate surface at z = 0
        cop_side[:, 1] = np.where(on, m_tot[:, 0] / fz, 0.0)
        free_side = np.zeros((n, 3))
        tz = m_tot[:, 2] - cop_side[:, 0] * f_tot[:, 1] + cop_side[:, 1] * f_tot[:, 0]
        free_side[:, 2] = np.where(on, tz, 0.0)
        contacts[side] = FootContact(np.where(on[:, None], f_tot, 0.0), cop_side, free_side)
    loads = ExternalLoads(t_an, contacts, {"l": "calcn_l", "r": "calcn_r"}, "ros")

    out_dir = cache_dir / f"{spec.name}_model"
    model = out_dir / "scaled.osim"
    info_path = out_dir / "scale_info.json"
    if model.exists() and info_path.exists() and not rebuild:
        info = json.loads(info_path.read_text())
    else:
        _say(progress, f"{spec.name}: scaling the generic model to {mass_kg:.1f} kg")
        generic = ik.strip_forces(data_dir / spec.folder / spec.model, out_dir / "generic_no_muscles.osim",
                                  unfix_markers=opts.unfix, add_markers=opts.add_markers)
        placer_t = float(t_an[(s1[0] + s1[1]) // 2])
        # Unknown height: -1 mm is ScaleTool's "not given" (it is informational only).
        h = height_m if np.isfinite(height_m) else -0.001
        if opts.femur_search:
            fit = ik.fit_subject(generic, trc, mass_kg, h, out_dir, search="femur", placer_time=placer_t,
                                 frame_step=4, skip=opts.skip_scale)
            info = {"factors": fit.factors, "placer_time_s": placer_t, "search": fit.search,
                    "seconds": round(fit.seconds, 1)}
        else:
            factors = ik.measured_scale_factors(generic, read_trc(trc), skip=opts.skip_scale)
            ik.scale_model(generic, trc, mass_kg, h, model, None, placer_time=placer_t, factors=factors)
            info = {"factors": factors, "placer_time_s": placer_t}
        info_path.write_text(json.dumps(info, indent=1))
    steps.append("OpenSim ScaleTool on the generic FULLBODY model: factors "
                 + ", ".join(f"{k} {v:.3f}" for k, v in info["factors"].items())
                 + f"; markers placed at {info['placer_time_s']:.3f} s (mid-stance)")
    # Overground: speed = mean horizontal speed of the pelvis markers over the window.
    inwin = (d.time_s >= window[0]) & (d.time_s <= window[1])
    pel = np.mean([markers[m][inwin, :2] for m in ("RASI", "LASI", "RPSI", "LPSI")], axis=0)
    speed = float(np.linalg.norm(pel[-1] - pel[0]) / (d.time_s[inwin][-1] - d.time_s[inwin][0]))
    steps.append(f"speed {speed:.2f} m/s = mean horizontal pelvis-marker speed over the window")
    return {"model": model, "loads": loads, "mass_kg": float(mass_kg), "window_s": window, "trc": trc,
            "steps": steps, "speed_m_s": speed, "height_m": height_m, "c3d": d}


_PIG_JOINT = {"hip_flexion": "Hip", "knee_flexion": "Knee", "ankle_dorsiflexion": "Ankle"}


def compare_with_plugin_gait(c3d, time_s: np.ndarray, moments_nm_per_kg: np.ndarray) -> dict[str, dict]:
    """RMS difference and correlation of our sagittal moments with the Plug-in-Gait/CGM moments stored
    in a C3D (`<S><Joint>Moment`, N mm/kg, X = sagittal component, positive = extensor / plantarflexor,
    i.e. minus the project's convention), over the samples where the reference is defined."""
    out = {}
    for k, joint in enumerate(JOINTS):
        base, side = joint[:-2], joint[-1].upper()
        label = f"{side}{_PIG_JOINT[base]}Moment"
        if label not in c3d.model_outputs or c3d.model_output_units.get(label, "").lower() != "nmm":
            continue
        ref = -np.interp(time_s, c3d.time_s, c3d.model_outputs[label][:, 0] / 1000.0)
        ok = np.isfinite(ref)
        if ok.sum() < 10:
            continue
        ours = moments_nm_per_kg[ok, k]
        out[joint] = {"rms_nm_per_kg": round(float(np.sqrt(np.mean((ours - ref[ok]) ** 2))), 3),
                      "corr": round(float(np.corrcoef(ours, ref[ok])[0, 1]), 3),
                      "peak_ours": round(float(np.max(np.abs(ours))), 3),
                      "peak_ref": round(float(np.max(np.abs(ref[ok]))), 3), "samples": int(ok.sum())}
    return out


def _ik_with_quality(name: str, model: Path, trc: Path, cache_dir: Path, rebuild: bool,
                     progress: Progress | None) -> tuple[Path, dict]:
    """OpenSim IK of one trial (cached) plus its marker-error record."""
    from . import ik

    coords_path = cache_dir / f"{name}_ik.mot"
    ik_info = cache_dir / f"{name}_ik.json"
    fresh = coords_path.exists() and coords_path.stat().st_mtime >= Path(model).stat().st_mtime
    if fresh and ik_info.exists() and not rebuild:
        ik_q = json.loads(ik_info.read_text())
    else:
        _say(progress, f"{name}: OpenSim inverse kinematics")
        res = ik.run_ik(model, trc, coords_path)
        ik_q = {"ik_marker_rms_m": round(res.rms_m, 5),
                "ik_marker_max_m": round(float(res.marker_max_m.max()), 5),
                "ik_seconds": round(res.seconds, 1), "ik_frames": len(res.time_s)}
    if "ik_lower_body_rms_m" not in ik_q:
        per = ik.marker_errors(model, coords_path, trc)
        low = [v for m, v in per.items() if ik.is_lower_body_marker(m)]
        worst = max(per, key=lambda m: per[m])
        ik_q.update(ik_lower_body_rms_m=round(float(np.sqrt(np.mean(np.square(low)))), 5),
                    ik_worst_marker=f"{worst} {1000 * per[worst]:.1f} mm",
                    ik_per_marker_rms_mm={m: round(1000 * v, 1) for m, v in per.items()})
        ik_info.write_text(json.dumps(ik_q))
    return coords_path, ik_q


def build_trial(name: str, data_dir: str | Path | None = None, cache_dir: str | Path | None = None,
                rebuild: bool = False, progress: Progress | None = None) -> EvalTrial:
    """Build (or load from cache) one evaluation trial by name (see `list_real_trials`)."""
    spec = _spec(name)
    data_dir = Path(data_dir) if data_dir else DEFAULT_DATA_DIR.resolve()
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    cpath = _cache_path(cache_dir, name)
    if cpath.exists() and not rebuild:
        try:
            return load_trial(cpath)
        except ValueError:
            pass  # stale or broken cache: rebuild
    folder = data_dir / spec.folder
    if not folder.is_dir():
        raise FileNotFoundError(f"{name}: data folder {folder} not found")
    cache_dir.mkdir(parents=True, exist_ok=True)
    from ..dynamics import inverse_dynamics, sagittal_moments
    from .opensim_io import external_loads_from_storage, read_external_loads, read_storage
    from .opensim_model import trial_kinematics

    t_all = time.perf_counter()
    steps: list[str] = []
    quality: dict[str, object] = {}
    window: tuple[float, float] | None = None
    grf_cutoff: float | None = spec.filter_hz
    height_m = float("nan")
    speed = spec.speed_m_s
    prep: dict = {}
    if spec.c3d:
        prep = _c3d_inputs(spec, data_dir, cache_dir, rebuild, progress)
        model, loads, mass_kg, window = prep["model"], prep["loads"], prep["mass_kg"], prep["window_s"]
        steps.extend(prep["steps"])
        coords_path, ik_q = _ik_with_quality(name, model, prep["trc"], cache_dir, rebuild, progress)
        quality.update(ik_q)
        steps.append(f"OpenSim InverseKinematicsTool ({quality['ik_frames']} frames)")
        mass_source = "C3D parameters" if np.isfinite(prep["height_m"]) else "GRF impulse over one stride"
        speed = prep["speed_m_s"]
        height_m = prep["height_m"]
    elif spec.trc:
        model, info = _hamner_subject(data_dir, cache_dir, progress)
        steps.append(f"OpenSim ScaleTool on {spec.model}: mass {info['mass_kg']} kg, factors "
                     + ", ".join(f"{k} {v:.3f}" for k, v in info["factors"].items())
                     + " (pelvis/torso/feet from marker distances, legs by IK-RMS search)")
        coords_path, ik_q = _ik_with_quality(name, model, folder / spec.file("trc"), cache_dir, rebuild,
                                             progress)
        quality.update(ik_q)
        steps.append(f"OpenSim InverseKinematicsTool on {spec.trc} ({quality['ik_frames']} frames)")
        subj = json.loads((folder / spec.file("subject_json")).read_text())
        mass_kg, height_m = float(subj["massKg"]), float(subj["heightM"])
        loads = external_loads_from_storage(read_storage(folder / spec.file("grf_mot")), _GRF_IDS)
        mass_source = "_subject.json"
    else:
        model = folder / spec.model
        coords_path = folder / spec.file("coordinates")
        steps.append(f"coordinates given ({spec.coordinates})")
        mass_kg = float("nan")
        loads = read_external_loads(folder / spec.file("grf_xml"))
        grf_cutoff = None  # as in the OpenSim reference ID of these trials
        mass_source = "model mass"
    coords = read_storage(coords_path)
    if spec.c3d or spec.trc:
        # Workaround: trial_kinematics probes each coordinate's Q index by setting it, which fails on
        # locked coordinates (they then alias Q 0 = pelvis_tilt, and the pelvis loses its tilt).
        from . import ik

        model = ik.unlocked_copy(model, Path(model).with_name("scaled_unlocked.osim"))

    _say(progress, f"{name}: segment kinematics from the OpenSim model")
    t0 = time.perf_counter()
    span = (max(coords.time_s[0], loads.time_s[0]) + EDGE_TRIM_S,
            min(coords.time_s[-1], loads.time_s[-1]) - EDGE_TRIM_S)
    if window is not None:
        span = (max(span[0], window[0]), min(span[1], window[1]))
    tk = trial_kinematics(model, coords, filter_hz=spec.filter_hz, time_range_s=span)
    kin = tk.kinematics
    quality["kinematics_seconds"] = round(time.perf_counter() - t0, 1)
    steps.append(f"segment kinematics: OpenSim model, coordinates low-passed at {spec.filter_hz:g} Hz, "
                 f"{EDGE_TRIM_S:g} s trimmed at both ends")
    if np.isnan(mass_kg):
        mass_kg = tk.model_mass_kg
    contacts = _contacts_on(loads, kin.time_s, grf_cutoff)
    how = f"low-passed at {grf_cutoff:g} Hz (force, origin moment)" if grf_cutoff else "unfiltered"
    steps.append(f"GRF {how}, resampled to the kinematics")

    _say(progress, f"{name}: inverse dynamics")
    jl = inverse_dynamics(kin, tk.inertials, contacts, inertial_moment_nm=tk.inertial_moment_nm)
    sag = sagittal_moments(kin, jl, axes=tk.joint_axes, translations=tk.joint_translations_m)
    moments = np.column_stack([sag[j] for j in JOINTS]) / mass_kg
    steps.append("project Newton-Euler ID, moments on the OpenSim coordinate directions, / body mass")
    if prep.get("c3d") is not None and prep["c3d"].model_outputs:
        ref = compare_with_plugin_gait(prep["c3d"], kin.time_s, moments)
        if ref:
            quality["plugin_gait_moment_comparison"] = ref
    bw = mass_kg * GRAVITY_M_S2
    lever = height_m if np.isfinite(height_m) else 1.0
    if jl.pelvis_residual_force_n is not None and jl.pelvis_residual_moment_nm is not None:
        rf = np.linalg.norm(jl.pelvis_residual_force_n, axis=1)
        rm = np.linalg.norm(jl.pelvis_residual_moment_nm, axis=1)
        quality.update(
            residual_force_rms_n=round(float(np.sqrt(np.mean(rf**2))), 2),
            residual_force_peak_n=round(float(rf.max()), 2),
            residual_force_rms_pct_bw=round(float(100 * np.sqrt(np.mean(rf**2)) / bw), 2),
            residual_moment_rms_nm=round(float(np.sqrt(np.mean(rm**2))), 2),
            residual_moment_peak_nm=round(float(rm.max()), 2),
            residual_moment_rms_pct_bw_h=round(float(100 * np.sqrt(np.mean(rm**2)) / (bw * lever)), 2))
    if speed is None:
        speed = walking_speed_m_s(kin, contacts, mass_kg)
        steps.append("speed = mean pelvis CoM velocity minus median stance-foot velocity (works on "
                     "treadmill and overground)")
    angles = _angles(tk, coords, kin.time_s, spec.filter_hz)
    quality.update(steps=steps, notes=list(tk.notes), frames=len(kin),
                   rate_hz=round(1 / float(np.median(np.diff(kin.time_s))), 3),
                   peak_abs_moment_nm_per_kg={j: round(float(np.max(np.abs(moments[:, k]))), 3)
                                              for k, j in enumerate(JOINTS)},
                   build_seconds=round(time.perf_counter() - t_all, 1),
                   model=str(Path(model).name), mass_source=mass_source)
    trial = EvalTrial(name=name, mode=spec.mode, speed_m_s=float(speed), mass_kg=float(mass_kg),
                      height_m=float(height_m), kinematics=kin, contacts=contacts, moments_nm_per_kg=moments,
                      angles_rad=angles, quality=quality)
    save_trial(trial, cpath)
    return trial


def _build_quiet(args: tuple) -> str:
    name, data_dir, cache_dir, rebuild = args
    build_trial(name, data_dir, cache_dir, rebuild, progress=lambda m: print(m, flush=True))
    return name


def build_all(names: list[str] | None = None, data_dir: str | Path | None = None,
              cache_dir: str | Path | None = None, rebuild: bool = False,
              progress: Progress | None = None, jobs: int = 1) -> list[EvalTrial]:
    """Build every (or the named) trial, reusing the cache. With `jobs` > 1 the trials are built in
    that many processes (OpenSim IK is single-threaded); the shared hamner subject model is fitted
    first so the processes do not race for it."""
    names = list(names or list_real_trials())
    for n in names:
        _spec(n)
    data_dir = Path(data_dir) if data_dir else DEFAULT_DATA_DIR.resolve()
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    todo = [n for n in names if rebuild or not _cache_path(cache_dir, n).exists()]
    if jobs > 1 and len(todo) > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        cache_dir.mkdir(parents=True, exist_ok=True)
        if any(TRIALS[n].trc for n in todo):
            _hamner_subject(data_dir, cache_dir, progress)
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(_build_quiet, (n, data_dir, cache_dir, rebuild)) for n in todo]
            for f in as_completed(futures):
                _say(progress, f"built {f.result()}")
        rebuild = False
    return [build_trial(n, data_dir, cache_dir, rebuild, progress) for n in names]
