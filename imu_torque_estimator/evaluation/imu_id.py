"""Inverse dynamics driven by IMU-derived kinematics ("IMU-ID", the paper's baseline).

What an IMU system knows: segment orientations, angular velocity/acceleration and CoM accelerations
(kinematics.estimate_kinematics), the segment geometry (joint centres and CoMs in segment frames,
from anthropometry or a static measurement) and the ground reaction force with its centre of
pressure expressed relative to the foot (as instrumented insoles give it). It knows no absolute
positions. `chain_kinematics` rebuilds joint and CoM positions leg by leg from the ankle upwards
with the estimated orientations; the chain of each leg is ANCHORED AT THE TRUE ANKLE. Only relative
positions enter the Newton-Euler moment arms (p - c, CoP - c), so the anchor does not change the
moments; it only keeps the reconstructed points near the truth for plots.

Frames: ground (x forward, y left, z up), segment frames as body.py; SI units; moments out in
Nm/kg, body.JOINTS order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..body import JOINTS, SIDES, LowerBodyModel
from ..dynamics import SegmentInertials, inverse_dynamics, sagittal_moments
from ..motion import FootContact, SegmentKinematics

_LEG = ("foot", "shank", "thigh")


@dataclass
class LegGeometry:
    """Segment geometry per side, segment frames (m).

    knee_from_ankle[side]: knee centre minus ankle centre, shank frame.
    hip_from_knee[side]: hip centre minus knee centre, thigh frame.
    com_from_joint[seg]: CoM minus the segment's reference joint, segment frame (foot: ankle,
        shank: knee, thigh: hip).
    """

    knee_from_ankle: dict[str, np.ndarray]
    hip_from_knee: dict[str, np.ndarray]
    com_from_joint: dict[str, np.ndarray]


def geometry_from_model(model: LowerBodyModel) -> LegGeometry:
    """Geometry of a de Leva `LowerBodyModel` (proximal joint at the frame origin, distal joint at
    (0, 0, -length); the foot frame's origin is the ankle)."""
    knee, hip, com = {}, {}, {}
    for side in SIDES:
        shank, thigh = model.segments[f"shank_{side}"], model.segments[f"thigh_{side}"]
        knee[side] = np.array([0.0, 0.0, shank.length_m])
        hip[side] = np.array([0.0, 0.0, thigh.length_m])
        com[f"foot_{side}"] = np.asarray(model.foot_com_m, dtype=float)
        com[f"shank_{side}"] = np.array([0.0, 0.0, -shank.com_from_proximal_m])
        com[f"thigh_{side}"] = np.array([0.0, 0.0, -thigh.com_from_proximal_m])
    return LegGeometry(knee, hip, com)


def _in_frame(rot: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Ground vectors (N,3) -> segment frame (N,3) for rotations (N,3,3) segment -> ground."""
    return np.einsum("nji,nj->ni", rot, v)


def _to_ground(rot: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("nij,nj->ni", rot, np.broadcast_to(v, (rot.shape[0], 3)))


def geometry_from_kinematics(kin: SegmentKinematics) -> LegGeometry:
    """Geometry measured on full kinematics (joint and CoM positions present): the mean over samples
    of each vector in its segment frame (a static measurement of the subject's segments)."""
    jp = kin.joint_position_m
    need = [f"{j}_{s}" for s in SIDES for j in ("hip", "knee", "ankle")]
    missing = [j for j in need if j not in jp]
    if missing:
        raise ValueError(f"geometry_from_kinematics: kinematics lack joint centre(s) {missing}")
    knee, hip, com = {}, {}, {}
    for side in SIDES:
        r_sh, r_th = kin.rotation[f"shank_{side}"], kin.rotation[f"thigh_{side}"]
        knee[side] = _in_frame(r_sh, jp[f"knee_{side}"] - jp[f"ankle_{side}"]).mean(axis=0)
        hip[side] = _in_frame(r_th, jp[f"hip_{side}"] - jp[f"knee_{side}"]).mean(axis=0)
        for seg, joint in (("foot", "ankle"), ("shank", "knee"), ("thigh", "hip")):
            name = f"{seg}_{side}"
            com[name] = _in_frame(kin.rotation[name], kin.com_position_m[name] - jp[f"{joint}_{side}"]
                                  ).mean(axis=0)
    return LegGeometry(knee, hip, com)


def chain_kinematics(kin: SegmentKinematics, geometry: LegGeometry, ankle_m: dict[str, np.ndarray]
                     ) -> SegmentKinematics:
    """`kin` (orientations, velocities, accelerations; positions ignored, may be NaN) with joint and
    CoM positions rebuilt from the ankles upwards: knee = ankle + R_shank knee_from_ankle,
    hip = knee + R_thigh hip_from_knee, CoMs from `com_from_joint`. The pelvis CoM is set to the
    mid-hip point (it only enters the pelvis residual, not the leg moments)."""
    n = len(kin)
    joints: dict[str, np.ndarray] = {}
    com: dict[str, np.ndarray] = {}
    for side in SIDES:
        a = np.asarray(ankle_m[side], dtype=float)
        if a.shape != (n, 3):
            raise ValueError(f"ankle_m[{side!r}]: expected shape ({n}, 3), got {a.shape}")
        k = a + _to_ground(kin.rotation[f"shank_{side}"], geometry.knee_from_ankle[side])
        h = k + _to_ground(kin.rotation[f"thigh_{side}"], geometry.hip_from_knee[side])
        joints |= {f"ankle_{side}": a, f"knee_{side}": k, f"hip_{side}": h}
        for seg, p in (("foot", a), ("shank", k), ("thigh", h)):
            name = f"{seg}_{side}"
            com[name] = p + _to_ground(kin.rotation[name], geometry.com_from_joint[name])
    segs = [s for s in kin.segments if s in com or s == "pelvis"]
    if "pelvis" in segs:
        com["pelvis"] = 0.5 * (joints["hip_l"] + joints["hip_r"])
    return SegmentKinematics(kin.time_s, {s: kin.rotation[s] for s in segs}, {s: com[s] for s in segs},
                             {s: kin.com_acceleration_m_s2[s] for s in segs},
                             {s: kin.angular_velocity_rad_s[s] for s in segs},
                             {s: kin.angular_acceleration_rad_s2[s] for s in segs}, joints)


def cop_in_foot(contacts: dict[str, FootContact], kin: SegmentKinematics) -> dict[str, np.ndarray]:
    """CoP relative to the ankle in the foot frame (N,3) per side, from true kinematics (what an
    insole reports); zeros where the foot carries no load."""
    out = {}
    for side in SIDES:
        c = contacts[side]
        loaded = np.any(c.force_n != 0.0, axis=1)[:, None]
        rel = np.nan_to_num(c.cop_m - kin.joint_position_m[f"ankle_{side}"])
        out[side] = np.where(loaded, _in_frame(kin.rotation[f"foot_{side}"], rel), 0.0)
    return out


def contacts_on_chain(contacts: dict[str, FootContact], cop_foot_m: dict[str, np.ndarray],
                      kin: SegmentKinematics) -> dict[str, FootContact]:
    """Measured GRF (ground frame) and free moment with the CoP placed on the reconstructed foot:
    CoP = ankle + R_foot_est cop_foot."""
    out = {}
    for side in SIDES:
        c = contacts[side]
        cop = kin.joint_position_m[f"ankle_{side}"] + np.einsum("nij,nj->ni", kin.rotation[f"foot_{side}"],
                                                                cop_foot_m[side])
        out[side] = FootContact(c.force_n, cop, c.free_moment_nm)
    return out


def sagittal_id_nm_per_kg(kin: SegmentKinematics, inertials: SegmentInertials,
                          contacts: dict[str, FootContact], mass_kg: float) -> np.ndarray:
    """Newton-Euler ID (dynamics.inverse_dynamics) -> sagittal moments about the proximal segments'
    flexion axes (dynamics.sagittal_moments) / body mass: (N, 6) Nm/kg, body.JOINTS order."""
    if not np.isfinite(mass_kg) or mass_kg <= 0:
        raise ValueError(f"body mass must be > 0 kg, got {mass_kg!r}")
    sub = SegmentInertials({s: inertials.mass_kg[s] for s in kin.segments},
                           {s: inertials.inertia_kg_m2[s] for s in kin.segments})
    loads = inverse_dynamics(kin, sub, contacts)
    sag = sagittal_moments(kin, loads)
    missing = [j for j in JOINTS if j not in sag]
    if missing:
        raise ValueError(f"ID gave no moment for {missing}: kinematics need pelvis and both legs")
    return np.column_stack([sag[j] for j in JOINTS]) / float(mass_kg)


def imu_id_nm_per_kg(est: SegmentKinematics, geometry: LegGeometry, inertials: SegmentInertials,
                     contacts: dict[str, FootContact], true_kin: SegmentKinematics, mass_kg: float
                     ) -> np.ndarray:
    """IMU-ID moments (N, 6) Nm/kg: estimated kinematics `est` (e.g. EstimatedKinematics
    .to_segment_kinematics), chain rebuilt from the true ankles with `geometry`, measured GRF with the
    CoP relative to the foot (taken from `true_kin`, as an insole would measure it)."""
    ankles = {s: true_kin.joint_position_m[f"ankle_{s}"] for s in SIDES}
    chain = chain_kinematics(est, geometry, ankles)
    on_chain = contacts_on_chain(contacts, cop_in_foot(contacts, true_kin), chain)
    return sagittal_id_nm_per_kg(chain, inertials, on_chain, mass_kg)


def align_headings(est: SegmentKinematics, true_kin: SegmentKinematics) -> tuple[SegmentKinematics, dict]:
    """Rotate each segment's estimated kinematics about the vertical by ONE constant angle (the circular
    mean over the trial of the heading difference to the truth), as a standing heading calibration
    would. For recordings that start mid-motion (the simulated shards), where the estimator's initial
    heading is arbitrary; tilt errors and heading drift are kept. Returns (kinematics, {segment: deg})."""
    rot, acc, om, al, psi_deg = {}, {}, {}, {}, {}
    for s in est.segments:
        d = true_kin.rotation[s] @ np.transpose(est.rotation[s], (0, 2, 1))  # ground -> ground correction
        yaw = np.arctan2(d[:, 1, 0] - d[:, 0, 1], d[:, 0, 0] + d[:, 1, 1])
        psi = float(np.angle(np.mean(np.exp(1j * yaw))))
        c, sn = np.cos(psi), np.sin(psi)
        rz = np.array([[c, -sn, 0.0], [sn, c, 0.0], [0.0, 0.0, 1.0]])
        rot[s] = rz @ est.rotation[s]
        acc[s] = est.com_acceleration_m_s2[s] @ rz.T
        om[s] = est.angular_velocity_rad_s[s] @ rz.T
        al[s] = est.angular_acceleration_rad_s2[s] @ rz.T
        psi_deg[s] = float(np.degrees(psi))
    return SegmentKinematics(est.time_s, rot, dict(est.com_position_m), acc, om, al,
                             dict(est.joint_position_m)), psi_deg


def with_orientations(ek, rotation: dict[str, np.ndarray], time_s: np.ndarray) -> SegmentKinematics:
    """IMU-derived kinematics (kinematics.EstimatedKinematics: segment-frame CoM specific force, angular
    velocity and acceleration) expressed in ground with GIVEN orientations (e.g. the truth), to split
    the IMU-ID error into its orientation part and the rest. Positions NaN (rebuild with
    `chain_kinematics`)."""
    from ..body import GRAVITY_VECTOR_M_S2

    segs = list(ek.angular_velocity_rad_s)
    n = len(time_s)
    return SegmentKinematics(
        np.asarray(time_s, float), {s: rotation[s] for s in segs}, {s: np.full((n, 3), np.nan) for s in segs},
        {s: _to_ground(rotation[s], ek.com_specific_force_m_s2[s]) + GRAVITY_VECTOR_M_S2 for s in segs},
        {s: _to_ground(rotation[s], ek.angular_velocity_rad_s[s]) for s in segs},
        {s: _to_ground(rotation[s], ek.angular_acceleration_rad_s2[s]) for s in segs})
