"""IMU synthesis: analytic physics checks (issue 4), error-model effects one by one, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from imu_torque_estimator import body
from imu_torque_estimator.kinematics import placement
from imu_torque_estimator.motion import SegmentKinematics
from imu_torque_estimator.sim import imu

G = body.GRAVITY_M_S2


def _const_kin(n: int, rate_hz: float, omega_g: np.ndarray | None = None, rot0: np.ndarray | None = None,
               a_com: np.ndarray | None = None, segment: str = "shank_l") -> SegmentKinematics:
    """One segment spinning at constant angular velocity `omega_g` (ground) about its CoM."""
    t = np.arange(n) / rate_hz
    omega_g = np.zeros(3) if omega_g is None else np.asarray(omega_g, float)
    rot0 = np.eye(3) if rot0 is None else rot0
    rot = Rotation.from_rotvec(t[:, None] * omega_g).as_matrix() @ rot0
    acc = np.zeros((n, 3)) if a_com is None else np.broadcast_to(a_com, (n, 3)).copy()
    return SegmentKinematics(t, {segment: rot}, {segment: np.zeros((n, 3))}, {segment: acc},
                             {segment: np.tile(omega_g, (n, 1))}, {segment: np.zeros((n, 3))})


def _at(segment: str, pos=(0.0, 0.0, 0.0), rot=None) -> dict[str, placement.SensorPlacement]:
    rot = np.eye(3) if rot is None else rot
    return {segment: placement.SensorPlacement(segment, np.asarray(pos, float), rot)}


RNG = np.random.default_rng(1)


def test_sensor_at_rest_reads_plus_g_along_up() -> None:
    kin = _const_kin(50, 100.0)
    out = imu.synthesize_imu(kin, _at("shank_l"), imu.ImuErrorModel.ideal(), 100.0, RNG)
    sig = out.signals["shank_l"]
    np.testing.assert_allclose(sig.specific_force_m_s2, np.tile([0, 0, G], (50, 1)), atol=1e-12)
    np.testing.assert_allclose(sig.angular_rate_rad_s, 0.0, atol=1e-12)
    # tilted sensor (x pointing up): gravity reaction appears on its x axis
    up_x = Rotation.from_euler("y", -90, degrees=True).as_matrix()  # sensor x -> segment z
    np.testing.assert_allclose(up_x @ [1, 0, 0], [0, 0, 1], atol=1e-12)
    sig = imu.synthesize_imu(kin, _at("shank_l", rot=up_x), imu.ImuErrorModel.ideal(), 100.0, RNG)
    np.testing.assert_allclose(sig.signals["shank_l"].specific_force_m_s2[0], [G, 0, 0], atol=1e-12)


def test_pure_rotation_reads_the_rate_in_sensor_frame() -> None:
    omega = np.array([0.3, -1.2, 2.0])
    mount = Rotation.from_euler("zyx", [30, 20, -10], degrees=True).as_matrix()
    kin = _const_kin(100, 100.0, omega_g=omega)
    sig = imu.synthesize_imu(kin, _at("shank_l", rot=mount), imu.ImuErrorModel.ideal(), 100.0, RNG).signals
    r_sensor = kin.rotation["shank_l"] @ mount
    expected = np.einsum("nji,j->ni", r_sensor, omega)
    np.testing.assert_allclose(sig["shank_l"].angular_rate_rad_s, expected, atol=1e-12)
    # a rotation about the sensor position only changes the direction of gravity, not its norm
    np.testing.assert_allclose(np.linalg.norm(sig["shank_l"].specific_force_m_s2, axis=1), G, atol=1e-12)


@pytest.mark.parametrize("radius_m,omega_rad_s", [(0.1, 2.0), (0.25, 6.0), (0.05, 10.0)])
def test_centripetal_omega_squared_r(radius_m: float, omega_rad_s: float) -> None:
    # segment spins about the vertical through its CoM; sensor at radius r along segment x
    kin = _const_kin(200, 200.0, omega_g=[0, 0, omega_rad_s])
    sig = imu.synthesize_imu(kin, _at("shank_l", pos=(radius_m, 0, 0)),
                             imu.ImuErrorModel.ideal(), 200.0, RNG).signals["shank_l"]
    # the sensor frame co-rotates, so the centripetal acceleration is constant: -omega^2 r along x
    np.testing.assert_allclose(sig.specific_force_m_s2[:, 0], -omega_rad_s**2 * radius_m, rtol=1e-12)
    np.testing.assert_allclose(sig.specific_force_m_s2[:, 1], 0.0, atol=1e-12)
    np.testing.assert_allclose(sig.specific_force_m_s2[:, 2], G, rtol=1e-12)


def test_tangential_alpha_cross_r_and_com_acceleration() -> None:
    n, rate = 20, 100.0
    t = np.arange(n) / rate
    alpha = np.array([0.0, 0.0, 4.0])
    a_com = np.array([1.0, -2.0, 0.5])
    kin = SegmentKinematics(t, {"foot_r": np.tile(np.eye(3), (n, 1, 1))}, {"foot_r": np.zeros((n, 3))},
                            {"foot_r": np.tile(a_com, (n, 1))}, {"foot_r": np.zeros((n, 3))},
                            {"foot_r": np.tile(alpha, (n, 1))})
    sig = imu.synthesize_imu(kin, _at("foot_r", pos=(0.2, 0, 0)), imu.ImuErrorModel.ideal(), rate,
                             RNG).signals["foot_r"]
    np.testing.assert_allclose(sig.specific_force_m_s2[0], a_com + np.cross(alpha, [0.2, 0, 0]) + [0, 0, G])


def test_matches_finite_differences_of_sensor_position_on_analytic_motion() -> None:
    kin = imu.oscillating_segments_kinematics(4.0, 1000.0, seed=3)
    model = body.lower_body_model(70.0, 1.70)
    pl = placement.default_placements(model)
    sig = imu.synthesize_imu(kin, pl, imu.ImuErrorModel.ideal(), 1000.0, RNG).signals
    dt = 1e-3
    for seg in ("thigh_l", "shank_r", "foot_l", "pelvis"):
        r = kin.rotation[seg]
        pos = kin.com_position_m[seg] + np.einsum("nij,j->ni", r, pl[seg].position_m)
        acc = np.gradient(np.gradient(pos, dt, axis=0), dt, axis=0)
        rs = r @ pl[seg].sensor_to_segment
        f_num = np.einsum("nji,nj->ni", rs, acc - body.GRAVITY_VECTOR_M_S2)
        err = np.abs(f_num - sig[seg].specific_force_m_s2)[10:-10].max()
        assert err < 0.02, (seg, err)


def test_default_placements_cover_all_segments_and_are_outside_the_com() -> None:
    pl = placement.default_placements(body.lower_body_model(80.0, 1.80, "female"))
    assert tuple(pl) == body.SEGMENTS
    for s, p in pl.items():
        assert 0.01 < np.linalg.norm(p.position_m) < 0.2, s
    # lateral thigh sensors: sensor z (skin normal) points to the segment's lateral side
    assert pl["thigh_l"].sensor_to_segment[1, 2] > 0.99 and pl["thigh_r"].sensor_to_segment[1, 2] < -0.99
    assert pl["pelvis"].sensor_to_segment[0, 2] < -0.99  # sacrum: z posterior


def _walk(rate: float = 100.0, seconds: float = 8.0) -> SegmentKinematics:
    return imu.oscillating_segments_kinematics(seconds, rate, seed=5)


def test_ideal_model_is_deterministic_and_mti3_perturbs_every_effect_separately() -> None:
    kin = _walk()
    pl = placement.default_placements(body.lower_body_model(75.0, 1.75))
    ref = imu.synthesize_imu(kin, pl, imu.ImuErrorModel.ideal(), 100.0, np.random.default_rng(0))
    ideal2 = imu.synthesize_imu(kin, pl, imu.ImuErrorModel.ideal(), 100.0, np.random.default_rng(9))
    np.testing.assert_array_equal(ref.signals["thigh_l"].specific_force_m_s2,
                                  ideal2.signals["thigh_l"].specific_force_m_s2)
    full = imu.ImuErrorModel.mti3()
    effects = {
        "acc_noise_density_m_s2_rthz": ("f", None), "gyro_noise_density_rad_s_rthz": ("w", None),
        "acc_bias_offset_std_m_s2": ("f", None), "gyro_bias_offset_std_rad_s": ("w", None),
        "acc_bias_instability_m_s2": ("f", None), "gyro_bias_instability_rad_s": ("w", None),
        "scale_factor_std": ("fw", None), "misalignment_std_rad": ("fw", None),
        "mounting_rotation_max_rad": ("fw", "rot"), "placement_offset_max_m": ("f", "pos"),
        "sta_scale": ("fw", None), "timestamp_jitter_std_s": ("t", None),
    }
    for name, (what, mount) in effects.items():
        one = imu.ImuErrorModel.ideal().replace(**{name: getattr(full, name)})
        out = imu.synthesize_imu(kin, pl, one, 100.0, np.random.default_rng(0))
        a, b = ref.signals["thigh_l"], out.signals["thigh_l"]
        changed = {"f": not np.array_equal(a.specific_force_m_s2, b.specific_force_m_s2),
                   "w": not np.array_equal(a.angular_rate_rad_s, b.angular_rate_rad_s),
                   "t": not np.array_equal(a.time_s, b.time_s)}
        for key in "fwt":
            assert changed[key] == (key in what), (name, key)
        p0, p1 = pl["thigh_l"], out.placements["thigh_l"]
        assert np.array_equal(p0.sensor_to_segment, p1.sensor_to_segment) == (mount != "rot"), name
        assert np.array_equal(p0.position_m, p1.position_m) == (mount != "pos"), name


def test_mti3_noise_and_offsets_have_datasheet_magnitudes() -> None:
    n, rate = 20000, 100.0
    kin = _const_kin(n, rate)
    noise_only = imu.ImuErrorModel.ideal().replace(
        acc_noise_density_m_s2_rthz=imu.ImuErrorModel.mti3().acc_noise_density_m_s2_rthz,
        gyro_noise_density_rad_s_rthz=imu.ImuErrorModel.mti3().gyro_noise_density_rad_s_rthz)
    out = imu.synthesize_imu(kin, _at("shank_l"), noise_only, rate, np.random.default_rng(2))
    sig = out.signals["shank_l"]
    acc_sd = 120e-6 * G * np.sqrt(rate / 2)
    gyr_sd = np.deg2rad(0.007) * np.sqrt(rate / 2)
    np.testing.assert_allclose(sig.specific_force_m_s2.std(axis=0), acc_sd, rtol=0.05)
    np.testing.assert_allclose(sig.angular_rate_rad_s.std(axis=0), gyr_sd, rtol=0.05)
    m = imu.ImuErrorModel.mti3()
    assert m.acc_range_m_s2 == pytest.approx(16 * G) and m.gyro_range_rad_s == pytest.approx(np.deg2rad(2000))


def test_mounting_and_placement_offsets_stay_within_limits() -> None:
    pl = placement.default_placements(body.lower_body_model(75.0, 1.75))
    e = imu.ImuErrorModel.mti3()
    rng = np.random.default_rng(4)
    for _ in range(50):
        for s, p in pl.items():
            q = imu.perturb_placement(p, e, rng)
            ang = Rotation.from_matrix(q.sensor_to_segment @ p.sensor_to_segment.T).magnitude()
            assert ang <= np.deg2rad(10) + 1e-12, s
            assert np.abs(q.position_m - p.position_m).max() <= 0.03 + 1e-12


def test_saturation_clips_at_range() -> None:
    kin = _const_kin(30, 100.0, omega_g=[0, 0, 50.0], a_com=[300.0, 0, 0])
    e = imu.ImuErrorModel.ideal().replace(acc_range_m_s2=16 * G, gyro_range_rad_s=np.deg2rad(2000))
    sig = imu.synthesize_imu(kin, _at("shank_l"), e, 100.0, RNG).signals["shank_l"]
    assert np.abs(sig.angular_rate_rad_s[:, 2]).max() == pytest.approx(np.deg2rad(2000))
    assert np.abs(sig.specific_force_m_s2).max() == pytest.approx(16 * G)


def test_jittered_stamps_stay_strictly_increasing_and_decimation_picks_samples() -> None:
    kin = _walk(rate=200.0, seconds=4.0)
    pl = placement.default_placements(body.lower_body_model(75.0, 1.75))
    e = imu.ImuErrorModel.ideal().replace(timestamp_jitter_std_s=0.01)
    out = imu.synthesize_imu(kin, pl, e, 100.0, np.random.default_rng(0))
    for sig in out.signals.values():
        assert len(sig.time_s) == 400 and np.all(np.diff(sig.time_s) > 0)
        assert np.abs(sig.time_s - kin.time_s[::2]).max() <= 0.004 + 1e-12
    ideal200 = imu.synthesize_imu(kin, pl, imu.ImuErrorModel.ideal(), 200.0, RNG).signals["foot_l"]
    ideal100 = imu.synthesize_imu(kin, pl, imu.ImuErrorModel.ideal(), 100.0, RNG).signals["foot_l"]
    np.testing.assert_array_equal(ideal100.specific_force_m_s2, ideal200.specific_force_m_s2[::2])


def test_bad_inputs_raise_clear_errors() -> None:
    kin = _const_kin(20, 100.0)
    ok = _at("shank_l")
    with pytest.raises(ValueError, match="unknown segment"):
        placement.SensorPlacement("arm", np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="proper rotation"):
        placement.SensorPlacement("shank_l", np.zeros(3), np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="position_m"):
        placement.SensorPlacement("shank_l", np.array([0.0, np.nan, 0.0]), np.eye(3))
    with pytest.raises(ValueError, match="no kinematics.*thigh_l"):
        imu.synthesize_imu(kin, _at("thigh_l"), imu.ImuErrorModel.ideal(), 100.0, RNG)
    with pytest.raises(ValueError, match="integer"):
        imu.synthesize_imu(kin, ok, imu.ImuErrorModel.ideal(), 30.0, RNG)
    with pytest.raises(ValueError, match="positive"):
        imu.synthesize_imu(kin, ok, imu.ImuErrorModel.ideal(), -100.0, RNG)
    with pytest.raises(ValueError, match="sta_scale"):
        imu.ImuErrorModel(sta_scale=-1.0)
    with pytest.raises(ValueError, match="acc_range"):
        imu.ImuErrorModel(acc_range_m_s2=0.0)
    with pytest.raises(ValueError, match="placements\\['shank_l'\\] is for segment 'shank_r'"):
        imu.synthesize_imu(kin, {"shank_l": placement.SensorPlacement("shank_r", np.zeros(3), np.eye(3))},
                           imu.ImuErrorModel.ideal(), 100.0, RNG)
    with pytest.raises(TypeError, match="ImuErrorModel"):
        imu.synthesize_imu(kin, ok, None, 100.0, RNG)  # type: ignore[arg-type]


def test_heel_strike_transients_only_with_events_and_on_the_struck_side() -> None:
    kin = _walk(rate=200.0, seconds=6.0)
    pl = placement.default_placements(body.lower_body_model(75.0, 1.75))
    e = imu.ImuErrorModel.ideal().replace(impact_scale=1.0)
    ref = imu.synthesize_imu(kin, pl, imu.ImuErrorModel.ideal(), 200.0, np.random.default_rng(0)).signals
    none = imu.synthesize_imu(kin, pl, e, 200.0, np.random.default_rng(0)).signals
    np.testing.assert_array_equal(none["shank_l"].specific_force_m_s2, ref["shank_l"].specific_force_m_s2)
    out = imu.synthesize_imu(kin, pl, e, 200.0, np.random.default_rng(0), heel_strikes_s={"l": [3.0]}).signals
    d_l = np.linalg.norm(out["shank_l"].specific_force_m_s2 - ref["shank_l"].specific_force_m_s2, axis=1)
    t = out["shank_l"].time_s
    assert d_l[(t >= 3.0) & (t < 3.1)].max() > 5.0  # 20 m/s^2 nominal shank transient
    assert d_l[(t < 3.0) | (t > 3.3)].max() < 1e-9  # confined to the decay window
    np.testing.assert_array_equal(out["shank_r"].specific_force_m_s2, ref["shank_r"].specific_force_m_s2)
    assert not np.array_equal(out["pelvis"].specific_force_m_s2, ref["pelvis"].specific_force_m_s2)
    np.testing.assert_array_equal(out["shank_l"].angular_rate_rad_s, ref["shank_l"].angular_rate_rad_s)


def test_standing_prefix_is_still_then_rotates_consistently() -> None:
    kin = _walk(rate=200.0, seconds=4.0)
    full, first = imu.with_standing_prefix(kin, standing_s=1.0, transition_s=0.5)
    assert first == 300 and len(full) == len(kin) + 300
    np.testing.assert_array_equal(full.rotation["thigh_l"][:200], np.tile(np.eye(3), (200, 1, 1)))
    np.testing.assert_array_equal(full.rotation["thigh_l"][first:], kin.rotation["thigh_l"])
    # omega of the transition is the derivative of its rotation (central differences)
    r = full.rotation["shank_r"][199:301]
    d = Rotation.from_matrix(np.einsum("nij,nkj->nik", r[2:], r[:-2])).as_rotvec() / (2 / 200.0)
    np.testing.assert_allclose(d, full.angular_velocity_rad_s["shank_r"][200:300], atol=2e-3)
    with pytest.raises(ValueError, match="transition_s"):
        imu.with_standing_prefix(kin, 1.0, 0.0)
