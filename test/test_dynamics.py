"""Inverse dynamics against hand calculations, analytic pendulum, free fall and whole-body balance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imu_torque_estimator import body, dynamics
from imu_torque_estimator.motion import FootContact, SegmentKinematics

G = body.GRAVITY_M_S2
MODEL = body.lower_body_model(75.0, 1.75, "male")
INERTIALS = dynamics.SegmentInertials.from_model(MODEL)


def _skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    norm = np.linalg.norm(axis)
    if norm == 0.0:
        return np.eye(3)
    axis = np.asarray(axis, float) / norm
    k = _skew(axis)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def body_points() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Standing pose in a body reference frame (origin mid-hip): joint centres and segment CoMs."""
    joints, coms = {}, {}
    for s, sign in (("l", 1.0), ("r", -1.0)):
        hip = np.array([0.0, sign * MODEL.hip_half_width_m, 0.0])
        knee = hip - [0, 0, MODEL.segments[f"thigh_{s}"].length_m]
        ankle = knee - [0, 0, MODEL.segments[f"shank_{s}"].length_m]
        joints.update({f"hip_{s}": hip, f"knee_{s}": knee, f"ankle_{s}": ankle})
        for seg, origin in ((f"thigh_{s}", hip), (f"shank_{s}", knee), (f"foot_{s}", ankle)):
            coms[seg] = origin + INERTIALS.com_offset_m[seg]
    coms["pelvis"] = INERTIALS.com_offset_m["pelvis"].copy()
    return joints, coms


def rigid_kinematics(t: np.ndarray, origin, origin_acc, rot, omega, alpha,
                     segments=body.SEGMENTS) -> SegmentKinematics:
    """All segments rigidly attached to one body with pose (origin(t), rot(t)) and ground-frame
    angular velocity/acceleration; exact rigid-body kinematics of every point."""
    joints, coms = body_points()
    n = t.size

    def point(x0):
        r = np.einsum("nij,j->ni", rot, x0)
        acc = origin_acc + np.cross(alpha, r) + np.cross(omega, np.cross(omega, r))
        return origin + r, acc

    kw = {k: {} for k in ("rotation", "com_position_m", "com_acceleration_m_s2",
                          "angular_velocity_rad_s", "angular_acceleration_rad_s2")}
    for seg in segments:
        pos, acc = point(coms[seg])
        kw["rotation"][seg] = rot.copy()
        kw["com_position_m"][seg] = pos
        kw["com_acceleration_m_s2"][seg] = acc
        kw["angular_velocity_rad_s"][seg] = np.broadcast_to(omega, (n, 3)).copy()
        kw["angular_acceleration_rad_s2"][seg] = np.broadcast_to(alpha, (n, 3)).copy()
    jp = {j: point(x0)[0] for j, x0 in joints.items()}
    return SegmentKinematics(t, joint_position_m=jp, **kw)


def no_contact(n: int) -> FootContact:
    return FootContact(np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 3)))


def standing(n: int = 3) -> SegmentKinematics:
    t = np.arange(n) * 0.01
    rot = np.repeat(np.eye(3)[None], n, 0)
    z = np.zeros((n, 3))
    return rigid_kinematics(t, np.tile([0, 0, 0.95], (n, 1)), z, rot, z, z)


def test_from_model_masses_and_pelvis_composite():
    assert INERTIALS.total_mass_kg == pytest.approx(75.0, rel=2e-4)
    no_ub = dynamics.SegmentInertials.from_model(MODEL, include_upper_body=False)
    assert no_ub.mass_kg["pelvis"] == pytest.approx(MODEL.segments["pelvis"].mass_kg)
    # combined CoM lies between pelvis and upper-body CoMs
    z = INERTIALS.com_offset_m["pelvis"][2]
    assert MODEL.pelvis_com_m[2] < z < MODEL.upper_body_com_m[2]


def test_static_standing_ankle_moment_equals_weight_times_lever_arm():
    n = 3
    kin = standing(n)
    w_n = 0.5 * 75.0 * G
    d_m = 0.06  # CoP 6 cm in front of the ankle
    contacts = {}
    for s in "lr":
        cop = kin.joint_position_m[f"ankle_{s}"] + [d_m, 0, -0.07]
        cop[:, 2] = 0.0
        contacts[s] = FootContact(np.tile([0, 0, w_n], (n, 1)), cop, np.zeros((n, 3)))
    loads = dynamics.inverse_dynamics(kin, INERTIALS, contacts)
    m_foot = INERTIALS.mass_kg["foot_r"]
    x_foot = INERTIALS.com_offset_m["foot_r"][0]
    # moment about the ankle's y axis that balances GRF and foot weight: M_y = d W - x_f m_f g
    expected_y = d_m * w_n - x_foot * m_foot * G
    np.testing.assert_allclose(loads.moment_nm["ankle_r"][:, 1], expected_y, rtol=1e-12)
    np.testing.assert_allclose(loads.force_n["ankle_r"], np.tile([0, 0, m_foot * G - w_n], (n, 1)),
                               atol=1e-9)
    sag = dynamics.sagittal_moments(kin, loads)
    # CoP in front of the ankle: plantarflexor (negative dorsiflexion) moment, both sides
    np.testing.assert_allclose(sag["ankle_dorsiflexion_r"], -expected_y, rtol=1e-12)
    np.testing.assert_allclose(sag["ankle_dorsiflexion_l"], -expected_y, rtol=1e-12)
    assert set(sag) == set(body.JOINTS)


