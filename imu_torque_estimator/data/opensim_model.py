"""Segment kinematics and inertials of a real trial from an OpenSim model plus its coordinates.

Uses the `opensim` package (optional extra `data`), imported lazily: offline data building and
validation only, never in the real-time nodes.

Mapping OpenSim bodies -> project segments follows the model's tree: pelvis, femur_<s>, tibia_<s> and
talus_<s> start the segments pelvis, thigh_<s>, shank_<s>, foot_<s>; every other body joins the segment
of its nearest such ancestor (calcaneus and toes -> foot; Rajagopal's patella, a child of the femur ->
thigh; torso and arms -> pelvis, so the pelvis residual is the whole-body residual). A segment made of
several bodies is a composite: its mass and CoM are the sums over its bodies, its CoM acceleration is
sum(m_i a_i) / M and its moment of the inertial forces about the composite CoM is computed exactly,
sum_i [I_i alpha_i + w_i x I_i w_i + (c_i - c) x m_i a_i], returned as `inertial_moment_nm` for
`dynamics.inverse_dynamics` (exact also when the bodies move relative to each other, e.g. subtalar).

Kinematics follow OpenSim's InverseDynamicsTool: coordinates are (optionally) padded and low-pass
filtered with OpenSim's own `Storage.pad` + `Storage.lowpassIIR`, fitted with quintic GCV splines
(`GCVSplineSet(5, ...)`) whose 1st/2nd derivatives give q-dot and q-ddot; per frame the model is
realised at q, u = q-dot and body accelerations come from `calcBodyAccelerationFromUDot(q-ddot)`.

Joint centres are the origins of the joints' child frames (hip: femur, knee: tibia, ankle: talus).
Comparison with OpenSim generalized forces: OpenSim's `knee_angle` generalized force is the joint
reaction load projected on the coordinate's generalized direction, and gait2354/Rajagopal knees
translate with the knee angle. So for each sagittal coordinate q we also return, per frame, its
partial angular velocity axis = d(omega_child)/d(q-dot) and the partial velocity of the joint centre
d = d(p)/d(q-dot) (both relative to the parent, ground frame, obtained from OpenSim by realising
velocity with u = unit vector of q). Then  Q = M . axis + F . d  with M, F the net joint moment (about
the joint centre) and force, which `dynamics.sagittal_moments(..., translations=...)` computes.
Axes and d carry the project's sign (knee sign from the model's knee_angle range), so Q is in the
project's convention directly.

All outputs are in the project's ground frame (x forward, y left, z up) via body.R_OSIM_TO_ROS;
segment frames are the OpenSim body frames mapped the same way (OpenSim body X anterior, Y up,
Z right -> x anterior, y left, z up).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import body
from ..dynamics import SegmentInertials, angular_momentum_rate, combine_rigid_bodies
from ..extras import require
from ..motion import SegmentKinematics
from .opensim_io import Storage, coordinates_rad, read_storage, short_name, write_storage

# OpenSim body starting each project segment, per side.
SEGMENT_ROOT_BODIES: dict[str, str] = {
    "pelvis": "pelvis",
    **{f"femur_{s}": f"thigh_{s}" for s in body.SIDES},
    **{f"tibia_{s}": f"shank_{s}" for s in body.SIDES},
    **{f"talus_{s}": f"foot_{s}" for s in body.SIDES},
}
# Body whose frame is used as the segment frame (foot: the calcaneus, whose X runs heel -> toe).
SEGMENT_FRAME_BODY_PREFERENCE: dict[str, tuple[str, ...]] = {
    "pelvis": ("pelvis",), **{f"thigh_{s}": (f"femur_{s}",) for s in body.SIDES},
    **{f"shank_{s}": (f"tibia_{s}",) for s in body.SIDES},
    **{f"foot_{s}": (f"calcn_{s}", f"talus_{s}") for s in body.SIDES},
}
# Project joint centre -> OpenSim child body of the joint.
JOINT_CHILD_BODY: dict[str, str] = {
    **{f"hip_{s}": f"femur_{s}" for s in body.SIDES},
    **{f"knee_{s}": f"tibia_{s}" for s in body.SIDES},
    **{f"ankle_{s}": f"talus_{s}" for s in body.SIDES},
}
R = body.R_OSIM_TO_ROS


@contextlib.contextmanager
def _quiet_stdio():
    """Silence OpenSim's C++ prints (missing mesh files, model summaries) on fds 1 and 2."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def _osim() -> Any:
    require("opensim")
    import opensim
    opensim.Logger.setLevelString("error")
    opensim.Logger.removeFileSink()  # no opensim.log in the working directory
    return opensim


