"""Tests of pipeline/sources/ and sim/recording.py: pacing/stamping of recorded sources,
sim/replay/xsens adapters, registry."""

from __future__ import annotations

import time

import numpy as np
import pytest

from imu_torque_estimator.body import JOINTS, SEGMENTS
from imu_torque_estimator.data.imu_csv import write_imu_csv
from imu_torque_estimator.kinematics.placement import default_placements
from imu_torque_estimator.motion import ImuSignals
from imu_torque_estimator.pipeline.sources import (
    RecordedSource,
    SourceConfig,
    create_source,
    register_source,
    source_names,
)
from imu_torque_estimator.pipeline.sources.replay import ReplaySource
from imu_torque_estimator.pipeline.sources.sim import SimSource
from imu_torque_estimator.pipeline.sources.xsens import XsensSource
from imu_torque_estimator.sim import imu as sim_imu
from imu_torque_estimator.sim.recording import SimRecording

S = 1_000_000_000
RATE = 100.0
P = 10_000_000


def ramp_source(n: int = 50, loop: bool = True, anchor: int = 0, jitter_ns: int = 0) -> RecordedSource:
    t = np.arange(n) / RATE + jitter_ns / S * (np.arange(n) % 2)
    f = np.column_stack([np.arange(n), np.zeros(n), np.full(n, 9.81)])
    return RecordedSource("pelvis", RATE, t, f, np.zeros((n, 3)), loop=loop, start_stamp_ns=anchor)


def test_poll_returns_due_samples_with_recording_stamps():
    src = ramp_source(anchor=1000 * S)
    src.start(1000 * S - 5 * S)  # started before the anchor: waits
    assert src.poll(1000 * S - 1) == []
    out = src.poll(1000 * S + 45_000_000)
    assert [s.stamp_ns for s in out] == [1000 * S + k * P for k in range(5)]
    assert [s.specific_force_m_s2[0] for s in out] == [0, 1, 2, 3, 4]
    assert src.poll(1000 * S + 45_000_000) == []


def test_looping_keeps_stamps_on_the_grid_and_restarts_the_recording():
    src = ramp_source(n=50, anchor=1000 * S)
    assert src.loop_len_ns == 50 * P
    src.start(1000 * S)
    out = src.poll(1000 * S + 120 * P)
    stamps = np.array([s.stamp_ns for s in out])
    assert np.all(np.diff(stamps) == P) and len(out) == 121
    assert [s.specific_force_m_s2[0] for s in out[48:53]] == [48, 49, 0, 1, 2]
    assert src.loops == 2


def test_jittered_recording_loops_on_whole_periods():
    src = ramp_source(n=50, anchor=1000 * S, jitter_ns=3_000_000)
    assert src.loop_len_ns == 50 * P


def test_epoch_anchor_gives_every_driver_the_same_sample_for_a_stamp():
    """Two drivers of one recording started 1.234 s apart publish identical (stamp, sample) pairs."""
    now = 1_795_000_000 * S + 123_456_789
    a, b = ramp_source(), ramp_source()
    a.start(now)
    b.start(now + 1_234_000_000)
    pa = {s.stamp_ns: s.specific_force_m_s2[0] for s in a.poll(now + 3 * S)}
    pb = {s.stamp_ns: s.specific_force_m_s2[0] for s in b.poll(now + 3 * S)}
    common = set(pa) & set(pb)
    assert len(common) > 150 and all(pa[t] == pb[t] for t in common)
    assert all(t % P == 0 for t in pa)
    assert min(pa) <= now + P  # looping epoch mode starts at once, mid-cycle


def test_non_looping_epoch_source_waits_for_the_cycle_start_and_plays_once():
    now = 1_795_000_000 * S + 123_456_789
    src = ramp_source(loop=False)
    src.start(now)
    out = src.poll(now + 10 * S)
    assert len(out) == 50 and out[0].stamp_ns % src.loop_len_ns == 0 and out[0].stamp_ns >= now
    assert [s.specific_force_m_s2[0] for s in out] == list(range(50))
    assert src.finished and src.poll(now + 20 * S) == []


def test_recorded_source_rejects_bad_recordings():
    with pytest.raises(ValueError, match="strictly increase"):
        RecordedSource("pelvis", RATE, np.array([0.0, 0.01, 0.01]), np.zeros((3, 3)), np.zeros((3, 3)), True)
    with pytest.raises(ValueError, match="at least 2 samples"):
        RecordedSource("pelvis", RATE, np.array([0.0]), np.zeros((1, 3)), np.zeros((1, 3)), True)
    with pytest.raises(RuntimeError, match="before start"):
        ramp_source().poll(0)