def test_free_fall_without_grf_gives_zero_joint_loads():
    n = 50
    t = np.linspace(0, 0.5, n)
    rot = np.repeat(_rot([0.3, 1, 0.2], 0.4)[None], n, 0)
    z = np.zeros((n, 3))
    origin = np.tile([0, 0, 2.0], (n, 1)) + np.outer(t**2, body.GRAVITY_VECTOR_M_S2 / 2)
    kin = rigid_kinematics(t, origin, np.tile(body.GRAVITY_VECTOR_M_S2, (n, 1)), rot, z, z)
    loads = dynamics.inverse_dynamics(kin, INERTIALS, {"l": no_contact(n), "r": no_contact(n)})
    for j in loads.force_n:
        np.testing.assert_allclose(loads.force_n[j], 0, atol=1e-10)
        np.testing.assert_allclose(loads.moment_nm[j], 0, atol=1e-10)
    np.testing.assert_allclose(loads.pelvis_residual_force_n, 0, atol=1e-10)
    np.testing.assert_allclose(loads.pelvis_residual_moment_nm, 0, atol=1e-10)


def test_swinging_leg_pendulum_matches_analytic_hip_moment():
    """Rigid straight leg swinging about a fixed hip, theta = A sin(w t) about the pelvis y axis.
    Angular momentum about the fixed hip: M_hip,y = I_hip theta'' - sum_i m_i g x_i(t)."""
    n = 200
    t = np.linspace(0, 2.0, n)
    amp, w = 0.5, 2 * np.pi * 0.9
    th, thd, thdd = amp * np.sin(w * t), amp * w * np.cos(w * t), -amp * w**2 * np.sin(w * t)
    y = np.array([0.0, 1.0, 0.0])
    rot = np.stack([_rot(y, a) for a in th])
    joints, coms = body_points()
    hip0 = joints["hip_r"]
    # rotate about the hip: origin(t) = hip - R hip0 keeps the hip fixed
    hip_fixed = np.array([0.0, -MODEL.hip_half_width_m, 1.0])
    origin = hip_fixed - np.einsum("nij,j->ni", rot, hip0)
    omega, alpha = np.outer(thd, y), np.outer(thdd, y)
    # acceleration of origin: origin = hip_fixed - R hip0, so a_o = -(alpha x r + w x (w x r)), r = R hip0
    r0 = np.einsum("nij,j->ni", rot, hip0)
    a_origin = -(np.cross(alpha, r0) + np.cross(omega, np.cross(omega, r0)))
    segs = ("thigh_r", "shank_r", "foot_r")
    kin = rigid_kinematics(t, origin, a_origin, rot, omega, alpha, segments=segs)
    loads = dynamics.inverse_dynamics(kin, INERTIALS, {"r": no_contact(n)})
    i_hip = 0.0
    grav = np.zeros(n)
    for s in segs:
        d0 = coms[s] - hip0
        m = INERTIALS.mass_kg[s]
        i_hip += INERTIALS.inertia_kg_m2[s][1, 1] + m * (d0[0] ** 2 + d0[2] ** 2)
        x_t = np.einsum("nij,j->ni", rot, d0)[:, 0]
        grav += m * G * x_t
    expected = i_hip * thdd - grav
    np.testing.assert_allclose(loads.moment_nm["hip_r"][:, 1], expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(loads.moment_nm["hip_r"][:, [0, 2]], 0, atol=1e-9)
    assert loads.pelvis_residual_force_n is None  # pelvis and left leg absent
    sag = dynamics.sagittal_moments(kin, loads, axes={"hip_flexion_r": -y})
    np.testing.assert_allclose(sag["hip_flexion_r"], -expected, rtol=1e-9, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=9, max_size=9), st.floats(-0.2, 0.2), st.floats(-0.1, 0.1))