@dataclass
class OpenSimTrialKinematics:
    """Everything the project's ID needs for one trial, in the project's ground frame.

    kinematics: SegmentKinematics of the 7 segments (composite CoMs, joint centres).
    inertials: composite mass, inertia (at the first frame, segment frame) and CoM offset per segment.
    inertial_moment_nm: exact composite moment of inertial forces about each segment's CoM, (N, 3).
    joint_axes / joint_translations_m: per body.JOINTS name, (N, 3) partial angular velocity and partial
        joint-centre velocity of the OpenSim coordinate, project sign applied.
    coordinate_of_joint: body.JOINTS name -> (OpenSim coordinate, sign).
    model_mass_kg: total model mass.
    segment_bodies: project segment -> OpenSim bodies; notes: data problems found and fixed.
    Iterating yields (kinematics, inertials, joint_axes, model_mass_kg).
    """

    kinematics: SegmentKinematics
    inertials: SegmentInertials
    inertial_moment_nm: dict[str, np.ndarray]
    joint_axes: dict[str, np.ndarray]
    joint_translations_m: dict[str, np.ndarray]
    coordinate_of_joint: dict[str, tuple[str, float]]
    model_mass_kg: float
    segment_bodies: dict[str, list[str]]
    notes: list[str]

    def __iter__(self):
        return iter((self.kinematics, self.inertials, self.joint_axes, self.model_mass_kg))


def _vec(v: Any) -> np.ndarray:
    return np.array([v.get(0), v.get(1), v.get(2)])


def _mat(m: Any) -> np.ndarray:
    return np.array([[m.get(i, j) for j in range(3)] for i in range(3)])


def _body_tree(model: Any) -> dict[str, str]:
    """child body name -> parent body name."""
    parent = {}
    for j in model.getJointSet():
        parent[j.getChildFrame().findBaseFrame().getName()] = j.getParentFrame().findBaseFrame().getName()
    return parent


def segment_bodies(model: Any) -> dict[str, list[str]]:
    """Project segment -> OpenSim bodies composing it (see module docstring)."""
    parent = _body_tree(model)
    names = [b.getName() for b in model.getBodySet()]
    missing = [b for b in SEGMENT_ROOT_BODIES if b not in names]
    if missing:
        raise ValueError(f"OpenSim model lacks the bodies {missing} needed for the 7 segments "
                         f"(bodies: {names})")
    out: dict[str, list[str]] = {s: [] for s in body.SEGMENTS}
    for b in names:
        cur = b
        while cur not in SEGMENT_ROOT_BODIES:
            if cur not in parent or parent[cur] == "ground":
                raise ValueError(f"OpenSim body {b!r} is not below any of {list(SEGMENT_ROOT_BODIES)}")
            cur = parent[cur]
        out[SEGMENT_ROOT_BODIES[cur]].append(b)
    return out


def _coordinate_map(model: Any, state: Any) -> dict[str, tuple[str, float]]:
    """body.JOINTS name -> (OpenSim coordinate name, sign to the project's convention)."""
    cs = model.getCoordinateSet()
    if not cs.contains("knee_angle_r"):
        raise ValueError("OpenSim model has no coordinate 'knee_angle_r'")
    knee = cs.get("knee_angle_r")
    positive = body.knee_flexion_positive_from_range(knee.getRangeMin(), knee.getRangeMax())
    out = {}
    for coord, (joint, sign) in body.opensim_joint_map(positive).items():
        if not cs.contains(coord):
            raise ValueError(f"OpenSim model has no coordinate {coord!r}")
        out[joint] = (coord, sign)
    return out


