"""Forward kinematics of the 7-segment lower-body chain with exact first and second time derivatives.

Frames (body.py): ground x forward, y left, z up; segment frames aligned with ground in neutral
standing. Generalised coordinates (radians, project convention, `COORDINATES`):

    pelvis_tilt      anterior tilt positive, rotation about +y   (= -OpenSim pelvis_tilt)
    pelvis_list      rotation about +x (left side up)            (=  OpenSim pelvis_list)
    pelvis_rotation  rotation about +z (turn to the left)        (=  OpenSim pelvis_rotation)
    hip_flexion_s    about the pelvis' -y axis                    (=  OpenSim hip_flexion_s)
    hip_adduction_s  about +x (right) / -x (left): adduction +    (=  OpenSim hip_adduction_s)
    hip_rotation_s   about +z (right) / -z (left): internal +     (=  OpenSim hip_rotation_s)
    knee_flexion_s   about the thigh's +y axis                    (= |OpenSim knee_angle_s|)
    ankle_dorsiflexion_s  about the shank's -y axis               (=  OpenSim ankle_angle_s)

    trunk_tilt/list/rotation  orientation of the lumped upper body (head, arms, trunk) in ground, same
                     sequence as the pelvis; it pivots about the lumbar joint (top of the pelvis
                     segment) so the trunk need not follow the pelvis oscillations (and can
                     counter-rotate, which is how the gait synthesis balances angular momentum).

Rotation sequences are body-fixed, in OpenSim's order (pelvis Z-X-Y = tilt, list, rotation; hip
flexion, adduction, rotation), mapped to the ROS axes with body.R_OSIM_TO_ROS (X->x, Y->z, Z->-y).

Angular velocity/acceleration of a frame obtained by an elementary rotation q about a unit axis u
(fixed in the parent frame, ground-expressed u_g) follow exactly:
    omega_k = omega_{k-1} + u_g q',   alpha_k = alpha_{k-1} + u_g q'' + omega_{k-1} x u_g q'.
Points rigidly attached at d (ground) from a frame origin o: v = v_o + omega x d,
a = a_o + alpha x d + omega x (omega x d). Everything is vectorised over samples (no Python loop
over frames). The pelvis origin (mid-hip point) is at zero in `relative_chain`; the pelvis translation
enters linearly (`ChainState.translated`), which is what the gait synthesis uses to place the CoM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..body import SEGMENTS, SIDES, LowerBodyModel
from ..dynamics import _cross
from ..motion import JOINT_CENTRES, SegmentKinematics

COORDINATES: tuple[str, ...] = (
    "pelvis_tilt",
    "pelvis_list",
    "pelvis_rotation",
    "trunk_tilt",
    "trunk_list",
    "trunk_rotation",
    *(
        f"{c}_{s}"
        for s in SIDES
        for c in ("hip_flexion", "hip_adduction", "hip_rotation", "knee_flexion", "ankle_dorsiflexion")
    ),
)

# Elementary rotations per segment: (coordinate, axis index, sign) applied in order to the parent.
_SEQUENCES: dict[str, tuple[tuple[str, int, float], ...]] = {
    "pelvis": (("pelvis_tilt", 1, 1.0), ("pelvis_list", 0, 1.0), ("pelvis_rotation", 2, 1.0)),
    "upper_body": (("trunk_tilt", 1, 1.0), ("trunk_list", 0, 1.0), ("trunk_rotation", 2, 1.0)),
    **{
        f"thigh_{s}": (
            (f"hip_flexion_{s}", 1, -1.0),
            (f"hip_adduction_{s}", 0, 1.0 if s == "r" else -1.0),
            (f"hip_rotation_{s}", 2, 1.0 if s == "r" else -1.0),
        )
        for s in SIDES
    },
    **{f"shank_{s}": ((f"knee_flexion_{s}", 1, 1.0),) for s in SIDES},
    **{f"foot_{s}": ((f"ankle_dorsiflexion_{s}", 1, -1.0),) for s in SIDES},
}


@dataclass
class Coordinates:
    """Generalised coordinates and their time derivatives, each dict name -> (N,) (rad, rad/s, rad/s^2).
    Missing names are zero."""

    time_s: np.ndarray
    q: dict[str, np.ndarray]
    qd: dict[str, np.ndarray]
    qdd: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        self.time_s = np.asarray(self.time_s, dtype=float)
        n = self.time_s.shape[0]
        for part in (self.q, self.qd, self.qdd):
            for name, arr in part.items():
                if name not in COORDINATES:
                    raise ValueError(f"unknown coordinate {name!r}; known: {list(COORDINATES)}")
                arr = np.asarray(arr, dtype=float)
                if arr.shape != (n,):
                    raise ValueError(f"coordinate {name!r}: expected shape ({n},), got {arr.shape}")
                if not np.all(np.isfinite(arr)):
                    raise ValueError(f"coordinate {name!r} contains NaN or inf")
                part[name] = arr

    def get(self, name: str, order: int) -> np.ndarray:
        d = (self.q, self.qd, self.qdd)[order]
        return d.get(name, np.zeros(self.time_s.shape[0]))


@dataclass
class PointMotion:
    """Position, velocity and acceleration of a point, ground frame, each (N, 3)."""

    p: np.ndarray
    v: np.ndarray
    a: np.ndarray

    def shifted(self, p: np.ndarray, v: np.ndarray, a: np.ndarray) -> PointMotion:
        return PointMotion(self.p + p, self.v + v, self.a + a)


@dataclass
class ChainState:
    """Full kinematic state of the chain (ground frame).

    rotation / omega / alpha per segment (N,3,3) / (N,3) / (N,3); com / joint / extra points as
    PointMotion: com[seg] (segment CoM, pelvis = pelvis-only CoM as body.LowerBodyModel.pelvis_com_m),
    com["upper_body"] (lumped upper body, own orientation rotation["upper_body"]), joint[c] for
    motion.JOINT_CENTRES and "lumbar",
    origin = pelvis origin (mid-hip).
    """

    time_s: np.ndarray
    rotation: dict[str, np.ndarray]
    omega: dict[str, np.ndarray]
    alpha: dict[str, np.ndarray]
    com: dict[str, PointMotion]
    joint: dict[str, PointMotion]
    origin: PointMotion

    def translated(self, p: np.ndarray, v: np.ndarray, a: np.ndarray) -> ChainState:
        """The same motion with the pelvis origin moved by (p, v, a) (each (N, 3) or (3,))."""
        return ChainState(
            self.time_s,
            self.rotation,
            self.omega,
            self.alpha,
            {k: m.shifted(p, v, a) for k, m in self.com.items()},
            {k: m.shifted(p, v, a) for k, m in self.joint.items()},
            self.origin.shifted(p, v, a),
        )

    def point(self, segment: str, local_m: ArrayLike, origin: PointMotion) -> PointMotion:
        """Motion of a point fixed at `local_m` (segment frame, relative to `origin`'s point)."""
        d = self.rotation[segment] @ np.asarray(local_m, dtype=float)
        return rigid_point(origin, self.omega[segment], self.alpha[segment], d)

    def kinematics(self, pelvis_com_m: PointMotion | None = None) -> SegmentKinematics:
        """motion.SegmentKinematics of the 7 segments. `pelvis_com_m` (PointMotion of (N,3)) optionally
        replaces the pelvis CoM (e.g. the combined pelvis + upper-body CoM for whole-body residuals)."""
        com = dict(self.com)
        if pelvis_com_m is not None:
            com["pelvis"] = pelvis_com_m
        return SegmentKinematics(
            time_s=self.time_s,
            rotation={s: self.rotation[s] for s in SEGMENTS},
            com_position_m={s: com[s].p for s in SEGMENTS},
            com_acceleration_m_s2={s: com[s].a for s in SEGMENTS},
            angular_velocity_rad_s={s: self.omega[s] for s in SEGMENTS},
            angular_acceleration_rad_s2={s: self.alpha[s] for s in SEGMENTS},
            joint_position_m={j: self.joint[j].p for j in JOINT_CENTRES},
        )


def rigid_point(origin: PointMotion, omega: np.ndarray, alpha: np.ndarray, d: np.ndarray) -> PointMotion:
    """Point at offset d (ground, (N,3)) from `origin` on a body rotating with omega/alpha."""
    wd = _cross(omega, d)
    return PointMotion(origin.p + d, origin.v + wd, origin.a + _cross(alpha, d) + _cross(omega, wd))


def _axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """(N,3,3) rotation matrices about the unit axis `axis` (0=x, 1=y, 2=z)."""
    n = angle.shape[0]
    c, s = np.cos(angle), np.sin(angle)
    r = np.zeros((n, 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r[:, axis, axis] = 1.0
    r[:, i, i] = c
    r[:, j, j] = c
    r[:, i, j] = -s
    r[:, j, i] = s
    return r


def _apply_sequence(
    rot: np.ndarray,
    omega: np.ndarray,
    alpha: np.ndarray,
    coords: Coordinates,
    seq: tuple[tuple[str, int, float], ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    for name, axis, sign in seq:
        q, qd, qdd = (sign * coords.get(name, k) for k in range(3))
        u = rot[:, :, axis]  # the rotation axis expressed in ground (unchanged by rotating about it)
        alpha = alpha + u * qdd[:, None] + _cross(omega, u) * qd[:, None]
        omega = omega + u * qd[:, None]
        rot = rot @ _axis_rotation(axis, q)
    return rot, omega, alpha


def relative_chain(model: LowerBodyModel, coords: Coordinates) -> ChainState:
    """Forward kinematics with the pelvis origin fixed at zero (add the translation with `translated`)."""
    n = coords.time_s.shape[0]
    zero = np.zeros((n, 3))
    eye = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    rot: dict[str, np.ndarray] = {}
    omega: dict[str, np.ndarray] = {}
    alpha: dict[str, np.ndarray] = {}
    rot["pelvis"], omega["pelvis"], alpha["pelvis"] = _apply_sequence(
        eye, zero, zero, coords, _SEQUENCES["pelvis"]
    )
    origin = PointMotion(zero, zero, zero)
    com: dict[str, PointMotion] = {}
    joint: dict[str, PointMotion] = {}
    st = ChainState(coords.time_s, rot, omega, alpha, com, joint, origin)
    com["pelvis"] = st.point("pelvis", model.pelvis_com_m, origin)
    lumbar_z = lumbar_height_m(model)
    joint["lumbar"] = st.point("pelvis", (0.0, 0.0, lumbar_z), origin)
    rot["upper_body"], omega["upper_body"], alpha["upper_body"] = _apply_sequence(
        eye, zero, zero, coords, _SEQUENCES["upper_body"]
    )
    com["upper_body"] = st.point(
        "upper_body", (0.0, 0.0, model.upper_body_com_m[2] - lumbar_z), joint["lumbar"]
    )
    for s in SIDES:
        sign = 1.0 if s == "l" else -1.0
        joint[f"hip_{s}"] = st.point("pelvis", (0.0, sign * model.hip_half_width_m, 0.0), origin)
        parent = "pelvis"
        for seg_kind, prox, dist in (
            ("thigh", "hip", "knee"),
            ("shank", "knee", "ankle"),
            ("foot", "ankle", None),
        ):
            seg = f"{seg_kind}_{s}"
            rot[seg], omega[seg], alpha[seg] = _apply_sequence(
                rot[parent], omega[parent], alpha[parent], coords, _SEQUENCES[seg]
            )
            base = joint[f"{prox}_{s}"]
            if seg_kind == "foot":
                com[seg] = st.point(seg, model.foot_com_m, base)
            else:
                length = model.segments[seg].length_m
                com[seg] = st.point(seg, (0.0, 0.0, -model.segments[seg].com_from_proximal_m), base)
                joint[f"{dist}_{s}"] = st.point(seg, (0.0, 0.0, -length), base)
            parent = seg
    return st


def lumbar_height_m(model: LowerBodyModel) -> float:
    """Lumbar (L5/S1) pivot of the upper body above the pelvis origin: the de Leva lower-trunk length
    minus the hip-to-OMPH part, approximated as 0.6 x lower-trunk length (mid-hip -> L5/S1)."""
    return 0.6 * model.segments["pelvis"].length_m


def whole_body_com(model: LowerBodyModel, state: ChainState) -> PointMotion:
    """Whole-body CoM (7 segments + lumped upper body) motion, ground frame."""
    parts = [(model.segments[s].mass_kg, state.com[s]) for s in SEGMENTS]
    parts.append((model.upper_body.mass_kg, state.com["upper_body"]))
    m_tot = sum(m for m, _ in parts)
    return PointMotion(*(sum(m * getattr(pm, k) for m, pm in parts) / m_tot for k in ("p", "v", "a")))


def total_mass_kg(model: LowerBodyModel) -> float:
    """Mass of the 7 segments plus the lumped upper body (= body mass)."""
    return float(model.segment_masses_kg.sum() + model.upper_body.mass_kg)


def angular_momentum_rate_about(model: LowerBodyModel, state: ChainState, point: np.ndarray) -> np.ndarray:
    """Rate of change of the whole-body angular momentum about the CoM, given as `point` (N,3) =
    the CoM position: sum_i (r_i - c) x m_i a_i + I_i alpha_i + omega_i x I_i omega_i (N m, ground).
    (About the moving CoM the transport term vanishes, so this is exactly dH_G/dt.)"""
    from ..dynamics import angular_momentum_rate

    out = np.zeros_like(point)
    bodies = [
        (s, model.segments[s].mass_kg, np.diag(model.segments[s].inertia_kg_m2), state.com[s], s)
        for s in SEGMENTS
    ]
    bodies.append(
        (
            "upper_body",
            model.upper_body.mass_kg,
            np.diag(model.upper_body.inertia_kg_m2),
            state.com["upper_body"],
            "upper_body",
        )
    )
    for _name, m, inertia, pm, frame in bodies:
        out += _cross(pm.p - point, m * pm.a)
        out += angular_momentum_rate(state.rotation[frame], inertia, state.omega[frame], state.alpha[frame])
    return out


def pelvis_composite(model: LowerBodyModel, state: ChainState) -> tuple[PointMotion, np.ndarray]:
    """The pelvis + upper body as one (non-rigid) body, for inverse dynamics with
    dynamics.SegmentInertials.from_model(model) (upper body merged into the pelvis): its CoM motion and
    the moment of its inertial forces about that CoM, sum_i (r_i - c) x m_i a_i + dH_i/dt (N m, ground),
    to pass as `inertial_moment_nm["pelvis"]`."""
    from ..dynamics import angular_momentum_rate

    parts = [
        (
            model.segments["pelvis"].mass_kg,
            state.com["pelvis"],
            np.diag(model.segments["pelvis"].inertia_kg_m2),
            "pelvis",
        ),
        (
            model.upper_body.mass_kg,
            state.com["upper_body"],
            np.diag(model.upper_body.inertia_kg_m2),
            "upper_body",
        ),
    ]
    m_tot = sum(p[0] for p in parts)
    c = PointMotion(*(sum(p[0] * getattr(p[1], k) for p in parts) / m_tot for k in ("p", "v", "a")))
    moment = np.zeros_like(c.p)
    for m, pm, inertia, frame in parts:
        moment += _cross(pm.p - c.p, m * pm.a)
        moment += angular_momentum_rate(
            state.rotation[frame], inertia, state.omega[frame], state.alpha[frame]
        )
    return c, moment
