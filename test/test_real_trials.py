"""Real-motion evaluation trials: building, physics sanity, agreement with OpenSim reference ID, cache,
GRF filtering and speed estimation on analytic cases, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imu_torque_estimator.body import GRAVITY_M_S2, JOINTS, SEGMENTS, opensim_joint_map
from imu_torque_estimator.data import real_trials as rt
from imu_torque_estimator.data.ik import marker_weights
from imu_torque_estimator.motion import FootContact, SegmentKinematics

DATA = (Path(__file__).parents[1] / ".." / "shared" / "data").resolve()
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data folder {DATA} absent")
try:
    import opensim  # noqa: F401

    HAVE_OPENSIM = True
except ImportError:  # pragma: no cover
    HAVE_OPENSIM = False
needs_opensim = pytest.mark.skipif(not HAVE_OPENSIM, reason="opensim package not installed (extra 'data')")


@pytest.fixture(scope="module")
def walk01(tmp_path_factory):
    if not DATA.is_dir() or not HAVE_OPENSIM:
        pytest.skip("needs ../shared/data and opensim")
    cache = tmp_path_factory.mktemp("rt_cache")
    return rt.build_trial("opensim_subject01_walk", DATA, cache), cache


@needs_data
@needs_opensim
@pytest.mark.data
@pytest.mark.opensim
def test_walk_trial_shapes_and_quality(walk01):
    t, _ = walk01
    n = len(t.time_s)
    assert t.mode == "walk" and n > 100
    assert t.moments_nm_per_kg.shape == (n, len(JOINTS)) and t.angles_rad.shape == (n, len(JOINTS))
    assert set(t.kinematics.segments) == set(SEGMENTS) and set(t.contacts) == {"l", "r"}
    assert abs(t.mass_kg - 72.6) < 0.1  # subject01.osim total mass
    assert 0.8 < t.speed_m_s < 1.6  # treadmill walk: pelvis speed minus belt speed
    q = t.quality
    for key in ("residual_force_rms_pct_bw", "residual_moment_rms_pct_bw_h", "steps",
                "peak_abs_moment_nm_per_kg"):
        assert key in q
    assert q["residual_force_rms_pct_bw"] < 10.0  # real data without RRA: a few % BW


@needs_data
@needs_opensim
@pytest.mark.data
@pytest.mark.opensim
def test_walk_trial_matches_opensim_reference_id(walk01):
    """The trial's moments equal OpenSim's reference ID (std_subject01_InverseDynamics.sto), mapped to
    the project's convention, within 0.03 Nm/kg RMS per joint (measured: <= 0.01)."""
    from imu_torque_estimator.data.opensim_io import read_storage

    t, _ = walk01
    ref = read_storage(DATA / "opensim_subject01_walk" / "std_subject01_InverseDynamics.sto")
    jmap = opensim_joint_map(knee_flexion_positive=False)  # gait2354: knee angle negative in flexion
    inside = (t.time_s >= ref.time_s[0]) & (t.time_s <= ref.time_s[-1])
    for coord, (joint, sign) in jmap.items():
        r = sign * np.interp(t.time_s[inside], ref.time_s, ref.column(f"{coord}_moment")) / t.mass_kg
        ours = t.moment(joint)[inside]
        rms = float(np.sqrt(np.mean((ours - r) ** 2)))
        assert rms < 0.03, f"{joint}: RMS {rms:.3f} Nm/kg vs OpenSim reference"


@needs_data
@needs_opensim
@pytest.mark.data
@pytest.mark.opensim
def test_walk_trial_physics(walk01):
    """Sign convention and magnitudes of normal walking: push-off plantarflexor moment (negative
    dorsiflexion moment) of 1-2.5 Nm/kg; mean vertical GRF over whole strides ~ body weight."""
    t, _ = walk01
    for side in ("l", "r"):
        ankle = t.moment(f"ankle_dorsiflexion_{side}")
        assert -2.5 < ankle.min() < -1.0 and ankle.max() < 0.4
    fz = t.contacts["l"].force_n[:, 2] + t.contacts["r"].force_n[:, 2]
    assert abs(fz.mean() / (t.mass_kg * GRAVITY_M_S2) - 1.0) < 0.1


