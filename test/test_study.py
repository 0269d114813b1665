"""Comparison study pieces: IMU-driven ID physics, resampling, heading alignment, metrics plumbing."""

from __future__ import annotations

import functools
import operator
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from imu_torque_estimator.body import JOINTS, SEGMENTS, SIDES, lower_body_model
from imu_torque_estimator.dynamics import SegmentInertials
from imu_torque_estimator.evaluation import imu_id as I
from imu_torque_estimator.evaluation import study as S
from imu_torque_estimator.motion import SegmentKinematics

ROOT = Path(__file__).parents[1]
DATA = (ROOT / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="module")
def sim_trial():
    """One short simulated walking trial with full truth (2 strides, 100 Hz, MTi-3 errors)."""
    from imu_torque_estimator.sim.subjects import get_preset, sample_subjects
    from imu_torque_estimator.sim.trial import simulate_trial

    subj = sample_subjects(1, np.random.default_rng(3))[0]
    cond = next(c for c in get_preset("paper12").conditions if c.mode == "walk")
    return simulate_trial(subj, cond, 2, 100.0, "mti3", 11, trial_id="t0")


def _model(trial):
    m = trial.meta
    return lower_body_model(float(m["mass_kg"]), float(m["height_m"]), m["sex"])


def test_id_on_true_kinematics_reproduces_simulated_moments(sim_trial):
    """Physics check: Newton-Euler ID of the truth with the subject's de Leva inertials gives the
    simulator's moments, and so does IMU-ID fed with the true kinematics (chain rebuilt from the
    ankles with the model geometry, CoP re-expressed through the foot frame)."""
    model = _model(sim_trial)
    inert = SegmentInertials.from_model(model)
    kin, mass = sim_trial.kinematics, float(sim_trial.meta["mass_kg"])
    truth = sim_trial.moments_nm_per_kg[:, :len(JOINTS)]
    direct = I.sagittal_id_nm_per_kg(kin, inert, sim_trial.contacts, mass)
    np.testing.assert_allclose(direct, truth, atol=1e-6)
    via_chain = I.imu_id_nm_per_kg(kin, I.geometry_from_model(model), inert, sim_trial.contacts, kin, mass)
    np.testing.assert_allclose(via_chain, truth, atol=1e-6)


def test_chain_rebuild_and_measured_geometry_match_the_model(sim_trial):
    model = _model(sim_trial)
    kin = sim_trial.kinematics
    g_model, g_meas = I.geometry_from_model(model), I.geometry_from_kinematics(kin)
    for side in SIDES:
        np.testing.assert_allclose(g_meas.knee_from_ankle[side], g_model.knee_from_ankle[side], atol=1e-9)
        np.testing.assert_allclose(g_meas.hip_from_knee[side], g_model.hip_from_knee[side], atol=1e-9)
    chain = I.chain_kinematics(kin, g_model, {s: kin.joint_position_m[f"ankle_{s}"] for s in SIDES})
    for j, p in chain.joint_position_m.items():
        np.testing.assert_allclose(p, kin.joint_position_m[j], atol=1e-9, err_msg=j)
    for s in SEGMENTS:
        if s != "pelvis":
            np.testing.assert_allclose(chain.com_position_m[s], kin.com_position_m[s], atol=1e-9, err_msg=s)


def test_imu_id_from_the_trials_own_imus_is_finite_and_close_at_the_ankle(sim_trial):
    """End to end on the simulated IMUs: the ankle (nearest the measured GRF) is accurate."""
    from imu_torque_estimator import kinematics as K
    from imu_torque_estimator.model.dataset import trial_calibration

    tr = sim_trial
    imu = (tr.imu_specific_force_m_s2, tr.imu_angular_rate_rad_s)
    est = K.estimate_kinematics(imu, SEGMENTS, 100.0, trial_calibration(tr)).to_segment_kinematics(tr.time_s)
    est, _ = I.align_headings(est, tr.kinematics)
    model = _model(tr)
    pred = I.imu_id_nm_per_kg(est, I.geometry_from_model(model), SegmentInertials.from_model(model),
                              tr.contacts, tr.kinematics, float(tr.meta["mass_kg"]))[50:]
    e = S.joint_kind_rmse(pred, tr.moments_nm_per_kg[50:, :6])
    assert np.isfinite(pred).all()
    assert e["ankle"] < 0.1, e


def test_align_headings_removes_a_constant_yaw(sim_trial):
    kin = sim_trial.kinematics
    rz = Rotation.from_euler("z", 30, degrees=True).as_matrix()
    turned = SegmentKinematics(kin.time_s, {s: rz @ r for s, r in kin.rotation.items()},
                               {s: v @ rz.T for s, v in kin.com_position_m.items()},
                               {s: v @ rz.T for s, v in kin.com_acceleration_m_s2.items()},
                               {s: v @ rz.T for s, v in kin.angular_velocity_rad_s.items()},
                               {s: v @ rz.T for s, v in kin.angular_acceleration_rad_s2.items()})
    back, deg = I.align_headings(turned, kin)
    assert all(abs(d + 30.0) < 1e-6 for d in deg.values()), deg
    for s in kin.segments:
        np.testing.assert_allclose(back.rotation[s], kin.rotation[s], atol=1e-9)
        np.testing.assert_allclose(back.com_acceleration_m_s2[s], kin.com_acceleration_m_s2[s], atol=1e-9)