def test_whole_body_balance_gives_zero_pelvis_residual(v, cop_x, cop_y):
    """Rigid whole body in arbitrary motion; one foot's contact carries exactly the whole-body momentum
    change (force and moment), so the pelvis residual must vanish."""
    n = 4
    t = np.arange(n) * 0.01
    rot = np.repeat(_rot(v[0:3], np.linalg.norm(v[0:3]) / 3)[None], n, 0)
    omega = np.tile(v[3:6], (n, 1))
    alpha = np.tile(v[6:9], (n, 1))
    origin = np.tile([0.1, 0.0, 1.0], (n, 1))
    a_o = np.tile([v[0], v[4], v[8]], (n, 1))
    kin = rigid_kinematics(t, origin, a_o, rot, omega, alpha)
    f = np.zeros((n, 3))
    h = np.zeros((n, 3))  # moment of inertial+gravity about the ground origin
    for s in body.SEGMENTS:
        m = INERTIALS.mass_kg[s]
        fi = m * (kin.com_acceleration_m_s2[s] - body.GRAVITY_VECTOR_M_S2)
        f += fi
        h += np.cross(kin.com_position_m[s], fi) + dynamics.angular_momentum_rate(
            kin.rotation[s], INERTIALS.inertia_kg_m2[s], omega, alpha)
    cop = np.tile([cop_x, cop_y, 0.0], (n, 1))
    free = h - np.cross(cop, f)
    loads = dynamics.inverse_dynamics(kin, INERTIALS, {"l": FootContact(f, cop, free),
                                                        "r": no_contact(n)})
    scale = 1 + np.abs(f).max() + np.abs(free).max()
    np.testing.assert_allclose(loads.pelvis_residual_force_n / scale, 0, atol=1e-12)
    np.testing.assert_allclose(loads.pelvis_residual_moment_nm / scale, 0, atol=1e-12)


def test_angular_momentum_rate_matches_ground_frame_formula():
    rng = np.random.default_rng(1)
    rot = np.stack([_rot(rng.normal(size=3), rng.uniform(0, 3)) for _ in range(5)])
    w, a = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    inertia = np.diag([0.1, 0.2, 0.05])
    ig = rot @ inertia @ rot.transpose(0, 2, 1)
    ref = np.einsum("nij,nj->ni", ig, a) + np.cross(w, np.einsum("nij,nj->ni", ig, w))
    np.testing.assert_allclose(dynamics.angular_momentum_rate(rot, inertia, w, a), ref, atol=1e-12)


def test_inertial_moment_override_replaces_euler_term():
    kin = standing()
    n = len(kin)
    contacts = {s: no_contact(n) for s in "lr"}
    extra = np.tile([0.0, 2.0, 0.0], (n, 1))
    base = dynamics.inverse_dynamics(kin, INERTIALS, contacts)
    over = dynamics.inverse_dynamics(kin, INERTIALS, contacts, inertial_moment_nm={"foot_r": extra})
    np.testing.assert_allclose(over.moment_nm["ankle_r"] - base.moment_nm["ankle_r"], extra, atol=1e-12)


# ---- bad input -------------------------------------------------------------------------------------
def test_unknown_segment_in_inertials():
    with pytest.raises(ValueError, match="unknown segment 'tibia_r'"):
        dynamics.SegmentInertials({"tibia_r": 1.0}, {"tibia_r": np.eye(3)})


def test_bad_inertia_shape_and_mass():
    with pytest.raises(ValueError, match="inertia of 'foot_r'"):
        dynamics.SegmentInertials({"foot_r": 1.0}, {"foot_r": np.eye(2)})
    with pytest.raises(ValueError, match="mass of 'foot_r'"):
        dynamics.SegmentInertials({"foot_r": -1.0}, {"foot_r": np.eye(3)})


def test_missing_inertials_for_segment():
    inert = dynamics.SegmentInertials({"foot_r": 1.0}, {"foot_r": np.eye(3)})
    with pytest.raises(ValueError, match="no mass/inertia for segment"):
        dynamics.inverse_dynamics(standing(), inert, {s: no_contact(3) for s in "lr"})


def test_mismatched_contact_length():
    with pytest.raises(ValueError, match=r"contacts\['l'\].force_n: 4 samples but the kinematics have 3"):
        dynamics.inverse_dynamics(standing(3), INERTIALS, {"l": no_contact(4), "r": no_contact(3)})


def test_missing_and_unknown_contact_side():
    with pytest.raises(ValueError, match="missing foot contact for side 'r'"):
        dynamics.inverse_dynamics(standing(), INERTIALS, {"l": no_contact(3)})
    with pytest.raises(ValueError, match="unknown side"):
        dynamics.inverse_dynamics(standing(), INERTIALS, {"l": no_contact(3), "r": no_contact(3),
                                                          "x": no_contact(3)})


def test_nan_in_grf():
    c = no_contact(3)
    c.force_n[1, 2] = np.nan  # bypasses FootContact's own check (mutated after construction)
    with pytest.raises(ValueError, match=r"contacts\['r'\]: NaN or inf in the ground reaction force"):
        dynamics.inverse_dynamics(standing(), INERTIALS, {"l": no_contact(3), "r": c})