# ------------------------------------------------------------------------------------------ sim
@pytest.fixture(scope="module")
def recording() -> SimRecording:
    """A small sim recording from H5's analytic gait-like motion (no gait model needed here)."""
    rate = 100.0
    kin = sim_imu.oscillating_segments_kinematics(4.0, rate, seed=3)
    model = __import__("imu_torque_estimator.body", fromlist=["x"]).lower_body_model(70.0, 1.7, "male")
    synth = sim_imu.synthesize_imu(kin, default_placements(model), sim_imu.ImuErrorModel.mti3(), rate,
                                   np.random.default_rng(0))
    moments = np.column_stack([np.sin(kin.time_s + j) for j in range(6)])
    return SimRecording(synth.signals, kin.time_s, moments, 70.0)


def test_sim_source_publishes_its_segment_and_the_truth_in_newton_metres(recording):
    cfg = SourceConfig("shank_l", RATE, start_stamp_ns=2000 * S, loop=False)
    src = SimSource(cfg, recording)
    src.start(2000 * S)
    out = src.poll(2000 * S + 10 * S)
    sig = recording.signals["shank_l"]
    assert len(out) == sig.time_s.size and src.finished
    np.testing.assert_array_equal(np.stack([s.specific_force_m_s2 for s in out]), sig.specific_force_m_s2)
    np.testing.assert_array_equal(np.stack([s.angular_rate_rad_s for s in out]), sig.angular_rate_rad_s)
    stamps = np.array([s.stamp_ns for s in out])
    np.testing.assert_allclose((stamps - 2000 * S) / S, sig.time_s - recording.time_s[0], atol=1e-9)
    truth_stamps = np.array([s.truth_stamp_ns for s in out])
    assert np.all(truth_stamps % P == 0)  # truth at the exact sample instants (IMU stamps are jittered)
    truth = np.stack([s.joint_torques_nm for s in out])
    np.testing.assert_allclose(truth, recording.moments_nm_per_kg * 70.0)
    assert src.truth_joints == JOINTS


def test_sim_source_rejects_a_segment_that_was_not_synthesised(recording):
    rec = SimRecording({"pelvis": recording.signals["pelvis"]}, recording.time_s,
                       recording.moments_nm_per_kg, 70.0)
    with pytest.raises(ValueError, match="foot_r"):
        SimSource(SourceConfig("foot_r", RATE), rec)


def test_source_config_validates_segment_and_rate():
    with pytest.raises(ValueError, match="unknown segment 'arm'"):
        SourceConfig("arm")
    with pytest.raises(ValueError, match="rate_hz"):
        SourceConfig("pelvis", rate_hz=-1.0)


# --------------------------------------------------------------------------------------- replay
def test_replay_csv_round_trip(tmp_path, recording):
    sigs = {s: ImuSignals(np.arange(300) / RATE, recording.signals[s].specific_force_m_s2[:300],
                          recording.signals[s].angular_rate_rad_s[:300]) for s in ("pelvis", "shank_r")}
    path = write_imu_csv(tmp_path / "rec.csv", sigs)
    src = create_source("replay", SourceConfig("shank_r", RATE, file=str(path), start_stamp_ns=5 * S,
                                               loop=False))
    src.start(5 * S)
    out = src.poll(100 * S)
    assert len(out) == 300
    f = np.stack([s.specific_force_m_s2 for s in out])
    np.testing.assert_allclose(f, sigs["shank_r"].specific_force_m_s2)
    assert out[0].stamp_ns == 5 * S and out[-1].stamp_ns == 5 * S + 299 * P


def test_replay_errors_name_the_problem(tmp_path, recording):
    with pytest.raises(ValueError, match="needs the 'file' parameter"):
        ReplaySource(SourceConfig("pelvis"))
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        ReplaySource(SourceConfig("pelvis", file=str(tmp_path / "nope.csv")))
    sig = ImuSignals(np.arange(100) / RATE, np.zeros((100, 3)), np.zeros((100, 3)))
    path = write_imu_csv(tmp_path / "p.csv", {"pelvis": sig})
    with pytest.raises(ValueError, match="no samples for segment 'foot_l'"):
        ReplaySource(SourceConfig("foot_l", file=str(path)))
    with pytest.raises(ValueError, match="does not match rate_hz=200"):
        ReplaySource(SourceConfig("pelvis", 200.0, file=str(path)))


DATA = __import__("pathlib").Path(__file__).parents[1] / ".." / "shared" / "data" / "opensense_xsens_walk"


def test_replay_xsens_export():
    files = sorted(DATA.glob("*.txt")) if DATA.is_dir() else []
    if not files:
        pytest.skip(f"no Xsens export in {DATA.resolve()} (shared data absent)")
    src = ReplaySource(SourceConfig("pelvis", 100.0, file=str(files[0]), start_stamp_ns=S, loop=False))
    src.start(S)
    out = src.poll(S + 2 * S)
    assert len(out) == 201
    f = np.stack([s.specific_force_m_s2 for s in out])
    assert 8.0 < np.nanmedian(np.linalg.norm(f, axis=1)) < 11.5  # gravity-dominated specific force


