"""Reader for the BioMAC real-IMU cycles (Dorschky et al. 2019, ../shared/data/biomac_dorschky2019_imu).

Each `converted/<name>.npz` (written by the folder's convert_biomac_tables.py) holds ONE stride-averaged
gait cycle, 100 samples: `mean` (100, 50) and `var` (100, 50) with column `names`/`units`, and
`meta_json` (participant mass/height if known, movement type, events as 1-based sample indices, IMU
positions in the segment frames, speed and stride duration as scalars).

What the file gives, and what this reader returns (nothing is converted silently):
- IMU: 7 real sensors (pelvis, femur/tibia/foot left and right), specific force (m/s^2, incl. gravity)
  and angular rate (rad/s) ALREADY expressed along the OpenSim-style segment axes (x anterior, y
  superior, z right). Returned per project segment (pelvis, thigh_*, shank_*, foot_*) still in those
  axes: `R_OSIM_TO_ROS` maps them to the project's segment frames (x anterior, y left, z up).
- IMU positions: in the OpenSim segment frames (m), origin at the proximal joint for femur/tibia and
  at the ankle for the foot (the 2-D gait model of the source); for the pelvis we take the origin at
  the hip centres (the source's 2-D pelvis segment) - an assumption, stated in `notes`.
- Moments: right leg only, sagittal inverse dynamics in Nm, OpenSim coordinate signs (knee_angle
  positive = extension). Returned in the project convention (positive = internal flexion /
  dorsiflexion): hip +1, knee -1, ankle +1. Nm/kg only with a body mass (`moments_nm_per_kg`
  raises `BiomacError` otherwise).
- GRF (right foot, body weights): x anterior-posterior, y vertical.

Known quirk (checked on load, reported in `notes`): in IMU_walking_P03 the left-leg accelerometer
channels are the right leg's shifted by half a cycle (a copy, not a recording).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "biomac_dorschky2019_imu"
               / "converted")
SEGMENT_MAP = {"pelvis": "pelvis", "femur_l": "thigh_l", "femur_r": "thigh_r", "tibia_l": "shank_l",
               "tibia_r": "shank_r", "foot_l": "foot_l", "foot_r": "foot_r"}
# OpenSim coordinate of the file -> (project joint, sign to the project convention)
MOMENT_MAP = {"hip_flexion_r": ("hip_flexion_r", 1.0), "knee_angle_r": ("knee_flexion_r", -1.0),
              "ankle_angle_r": ("ankle_dorsiflexion_r", 1.0)}
MODES = {"normwalking": "walk", "normrunning": "run"}


class BiomacError(ValueError):
    """A BioMAC file is missing, malformed, or lacks what a conversion needs (names file and field)."""


@dataclass
class BiomacCycle:
    """One stride-averaged cycle (100 samples, cycle starts at the file's first event).

    specific_force_m_s2 / angular_rate_rad_s: {project segment: (100, 3)} in OpenSim segment axes.
    imu_position_osim_m: {project segment: (3,)} sensor position in the OpenSim segment frame.
    moments_nm: {project joint: (100,)} right leg, project sign convention, Nm.
    grf_bw: (100, 2) right foot [anterior-posterior, vertical] in body weights.
    events: [(name, 0-based sample)], e.g. ("R_HS", 0).
    """

    name: str
    path: Path
    mode: str
    speed_m_s: float
    stride_s: float
    mass_kg: float | None
    height_m: float | None
    specific_force_m_s2: dict[str, np.ndarray]
    angular_rate_rad_s: dict[str, np.ndarray]
    imu_position_osim_m: dict[str, np.ndarray]
    moments_nm: dict[str, np.ndarray]
    grf_bw: np.ndarray
    events: list[tuple[str, int]]
    notes: list[str] = field(default_factory=list)
    left_acc_is_copy: bool = False

    @property
    def n_samples(self) -> int:
        return len(self.grf_bw)

    def moments_nm_per_kg(self) -> dict[str, np.ndarray]:
        """Right-leg moments divided by the body mass; BiomacError when the file gives no mass."""
        if self.mass_kg is None:
            raise BiomacError(f"{self.path}: no participant mass in the file, so its moments (Nm) cannot be "
                              "expressed in Nm/kg; use correlation only or give the mass")
        return {j: m / self.mass_kg for j, m in self.moments_nm.items()}


def list_cycles(directory: str | Path | None = None) -> list[Path]:
    """The converted .npz files of the folder (sorted); FileNotFoundError naming it if absent/empty."""
    d = Path(directory) if directory else DEFAULT_DIR.resolve()
    files = sorted(d.glob("*.npz")) if d.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{d}: no BioMAC .npz cycles (expected biomac_dorschky2019_imu/converted)")
    return files


def _scalar(meta: dict, key: str) -> float | None:
    v = meta.get(key)
    if isinstance(v, list):
        v = v[0] if v else None
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) and f > 0 else None


def read_cycle(path: str | Path) -> BiomacCycle:
    """Read one converted BioMAC cycle; BiomacError naming the file and the missing/bad field."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            mean, names = np.asarray(z["mean"], float), [str(n) for n in z["names"]]
            units = [str(u) for u in z["units"]]
            meta = json.loads(str(z["meta_json"]))
    except FileNotFoundError:
        raise BiomacError(f"{p}: file not found") from None
    except (OSError, KeyError, ValueError) as exc:
        raise BiomacError(f"{p}: not a converted BioMAC cycle ({exc})") from None
    if mean.ndim != 2 or mean.shape[1] != len(names) or mean.shape[0] < 10:
        raise BiomacError(f"{p}: 'mean' must be (samples, {len(names)}), got {mean.shape}")
    col = {n: i for i, n in enumerate(names)}

    def get(name: str, unit: str) -> np.ndarray:
        if name not in col:
            raise BiomacError(f"{p}: column {name!r} missing")
        if units[col[name]] != unit:
            raise BiomacError(f"{p}: column {name!r} is in {units[col[name]]!r}, expected {unit!r}")
        return mean[:, col[name]]

    mtype = meta.get("movementType", [""])
    mtype = mtype[0] if isinstance(mtype, list) else str(mtype)
    if mtype not in MODES:
        raise BiomacError(f"{p}: movementType {mtype!r} is not one of {sorted(MODES)}")
    sc = meta.get("scalars", {})
    try:
        speed = float(sc["speed_speed"]["mean"])
        stride = float(sc["dur_dur"]["mean"])
    except (KeyError, TypeError, ValueError):
        raise BiomacError(f"{p}: scalars speed_speed / dur_dur (speed, stride duration) missing") from None
    pos = meta.get("imu_position_in_segment_m", {})
    sf, w, where = {}, {}, {}
    for src, seg in SEGMENT_MAP.items():
        sf[seg] = np.column_stack([get(f"acc_{src}_{a}", "m/s^2") for a in "xyz"])
        w[seg] = np.column_stack([get(f"gyro_{src}_{a}", "rad/s") for a in "xyz"])
        if src not in pos:
            raise BiomacError(f"{p}: IMU position of {src!r} missing in meta_json")
        where[seg] = np.asarray(pos[src], float)
    moments = {joint: sign * get(f"moment_{coord}", "Nm") for coord, (joint, sign) in MOMENT_MAP.items()}
    grf = np.column_stack([get("GRF_GRF_x_r", "BW"), get("GRF_GRF_y_r", "BW")])
    events = [(str(e[0]), int(round(float(e[1]))) - 1) for e in meta.get("events", [])]
    mass = _scalar(meta, "participantMass")
    height = _scalar(meta, "participantHeight")
    notes = ["IMU axes: OpenSim segment axes (x anterior, y superior, z right); pelvis IMU position taken "
             "relative to the hip centres (assumption)"]
    if mass is None:
        notes.append("no participant mass: moments stay in Nm (RMSE in Nm/kg not possible, r only)")
    if height is None:
        notes.append("no participant height")
    n = mean.shape[0]
    copy = all(np.allclose(sf[f"{s}_l"], np.roll(sf[f"{s}_r"], n // 2, axis=0))
               for s in ("thigh", "shank", "foot"))
    if copy:
        notes.append("left-leg accelerometer channels are the right leg's shifted by half a cycle (a copy, "
                     "not a recording)")
    return BiomacCycle(p.stem, p, MODES[mtype], speed, stride, mass, height, sf, w, where, moments, grf,
                       events, notes, copy)