def _spin(time_s: np.ndarray, rate_rad_s: float = 2.0) -> SegmentKinematics:
    """Every segment rotating about ground y at a constant rate, CoM on a parabola (analytic)."""
    n = len(time_s)
    rot = Rotation.from_rotvec(np.outer(rate_rad_s * time_s, [0.0, 1.0, 0.0])).as_matrix()
    com = np.column_stack([time_s**2, np.zeros(n), np.ones(n)])
    acc = np.tile([2.0, 0.0, 0.0], (n, 1))
    om = np.tile([0.0, rate_rad_s, 0.0], (n, 1))
    return SegmentKinematics(time_s, dict.fromkeys(SEGMENTS, rot), dict.fromkeys(SEGMENTS, com),
                             dict.fromkeys(SEGMENTS, acc), dict.fromkeys(SEGMENTS, om),
                             {s: np.zeros((n, 3)) for s in SEGMENTS})


def test_resample_kinematics_is_exact_for_analytic_motion():
    src = _spin(np.arange(0, 1.0001, 1 / 60))
    t = np.arange(0, 1.0, 0.01)
    out = S.resample_kinematics(src, t)
    ref = _spin(t)
    for s in SEGMENTS:
        np.testing.assert_allclose(out.rotation[s], ref.rotation[s], atol=1e-9)
        np.testing.assert_allclose(out.com_position_m[s], ref.com_position_m[s], atol=1e-9)
    with pytest.raises(ValueError, match="time range"):
        S.resample_kinematics(src, np.array([0.0, 2.0]))


def test_metrics_plumbing_known_values():
    true = np.zeros((100, 6))
    pred = np.zeros((100, 6))
    pred[:, JOINTS.index("hip_flexion_l")] = 0.3
    pred[:, JOINTS.index("ankle_dorsiflexion_r")] = 0.1
    e = S.joint_kind_rmse(pred, true)
    assert e["hip"] == pytest.approx(np.sqrt(0.3**2 / 2))
    assert e["ankle"] == pytest.approx(np.sqrt(0.1**2 / 2))
    assert e["knee"] == 0.0
    assert e["hip_minus_ankle"] == pytest.approx(e["hip"] - e["ankle"])
    cases = [S.CaseResult("a", {"mode": "walk"}, np.arange(100), true, {"m": pred}),
             S.CaseResult("b", {"mode": "run"}, np.arange(100), true, {"m": true})]
    p = S.pooled(cases, lambda m: m["mode"])
    assert p["m"]["run"]["hip_flexion_l"]["rmse_nm_per_kg"] == 0.0
    assert p["m"]["all"]["hip_flexion_l"]["rmse_nm_per_kg"] == pytest.approx(np.sqrt(0.09 / 2))
    assert S.ankle_to_hip(cases)["m"]["hip"] == pytest.approx(np.sqrt(0.09 / 4))


def test_bad_inputs_raise_clear_errors(sim_trial):
    kin = sim_trial.kinematics
    inert = SegmentInertials.from_model(_model(sim_trial))
    with pytest.raises(ValueError, match="body mass"):
        I.sagittal_id_nm_per_kg(kin, inert, sim_trial.contacts, 0.0)
    with pytest.raises(ValueError, match="ankle_m"):
        I.chain_kinematics(kin, I.geometry_from_model(_model(sim_trial)), {"l": np.zeros((3, 3)),
                                                                            "r": np.zeros((3, 3))})
    no_joints = SegmentKinematics(kin.time_s, kin.rotation, kin.com_position_m, kin.com_acceleration_m_s2,
                                  kin.angular_velocity_rad_s, kin.angular_acceleration_rad_s2)
    with pytest.raises(ValueError, match="joint centre"):
        I.geometry_from_kinematics(no_joints)


def _real_cache_ok(name: str) -> bool:
    from imu_torque_estimator.data.real_trials import CACHE_VERSION, default_cache_dir

    return (default_cache_dir() / f"{name}.v{CACHE_VERSION}.npz").is_file()


@pytest.mark.data
@pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data folder {DATA} absent")
@pytest.mark.skipif(not (ROOT / "models" / "7imu").is_dir(), reason="shipped models absent")
def test_real_trial_case_runs_all_methods_on_the_same_samples():
    name = "opensim_c3d_walking5"
    if not _real_cache_ok(name):
        pytest.skip(f"real trial {name} not built in the cache (imu-torque real-trials)")
    from imu_torque_estimator.data.real_trials import build_trial
    from imu_torque_estimator.model.bundle import load_bundle

    bundles = {s: load_bundle(ROOT / "models" / s) for s in ("7imu", "3imu")}
    c = S.real_trial_case(build_trial(name), bundles)
    assert set(c.pred) >= {"rnn_7imu", "rnn_3imu", "imu_id", "imu_id_true_orientation", "id_true_kinematics"}
    for k, p in c.pred.items():
        assert p.shape == c.true.shape, k
        assert np.isfinite(p).all(), k
    e = S.ankle_to_hip([c])
    assert e["imu_id"]["ankle"] < 0.1  # the GRF term dominates the ankle moment
    assert e["id_true_kinematics"]["hip"] < 0.3  # de Leva vs OpenSim inertials only


def test_subject_folds_partition_all_subjects_once():
    from imu_torque_estimator.evaluation.cv import subject_folds

    subs = [f"S{i:03d}" for i in range(10)]
    folds = subject_folds(subs, 3, seed=1)
    assert sorted(functools.reduce(operator.iadd, folds, [])) == subs
    assert sorted(len(f) for f in folds) == [3, 3, 4]
    assert folds == subject_folds(subs, 3, seed=1)
    with pytest.raises(ValueError, match="n_folds"):
        subject_folds(subs, 1)
    with pytest.raises(ValueError, match="n_folds"):
        subject_folds(subs[:2], 3)