@needs_data
@needs_opensim
@pytest.mark.data
@pytest.mark.opensim
def test_cache_round_trip(walk01, tmp_path):
    t, cache = walk01
    again = rt.build_trial("opensim_subject01_walk", DATA, cache)  # from the cache: no OpenSim work
    assert np.array_equal(again.moments_nm_per_kg, t.moments_nm_per_kg)
    assert again.quality == t.quality and again.speed_m_s == t.speed_m_s
    for s in SEGMENTS:
        assert np.array_equal(again.kinematics.rotation[s], t.kinematics.rotation[s])
    for side in ("l", "r"):
        assert np.array_equal(again.contacts[side].cop_m, t.contacts[side].cop_m)
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="broken.npz"):
        rt.load_trial(bad)


def test_unknown_trial_and_missing_data(tmp_path):
    with pytest.raises(ValueError, match="unknown real trial 'nope'"):
        rt.build_trial("nope", tmp_path, tmp_path)
    with pytest.raises(FileNotFoundError, match="opensim_subject01_walk"):
        rt.build_trial("opensim_subject01_walk", tmp_path / "absent", tmp_path)
    names = rt.list_real_trials()
    assert {"hamner_run_subject04_run500", "opensim_c3d_walking2", "ktk_walk"} <= set(names)


def test_filter_contact_keeps_smooth_loads():
    """A stance with a smooth force, a CoP moving heel -> toe and a free moment: filtering at 12 Hz
    leaves the interior of the stance unchanged (CoP/free moment recomputed from F and M_origin)."""
    fs = 1000.0
    t = np.arange(0, 1.0, 1 / fs)
    stance = (t > 0.2) & (t < 0.8)
    s = np.clip((t - 0.2) / 0.6, 0, 1)
    fz = np.where(stance, 800 * np.sin(np.pi * s), 0.0)
    force = np.column_stack([0.1 * fz, 0.02 * fz, fz])
    cop = np.column_stack([0.1 + 0.25 * s, 0.05 + 0 * s, np.full_like(s, 0.01)])
    free = np.zeros_like(force)
    free[:, 2] = np.where(stance, 5 * np.sin(np.pi * s), 0.0)
    out = rt.filter_contact(FootContact(force, cop, free), fs, 12.0)
    mid = (t > 0.3) & (t < 0.7)
    assert np.allclose(out.force_n[mid], force[mid], rtol=0.01, atol=2.0)
    assert np.allclose(out.cop_m[mid], cop[mid], atol=2e-3)
    assert np.allclose(out.free_moment_nm[mid, 2], free[mid, 2], atol=0.2)
    assert np.all(out.force_n[t < 0.1] == 0) and np.all(out.force_n[t > 0.9] == 0)


def _kin(t: np.ndarray, pelvis_v: float, foot_v: float) -> SegmentKinematics:
    n = len(t)
    eye = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    z = np.zeros((n, 3))
    pos = {s: z.copy() for s in SEGMENTS}
    pos["pelvis"][:, 0] = pelvis_v * t
    for s in ("foot_l", "foot_r"):
        pos[s][:, 0] = foot_v * t
    return SegmentKinematics(t, dict.fromkeys(SEGMENTS, eye), pos, dict.fromkeys(SEGMENTS, z),
                             dict.fromkeys(SEGMENTS, z), dict.fromkeys(SEGMENTS, z))