def test_nan_cop_while_loaded():
    c = no_contact(3)
    c.force_n[:, 2] = 100.0
    c.cop_m[0] = np.nan
    with pytest.raises(ValueError, match=r"cop_m: NaN or inf while the foot is loaded"):
        dynamics.inverse_dynamics(standing(), INERTIALS, {"l": no_contact(3), "r": c})


def test_missing_joint_centre_and_leg_without_foot():
    kin = standing()
    del kin.joint_position_m["knee_l"]
    with pytest.raises(ValueError, match="lack joint centre 'knee_l'"):
        dynamics.inverse_dynamics(kin, INERTIALS, {s: no_contact(3) for s in "lr"})
    n = 3
    z = np.zeros((n, 3))
    kin2 = rigid_kinematics(np.arange(n) * 0.1, z, z, np.repeat(np.eye(3)[None], n, 0), z, z,
                            segments=("shank_l",))
    with pytest.raises(ValueError, match="without foot_l"):
        dynamics.inverse_dynamics(kin2, INERTIALS, {})


def test_sagittal_moments_bad_axes_and_time():
    kin = standing()
    loads = dynamics.inverse_dynamics(kin, INERTIALS, {s: no_contact(3) for s in "lr"})
    with pytest.raises(ValueError, match="unknown joint 'knee_l'"):
        dynamics.sagittal_moments(kin, loads, axes={"knee_l": np.zeros(3)})
    with pytest.raises(ValueError, match=r"axes\['knee_flexion_l'\]: expected shape"):
        dynamics.sagittal_moments(kin, loads, axes={"knee_flexion_l": np.zeros((5, 3))})
    loads.time_s = loads.time_s + 1.0
    with pytest.raises(ValueError, match="different time vectors"):
        dynamics.sagittal_moments(kin, loads)


def test_wrong_shape_inertial_moment():
    with pytest.raises(ValueError, match=r"inertial_moment_nm\['foot_r'\]: expected shape"):
        dynamics.inverse_dynamics(standing(), INERTIALS, {s: no_contact(3) for s in "lr"},
                                  inertial_moment_nm={"foot_r": np.zeros((2, 3))})


def test_moments_in_proximal_frame_rotates_with_the_segment():
    kin = standing()
    n = len(kin)
    w_n = 0.5 * 75.0 * G
    contacts = {s: FootContact(np.tile([0, 0, w_n], (n, 1)),
                               kin.joint_position_m[f"ankle_{s}"] * [1, 1, 0] + [0.0, 0.05, 0.0],
                               np.zeros((n, 3))) for s in "lr"}
    loads = dynamics.inverse_dynamics(kin, INERTIALS, contacts)
    local = dynamics.moments_in_proximal_frame(kin, loads)
    # neutral standing: segment frames = ground, so local = ground moments; CoP 5 cm medial/lateral
    # of the left/right ankle gives a frontal-plane (x) moment at the ankle
    np.testing.assert_allclose(local["ankle_l"], loads.moment_nm["ankle_l"], atol=1e-12)
    assert abs(local["ankle_l"][0, 0]) > 10.0
    turned = standing()
    r = _rot([0, 0, 1], np.pi / 2)
    for s in turned.rotation:
        turned.rotation[s] = np.repeat(r[None], n, 0)
    local_t = dynamics.moments_in_proximal_frame(turned, loads)
    np.testing.assert_allclose(local_t["knee_r"], loads.moment_nm["knee_r"] @ r, atol=1e-12)


def test_translations_need_axes():
    kin = standing()
    loads = dynamics.inverse_dynamics(kin, INERTIALS, {s: no_contact(3) for s in "lr"})
    with pytest.raises(ValueError, match="translations given for 'knee_flexion_l' without an axis"):
        dynamics.sagittal_moments(kin, loads, translations={"knee_flexion_l": np.zeros((3, 3))})
    with pytest.raises(ValueError, match=r"translations\['knee_flexion_l'\]: expected shape"):
        dynamics.sagittal_moments(kin, loads, axes={"knee_flexion_l": np.array([0, 1.0, 0])},
                                  translations={"knee_flexion_l": np.zeros((2, 3))})
    d = np.tile([0.0, 0.0, 0.01], (3, 1))
    out = dynamics.sagittal_moments(kin, loads, axes={"knee_flexion_l": np.array([0, 1.0, 0])},
                                    translations={"knee_flexion_l": d})
    expected = loads.moment_nm["knee_l"][:, 1] + 0.01 * loads.force_n["knee_l"][:, 2]
    np.testing.assert_allclose(out["knee_flexion_l"], expected)