def prepared_coordinates(model: Any, coords: Storage, enforce_couplers: bool = True,
                         notes: list[str] | None = None) -> Storage:
    """Coordinates in radians with short column names; with `enforce_couplers`, every coordinate that a
    CoordinateCouplerConstraint makes dependent (e.g. Rajagopal's knee_angle_<s>_beta, the patella) is
    recomputed from its independent coordinates, as OpenSim's assembly would. The Rajagopal trial's
    coordinates.sto stores knee_angle_<s>_beta in degrees under inDegrees=no, which makes the patella
    spin and corrupts hip moments; a note is appended to `notes` when the file disagrees."""
    osim = _osim()
    translational = {c.getName() for c in model.getCoordinateSet() if c.getMotionType() == 2}
    rad = coordinates_rad(coords, translational=translational)
    cols = {short_name(c): v for c, v in rad.columns.items()}
    if enforce_couplers:
        for con in model.getConstraintSet():
            cc = osim.CoordinateCouplerConstraint.safeDownCast(con)
            if cc is None or not con.get_isEnforced():
                continue
            names = cc.getIndependentCoordinateNames()
            ind = [names.get(i) for i in range(names.getSize())]
            dep = cc.getDependentCoordinateName()
            if not all(i in cols for i in ind):
                continue
            scale = osim.PropertyHelper.getValueDouble(cc.getPropertyByName("scale_factor"))
            fn = cc.getFunction()
            x = np.column_stack([cols[i] for i in ind])
            val = np.array([scale * fn.calcValue(osim.Vector.createFromMat(row)) for row in x])
            if dep in cols and notes is not None:
                err = float(np.sqrt(np.mean((cols[dep] - val) ** 2)))
                if err > 1e-3:
                    notes.append(f"{dep}: file values disagree with coupler {cc.getName()} "
                                 f"(RMS {err:.3g} rad); recomputed from {ind}")
            cols[dep] = val
    return Storage(rad.time_s, cols, False, name="coordinates", path=coords.path)


