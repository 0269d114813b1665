"""Real-motion evaluation trials from ../shared/data: kinematics, GRF and ground-truth joint moments.

Each trial becomes an `EvalTrial`: segment kinematics of the 7 project segments (ground frame of
body.py), per-foot ground contact, sagittal joint moments in Nm/kg (body.JOINTS order, project sign
convention), sagittal joint angles, and a quality record (what was done, IK marker RMS, ID residuals).

Pipeline per trial (offline; needs the `opensim` extra):
1. Coordinates: given (`opensim_walk_rajagopal`, `opensim_subject01_walk`) or from OpenSim IK on the
   markers with a model scaled to the subject (`hamner_run_subject04` runs, see data/ik.py; the
   subject is scaled once, from run200, and that model serves all four speeds).
2. Segment kinematics + composite inertials from the OpenSim model (data/opensim_model.py), with the
   coordinate low-pass of the trial (6 Hz walking, as the OpenSim reference setups; 12 Hz running).
3. GRF per foot from the ExternalLoads XML (walking) or the GRF table (running), in the project's
   ground frame, on the kinematics' time base. Running GRF is low-pass filtered at the same cutoff as
   the coordinates (force and moment about the origin filtered, CoP and free moment recomputed),
   which avoids the impact artefacts that mismatched filtering causes (Kristianslund et al. 2012,
   J Biomech 45:666). Walking GRF is used unfiltered, as in the OpenSim references.
4. Newton-Euler inverse dynamics (dynamics.inverse_dynamics) and sagittal moments projected on each
   OpenSim coordinate's generalized direction (dynamics.sagittal_moments with the model's joint axes
   and joint-centre partial velocities), divided by body mass.
Quality: IK marker RMS/max (m) where IK ran; whole-body residual force/moment on the pelvis (the
upper body is lumped on the pelvis) RMS and peak, also as % of body weight (and of BW x height or
BW x 1 m where the height is unknown).

Built trials are cached as .npz (one per trial) in `cache_dir` (default: $IMU_TORQUE_CACHE or
~/.cache/imu_torque_estimator/real_trials); `CACHE_VERSION` invalidates old files.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import butter, filtfilt

from ..body import GRAVITY_M_S2, JOINTS, SEGMENTS
from ..motion import JOINT_CENTRES, FootContact, SegmentKinematics

CACHE_VERSION = 1
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
}
# Trials considered and not built, with the reason (reported by list_real_trials / the CLI).
NOT_BUILT: dict[str, str] = {
    "opensim_c3d_walk/walking2, walking5": (
        "no subject mass or height in the files (needed to scale a model and normalise moments), and "
        "the marker set (FULLBODY_2009) lacks toe markers of the generic model (RTOE/RMT5 vs RMT1/RMT2)"),
    "ktk_walk_c3d/walk": (
        "Plug-in-Gait/CGM2 marker set: no OpenSim model with that marker set is in ../shared/data, so "
        "IK would need a hand-made marker set; its own CGM2 moments are in the file for reference"),
}
_GRF_IDS = {"r": ("R_ground_force_v", "R_ground_force_p", "R_ground_torque_"),
            "l": ("L_ground_force_v", "L_ground_force_p", "L_ground_torque_")}


def list_real_trials() -> list[str]:
    """Names of the evaluation trials `build_trial` can build."""
    return list(TRIALS)


def default_cache_dir() -> Path:
    env = os.environ.get("IMU_TORQUE_CACHE")
    base = Path(env) if env else Path.home() / ".cache" / "imu_torque_estimator"
    return base / "real_trials"


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
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)
    return path


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
    fit = ik.fit_subject(generic, folder / spec.trc, float(subj["massKg"]), float(subj["heightM"]), out_dir)
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
    from ..dynamics import inverse_dynamics, sagittal_moments
    from .opensim_io import external_loads_from_storage, read_external_loads, read_storage
    from .opensim_model import trial_kinematics

    t_all = time.perf_counter()
    steps: list[str] = []
    quality: dict[str, object] = {}
    if spec.trc:
        from . import ik

        model, info = _hamner_subject(data_dir, cache_dir, progress)
        steps.append(f"OpenSim ScaleTool on {spec.model}: mass {info['mass_kg']} kg, factors "
                     + ", ".join(f"{k} {v:.3f}" for k, v in info["factors"].items())
                     + " (pelvis/torso/feet from marker distances, legs by IK-RMS search)")
        coords_path = cache_dir / f"{name}_ik.mot"
        ik_info = cache_dir / f"{name}_ik.json"
        if coords_path.exists() and ik_info.exists() and not rebuild:
            ik_q = json.loads(ik_info.read_text())
        else:
            _say(progress, f"{name}: OpenSim inverse kinematics")
            res = ik.run_ik(model, folder / spec.trc, coords_path)
            ik_q = {"ik_marker_rms_m": round(res.rms_m, 5),
                    "ik_marker_max_m": round(float(res.marker_max_m.max()), 5),
                    "ik_seconds": round(res.seconds, 1), "ik_frames": len(res.time_s)}
        if "ik_lower_body_rms_m" not in ik_q:
            per = ik.marker_errors(model, coords_path, folder / spec.trc)
            low = [v for m, v in per.items() if ik.is_lower_body_marker(m)]
            worst = max(per, key=per.get)
            ik_q.update(ik_lower_body_rms_m=round(float(np.sqrt(np.mean(np.square(low)))), 5),
                        ik_worst_marker=f"{worst} {1000 * per[worst]:.1f} mm",
                        ik_per_marker_rms_mm={m: round(1000 * v, 1) for m, v in per.items()})
            ik_info.write_text(json.dumps(ik_q))
        quality.update(ik_q)
        steps.append(f"OpenSim InverseKinematicsTool on {spec.trc} ({quality['ik_frames']} frames)")
        coords = read_storage(coords_path)
        subj = json.loads((folder / spec.subject_json).read_text())
        mass_kg, height_m = float(subj["massKg"]), float(subj["heightM"])
    else:
        model = folder / spec.model
        coords = read_storage(folder / spec.coordinates)
        steps.append(f"coordinates given ({spec.coordinates})")
        mass_kg, height_m = float("nan"), float("nan")

    _say(progress, f"{name}: segment kinematics from the OpenSim model")
    t0 = time.perf_counter()
    if spec.grf_xml:
        loads = read_external_loads(folder / spec.grf_xml)
        grf_cutoff = None
    else:
        loads = external_loads_from_storage(read_storage(folder / spec.grf_mot), _GRF_IDS)
        grf_cutoff = spec.filter_hz
    span = (max(coords.time_s[0], loads.time_s[0]) + EDGE_TRIM_S,
            min(coords.time_s[-1], loads.time_s[-1]) - EDGE_TRIM_S)
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
    bw = mass_kg * GRAVITY_M_S2
    lever = height_m if np.isfinite(height_m) else 1.0
    if jl.pelvis_residual_force_n is not None:
        rf = np.linalg.norm(jl.pelvis_residual_force_n, axis=1)
        rm = np.linalg.norm(jl.pelvis_residual_moment_nm, axis=1)
        quality.update(
            residual_force_rms_n=round(float(np.sqrt(np.mean(rf**2))), 2),
            residual_force_peak_n=round(float(rf.max()), 2),
            residual_force_rms_pct_bw=round(float(100 * np.sqrt(np.mean(rf**2)) / bw), 2),
            residual_moment_rms_nm=round(float(np.sqrt(np.mean(rm**2))), 2),
            residual_moment_peak_nm=round(float(rm.max()), 2),
            residual_moment_rms_pct_bw_h=round(float(100 * np.sqrt(np.mean(rm**2)) / (bw * lever)), 2))
    speed = spec.speed_m_s
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
                   model=str(model.name), mass_source="_subject.json" if spec.subject_json else "model mass")
    trial = EvalTrial(name=name, mode=spec.mode, speed_m_s=float(speed), mass_kg=float(mass_kg),
                      height_m=float(height_m), kinematics=kin, contacts=contacts, moments_nm_per_kg=moments,
                      angles_rad=angles, quality=quality)
    save_trial(trial, cpath)
    return trial


def build_all(names: list[str] | None = None, data_dir: str | Path | None = None,
              cache_dir: str | Path | None = None, rebuild: bool = False,
              progress: Progress | None = None) -> list[EvalTrial]:
    """Build every (or the named) trial in order, reusing the cache."""
    return [build_trial(n, data_dir, cache_dir, rebuild, progress) for n in (names or list_real_trials())]
