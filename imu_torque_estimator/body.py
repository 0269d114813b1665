"""Body model: segment, joint and sensor-set names, de Leva (1996) anthropometrics, sign conventions.

Frames (used everywhere in this package, ROS REP-103 style):
- ground / world: x forward (walking direction), y left, z up; gravity = (0, 0, -9.81) m/s^2.
- segment frames: in upright neutral standing every segment frame is aligned with the ground
  frame: x anterior, y left, z proximal (up). The foot's x points from heel to toes.

Sagittal joint angles and moments (the project's joint convention):
- hip flexion: thigh relative to pelvis about the pelvis' right axis (-y).
- knee flexion: shank relative to thigh about the thigh's left axis (+y).
- ankle dorsiflexion: foot relative to shank about the shank's right axis (-y).
Positive moment = internal (muscular) flexion / dorsiflexion moment, i.e. the moment the proximal
segment applies to the distal one, projected on the axis above. Models predict Nm/kg.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

GRAVITY_M_S2 = 9.80665
GRAVITY_VECTOR_M_S2 = np.array([0.0, 0.0, -GRAVITY_M_S2])

SEGMENTS: tuple[str, ...] = ("pelvis", "thigh_l", "thigh_r", "shank_l", "shank_r", "foot_l", "foot_r")
JOINTS: tuple[str, ...] = (
    "hip_flexion_l",
    "hip_flexion_r",
    "knee_flexion_l",
    "knee_flexion_r",
    "ankle_dorsiflexion_l",
    "ankle_dorsiflexion_r",
)
# THE registry of sensor sets: name -> segments (one IMU each). Launch arguments, node parameter
# choices, config files, feature names and bundle checks all read it (docs/ARCHITECTURE.md).
SENSOR_SETS: dict[str, tuple[str, ...]] = {
    "3imu": ("pelvis", "shank_l", "shank_r"),
    "7imu": SEGMENTS,
}
SIDES = ("l", "r")

# Parent of each segment in the kinematic tree (pelvis is the root).
PARENT: dict[str, str | None] = {
    "pelvis": None,
    "thigh_l": "pelvis",
    "thigh_r": "pelvis",
    "shank_l": "thigh_l",
    "shank_r": "thigh_r",
    "foot_l": "shank_l",
    "foot_r": "shank_r",
}
# Joint name -> (proximal segment, distal segment, flexion axis in the proximal segment frame).
JOINT_SEGMENTS: dict[str, tuple[str, str, tuple[float, float, float]]] = {
    **{f"hip_flexion_{s}": ("pelvis", f"thigh_{s}", (0.0, -1.0, 0.0)) for s in SIDES},
    **{f"knee_flexion_{s}": (f"thigh_{s}", f"shank_{s}", (0.0, 1.0, 0.0)) for s in SIDES},
    **{f"ankle_dorsiflexion_{s}": (f"shank_{s}", f"foot_{s}", (0.0, -1.0, 0.0)) for s in SIDES},
}

# OpenSim -> project. OpenSim ground is X forward, Y up, Z right; ROS ground is x forward, y left, z up.
# A vector v_osim maps to R_OSIM_TO_ROS @ v_osim.
R_OSIM_TO_ROS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

# OpenSim coordinate -> (project joint, sign). The sign turns the OpenSim generalised force into the
# project's convention. Hip flexion and ankle angle are positive in flexion / dorsiflexion in every
# OpenSim lower-limb model; the knee differs: gait2354/gait2392 define knee_angle negative in flexion,
# Rajagopal 2015/2016 positive. `opensim_joint_map` picks the knee sign from the coordinate's range.
_OPENSIM_BASE = {
    "hip_flexion_l": ("hip_flexion_l", 1.0),
    "hip_flexion_r": ("hip_flexion_r", 1.0),
    "ankle_angle_l": ("ankle_dorsiflexion_l", 1.0),
    "ankle_angle_r": ("ankle_dorsiflexion_r", 1.0),
}


def opensim_joint_map(knee_flexion_positive: bool) -> dict[str, tuple[str, float]]:
    """OpenSim coordinate name -> (project joint name, sign) for a model family.

    `knee_flexion_positive`: True for Rajagopal-type models (knee_angle range 0..140 deg),
    False for gait2354/gait2392 (range -120..10 deg).
    """
    k = 1.0 if knee_flexion_positive else -1.0
    return {
        **_OPENSIM_BASE,
        "knee_angle_l": ("knee_flexion_l", k),
        "knee_angle_r": ("knee_flexion_r", k),
    }


def knee_flexion_positive_from_range(range_min_rad: float, range_max_rad: float) -> bool:
    """Decide the knee sign from an OpenSim knee_angle coordinate range (radians)."""
    return abs(range_max_rad) > abs(range_min_rad)


def check_segments(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate segment names; raises ValueError naming the unknown ones."""
    unknown = [n for n in names if n not in SEGMENTS]
    if unknown:
        raise ValueError(f"unknown segment(s) {unknown}; known segments are {list(SEGMENTS)}")
    return tuple(names)


