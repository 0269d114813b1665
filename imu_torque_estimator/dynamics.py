"""Vectorised 3-D Newton-Euler inverse dynamics of the 7-segment lower-body chain.

Frames and units: everything in the ground frame of `body.py` (x forward, y left, z up), SI units.
Inputs are `motion.SegmentKinematics` (segment rotations, CoM position/acceleration without gravity,
angular velocity/acceleration, joint centre positions) and one `motion.FootContact` per foot
(ground reaction force at the centre of pressure plus the free moment).

The recursion runs bottom-up on whole arrays (no per-frame Python loop):
foot (GRF at CoP + free moment) -> ankle; shank -> knee; thigh -> hip; the pelvis closes the chain
with a residual load (what the ground would have to apply to the pelvis for the motion to be
consistent: zero for perfect data). For each segment with mass m, CoM c, proximal joint p and distal
joint d:

    F_p = m (a_c - g) - F_d_ext                   (force the proximal segment applies at p)
    M_p = dH_c/dt - (p - c) x F_p - sum of the other external moments about c

with dH_c/dt = I_g alpha + omega x (I_g omega), I_g = R I R^T (I about the CoM in the segment frame).
A segment built from several rigid bodies (e.g. an OpenSim foot = talus + calcaneus + toes) can pass
its exact moment of inertial forces about its composite CoM through `inertial_moment_nm`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .body import GRAVITY_VECTOR_M_S2, JOINT_SEGMENTS, JOINTS, SEGMENTS, SIDES, LowerBodyModel
from .motion import JOINT_CENTRES, FootContact, SegmentKinematics

# The chain of one leg, distal to proximal: (segment, joint centre at its proximal end).
_LEG_CHAIN = (("foot", "ankle"), ("shank", "knee"), ("thigh", "hip"))


@dataclass
class SegmentInertials:
    """Mass (kg) and inertia tensor (kg m^2, about the CoM, segment frame) per segment.

    `com_offset_m` (optional) is the CoM position in the segment frame relative to the segment frame
    origin (the proximal joint for leg segments, the mid-hip point for the pelvis), in metres.
    """

    mass_kg: dict[str, float]
    inertia_kg_m2: dict[str, np.ndarray]
    com_offset_m: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in list(self.mass_kg) + list(self.inertia_kg_m2) + list(self.com_offset_m):
            if name not in SEGMENTS:
                raise ValueError(f"SegmentInertials: unknown segment {name!r}; known: {list(SEGMENTS)}")
        if set(self.mass_kg) != set(self.inertia_kg_m2):
            raise ValueError("SegmentInertials: mass_kg and inertia_kg_m2 name different segments: "
                             f"{sorted(set(self.mass_kg) ^ set(self.inertia_kg_m2))}")
        for name, m in self.mass_kg.items():
            if not np.isfinite(m) or m <= 0:
                raise ValueError(f"SegmentInertials: mass of {name!r} must be > 0 kg, got {m!r}")
            self.mass_kg[name] = float(m)
        for name, inertia in self.inertia_kg_m2.items():
            i = np.asarray(inertia, dtype=float)
            if i.shape != (3, 3) or not np.all(np.isfinite(i)) or not np.allclose(i, i.T, atol=1e-12):
                raise ValueError(f"SegmentInertials: inertia of {name!r} must be a finite symmetric "
                                 f"3x3 matrix, got shape {i.shape}")
            self.inertia_kg_m2[name] = i
        for name, c in self.com_offset_m.items():
            c = np.asarray(c, dtype=float)
            if c.shape != (3,):
                raise ValueError(f"SegmentInertials: com_offset_m of {name!r} must have shape (3,)")
            self.com_offset_m[name] = c

    @classmethod
    def from_model(cls, model: LowerBodyModel, include_upper_body: bool = True) -> SegmentInertials:
        """Inertials of the 7 segments of a de Leva `LowerBodyModel`.

        With `include_upper_body` (default) the lumped upper body (head, arms, trunk above the pelvis),
        which moves rigidly with the pelvis in that model, is merged into the pelvis: its mass is
        added, the pelvis CoM becomes the combined CoM (`com_offset_m["pelvis"]`) and the inertia is
        the combined one about that point (parallel-axis theorem). The pelvis kinematics passed to
        `inverse_dynamics` must then use that combined CoM. Leg joint loads do not depend on it.
        """
        mass: dict[str, float] = {}
        inertia: dict[str, np.ndarray] = {}
        com: dict[str, np.ndarray] = {}
        for name in SEGMENTS:
            seg = model.segments[name]
            mass[name] = seg.mass_kg
            inertia[name] = np.diag(seg.inertia_kg_m2)
            if name.startswith("foot"):
                com[name] = np.asarray(model.foot_com_m, dtype=float)
            elif name != "pelvis":
                com[name] = np.array([0.0, 0.0, -seg.com_from_proximal_m])
        com["pelvis"] = np.asarray(model.pelvis_com_m, dtype=float)
        if include_upper_body:
            parts = [(mass["pelvis"], com["pelvis"], inertia["pelvis"]),
                     (model.upper_body.mass_kg, np.asarray(model.upper_body_com_m, dtype=float),
                      np.diag(model.upper_body.inertia_kg_m2))]
            mass["pelvis"], com["pelvis"], inertia["pelvis"] = combine_rigid_bodies(parts)
        return cls(mass, inertia, com)

    @property
    def total_mass_kg(self) -> float:
        return float(sum(self.mass_kg.values()))


def combine_rigid_bodies(
    parts: list[tuple[float, np.ndarray, np.ndarray]],
) -> tuple[float, np.ndarray, np.ndarray]:
    """Merge rigidly attached bodies (mass kg, CoM (3,), inertia about own CoM (3,3), one common frame)
    into (mass, combined CoM, inertia about the combined CoM) by the parallel-axis theorem."""
    m_tot = float(sum(p[0] for p in parts))
    c: np.ndarray = sum((p[0] * np.asarray(p[1], dtype=float) for p in parts), np.zeros(3)) / m_tot
    inertia = np.zeros((3, 3))
    for m, ci, ii in parts:
        d = np.asarray(ci, dtype=float) - c
        inertia += np.asarray(ii, dtype=float) + m * (d @ d * np.eye(3) - np.outer(d, d))
    return m_tot, c, inertia


@dataclass
class JointLoads:
    """Net joint loads, ground frame, sampled on `time_s`.

    force_n[j], moment_nm[j]  (N, 3) for j in motion.JOINT_CENTRES: force and moment (about the joint
        centre) that the proximal segment applies to the distal segment.
    pelvis_residual_force_n, pelvis_residual_moment_nm  (N, 3) or None: the external load that would
        have to act on the pelvis (moment about the pelvis CoM) to balance the chain; None when the
        pelvis or a leg is not in the kinematics.
    """

    time_s: np.ndarray
    force_n: dict[str, np.ndarray]
    moment_nm: dict[str, np.ndarray]
    pelvis_residual_force_n: np.ndarray | None = None
    pelvis_residual_moment_nm: np.ndarray | None = None


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of (N, 3) arrays. About 3x faster than np.cross for small rows."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1]
    out[..., 1] = a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2]
    out[..., 2] = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return out


def angular_momentum_rate(rotation: np.ndarray, inertia_kg_m2: np.ndarray, omega_rad_s: np.ndarray,
                          alpha_rad_s2: np.ndarray) -> np.ndarray:
    """dH/dt about the CoM in ground: I_g alpha + omega x (I_g omega), I_g = R I R^T. (N, 3) N m.

    Evaluated in the segment frame (R^T w, I w_local, R back) instead of forming I_g per frame.
    """
    w_loc = np.einsum("nji,nj->ni", rotation, omega_rad_s)
    a_loc = np.einsum("nji,nj->ni", rotation, alpha_rad_s2)
    iw = w_loc @ inertia_kg_m2.T
    ia = a_loc @ inertia_kg_m2.T
    h_loc = ia + _cross(w_loc, iw)  # the cross product is frame-invariant
    return np.einsum("nij,nj->ni", rotation, h_loc)


def _check_contacts(contacts: dict[str, FootContact], n: int, needed_sides: list[str]) -> None:
    unknown = [k for k in contacts if k not in SIDES]
    if unknown:
        raise ValueError(f"contacts: unknown side(s) {unknown}; use 'l' and 'r'")
    for side in needed_sides:
        if side not in contacts:
            raise ValueError(f"contacts: missing foot contact for side {side!r} (foot_{side} is in the "
                             "kinematics; pass a FootContact with zero force for a foot in the air)")
        c = contacts[side]
        if not isinstance(c, FootContact):
            raise ValueError(f"contacts[{side!r}] must be a motion.FootContact, got {type(c).__name__}")
        for name in ("force_n", "cop_m", "free_moment_nm"):
            arr = getattr(c, name)
            if arr.shape != (n, 3):
                raise ValueError(f"contacts[{side!r}].{name}: {arr.shape[0]} samples but the kinematics "
                                 f"have {n} (mismatched time vectors?)")
        if not (np.all(np.isfinite(c.force_n)) and np.all(np.isfinite(c.free_moment_nm))):
            raise ValueError(f"contacts[{side!r}]: NaN or inf in the ground reaction force / free moment")
        loaded = np.any(c.force_n != 0.0, axis=1)
        if not np.all(np.isfinite(c.cop_m[loaded])):
            raise ValueError(f"contacts[{side!r}].cop_m: NaN or inf while the foot is loaded")


def inverse_dynamics(
    kin: SegmentKinematics,
    inertials: SegmentInertials,
    contacts: dict[str, FootContact],
    inertial_moment_nm: dict[str, np.ndarray] | None = None,
    gravity_m_s2: np.ndarray = GRAVITY_VECTOR_M_S2,
) -> JointLoads:
    """Bottom-up Newton-Euler inverse dynamics, vectorised over samples.

    kin: segment kinematics in ground (a leg is solved when its foot, shank and thigh are present; a
        partial chain foot[-shank[-thigh]] gives the joints it reaches). Joint centres needed:
        ankle_<s>, knee_<s>, hip_<s> for the segments present.
    inertials: mass and inertia for every segment in `kin`.
    contacts: {"l": FootContact, "r": FootContact} for each foot in `kin`; zero force = foot in air.
    inertial_moment_nm: optional per segment (N, 3) moment of the inertial forces about the
        segment's CoM (replaces I_g alpha + omega x I_g omega; for composite, non-rigid segments).
    Returns JointLoads (ground frame; loads the proximal segment applies to the distal one).
    """
    if not isinstance(kin, SegmentKinematics):
        raise ValueError(f"kin must be a motion.SegmentKinematics, got {type(kin).__name__}")
    n = len(kin)
    segs = kin.segments
    missing = [s for s in segs if s not in inertials.mass_kg]
    if missing:
        raise ValueError(f"inertials: no mass/inertia for segment(s) {missing}")
    inertial_moment_nm = dict(inertial_moment_nm or {})
    for s, arr in inertial_moment_nm.items():
        if s not in SEGMENTS:
            raise ValueError(f"inertial_moment_nm: unknown segment {s!r}; known: {list(SEGMENTS)}")
        if s not in segs:
            raise ValueError(f"inertial_moment_nm: segment {s!r} is not in the kinematics")
        arr = np.asarray(arr, dtype=float)
        if arr.shape != (n, 3):
            raise ValueError(f"inertial_moment_nm[{s!r}]: expected shape ({n}, 3), got {arr.shape}")
        inertial_moment_nm[s] = arr
    g = np.asarray(gravity_m_s2, dtype=float).reshape(3)
    sides = [side for side in SIDES if f"foot_{side}" in segs]
    for side in SIDES:
        if f"foot_{side}" not in segs and (f"shank_{side}" in segs or f"thigh_{side}" in segs):
            raise ValueError(f"kinematics have the {side} leg without foot_{side}: the bottom-up "
                             "recursion starts at the foot")
    _check_contacts(contacts, n, sides)

    forces: dict[str, np.ndarray] = {}
    moments: dict[str, np.ndarray] = {}
    for side in sides:
        c = contacts[side]
        # External load at the distal end of the current segment, as (force, moment about origin-free
        # form): ext_force (N,3) and a list of (point, force) pairs plus pure moments.
        dist_force = c.force_n
        dist_point = np.where(np.any(c.force_n != 0.0, axis=1)[:, None], c.cop_m, 0.0)
        dist_moment = c.free_moment_nm
        for seg_kind, joint_kind in _LEG_CHAIN:
            seg = f"{seg_kind}_{side}"
            if seg not in segs:
                break
            joint = f"{joint_kind}_{side}"
            if joint not in kin.joint_position_m:
                raise ValueError(f"kinematics lack joint centre {joint!r} needed for segment {seg!r}")
            m = inertials.mass_kg[seg]
            com = kin.com_position_m[seg]
            p = kin.joint_position_m[joint]
            if seg in inertial_moment_nm:
                hdot = inertial_moment_nm[seg]
            else:
                hdot = angular_momentum_rate(kin.rotation[seg], inertials.inertia_kg_m2[seg],
                                             kin.angular_velocity_rad_s[seg],
                                             kin.angular_acceleration_rad_s2[seg])
            # Newton: m a = F_p + dist_force + m g
            f_p = m * (kin.com_acceleration_m_s2[seg] - g) - dist_force
            # Euler about the CoM: hdot = M_p + (p - c) x F_p + (q - c) x dist_force + dist_moment
            m_p = hdot - _cross(p - com, f_p) - _cross(dist_point - com, dist_force) - dist_moment
            forces[joint], moments[joint] = f_p, m_p
            # The next (proximal) segment receives the reaction at this joint.
            dist_force, dist_point, dist_moment = -f_p, p, -m_p

    res_f: np.ndarray | None = None
    res_m: np.ndarray | None = None
    if "pelvis" in segs and all(f"hip_{s}" in forces for s in SIDES):
        m = inertials.mass_kg["pelvis"]
        com = kin.com_position_m["pelvis"]
        hdot_pelvis = inertial_moment_nm.get("pelvis")
        if hdot_pelvis is None:
            hdot_pelvis = angular_momentum_rate(kin.rotation["pelvis"], inertials.inertia_kg_m2["pelvis"],
                                                kin.angular_velocity_rad_s["pelvis"],
                                                kin.angular_acceleration_rad_s2["pelvis"])
        res_f = m * (kin.com_acceleration_m_s2["pelvis"] - g)
        res_m = hdot_pelvis.copy()
        for s in SIDES:
            p = kin.joint_position_m[f"hip_{s}"]
            res_f = res_f + forces[f"hip_{s}"]
            res_m = res_m + moments[f"hip_{s}"] + _cross(p - com, forces[f"hip_{s}"])
    order = {j: i for i, j in enumerate(JOINT_CENTRES)}
    keys = sorted(forces, key=order.__getitem__)
    return JointLoads(kin.time_s, {k: forces[k] for k in keys}, {k: moments[k] for k in keys},
                      res_f, res_m)


def joint_centre_of(joint: str) -> str:
    """'hip_flexion_l' -> 'hip_l', 'ankle_dorsiflexion_r' -> 'ankle_r'."""
    if joint not in JOINT_SEGMENTS:
        raise ValueError(f"unknown joint {joint!r}; known joints are {list(JOINT_SEGMENTS)}")
    return f"{joint.split('_')[0]}_{joint[-1]}"


def sagittal_moments(
    kin: SegmentKinematics,
    loads: JointLoads,
    axes: dict[str, np.ndarray] | None = None,
    translations: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Sagittal joint moments (N m, (N,)) in the project's convention, keyed by body.JOINTS name.

    Moment = loads.moment_nm[centre] . axis, where the axis is body.JOINT_SEGMENTS' flexion axis of the
    proximal segment rotated to ground, or `axes[joint]` ((N, 3) or (3,) ground-frame unit vectors,
    e.g. an OpenSim model's joint axes). Joints whose centre or proximal segment is missing are
    left out unless an axis is supplied.
    translations[joint] ((N, 3), m per rad, optional): partial velocity of the joint centre w.r.t. the
    coordinate's rate, for joints that translate with their angle (OpenSim knees); the result is then
    the generalized force M . axis + F . translation of that coordinate.
    """
    axes = dict(axes or {})
    translations = dict(translations or {})
    for j in translations:
        if j not in axes:
            raise ValueError(f"translations given for {j!r} without an axis in `axes`")
    n = len(kin)
    if loads.time_s.shape != kin.time_s.shape or not np.array_equal(loads.time_s, kin.time_s):
        raise ValueError("sagittal_moments: loads and kinematics have different time vectors")
    for j in axes:
        if j not in JOINT_SEGMENTS:
            raise ValueError(f"axes: unknown joint {j!r}; known joints are {list(JOINTS)}")
    out: dict[str, np.ndarray] = {}
    for j in JOINTS:
        prox, _dist, axis_local = JOINT_SEGMENTS[j]
        centre = joint_centre_of(j)
        if centre not in loads.moment_nm:
            if j in axes:
                raise ValueError(f"axes given for {j!r} but the loads lack joint centre {centre!r}")
            continue
        if j in axes:
            a = np.asarray(axes[j], dtype=float)
            if a.shape == (3,):
                a = np.broadcast_to(a, (n, 3))
            if a.shape != (n, 3):
                raise ValueError(f"axes[{j!r}]: expected shape ({n}, 3) or (3,), got {a.shape}")
        elif prox in kin.rotation:
            a = kin.rotation[prox] @ np.asarray(axis_local)
        else:
            continue
        out[j] = np.einsum("ni,ni->n", loads.moment_nm[centre], a)
        if j in translations:
            d = np.asarray(translations[j], dtype=float)
            if d.shape != (n, 3):
                raise ValueError(f"translations[{j!r}]: expected shape ({n}, 3), got {d.shape}")
            out[j] = out[j] + np.einsum("ni,ni->n", loads.force_n[centre], d)
    return out


def moments_in_proximal_frame(kin: SegmentKinematics, loads: JointLoads) -> dict[str, np.ndarray]:
    """Net joint moments (N m, (N, 3)) expressed in the proximal segment's frame, per joint centre.

    Components: x about the anterior axis (frontal plane: ab/adduction), y about the left axis
    (sagittal plane; body.JOINT_SEGMENTS gives the flexion sign), z about the long axis (rotation).
    Centres whose proximal segment is not in `kin` are left out.
    """
    prox_of = {joint_centre_of(j): JOINT_SEGMENTS[j][0] for j in JOINTS}
    return {c: np.einsum("nji,nj->ni", kin.rotation[prox_of[c]], m)
            for c, m in loads.moment_nm.items() if prox_of[c] in kin.rotation}
