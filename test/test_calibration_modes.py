"""Calibration modes without a mounting assumption (issue 14): walking, still, file, auto, streaming,
tape-measured lever arms, the calibration file (schema, validation) and the bad inputs of the issue."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from imu_torque_estimator import body
from imu_torque_estimator.kinematics import calibration as C
from imu_torque_estimator.kinematics.placement import SensorPlacement, default_placements
from imu_torque_estimator.sim import imu
from imu_torque_estimator.sim.subjects import Subject
from imu_torque_estimator.sim.trial import simulate_trial

SEGS = body.SEGMENTS
SUBJECT = Subject("T1", "male", 76.0, 1.77, style_seed=3)
DOCS = Path(__file__).resolve().parents[1] / "docs"


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(a @ b.T) - 1) / 2, -1.0, 1.0))))


def _signals(condition: str = "walk_1.2", standing: bool = False, seed: int = 4, strides: int = 8):
    """Segment-frame IMU signals (sensor axes = segment axes, MTi-3 errors) of one simulated trial:
    {segment: (specific force, rate)}. Mounting a sensor at rotation C is then `v @ C`."""
    tr = simulate_trial(
        SUBJECT, condition, n_strides=strides, rate_hz=100.0, imu_errors="ideal", seed=seed, trunk_passes=1
    )
    kin = tr.kinematics
    if standing:
        kin, _ = imu.with_standing_prefix(kin, 2.0, 1.0)
    nominal = default_placements(SUBJECT.model())
    pl = {s: SensorPlacement(s, p.position_m, np.eye(3)) for s, p in nominal.items()}
    err = imu.ImuErrorModel.mti3().replace(mounting_rotation_max_rad=0.0, placement_offset_max_m=0.0)
    sig = imu.synthesize_imu(kin, pl, err, 100.0, np.random.default_rng(seed)).signals
    return {s: (sig[s].specific_force_m_s2, sig[s].angular_rate_rad_s) for s in SEGS}


@pytest.fixture(scope="module")
def walk():
    return _signals()


@pytest.fixture(scope="module")
def stand_walk():
    return _signals(standing=True, seed=5)


@pytest.fixture(scope="module")
def walk_identity(walk):
    return C.calibrate_recording(walk, "walking", rate_hz=100.0)


def _mounted(data: dict, mounts: dict) -> dict:
    return {s: (f @ mounts.get(s, np.eye(3)), w @ mounts.get(s, np.eye(3))) for s, (f, w) in data.items()}


# ---------------------------------------------------------------------------------------- algorithms
def test_walking_mode_recovers_segment_axes_without_standing(walk_identity) -> None:
    res = walk_identity
    assert res.ok and res.mode_used == "walking" and res.gait == "walk"
    for s in SEGS:
        c = res.segments[s]
        assert _angle(c.sensor_to_segment, np.eye(3)) < 8.0, s
        assert c.confidence >= 0.5 and c.decided_by, s
        assert res.strides[s] >= 5, s
        assert not c.gyro_bias_estimated
    assert any("gyroscope bias not estimated" in m for m in res.messages)
    assert res.segments["shank_l"].decided_by == "shank_swing_skew"
    assert res.segments["foot_r"].decided_by == "foot_ipsi_shank"
    assert res.segments["pelvis"].decided_by in ("pelvis_pendulum", "pelvis_sway")


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_walking_calibration_recovers_any_random_mounting(walk, walk_identity, seed) -> None:
    """Property: mount every sensor at a rotation drawn uniformly over SO(3); the calibration must
    follow the mounting exactly (equivariance) and stay within 8 deg of the truth, signs right."""
    rng = np.random.default_rng(seed)
    mounts = {s: Rotation.random(random_state=rng).as_matrix() for s in SEGS}
    res = C.calibrate_recording(_mounted(walk, mounts), "walking", rate_hz=100.0)
    assert res.ok, res.undecided
    for s in SEGS:
        est = res.segments[s].sensor_to_segment
        # the same estimate as for the unrotated sensor, carried by the mounting
        assert _angle(est @ mounts[s].T, walk_identity.segments[s].sensor_to_segment) < 0.5, s
        assert _angle(est, mounts[s]) < 8.0, s


def test_upside_down_sensor_is_just_another_rotation(walk) -> None:
    flip = Rotation.from_euler("x", 180, degrees=True).as_matrix()
    mounts = {
        "shank_l": flip,
        "pelvis": flip,
        "thigh_r": Rotation.from_euler("y", 180, degrees=True).as_matrix(),
    }
    res = C.calibrate_recording(_mounted(walk, mounts), "walking", rate_hz=100.0)
    for s, m in mounts.items():
        assert res.segments[s].decided and _angle(res.segments[s].sensor_to_segment, m) < 8.0, s


def test_still_mode_uses_standing_for_vertical_and_gyro_bias(stand_walk) -> None:
    rng = np.random.default_rng(1)
    mounts = {s: Rotation.random(random_state=rng).as_matrix() for s in SEGS}
    bias = np.array([0.01, -0.02, 0.015])
    mounted = _mounted(stand_walk, mounts)
    data = {s: (f, w + bias) for s, (f, w) in mounted.items()}
    res = C.calibrate_recording(data, "still", rate_hz=100.0)
    win = C.find_still_window(
        np.stack([mounted[s][0] for s in SEGS]), np.stack([mounted[s][1] for s in SEGS]), 100.0
    )
    assert win is not None and win.stop - win.start >= 150
    assert res.ok and res.mode_used == "still" and res.gyro_bias_estimated
    for s in SEGS:
        c = res.segments[s]
        # vertical from standing: exact up to sensor errors
        assert np.degrees(np.arccos(np.clip(c.sensor_to_segment[2] @ mounts[s][2], -1, 1))) < 1.5, s
        assert _angle(c.sensor_to_segment, mounts[s]) < 6.0, s
        # bias = the added offset plus the sensor's own turn-on bias (MTi-3 model, 0.2 deg/s per axis)
        np.testing.assert_allclose(c.gyro_bias_rad_s, bias + mounted[s][1][win].mean(axis=0), atol=1e-3)
        assert np.linalg.norm(mounted[s][1][win].mean(axis=0)) < 0.02
    auto = C.calibrate_recording(data, "auto", rate_hz=100.0)
    assert auto.mode == "auto" and auto.mode_used == "still"
    auto_walk = C.calibrate_recording(_signals(seed=6, strides=6), "auto", rate_hz=100.0)
    assert auto_walk.mode_used == "walking" and auto_walk.ok


def test_running_is_recognised_and_calibrated(walk) -> None:
    res = C.calibrate_recording(_signals("run_3.0", seed=8), "walking", rate_hz=100.0)
    assert res.gait == "run" and res.ok
    for s in SEGS:
        assert _angle(res.segments[s].sensor_to_segment, np.eye(3)) < 12.0, s


def test_rule_vote_decision() -> None:
    from imu_torque_estimator.kinematics.calibration.rules import Vote, decide

    sign, conf, rule, scores = decide([Vote("a", -0.8, 1.0, 0.0), Vote("b", 0.2, 1.0, 0.0)])
    assert sign == -1 and conf == pytest.approx(0.3) and rule == "a" and scores == {"a": 0.8, "b": -0.2}
    assert decide([Vote("a", 1.0, 0.0, 0.0)])[1] == 0.0  # no weight: no decision


# ---------------------------------------------------------------------------------------- bad inputs
def test_no_motion_at_all_cannot_decide(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 1500
    up = {s: Rotation.random(random_state=rng).as_matrix()[2] for s in SEGS}
    data = {
        s: (np.tile(9.81 * up[s], (n, 1)) + rng.normal(0, 0.02, (n, 3)), rng.normal(0, 0.003, (n, 3)))
        for s in SEGS
    }
    for mode in ("walking", "still", "auto"):
        res = C.calibrate_recording(data, mode, rate_hz=100.0)
        assert not res.ok and set(res.undecided) == set(SEGS), mode
        why = res.undecided["shank_l"]
        assert "no walking detected" in why or "walk a few strides" in why, (mode, why)
        with pytest.raises(C.CalibrationError, match="undecided"):
            res.calibrations(body.sensor_set("3imu"))
    # still data alone give the gyro bias, but still no heading
    still = C.calibrate_recording(data, "still", rate_hz=100.0)
    assert still.gyro_bias_estimated
    cal = C.Calibrator(SEGS, 100.0, "auto")
    f = np.stack([data[s][0] for s in SEGS], 1)
    w = np.stack([data[s][1] for s in SEGS], 1)
    assert cal.update_many(f, w) is C.CalibratorState.WAITING
    assert cal.result is None and "waiting for walking" in cal.status()["message"]


def test_one_sensor_missing(walk) -> None:
    data = {s: v for s, v in walk.items() if s != "shank_r"}
    res = C.calibrate_recording(data, "walking", rate_hz=100.0)
    assert "shank_r" not in res.segments
    assert "foot_r" in res.undecided and "shank" in res.undecided["foot_r"]
    assert res.segments["shank_l"].decided and res.segments["pelvis"].decided
    with pytest.raises(C.CalibrationError, match=r"no calibration for segment\(s\) \['shank_r'\]"):
        res.calibrations(body.sensor_set("7imu"))
    # a sensor present but silent for the whole recording (NaN = no samples)
    dead = dict(walk)
    dead["thigh_l"] = (np.full_like(walk["thigh_l"][0], np.nan), np.full_like(walk["thigh_l"][1], np.nan))
    res = C.calibrate_recording(dead, "walking", rate_hz=100.0)
    assert "thigh_l" in res.undecided and "valid" in res.undecided["thigh_l"]
    assert res.segments["shank_l"].decided


@pytest.mark.parametrize("sensor_set", ["3imu", "7imu"])
def test_swapped_left_right_sensors_are_detected(walk, sensor_set) -> None:
    segs = body.sensor_set(sensor_set)
    swap = {
        "shank_l": "shank_r",
        "shank_r": "shank_l",
        "thigh_l": "thigh_r",
        "thigh_r": "thigh_l",
        "foot_l": "foot_r",
        "foot_r": "foot_l",
    }
    data = {s: walk[swap.get(s, s)] for s in segs}
    res = C.calibrate_recording(data, "walking", rate_hz=100.0)
    assert not res.ok and res.checks["left_right_swapped"] == 1.0
    assert any("left/right sensors appear swapped" in m for m in res.messages)
    assert "shank_l" in res.undecided
    # the correctly labelled recording raises no alarm
    ok = C.calibrate_recording({s: walk[s] for s in segs}, "walking", rate_hz=100.0)
    assert ok.ok and "left_right_swapped" not in ok.checks


def test_thigh_and_foot_on_the_wrong_leg_are_flagged(walk) -> None:
    data = dict(walk)
    data["foot_l"], data["foot_r"] = walk["foot_r"], walk["foot_l"]
    res = C.calibrate_recording(data, "walking", rate_hz=100.0)
    assert "foot_l" in res.undecided and "foot_r" in res.undecided
    assert any("foot_l moves like the right leg" in m for m in res.messages)


def test_calibration_file_for_another_sensor_set(tmp_path, walk_identity) -> None:
    path = tmp_path / "cal3.json"
    C.save_calibrations({s: walk_identity.segments[s] for s in body.sensor_set("3imu")}, path)
    with pytest.raises(ValueError, match=r"cal3.json.*sensor set needs.*missing: \['thigh_l'"):
        C.load_calibrations(path, body.sensor_set("7imu"))
    with pytest.raises(ValueError, match="another sensor set"):
        C.get_method("file", path).calibrate(C.Recording.from_segments(walk_identity_data(), 100.0), {})
    assert set(C.load_calibrations(path, body.sensor_set("3imu"))) == set(body.sensor_set("3imu"))


def walk_identity_data() -> dict:
    return {s: (np.zeros((10, 3)), np.zeros((10, 3))) for s in SEGS}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda d: d["segments"]["shank_l"].update(sensor_to_segment=[[1, 0, 0], [0, 1, 0], [0, 0, -1]]),
            "shank_l.*reflection",
        ),
        (
            lambda d: d["segments"]["shank_l"].update(sensor_to_segment=[[1, 0, 0], [0, 2, 0], [0, 0, 1]]),
            "shank_l.*not orthonormal",
        ),
        (lambda d: d["segments"]["shank_l"].update(sensor_to_segment=[[1, 0], [0, 1]]), "shank_l.*shape"),
        (
            lambda d: [d["segments"]["pelvis"].pop(k) for k in ("sensor_position_m", "lever_arm_tape")],
            "pelvis.*missing field 'sensor_position_m' \\(or lever_arm_tape",
        ),
        (lambda d: d["segments"].update(arm=d["segments"]["pelvis"]), r"unknown segment\(s\) \['arm'\]"),
        (lambda d: d.update(version=7), "version 7 is not supported"),
        (lambda d: d["segments"]["pelvis"].update(status="maybe"), "status"),
    ],
)
def test_bad_calibration_files_give_clear_errors(tmp_path, walk_identity, mutate, message) -> None:
    d = json.loads(json.dumps(walk_identity.to_dict()))
    mutate(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=message):
        C.load_calibrations(path)


# ---------------------------------------------------------------------------------------- file and schema
def test_file_round_trip_keeps_confidence_and_rules(tmp_path, walk_identity) -> None:
    path = tmp_path / "cal.json"
    C.save_calibrations(walk_identity, path)
    back = C.load_calibration_result(path, SEGS)
    assert back.mode_used == "file" and back.messages == walk_identity.messages
    for s in SEGS:
        a, b = walk_identity.segments[s], back.segments[s]
        np.testing.assert_array_equal(a.sensor_to_segment, b.sensor_to_segment)
        assert (a.confidence, a.decided_by, a.votes, a.status) == (
            b.confidence,
            b.decided_by,
            b.votes,
            b.status,
        )
    res = C.calibrate_recording(C.Recording.from_segments(walk_identity_data(), 100.0), "file", file=path)
    assert res.ok and res.mode_used == "file"
    # version-1 files (what earlier releases wrote) still load
    v1 = {
        "version": 1,
        "segments": {
            "pelvis": {
                "segment": "pelvis",
                "sensor_to_segment": np.eye(3).tolist(),
                "sensor_position_m": [0.0, 0.0, 0.1],
                "gyro_bias_rad_s": [0, 0, 0],
                "method": "config",
                "quality": {},
            }
        },
    }
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    c = C.load_calibrations(tmp_path / "v1.json")["pelvis"]
    assert c.decided and c.confidence == 1.0


def test_json_schema_accepts_written_files_and_rejects_bad_ones(tmp_path, walk_identity) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((DOCS / "calibration.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    assert not list(v.iter_errors(json.loads(json.dumps(walk_identity.to_dict()))))
    v1 = {
        "version": 1,
        "segments": {
            "foot_l": {
                "segment": "foot_l",
                "sensor_to_segment": np.eye(3).tolist(),
                "sensor_position_m": [0.0, 0.0, 0.1],
                "method": "config",
            }
        },
    }
    assert not list(v.iter_errors(v1))
    bad = json.loads(json.dumps(walk_identity.to_dict()))
    bad["segments"]["elbow"] = bad["segments"].pop("pelvis")
    assert list(v.iter_errors(bad))
    bad = json.loads(json.dumps(walk_identity.to_dict()))
    bad["segments"]["pelvis"]["sensor_to_segment"] = [[1, 0, 0], [0, 1, 0]]
    assert list(v.iter_errors(bad))
    # the schema names the same segments and statuses as the code
    seg_schema = schema["properties"]["segments"]
    assert sorted(seg_schema["propertyNames"]["enum"]) == sorted(body.SEGMENTS)
    assert schema["$defs"]["calibration"]["properties"]["status"]["enum"] == list(C.model.STATUSES)


# ---------------------------------------------------------------------------------------- streaming
def test_streaming_calibrator_converges_within_a_few_strides(walk) -> None:
    rng = np.random.default_rng(3)
    mounts = {s: Rotation.random(random_state=rng).as_matrix() for s in SEGS}
    data = _mounted(walk, mounts)
    f = np.stack([data[s][0] for s in SEGS], 1)
    w = np.stack([data[s][1] for s in SEGS], 1)
    # shank_r drops out for 1.5 s during calibration: the others go on, no restart needed
    f[150:300, SEGS.index("shank_r")] = np.nan
    w[150:300, SEGS.index("shank_r")] = np.nan
    cal = C.Calibrator(SEGS, 100.0, "walking")
    states = []
    for k in range(f.shape[0]):
        states.append(cal.update(f[k], w[k]))
        if states[-1] is C.CalibratorState.CALIBRATED:
            break
    assert cal.state is C.CalibratorState.CALIBRATED, cal.status()
    assert C.CalibratorState.COLLECTING in states
    assert k / 100.0 < 8.0  # about 6 strides of 1.1 s at most
    st_ = cal.status()
    assert st_["mode_used"] == "walking" and not st_["undecided"] and min(st_["strides"].values()) >= 3
    for s in SEGS:
        assert _angle(cal.result.segments[s].sensor_to_segment, mounts[s]) < 10.0, s
    # per-sensor recalibration keeps the others
    kept = {s: cal.result.segments[s] for s in SEGS}
    cal.recalibrate(["shank_l"])
    assert cal.state is C.CalibratorState.WAITING
    cal.update_many(f, w)
    assert cal.state is C.CalibratorState.CALIBRATED
    for s in SEGS:
        if s != "shank_l":
            assert cal.result.segments[s] is kept[s]
    with pytest.raises(ValueError, match="unknown segment"):
        cal.recalibrate(["arm"])
    with pytest.raises(ValueError, match=r"\(N, 7, 3\)"):
        cal.update_many(f[:, :3], w[:, :3])


def test_streaming_still_mode_waits_for_standing_and_file_mode_is_immediate(
    stand_walk, tmp_path, walk_identity
) -> None:
    f = np.stack([stand_walk[s][0] for s in SEGS], 1)
    w = np.stack([stand_walk[s][1] for s in SEGS], 1)
    cal = C.Calibrator(SEGS, 100.0, "still")
    assert cal.status()["message"].startswith("waiting for still standing")
    cal.update_many(f, w)
    assert cal.state is C.CalibratorState.CALIBRATED and cal.result.mode_used == "still"
    assert cal.result.gyro_bias_estimated
    path = tmp_path / "c.json"
    C.save_calibrations(walk_identity, path)
    fc = C.Calibrator(SEGS, 100.0, "file", file=path)
    assert fc.state is C.CalibratorState.CALIBRATED and fc.result.mode_used == "file"
    with pytest.raises(ValueError, match="unknown calibration mode 'magic'.*auto"):
        C.Calibrator(SEGS, 100.0, "magic")
    with pytest.raises(ValueError, match="needs a calibration file"):
        C.Calibrator(SEGS, 100.0, "file")


# ---------------------------------------------------------------------------------------- lever arms
def test_tape_lever_arm_matches_the_internal_convention() -> None:
    model = SUBJECT.model()
    nominal = default_placements(model)
    # nominal thigh site: lateral mid-thigh, 4.3 % of stature out from the femur axis
    tape = C.TapeLeverArm.from_internal("thigh_r", nominal["thigh_r"].position_m, model)
    assert tape.along_m == pytest.approx(0.5 * model.segments["thigh_r"].length_m)
    assert tape.lateral_m == pytest.approx(0.043 * model.height_m) and tape.anterior_m == pytest.approx(0.0)
    np.testing.assert_allclose(tape.to_internal(model), nominal["thigh_r"].position_m, atol=1e-12)
    # a shank sensor 15 cm below the knee, 4 cm in front: internal = that point minus the shank CoM
    t = C.TapeLeverArm("shank_l", along_m=0.15, anterior_m=0.04)
    com = model.segments["shank_l"].com_from_proximal_m
    np.testing.assert_allclose(t.to_internal(model), [0.04, 0.0, -0.15 + com])
    arms, _notes = C.resolve_lever_arms(
        ("shank_l", "foot_l"), {"shank_l": {"along_m": 0.15, "anterior_m": 0.04}}, model
    )
    np.testing.assert_allclose(arms["shank_l"], t.to_internal(model))
    np.testing.assert_allclose(arms["foot_l"], nominal["foot_l"].position_m)
    with pytest.raises(ValueError, match="along_m, anterior_m, lateral_m"):
        C.resolve_lever_arms(("shank_l",), {"shank_l": {"length": 0.1}}, model)
    with pytest.raises(ValueError, match="metres"):
        C.TapeLeverArm("shank_l", along_m=15.0)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SEGS), st.floats(-0.6, 0.6), st.floats(-0.2, 0.2), st.floats(-0.2, 0.2))
def test_tape_lever_arm_round_trip(segment, along, anterior, lateral) -> None:
    model = SUBJECT.model()
    t = C.TapeLeverArm(segment, along, anterior, lateral)
    back = C.TapeLeverArm.from_internal(segment, t.to_internal(model), model)
    assert back.along_m == pytest.approx(along, abs=1e-12)
    assert back.anterior_m == pytest.approx(anterior, abs=1e-12)
    assert back.lateral_m == pytest.approx(lateral, abs=1e-12)
    # "outward" is +y on the left and for the pelvis, -y on the right
    y = t.from_joint_m()[1]
    assert y == pytest.approx(-lateral if segment.endswith("_r") else lateral)


# ---------------------------------------------------------------------------------------- real data
DATA = (Path(__file__).parents[1] / ".." / "shared" / "data").resolve()


@pytest.mark.data
@pytest.mark.skipif(
    not (DATA / "opensense_xsens_walk").is_dir(), reason="../shared/data/opensense_xsens_walk not available"
)
def test_real_xsens_walk_walking_mode_converges_and_halves_agree() -> None:
    from imu_torque_estimator.data.xsens_text import read_xsens_trial

    sig = read_xsens_trial(DATA / "opensense_xsens_walk")
    n = min(len(sig[s].time_s) for s in SEGS)
    f = np.stack([sig[s].specific_force_m_s2[:n] for s in SEGS])
    w = np.stack([sig[s].angular_rate_rad_s[:n] for s in SEGS])
    ok = np.all(np.isfinite(f), axis=(0, 2)) & np.all(np.isfinite(w), axis=(0, 2))
    f, w = f[:, ok], w[:, ok]
    rec = C.Recording(SEGS, f, w, 100.0)
    win = C.find_still_window(f, w, 100.0)
    walk = rec.window(slice(win.stop + 50, None))
    whole = C.calibrate_recording(walk, "walking")
    assert whole.ok, whole.undecided
    half = walk.n_samples // 2
    a = C.calibrate_recording(walk.window(slice(None, half + 150)), "walking")
    b = C.calibrate_recording(walk.window(slice(half - 150, None)), "walking")
    for s in ("thigh_r", "shank_l", "shank_r", "foot_l", "foot_r"):
        assert a.segments[s].decided and b.segments[s].decided, s
        assert _angle(a.segments[s].sensor_to_segment, b.segments[s].sensor_to_segment) < 10.0, s
    # with the standing at the start, auto uses it and agrees with walking-only on every leg segment
    auto = C.calibrate_recording(rec, "auto")
    assert auto.mode_used == "still" and auto.ok
    for s in SEGS:
        assert _angle(auto.segments[s].sensor_to_segment, whole.segments[s].sensor_to_segment) < 10.0, s


def test_calibration_file_lever_arm_as_tape_measurement(tmp_path) -> None:
    model = SUBJECT.model()
    entry = {"sensor_to_segment": np.eye(3).tolist(), "lever_arm_tape": {"along_m": 0.15, "anterior_m": 0.04}}
    d = {
        "version": 2,
        "body": {"height_m": SUBJECT.height_m, "mass_kg": SUBJECT.mass_kg},
        "segments": {"shank_l": entry},
    }
    path = tmp_path / "tape.json"
    path.write_text(json.dumps(d))
    c = C.load_calibrations(path)["shank_l"]
    np.testing.assert_allclose(c.sensor_position_m, C.TapeLeverArm("shank_l", 0.15, 0.04).to_internal(model))
    d["segments"]["shank_l"]["sensor_position_m"] = [0.0, 0.0, 0.0]
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="shank_l.*disagree"):
        C.load_calibrations(path)
    del d["body"]
    del d["segments"]["shank_l"]["sensor_position_m"]
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="lever_arm_tape needs the file's 'body'"):
        C.load_calibrations(path)


def test_written_file_gives_lever_arms_both_ways(tmp_path, walk) -> None:
    res = C.calibrate_recording(walk, "walking", rate_hz=100.0, body=SUBJECT.model())
    d = res.to_dict()
    assert d["body"]["height_m"] == SUBJECT.height_m
    tape = d["segments"]["thigh_l"]["lever_arm_tape"]
    # nominal thigh site: half-way down the thigh, on its lateral side
    assert tape["along_m"] == pytest.approx(0.5 * SUBJECT.model().segments["thigh_l"].length_m)
    path = tmp_path / "c.json"
    C.save_calibrations(res, path)
    back = C.load_calibrations(path)  # both given: they agree
    np.testing.assert_allclose(back["thigh_l"].sensor_position_m, res.segments["thigh_l"].sensor_position_m)


def test_hand_written_example_of_the_docs_loads_and_validates() -> None:
    """The minimal file shown in docs/calibration.md is valid (schema and loader) and means what the
    text says: the shank sensor's +z points forward and its +x down."""
    text = (DOCS / "calibration.md").read_text()
    block = text.split("Minimal hand-written file:\n\n```json\n", 1)[1].split("```", 1)[0]
    d = json.loads(block)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(d, json.loads((DOCS / "calibration.schema.json").read_text()))
    cals = C.calibrations_from_dict(d, body.sensor_set("3imu"))
    c = cals["shank_l"].sensor_to_segment
    np.testing.assert_allclose(c @ [0.0, 0.0, 1.0], [1.0, 0.0, 0.0])  # sensor +z -> segment forward
    np.testing.assert_allclose(c @ [1.0, 0.0, 0.0], [0.0, 0.0, -1.0])  # sensor +x -> down
    model = body.lower_body_model(76.0, 1.77)
    np.testing.assert_allclose(cals["shank_l"].sensor_position_m,
                               C.TapeLeverArm("shank_l", 0.20, 0.04).to_internal(model))