def check_joints(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate joint names; raises ValueError naming the unknown ones."""
    unknown = [n for n in names if n not in JOINTS]
    if unknown:
        raise ValueError(f"unknown joint(s) {unknown}; known joints are {list(JOINTS)}")
    return tuple(names)


def sensor_set(name: str) -> tuple[str, ...]:
    """Segments of a named sensor set (SENSOR_SETS); ValueError naming the known sets (the one message)."""
    try:
        return SENSOR_SETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown sensor set {name!r}; choose one of {list(SENSOR_SETS)}") from None


def register_sensor_set(name: str, segments: tuple[str, ...] | list[str]) -> None:
    """Add (or replace) a sensor set: a subset of SEGMENTS, one IMU per segment, in that order."""
    segs = check_segments(tuple(segments))
    if not segs or len(set(segs)) != len(segs):
        raise ValueError(f"sensor set {name!r}: segments must be non-empty and unique, got {list(segs)}")
    SENSOR_SETS[name] = segs


# ---------------------------------------------------------------------------------------------------
# de Leva P. (1996) Adjustments to Zatsiorsky-Seluyanov's segment inertia parameters.
# J Biomech 29(9):1223-1230, Table 4. Per segment and sex:
#   mass fraction (% body mass), segment length (mm, for the reference stature), CoM position
#   (% of length from the proximal end point), radii of gyration (% of length) sagittal,
#   transverse, longitudinal.
# Reference statures: male 1741 mm, female 1735 mm. Lengths scale with stature.
Sex = Literal["male", "female"]
REFERENCE_STATURE_MM = {"male": 1741.0, "female": 1735.0}

DE_LEVA_1996: dict[Sex, dict[str, tuple[float, float, float, float, float, float]]] = {
    "male": {
        #                mass%  length  com%   r_sag  r_trans r_long
        "head_neck":     (6.94, 203.3, 59.76, 36.2, 37.6, 31.2),
        "upper_trunk":   (15.96, 170.7, 29.99, 71.6, 45.4, 65.9),
        "middle_trunk":  (16.33, 215.5, 45.02, 48.2, 38.3, 46.8),
        "lower_trunk":   (11.17, 145.7, 61.15, 61.5, 55.1, 58.7),
        "upper_arm":     (2.71, 281.7, 57.72, 28.5, 26.9, 15.8),
        "forearm":       (1.62, 268.9, 45.74, 27.6, 26.5, 12.1),
        "hand":          (0.61, 86.2, 79.00, 62.8, 51.3, 40.1),
        "thigh":         (14.16, 422.2, 40.95, 32.9, 32.9, 14.9),
        "shank":         (4.33, 434.0, 44.59, 25.5, 24.9, 10.3),
        "foot":          (1.37, 258.1, 44.15, 25.7, 24.5, 12.4),
    },
    "female": {
        "head_neck":     (6.68, 200.2, 58.94, 33.0, 35.9, 31.8),
        "upper_trunk":   (15.45, 142.5, 20.77, 74.6, 50.2, 71.8),
        "middle_trunk":  (14.65, 205.3, 45.12, 43.3, 35.4, 41.5),
        "lower_trunk":   (12.47, 181.5, 49.20, 43.3, 40.2, 44.4),
        "upper_arm":     (2.55, 275.1, 57.54, 27.8, 26.0, 14.8),
        "forearm":       (1.38, 264.3, 45.59, 26.1, 25.7, 9.4),
        "hand":          (0.56, 78.0, 74.74, 53.1, 45.4, 33.5),
        "thigh":         (14.78, 368.5, 36.12, 36.9, 36.4, 16.2),
        "shank":         (4.81, 432.3, 44.16, 27.1, 26.7, 9.3),
        "foot":          (1.29, 228.3, 40.14, 29.9, 27.9, 13.9),
    },
}
# Segments that appear twice (left and right) in the whole body.
BILATERAL = ("upper_arm", "forearm", "hand", "thigh", "shank", "foot")


@dataclass(frozen=True)
class SegmentInertia:
    """Inertial parameters of one rigid segment (SI units).

    `com_from_proximal_m` is along the segment's long axis; `inertia_kg_m2` is the diagonal inertia
    about the CoM in the segment frame (x anterior, y left, z long axis): (sagittal-plane axis x is
    the 'transverse' radius in de Leva's naming for frontal rotation, see `de_leva_segment`).
    """

    name: str
    mass_kg: float
    length_m: float
    com_from_proximal_m: float
    inertia_kg_m2: tuple[float, float, float]


def _check_body(mass_kg: float, height_m: float, sex: str) -> None:
    if not np.isfinite(mass_kg) or mass_kg <= 0:
        raise ValueError(f"body mass must be a positive number of kg, got {mass_kg!r}")
    if not np.isfinite(height_m) or not 0.5 < height_m < 2.6:
        raise ValueError(f"body height must be in metres (0.5..2.6), got {height_m!r}")
    if sex not in DE_LEVA_1996:
        raise ValueError(f"sex must be 'male' or 'female' (de Leva tables), got {sex!r}")


def de_leva_segment(name: str, mass_kg: float, height_m: float, sex: Sex = "male") -> SegmentInertia:
    """One de Leva segment scaled to a body: mass by body mass, lengths by stature.

    Inertia about the CoM in the segment frame (x anterior, y left, z long axis):
    I_xx uses the transverse radius (rotation about the antero-posterior axis, frontal plane),
    I_yy the sagittal radius (rotation about the medio-lateral axis, sagittal plane), I_zz the
    longitudinal radius.
    """
    _check_body(mass_kg, height_m, sex)
    try:
        frac, length_mm, com_pct, r_sag, r_trans, r_long = DE_LEVA_1996[sex][name]
    except KeyError:
        raise ValueError(f"unknown de Leva segment {name!r}; known: {list(DE_LEVA_1996[sex])}") from None
    m = mass_kg * frac / 100.0
    length = length_mm / 1000.0 * height_m * 1000.0 / REFERENCE_STATURE_MM[sex]
    inertia = tuple(m * (r / 100.0 * length) ** 2 for r in (r_trans, r_sag, r_long))
    return SegmentInertia(name, m, length, com_pct / 100.0 * length, inertia)  # type: ignore[arg-type]


def whole_body_segments(mass_kg: float, height_m: float, sex: Sex = "male") -> list[SegmentInertia]:
    """All 16 de Leva segments of a whole body (bilateral ones twice); masses sum to `mass_kg`."""
    out = []
    for name in DE_LEVA_1996.get(sex, ()):
        seg = de_leva_segment(name, mass_kg, height_m, sex)
        out.extend([seg, seg] if name in BILATERAL else [seg])
    _check_body(mass_kg, height_m, sex)
    return out


@dataclass(frozen=True)
class LowerBodyModel:
    """Rigid 7-segment lower-body model plus the lumped upper body (head, arms, upper+middle trunk).

    Geometry (segment frames, metres): each leg segment's proximal joint is at its frame origin and
    the distal joint at (0, 0, -length). The pelvis frame origin is the mid-point between the hip
    joint centres; hips at (0, +-hip_half_width, 0). The upper body's CoM sits above the pelvis
    origin and it moves rigidly with the pelvis (the model has no lumbar joint).
    """

    mass_kg: float
    height_m: float
    sex: Sex
    segments: dict[str, SegmentInertia]
    upper_body: SegmentInertia
    hip_half_width_m: float
    pelvis_com_m: tuple[float, float, float]
    upper_body_com_m: tuple[float, float, float]
    foot_com_m: tuple[float, float, float]
    heel_m: tuple[float, float, float]
    toe_m: tuple[float, float, float]

    @property
    def segment_masses_kg(self) -> np.ndarray:
        return np.array([self.segments[s].mass_kg for s in SEGMENTS])


def lower_body_model(mass_kg: float, height_m: float, sex: Sex = "male") -> LowerBodyModel:
    """Build the 7-segment model from de Leva (1996); upper body lumped rigidly onto the pelvis.

    Foot: de Leva's length is heel to toe tip; the ankle joint is placed 0.039 x stature above the
    sole and 0.25 x foot length in front of the heel (typical adult proportions, Winter 2009 ch. 4).
    Hip joint centres are 0.0485 x stature either side of the mid-pelvis (Bell/Harrington regressions
    give about 8.5 cm for a 1.75 m adult).
    """
    _check_body(mass_kg, height_m, sex)
    seg = {}
    pelvis = de_leva_segment("lower_trunk", mass_kg, height_m, sex)
    seg["pelvis"] = pelvis
    for side in SIDES:
        seg[f"thigh_{side}"] = _renamed(de_leva_segment("thigh", mass_kg, height_m, sex), f"thigh_{side}")
        seg[f"shank_{side}"] = _renamed(de_leva_segment("shank", mass_kg, height_m, sex), f"shank_{side}")
        seg[f"foot_{side}"] = _renamed(de_leva_segment("foot", mass_kg, height_m, sex), f"foot_{side}")
    foot = seg["foot_l"]
    # de Leva measures the foot from heel to toe tip horizontally; its "long" axis is our x axis.
    ix, iy, iz = foot.inertia_kg_m2
    for side in SIDES:
        seg[f"foot_{side}"] = SegmentInertia(f"foot_{side}", foot.mass_kg, foot.length_m,
                                             foot.com_from_proximal_m, (iz, iy, ix))
    ankle_height = 0.039 * height_m
    heel_x = -0.25 * foot.length_m
    heel = (heel_x, 0.0, -ankle_height)
    toe = (heel_x + foot.length_m, 0.0, -ankle_height)
    foot_com = (heel_x + foot.com_from_proximal_m, 0.0, -0.5 * ankle_height)

    # Upper body: everything that is not the 7 lower-body segments, lumped at its combined CoM.
    rest = [s for s in whole_body_segments(mass_kg, height_m, sex)
            if s.name not in ("lower_trunk", "thigh", "shank", "foot")]
    m_rest = sum(s.mass_kg for s in rest)
    # Pelvis (lower trunk, de Leva OMPH->mid-hip) CoM lies (1 - com%) x length above the hip centres.
    pelvis_com_z = pelvis.length_m - pelvis.com_from_proximal_m
    # Upper-body CoM: about 0.18 x stature above the hip centres for a standing adult (trunk CoM plus
    # head and arms; Winter 2009 HAT CoM is 0.626 x HAT length above the hip).
    upper_com_z = 0.18 * height_m
    trunk_len = 0.288 * height_m
    radii = (0.30, 0.32, 0.20)  # of trunk length, about x, y, z (de Leva whole-trunk proportions)
    upper = SegmentInertia("upper_body", m_rest, trunk_len, 0.0,
                           tuple(m_rest * (r * trunk_len) ** 2 for r in radii))  # type: ignore[arg-type]
    return LowerBodyModel(
        mass_kg=mass_kg, height_m=height_m, sex=sex, segments=seg, upper_body=upper,
        hip_half_width_m=0.0485 * height_m,
        pelvis_com_m=(0.0, 0.0, pelvis_com_z), upper_body_com_m=(0.0, 0.0, upper_com_z),
        foot_com_m=foot_com, heel_m=heel, toe_m=toe,
    )


def _renamed(s: SegmentInertia, name: str) -> SegmentInertia:
    return SegmentInertia(name, s.mass_kg, s.length_m, s.com_from_proximal_m, s.inertia_kg_m2)
