"""Fit the gait-pattern model (sim/patterns.json) to the real trials (`imu-torque fit-patterns`).

Walking: opensim_walk_rajagopal (IK+RRA coordinates, GRF) and opensim_subject01_walk (IK, GRF).
Running: hamner_run_subject04 run200..run500 joint coordinates from OpenSim IK (markers only in the
shared data): taken from `--run-coordinates DIR` (files *run200*.mot ..., e.g. the real-trials cache of
`imu-torque real-trials`, which scales the generic model and runs OpenSim IK: hamner_run_subject04_
run200_ik.mot). Gait events (heel strike / toe off) come from the measured vertical GRF
(threshold 5 % body weight). Speed: overground trials from the pelvis translation; treadmill trials
from the nominal belt speed when known, else estimated as the backward speed of the stance ankle
relative to the pelvis (project forward kinematics of the IK coordinates).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HARMONICS = 6
GRF_POINTS = 51


@dataclass
class RealCycleData:
    name: str
    mode: str
    speed_m_s: float
    mass_kg: float
    height_m: float
    time_s: np.ndarray
    coords: dict[str, np.ndarray]  # project convention, radians (chain.COORDINATES names)
    hs: dict[str, np.ndarray]  # heel strikes per side (s)
    to: dict[str, np.ndarray]  # toe offs per side (s)
    grf_time_s: np.ndarray
    grf: dict[str, np.ndarray]  # (N, 3) ROS ground frame, walking direction +x


def _osim_mass_kg(path: Path) -> float:
    root = ET.parse(path).getroot()
    return float(sum(float(e.text) for e in root.iter("mass") if e.text))


def _events(t: np.ndarray, fz: np.ndarray, thr: float) -> tuple[np.ndarray, np.ndarray]:
    on = fz > thr
    rise = np.flatnonzero(on[1:] & ~on[:-1]) + 1
    fall = np.flatnonzero(~on[1:] & on[:-1]) + 1
    return t[rise], t[fall]


def _project_coords(storage) -> dict[str, np.ndarray]:
    """OpenSim coordinate table (radians) -> project coordinates (chain.COORDINATES convention)."""
    knee_sign = 1.0 if np.median(storage.column("knee_angle_r")) > 0 else -1.0  # gait2354: flexion < 0
    out = {
        "pelvis_tilt": -storage.column("pelvis_tilt"),
        "pelvis_list": storage.column("pelvis_list"),
        "pelvis_rotation": storage.column("pelvis_rotation"),
    }
    for s in ("l", "r"):
        out[f"hip_flexion_{s}"] = storage.column(f"hip_flexion_{s}")
        out[f"hip_adduction_{s}"] = storage.column(f"hip_adduction_{s}")
        out[f"hip_rotation_{s}"] = storage.column(f"hip_rotation_{s}")
        out[f"knee_flexion_{s}"] = knee_sign * storage.column(f"knee_angle_{s}")
        out[f"ankle_dorsiflexion_{s}"] = storage.column(f"ankle_angle_{s}")
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def _load_trial(
    name: str, mode: str, coord_path: Path, loads, mass_kg: float, height_m: float, speed_m_s: float | None
) -> RealCycleData:
    from ..data.opensim_io import coordinates_rad, read_storage

    st = coordinates_rad(read_storage(coord_path))
    coords = _project_coords(st)
    loads = loads.in_ros_frame()
    t_grf = loads.time_s
    grf = {s: c.force_n.copy() for s, c in loads.contacts.items()}
    thr = 0.05 * mass_kg * 9.81
    hs, to = {}, {}
    for s in ("l", "r"):
        hs[s], to[s] = _events(t_grf, grf[s][:, 2], thr)
    # Walking direction: braking (negative AP force) in the first 20 % of stance.
    early = []
    for s in ("l", "r"):
        for h in hs[s]:
            nxt = to[s][to[s] > h]
            if nxt.size:
                m = (t_grf >= h) & (t_grf <= h + 0.2 * (nxt[0] - h))
                early.append(np.mean(grf[s][m, 0]))
    if early and np.mean(early) > 0:  # walking towards -x: rotate 180 deg about z
        for s in grf:
            grf[s][:, :2] *= -1.0
    if speed_m_s is None:
        if st.has("pelvis_tx"):
            tx = st.column("pelvis_tx")
            v = abs(np.polyfit(st.time_s, tx, 1)[0])
        else:
            v = 0.0
        speed_m_s = v if v > 0.3 else _treadmill_speed(st.time_s, coords, hs, to, mass_kg, height_m)
    return RealCycleData(
        name, mode, float(speed_m_s), mass_kg, height_m, st.time_s, coords, hs, to, t_grf, grf
    )


def _treadmill_speed(
    t: np.ndarray, coords: dict[str, np.ndarray], hs: dict, to: dict, mass_kg: float, height_m: float
) -> float:
    """Backward speed of the stance ankle relative to the pelvis origin in mid stance (m/s)."""
    from ..body import lower_body_model
    from .chain import Coordinates, relative_chain

    n = t.shape[0]
    z = np.zeros(n)
    sp = {k: np.gradient(v, t) for k, v in coords.items()}
    c = Coordinates(t, dict(coords), sp, dict.fromkeys(coords, z))
    st = relative_chain(lower_body_model(mass_kg, height_m, "male"), c)
    speeds = []
    for s in ("l", "r"):
        for h in hs[s]:
            nxt = to[s][to[s] > h]
            if not nxt.size:
                continue
            d = nxt[0] - h
            m = (t >= h + 0.3 * d) & (t <= h + 0.7 * d)
            if m.sum() > 3:
                speeds.append(-np.mean(st.joint[f"ankle_{s}"].v[m, 0]))
    if not speeds:
        raise ValueError("cannot estimate the treadmill speed: no complete stance inside the coordinates")
    return float(np.median(speeds))


def collect_trials(data: Path, run_coordinates: Path | None) -> list[RealCycleData]:
    from ..data.opensim_io import external_loads_from_storage, read_external_loads, read_storage

    if not data.is_dir():
        raise FileNotFoundError(f"shared data folder {data} not found")
    out = []
    d = data / "opensim_walk_rajagopal"
    out.append(
        _load_trial(
            "opensim_walk_rajagopal",
            "walk",
            d / "coordinates.sto",
            read_external_loads(d / "grf_walk.xml"),
            _osim_mass_kg(d / "subject_walk_scaled.osim"),
            1.75,
            None,
        )
    )
    d = data / "opensim_subject01_walk"
    out.append(
        _load_trial(
            "opensim_subject01_walk",
            "walk",
            d / "subject01_walk1_ik.mot",
            read_external_loads(d / "subject01_walk1_grf.xml"),
            _osim_mass_kg(d / "subject01.osim"),
            1.80,
            None,
        )
    )
    if run_coordinates is not None:
        d = data / "hamner_run_subject04"
        info = json.loads((d / "_subject.json").read_text())
        for trial in ("run200", "run300", "run400", "run500"):
            found = sorted(run_coordinates.glob(f"*{trial}*.mot"))
            if not found:
                raise FileNotFoundError(f"{run_coordinates}: no running IK coordinates *{trial}*.mot")
            f = found[0]
            st = read_storage(d / trial / "grf.mot")
            ids = {
                "r": ("R_ground_force_v", "R_ground_force_p", "R_ground_torque_"),
                "l": ("L_ground_force_v", "L_ground_force_p", "L_ground_torque_"),
            }
            loads = external_loads_from_storage(st, ids)
            out.append(
                _load_trial(
                    f"hamner_{trial}",
                    "run",
                    f,
                    loads,
                    float(info["massKg"]),
                    float(info["heightM"]),
                    int(trial[3:]) / 100.0,
                )
            )
    return out


def _phases(t: np.ndarray, hs: np.ndarray) -> np.ndarray:
    """Phase (cycles since a heel strike) for samples in [hs[0] - T, hs[-1] + T]; NaN elsewhere."""
    if hs.size < 2:
        raise ValueError("need two heel strikes of one foot to define a gait cycle")
    period = np.diff(hs)
    knots_t = np.concatenate([[hs[0] - period[0]], hs, [hs[-1] + period[-1]]])
    knots_k = np.arange(-1, hs.size + 1, dtype=float)
    ph = np.interp(t, knots_t, knots_k, left=np.nan, right=np.nan)
    return ph


def _cycle_hs(trial: RealCycleData, side: str) -> np.ndarray:
    """Heel strikes of `side`, completed with 2 x the contralateral event spacing if only one exists."""
    h = trial.hs[side]
    if h.size >= 2:
        return h
    other = trial.hs["l" if side == "r" else "r"]
    if h.size == 1 and other.size >= 1:
        half = abs(other[np.argmin(np.abs(other - h[0]))] - h[0])
        return np.array([h[0], h[0] + 2 * half])
    raise ValueError(f"{trial.name}: not enough heel strikes of side {side}")


def fit_trial(trial: RealCycleData, harmonics: int) -> dict:
    """Fourier coefficients per pattern coordinate (both legs pooled), duty, stride time, GRF shapes."""
    from .gait import PATTERN_COORDINATES, fit_fourier

    coefs = {}
    rms = {}
    ph = {s: _phases(trial.time_s, _cycle_hs(trial, s)) for s in ("l", "r")}
    for name in PATTERN_COORDINATES:
        xs, ys = [], []
        for s in ("l", "r"):
            ok = np.isfinite(ph[s])
            if name.startswith("pelvis"):
                v = trial.coords[name][ok]
                # The pelvis pattern is referenced to the right heel strike; mirror left-referenced data.
                sign = 1.0 if (s == "r" or name == "pelvis_tilt") else -1.0
                v = sign * v
            else:
                v = trial.coords[f"{name}_{s}"][ok]
            xs.append(ph[s][ok])
            ys.append(v)
        x, y = np.concatenate(xs), np.concatenate(ys)
        if name in ("pelvis_list", "pelvis_rotation"):  # heading/obliquity offsets are not gait
            y = y - y.mean()
        coefs[name], rms[name] = fit_fourier(x, y, harmonics)
    # The mean pelvis tilt is kept: hip flexion is relative to the pelvis, so the absolute thigh angle
    # (which places the feet under the CoM) needs both.
    periods, duties, shapes = [], [], []
    for s in ("l", "r"):
        hs, to = trial.hs[s], trial.to[s]
        for i, h in enumerate(hs):
            nxt_to = to[to > h]
            if not nxt_to.size:
                continue
            stance = nxt_to[0] - h
            if i + 1 < hs.size:
                periods.append(hs[i + 1] - h)
                duties.append(stance / (hs[i + 1] - h))
            m = (trial.grf_time_s >= h) & (trial.grf_time_s <= nxt_to[0])
            tau = (trial.grf_time_s[m] - h) / stance
            f = trial.grf[s][m] / (trial.mass_kg * 9.80665)
            medial = f[:, 1] if s == "r" else -f[:, 1]
            grid = np.linspace(0, 1, GRF_POINTS)
            shapes.append(
                np.stack(
                    [
                        np.interp(grid, tau, f[:, 0]),
                        np.interp(grid, tau, medial),
                        np.interp(grid, tau, f[:, 2]),
                    ]
                )
            )
    if not periods:
        lhs, rhs = trial.hs["l"], trial.hs["r"]
        periods = [2 * abs(lhs[0] - rhs[np.argmin(np.abs(rhs - lhs[0]))])]
        stance = [
            to_[to_ > h][0] - h
            for s in ("l", "r")
            for h, to_ in ((h, trial.to[s]) for h in trial.hs[s])
            if np.any(to_ > h)
        ]
        duties = [np.mean(stance) / periods[0]]
    return {
        "name": trial.name,
        "mode": trial.mode,
        "speed_m_s": trial.speed_m_s,
        "height_m": trial.height_m,
        "mass_kg": trial.mass_kg,
        "coef": np.stack([coefs[n] for n in PATTERN_COORDINATES]),
        "fit_rms_deg": {k: float(np.rad2deg(v)) for k, v in rms.items()},
        "stride_time_s": float(np.mean(periods)),
        "duty": float(np.mean(duties)),
        "n_stances": len(shapes),
        "grf_shape": np.mean(shapes, axis=0),
    }


def fit_mode(fits: list[dict], mode: str, harmonics: int) -> dict:
    from .gait import HIP_HEIGHT_PER_STATURE, PATTERN_COORDINATES

    fs = sorted((f for f in fits if f["mode"] == mode), key=lambda f: f["speed_m_s"])
    if not fs:
        raise ValueError(f"no real trials for mode {mode!r}")
    v = np.array([f["speed_m_s"] for f in fs])
    c = np.stack([f["coef"] for f in fs])
    v_ref = float(v.mean())
    if v.max() - v.min() >= 0.5 and len(fs) >= 3:
        a = np.column_stack([np.ones_like(v), v - v_ref])
        sol, *_ = np.linalg.lstsq(a, c.reshape(len(fs), -1), rcond=None)
        coef0, coef1 = sol[0].reshape(c.shape[1:]), sol[1].reshape(c.shape[1:])
        speed_model = "linear regression of every coefficient on speed"
        d = np.array([f["duty"] for f in fs])
        duty = np.polyfit(v - v_ref, d, 1)[::-1]
    else:
        coef0, coef1 = c.mean(axis=0), np.zeros(c.shape[1:])
        speed_model = (
            "mean of the trials (speed spread < 0.5 m/s: no speed regression; speed enters via "
            "stride length/time and the hip-amplitude scaling in sim/trial.py)"
        )
        duty = np.array([np.mean([f["duty"] for f in fs]), 0.0])
    # Alexander coefficient A from the real stride lengths: lambda = v T.
    a_coef = []
    for f in fs:
        h = HIP_HEIGHT_PER_STATURE * f["height_m"]
        a_coef.append(
            f["speed_m_s"] * f["stride_time_s"] / (h * (f["speed_m_s"] ** 2 / (9.80665 * h)) ** 0.3)
        )
    return {
        "coordinates": list(PATTERN_COORDINATES),
        "harmonics": harmonics,
        "v_ref_m_s": v_ref,
        "coef0": coef0.tolist(),
        "coef1": coef1.tolist(),
        "speed_model": speed_model,
        "duty": [float(duty[0]), float(duty[1])],
        "stride_coef": float(np.mean(a_coef)),
        "grf_speeds_m_s": v.tolist(),
        "grf_shapes": np.stack([f["grf_shape"] for f in fs]).tolist(),
        "trials": [
            {
                "name": f["name"],
                "speed_m_s": f["speed_m_s"],
                "stride_time_s": f["stride_time_s"],
                "duty": f["duty"],
                "n_stances": f["n_stances"],
                "fit_rms_deg": f["fit_rms_deg"],
                "stride_coef": a,
            }
            for f, a in zip(fs, a_coef, strict=True)
        ],
    }