# ---------------------------------------------------------------------------------------- xsens
def test_xsens_source_streams_from_the_virtual_device():
    vx = pytest.importorskip("imu_torque_estimator.drivers.virtual_xsens")
    with vx.VirtualXsens() as dev:
        src = XsensSource(SourceConfig("thigh_l", 100.0, port=dev.port))
        src.start(time.time_ns())
        out = []
        deadline = time.monotonic() + 3.0
        while len(out) < 30 and time.monotonic() < deadline:
            out += src.poll(time.time_ns())
            time.sleep(0.02)
        stats = src.stats()
        src.close()
    assert len(out) >= 30
    stamps = np.array([s.stamp_ns for s in out])
    assert np.all(np.diff(stamps) > 0)
    f = np.stack([s.specific_force_m_s2 for s in out])
    assert np.all(np.isfinite(f)) and 8.0 < np.median(np.linalg.norm(f, axis=1)) < 11.5
    assert stats["published"] == len(out)


def test_xsens_source_open_failure_is_a_clear_value_error(tmp_path):
    pytest.importorskip("imu_torque_estimator.drivers.xsens_device")
    src = XsensSource(SourceConfig("pelvis", 100.0, port=str(tmp_path / "ttyNONE")))
    with pytest.raises(ValueError, match="ttyNONE"):
        src.start(0)
    with pytest.raises(ValueError, match="needs the 'port' parameter"):
        XsensSource(SourceConfig("pelvis", 100.0))


# ------------------------------------------------------------------------------------- registry
def test_registry():
    assert {"sim", "replay", "xsens", "bag"} <= set(source_names())
    with pytest.raises(ValueError, match="unknown source 'usb'"):
        create_source("usb", SourceConfig("pelvis"))
    register_source("h7_test_missing", "imu_torque_estimator.no_such_module:factory")
    with pytest.raises(ValueError, match="source 'h7_test_missing' is not available"):
        create_source("h7_test_missing", SourceConfig("pelvis"))
    made = []
    register_source("h7_test_ramp", lambda cfg: made.append(cfg.segment) or ramp_source())
    assert isinstance(create_source("h7_test_ramp", SourceConfig("foot_l")), RecordedSource)
    assert made == ["foot_l"] and "foot_l" in SEGMENTS


@pytest.mark.slow
def test_simulate_recording_standing_prefix_and_cache(tmp_path):
    """H4's simulate_trial + the standing prefix: still, gravity-only start with unknown truth, then
    gait with finite truth; the cache returns identical arrays and is keyed by the parameters."""
    pytest.importorskip("imu_torque_estimator.sim.trial")
    from imu_torque_estimator.sim.recording import simulate_recording

    cfg = SourceConfig("pelvis", RATE, n_strides=2, standing_s=1.5, seed=11, cache_dir=str(tmp_path))
    rec = simulate_recording(cfg, tmp_path)
    n_stand = 150
    assert set(rec.signals) == set(SEGMENTS)
    m = rec.moments_nm_per_kg
    assert np.all(np.isnan(m[:n_stand])) and np.all(np.isfinite(m[n_stand:]))
    np.testing.assert_allclose(rec.time_s[:n_stand + 1], np.arange(n_stand + 1) / RATE, atol=1e-12)
    for sig in rec.signals.values():
        f = np.linalg.norm(sig.specific_force_m_s2[:n_stand], axis=1)
        assert abs(np.median(f) - 9.80665) < 0.2
        assert np.median(np.linalg.norm(sig.angular_rate_rad_s[:n_stand], axis=1)) < 0.05
        assert np.max(np.linalg.norm(sig.angular_rate_rad_s[n_stand:], axis=1)) > 0.5  # walking
    assert len(list(tmp_path.glob("*.npz"))) == 1
    again = simulate_recording(cfg, tmp_path)
    for s in SEGMENTS:
        a, b = again.signals[s], rec.signals[s]
        np.testing.assert_array_equal(a.specific_force_m_s2, b.specific_force_m_s2)
        np.testing.assert_array_equal(again.signals[s].time_s, rec.signals[s].time_s)
    np.testing.assert_array_equal(again.moments_nm_per_kg, rec.moments_nm_per_kg)
    from imu_torque_estimator.sim.recording import sim_cache_key as _sim_cache_key

    other = SourceConfig("pelvis", RATE, n_strides=2, standing_s=1.5, seed=12)
    assert _sim_cache_key(other) != _sim_cache_key(cfg)
    same = SourceConfig("foot_r", RATE, n_strides=2, standing_s=1.5, seed=11)  # segment is not in the key
    assert _sim_cache_key(same) == _sim_cache_key(cfg)