def _splines(osim: Any, table: Storage, filter_hz: float | None) -> Any:
    """OpenSim GCV quintic splines of the (filtered) coordinates in radians, like the ID tool."""
    fd, tmp = tempfile.mkstemp(suffix=".sto")
    os.close(fd)
    try:
        write_storage(tmp, table)
        sto = osim.Storage(tmp)
    finally:
        os.unlink(tmp)
    if filter_hz is not None:
        sto.pad(sto.getSize() // 2)
        sto.lowpassIIR(float(filter_hz))
    return osim.GCVSplineSet(5, sto)


def trial_kinematics(
    model_path: str | Path,
    coordinates: Storage | str | Path,
    filter_hz: float | None = 6.0,
    time_range_s: tuple[float, float] | None = None,
    enforce_couplers: bool = True,
    frame_step: int = 1,
) -> OpenSimTrialKinematics:
    """Segment kinematics, inertials and coordinate axes of a trial (see module docstring).

    coordinates: OpenSim coordinates table (degrees or radians, as its header says).
    filter_hz: low-pass cutoff applied with OpenSim's filter before splining (None: no filter).
    time_range_s: restrict the output frames to this closed interval of the coordinate times.
    enforce_couplers: recompute coupled (dependent) coordinates, see `prepared_coordinates`.
    frame_step: output every k-th coordinate frame (filtering and splines still use all frames).
    """
    osim = _osim()
    if not isinstance(coordinates, Storage):
        coordinates = read_storage(coordinates)
    model_path = str(model_path)
    if not Path(model_path).is_file():
        raise FileNotFoundError(f"OpenSim model not found: {model_path}")
    with _quiet_stdio():
        model = osim.Model(model_path)
        state = model.initSystem()
    matter = model.getMatterSubsystem()
    seg_bodies = segment_bodies(model)
    coord_map = _coordinate_map(model, state)
    bodyset = model.getBodySet()
    coordset = model.getCoordinateSet()

    t = coordinates.time_s
    if time_range_s is not None:
        t = t[(t >= time_range_s[0] - 1e-9) & (t <= time_range_s[1] + 1e-9)]
    if frame_step < 1:
        raise ValueError(f"frame_step must be >= 1, got {frame_step}")
    t = t[::frame_step]
    if t.size < 2:
        raise ValueError(f"trial_kinematics: fewer than 2 frames in the time range {time_range_s}")
    n = t.size

    # q, u index of each coordinate (probe the state once).
    nq, nu = state.getNQ(), state.getNU()
    q_index, u_index = {}, {}
    for c in coordset:
        state.setQ(osim.Vector(nq, 0.0))
        state.setU(osim.Vector(nu, 0.0))
        locked = c.getLocked(state)
        c.setLocked(state, False)  # setValue silently ignores a locked coordinate
        c.setValue(state, 1.0, False)
        c.setSpeedValue(state, 1.0)
        c.setLocked(state, locked)
        qv, uv = np.abs(state.getQ().to_numpy()), np.abs(state.getU().to_numpy())
        if qv.max() == 0.0 or uv.max() == 0.0:
            raise ValueError(f"{model_path}: cannot find the state slot of coordinate {c.getName()!r}")
        q_index[c.getName()] = int(np.argmax(qv))
        u_index[c.getName()] = int(np.argmax(uv))
    # Coordinate trajectories: value, speed, acceleration from the splines (default value if absent).
    notes: list[str] = []
    splines = _splines(osim, prepared_coordinates(model, coordinates, enforce_couplers, notes), filter_hz)
    q = np.zeros((n, nq))
    u = np.zeros((n, nu))
    udot = np.zeros((n, nu))
    for c in coordset:
        name = c.getName()
        if splines.contains(name):
            k = splines.getIndex(name)
            q[:, q_index[name]] = [splines.evaluate(k, 0, float(x)) for x in t]
            u[:, u_index[name]] = [splines.evaluate(k, 1, float(x)) for x in t]
            udot[:, u_index[name]] = [splines.evaluate(k, 2, float(x)) for x in t]
        else:
            q[:, q_index[name]] = c.getDefaultValue()

    bodies = [b for segs in seg_bodies.values() for b in segs]
    b_obj = {b: bodyset.get(b) for b in bodies}
    mbi = {b: int(b_obj[b].getMobilizedBodyIndex()) for b in bodies}
    rot = {b: np.zeros((n, 3, 3)) for b in bodies}
    pos = {b: np.zeros((n, 3)) for b in bodies}
    omega = {b: np.zeros((n, 3)) for b in bodies}
    alpha = {b: np.zeros((n, 3)) for b in bodies}
    acc0 = {b: np.zeros((n, 3)) for b in bodies}
    joints = {jc: model.getJointSet().get(_joint_with_child(model, cb))
              for jc, cb in JOINT_CHILD_BODY.items()}
    child_station = {jc: _child_offset(osim, j) for jc, j in joints.items()}
    jpos = {jc: np.zeros((n, 3)) for jc in joints}
    centre_of = {jn: f"{jn.split('_')[0]}_{jn[-1]}" for jn in coord_map}
    axes = {jn: np.zeros((n, 3)) for jn in coord_map}
    trans = {jn: np.zeros((n, 3)) for jn in coord_map}
    acc_vec = osim.VectorOfSpatialVec()
    zero_u = np.zeros(nu)
    for k in range(n):
        state.setTime(float(t[k]))
        state.setQ(osim.Vector.createFromMat(q[k]))
        state.setU(osim.Vector.createFromMat(u[k]))
        model.realizeVelocity(state)
        matter.calcBodyAccelerationFromUDot(state, osim.Vector.createFromMat(udot[k]), acc_vec)
        for b in bodies:
            tr = b_obj[b].getTransformInGround(state)
            rot[b][k] = _mat(tr.R().asMat33())
            pos[b][k] = _vec(tr.p())
            omega[b][k] = _vec(b_obj[b].getAngularVelocityInGround(state))
            sv = acc_vec.get(mbi[b])
            alpha[b][k] = _vec(sv.get(0))
            acc0[b][k] = _vec(sv.get(1))
        for jc, j in joints.items():
            jpos[jc][k] = _vec(j.getChildFrame().getPositionInGround(state))
        # Partial velocities of each sagittal coordinate (u = unit vector, everything else at rest).
        for jn, (cname, sign) in coord_map.items():
            e = zero_u.copy()
            e[u_index[cname]] = 1.0
            state.setU(osim.Vector.createFromMat(e))
            model.realizeVelocity(state)
            cb = b_obj[JOINT_CHILD_BODY[centre_of[jn]]]
            axes[jn][k] = sign * _vec(cb.getAngularVelocityInGround(state))
            trans[jn][k] = sign * _vec(cb.findStationVelocityInGround(state, child_station[centre_of[jn]]))

    # Per body, in the project's ground frame.
    mass = {b: b_obj[b].getMass() for b in bodies}
    com_local = {b: _vec(b_obj[b].getMassCenter()) for b in bodies}
    inertia_local = {b: _inertia(b_obj[b]) for b in bodies}
    rot_ros = {b: R @ rot[b] for b in bodies}  # body frame (OpenSim axes) -> ROS ground
    com_g = {b: (pos[b] + np.einsum("nij,j->ni", rot[b], com_local[b])) @ R.T for b in bodies}
    w_g = {b: omega[b] @ R.T for b in bodies}
    al_g = {b: alpha[b] @ R.T for b in bodies}
    a_com = {}
    for b in bodies:
        r = np.einsum("nij,j->ni", rot[b], com_local[b])
        a = acc0[b] + np.cross(alpha[b], r) + np.cross(omega[b], np.cross(omega[b], r))
        a_com[b] = a @ R.T

    kw: dict[str, dict[str, np.ndarray]] = {k: {} for k in (
        "rotation", "com_position_m", "com_acceleration_m_s2", "angular_velocity_rad_s",
        "angular_acceleration_rad_s2")}
    inert_moment: dict[str, np.ndarray] = {}
    masses, inertias, com_off = {}, {}, {}
    for seg, blist in seg_bodies.items():
        frame_body = next(b for b in SEGMENT_FRAME_BODY_PREFERENCE[seg] if b in blist)
        m_tot = sum(mass[b] for b in blist)
        c = sum(mass[b] * com_g[b] for b in blist) / m_tot
        a = sum(mass[b] * a_com[b] for b in blist) / m_tot
        hdot = np.zeros((n, 3))
        for b in blist:
            hdot += angular_momentum_rate(rot_ros[b], inertia_local[b], w_g[b], al_g[b])
            hdot += np.cross(com_g[b] - c, mass[b] * a_com[b])
        r_seg = R @ rot[frame_body] @ R.T  # project segment frame -> ROS ground
        kw["rotation"][seg] = r_seg
        kw["com_position_m"][seg] = c
        kw["com_acceleration_m_s2"][seg] = a
        kw["angular_velocity_rad_s"][seg] = w_g[frame_body]
        kw["angular_acceleration_rad_s2"][seg] = al_g[frame_body]
        inert_moment[seg] = hdot
        # Composite inertia at the first frame, expressed in the project segment frame.
        to_seg = r_seg[0].T
        parts = [(mass[b], to_seg @ com_g[b][0], to_seg @ rot_ros[b][0] @ inertia_local[b]
                  @ rot_ros[b][0].T @ to_seg.T) for b in blist]
        m_c, c_c, i_c = combine_rigid_bodies(parts)
        masses[seg], inertias[seg] = m_c, 0.5 * (i_c + i_c.T)
        origin = (pos[frame_body][0] @ R.T)
        com_off[seg] = c_c - to_seg @ origin
    jp = {jc: jpos[jc] @ R.T for jc in joints}
    kin = SegmentKinematics(t.copy(), joint_position_m=jp, **kw)
    axes_ros = {jn: a @ R.T for jn, a in axes.items()}
    trans_ros = {jn: d @ R.T for jn, d in trans.items()}
    return OpenSimTrialKinematics(
        kinematics=kin, inertials=SegmentInertials(masses, inertias, com_off),
        inertial_moment_nm=inert_moment, joint_axes=axes_ros, joint_translations_m=trans_ros,
        coordinate_of_joint=coord_map, model_mass_kg=float(sum(mass.values())),
        segment_bodies=seg_bodies, notes=notes)


def _inertia(b: Any) -> np.ndarray:
    """OpenSim body inertia about its CoM, body frame (3, 3)."""
    ine = b.getInertia()
    mo, pr = _vec(ine.getMoments()), _vec(ine.getProducts())
    return np.array([[mo[0], pr[0], pr[1]], [pr[0], mo[1], pr[2]], [pr[1], pr[2], mo[2]]])


def _joint_with_child(model: Any, child: str) -> str:
    for j in model.getJointSet():
        if j.getChildFrame().findBaseFrame().getName() == child:
            return j.getName()
    raise ValueError(f"OpenSim model has no joint whose child is {child!r}")


def _child_offset(osim: Any, joint: Any) -> Any:
    """Position of the joint's child frame origin in its base body (a SimTK Vec3)."""
    frame = joint.getChildFrame()
    off = osim.PhysicalOffsetFrame.safeDownCast(frame)
    return off.get_translation() if off is not None else osim.Vec3(0.0, 0.0, 0.0)


def run_opensim_id(
    model_path: str | Path,
    coordinates: Storage | str | Path,
    external_loads_xml: str | Path,
    filter_hz: float | None = 6.0,
    excluded_forces: tuple[str, ...] = ("Muscles",),
    enforce_couplers: bool = True,
) -> Storage:
    """Run OpenSim's own InverseDynamicsTool on the same inputs; returns its generalized forces
    (OpenSim convention and units, Nm / N). Coordinates are written with short column names (the
    tool matches spline names to coordinate names) and in radians."""
    osim = _osim()
    if not isinstance(coordinates, Storage):
        coordinates = read_storage(coordinates)
    with tempfile.TemporaryDirectory() as d, _quiet_stdio():
        model = osim.Model(str(model_path))
        model.initSystem()
        cpath = Path(d) / "coordinates.sto"
        write_storage(cpath, prepared_coordinates(model, coordinates, enforce_couplers))
        tool = osim.InverseDynamicsTool()
        tool.setModel(model)
        tool.setCoordinatesFileName(str(cpath))
        tool.setExternalLoadsFileName(str(Path(external_loads_xml).resolve()))
        tool.setLowpassCutoffFrequency(-1.0 if filter_hz is None else float(filter_hz))
        tool.setStartTime(float(coordinates.time_s[0]))
        tool.setEndTime(float(coordinates.time_s[-1]))
        excl = osim.ArrayStr()
        for f in excluded_forces:
            excl.append(f)
        tool.setExcludedForces(excl)
        tool.setResultsDir(d)
        tool.setOutputGenForceFileName("id.sto")
        # The tool resolves the external loads' data file relative to the setup document's folder.
        if not tool.run():
            raise RuntimeError("OpenSim InverseDynamicsTool failed")
        return read_storage(Path(d) / "id.sto")


# --------------------------------------------------------------------------------------------------
# Validation of the project's inverse dynamics against OpenSim reference results.
@dataclass(frozen=True)
class ValidationTrial:
    """Files of one real walking trial with an OpenSim ID reference (relative to its folder)."""

    folder: str
    model: str
    coordinates: str
    grf_xml: str
    reference: str
    filter_hz: float | None = 6.0


# Both reference setups low-pass the coordinates at 6 Hz (checked: OpenSim's own tool reproduces the
# references to <= 0.002 Nm/kg at 6 Hz and not without the filter).
VALIDATION_TRIALS: dict[str, ValidationTrial] = {
    "opensim_walk_rajagopal": ValidationTrial(
        "opensim_walk_rajagopal", "subject_walk_scaled.osim", "coordinates.sto", "grf_walk.xml",
        "id_walk.sto"),
    "opensim_subject01_walk": ValidationTrial(
        "opensim_subject01_walk", "subject01.osim", "subject01_walk1_ik.mot", "subject01_walk1_grf.xml",
        "std_subject01_InverseDynamics.sto"),
}


@dataclass
class IdValidation:
    """Project ID vs an OpenSim reference on one trial; moments in Nm/kg (project sign convention),
    compared on the frames where the reference exists (reference linearly interpolated)."""

    trial: str
    model_mass_kg: float
    time_s: np.ndarray
    project_nm_per_kg: dict[str, np.ndarray]
    reference_nm_per_kg: dict[str, np.ndarray]
    rms_project_nm_per_kg: dict[str, float]
    opensim_tool_nm_per_kg: dict[str, np.ndarray] = field(default_factory=dict)
    rms_opensim_tool_nm_per_kg: dict[str, float] = field(default_factory=dict)
    rms_opensim_tool_raw_nm_per_kg: dict[str, float] = field(default_factory=dict)
    rms_project_vs_opensim_tool_nm_per_kg: dict[str, float] = field(default_factory=dict)
    pelvis_residual_force_rms_pct_bw: float = float("nan")
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly numbers (no time series)."""
        return {"trial": self.trial, "model_mass_kg": self.model_mass_kg, "frames": int(self.time_s.size),
                "time_range_s": [float(self.time_s[0]), float(self.time_s[-1])],
                "rms_project_vs_reference_nm_per_kg": self.rms_project_nm_per_kg,
                "rms_opensim_tool_vs_reference_nm_per_kg": self.rms_opensim_tool_nm_per_kg,
                "rms_opensim_tool_raw_file_vs_reference_nm_per_kg": self.rms_opensim_tool_raw_nm_per_kg,
                "rms_project_vs_opensim_tool_nm_per_kg": self.rms_project_vs_opensim_tool_nm_per_kg,
                "pelvis_residual_force_rms_pct_bw": self.pelvis_residual_force_rms_pct_bw,
                "notes": self.notes, "seconds": self.seconds}


def _reference_moments(ref: Storage, coord_map: dict[str, tuple[str, float]], t: np.ndarray,
                       mass_kg: float) -> dict[str, np.ndarray]:
    out = {}
    for joint, (coord, sign) in coord_map.items():
        out[joint] = sign * np.interp(t, ref.time_s, ref.column(f"{coord}_moment")) / mass_kg
    return out


def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(a))))


def validate_id_trial(data_dir: str | Path, name: str, run_tool: bool = True,
                      frame_step: int = 1) -> IdValidation:
    """Run the project's ID on a real trial (kinematics from OpenSim, the trial's GRF) and compare
    with the reference; optionally re-run OpenSim's InverseDynamicsTool on the same inputs (with
    and, when it matters, without the coupled-coordinate fix) to tell data from dynamics problems."""
    from ..dynamics import inverse_dynamics, sagittal_moments
    from .opensim_io import read_external_loads

    if name not in VALIDATION_TRIALS:
        raise ValueError(f"unknown validation trial {name!r}; known: {list(VALIDATION_TRIALS)}")
    spec = VALIDATION_TRIALS[name]
    folder = Path(data_dir) / spec.folder
    if not folder.is_dir():
        raise FileNotFoundError(f"trial folder not found: {folder}")
    secs = {}
    t0 = time.perf_counter()
    coords = read_storage(folder / spec.coordinates)
    ref = read_storage(folder / spec.reference)
    tk = trial_kinematics(folder / spec.model, coords, filter_hz=spec.filter_hz, frame_step=frame_step)
    secs["opensim_kinematics"] = time.perf_counter() - t0
    kin = tk.kinematics
    t0 = time.perf_counter()
    grf = read_external_loads(folder / spec.grf_xml).in_ros_frame().resampled(kin.time_s)
    loads = inverse_dynamics(kin, tk.inertials, grf.contacts, inertial_moment_nm=tk.inertial_moment_nm)
    sag = sagittal_moments(kin, loads, axes=tk.joint_axes, translations=tk.joint_translations_m)
    secs["project_id"] = time.perf_counter() - t0
    keep = (kin.time_s >= ref.time_s[0] - 1e-9) & (kin.time_s <= ref.time_s[-1] + 1e-9)
    t = kin.time_s[keep]
    m = tk.model_mass_kg
    proj = {j: sag[j][keep] / m for j in body.JOINTS}
    refm = _reference_moments(ref, tk.coordinate_of_joint, t, m)
    res = IdValidation(name, m, t, proj, refm, {j: _rms(proj[j] - refm[j]) for j in body.JOINTS},
                       notes=list(tk.notes), seconds=secs)
    bw = m * body.GRAVITY_M_S2
    assert loads.pelvis_residual_force_n is not None  # the pelvis is in every validation trial
    res.pelvis_residual_force_rms_pct_bw = 100 * _rms(
        np.linalg.norm(loads.pelvis_residual_force_n[keep], axis=1)) / bw
    if run_tool:
        t0 = time.perf_counter()
        tool = run_opensim_id(folder / spec.model, coords, folder / spec.grf_xml, spec.filter_hz)
        secs["opensim_tool"] = time.perf_counter() - t0
        tool_m = _reference_moments(tool, tk.coordinate_of_joint, t, m)
        res.opensim_tool_nm_per_kg = tool_m
        res.rms_opensim_tool_nm_per_kg = {j: _rms(tool_m[j] - refm[j]) for j in body.JOINTS}
        res.rms_project_vs_opensim_tool_nm_per_kg = {j: _rms(tool_m[j] - proj[j]) for j in body.JOINTS}
        if tk.notes:  # the file needed fixing: show what the tool gives on the file as it is
            raw = run_opensim_id(folder / spec.model, coords, folder / spec.grf_xml, spec.filter_hz,
                                 enforce_couplers=False)
            raw_m = _reference_moments(raw, tk.coordinate_of_joint, t, m)
            res.rms_opensim_tool_raw_nm_per_kg = {j: _rms(raw_m[j] - refm[j]) for j in body.JOINTS}
    return res