@pytest.mark.parametrize("pelvis_v, foot_v", [(1.3, 0.0), (0.0, -1.3), (0.4, -0.9)])
def test_walking_speed_overground_and_treadmill(pelvis_v, foot_v):
    t = np.linspace(0, 2, 201)
    f = np.zeros((len(t), 3))
    f[:, 2] = 700.0
    c = FootContact(f, np.zeros_like(f), np.zeros_like(f))
    v = rt.walking_speed_m_s(_kin(t, pelvis_v, foot_v), {"l": c, "r": c}, 70.0)
    assert v == pytest.approx(1.3, abs=1e-9)


def test_marker_weights():
    w = marker_weights(["RASI", "LPSI", "RCAL", "LTOE", "RTH1", "LTB3", "RUA1", "LFAradius", "C7", "RLFC",
                        "LMMAL", "RHJC", "LKJC", "RAJC"])
    assert w["RASI"] == w["RCAL"] == w["LTOE"] == w["RLFC"] == w["LMMAL"] == 10.0
    assert w["RTH1"] == w["LTB3"] == w["C7"] == 1.0
    assert w["RUA1"] == w["LFAradius"] == 0.1
    assert w["RHJC"] == w["LKJC"] == w["RAJC"] == 0.0  # virtual joint centres: scaling only


def test_stances_are_complete_loaded_runs():
    loaded = np.array([1, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 1], dtype=bool)
    # The run at the start and the one reaching the end are incomplete and left out.
    assert rt._stances(loaded) == [(4, 7), (8, 9)]
    assert rt._stances(np.zeros(5, dtype=bool)) == []


@needs_data
@needs_opensim
@pytest.mark.data
@pytest.mark.opensim
@pytest.mark.slow
def test_c3d_walk_trial(tmp_path_factory):
    """C3D walk (scale from joint-centre markers, IK, plate GRF): mass from the stride impulse is that
    of an adult, moments of normal walking, window covers about one stride."""
    cache = tmp_path_factory.mktemp("rt_c3d")
    t = rt.build_trial("opensim_c3d_walking2", DATA, cache)
    assert 50 < t.mass_kg < 90 and 1.2 < t.speed_m_s < 2.0
    assert 0.6 < t.time_s[-1] - t.time_s[0] < 1.2
    assert t.quality["ik_lower_body_rms_m"] < 0.03
    for side in ("l", "r"):
        assert -2.2 < t.moment(f"ankle_dorsiflexion_{side}").min() < -0.7
    fz = t.contacts["l"].force_n[:, 2] + t.contacts["r"].force_n[:, 2]
    assert abs(fz.mean() / (t.mass_kg * GRAVITY_M_S2) - 1.0) < 0.15


@needs_data
@needs_opensim
@pytest.mark.data
@pytest.mark.opensim
@pytest.mark.slow
def test_hamner_run_ik_and_id(tmp_path_factory):
    """Scale + IK of the running trial (minutes: marked slow): IK RMS below 2.5 cm, running moments of
    plausible magnitude (ankle plantarflexor 2-4.5 Nm/kg, knee extensor 2-4.5 Nm/kg). The whole-body
    residual force is large for this generic-model IK without RRA (measured 23.6 % BW RMS at 3 m/s);
    the bound only catches regressions."""
    cache = tmp_path_factory.mktemp("rt_hamner")
    t = rt.build_trial("hamner_run_subject04_run300", DATA, cache)
    q = t.quality
    assert t.mode == "run" and t.speed_m_s == 3.0 and t.mass_kg == pytest.approx(80.47)
    assert q["ik_marker_rms_m"] < 0.025
    assert q["residual_force_rms_pct_bw"] < 30.0
    for side in ("l", "r"):
        assert -4.5 < t.moment(f"ankle_dorsiflexion_{side}").min() < -2.0
        assert -4.5 < t.moment(f"knee_flexion_{side}").min() < -2.0
    fz = t.contacts["l"].force_n[:, 2] + t.contacts["r"].force_n[:, 2]
    assert 2.0 < fz.max() / (t.mass_kg * GRAVITY_M_S2) < 3.5  # running peak vertical GRF
