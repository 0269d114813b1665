"""Unit tests of pipeline/alignment.py and pipeline/calibration.py: validity checks, grid alignment,
staleness, calibration state machine."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imu_torque_estimator.body import GRAVITY_M_S2
from imu_torque_estimator.pipeline.alignment import (
    BACKWARD_JUMP,
    DUPLICATE,
    NAN_INF,
    OUT_OF_ORDER,
    SATURATED,
    StreamAligner,
    StreamConfig,
)
from imu_torque_estimator.pipeline.calibration import CalibrationState, StillCalibration

SEGS = ("pelvis", "shank_l", "shank_r")
P = 5_000_000  # 200 Hz period in ns
T0 = 1_700_000_000 * 1_000_000_000  # an epoch-like start on the grid


def signal(i: int, t_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth, sensor-specific test signal: linear in time (so linear interpolation is exact)."""
    t = (t_ns - T0) / 1e9
    acc = np.array([1.0 + i + 0.5 * t, -2.0 * t, GRAVITY_M_S2 + 0.1 * i])
    gyr = np.array([0.1 * i, 0.3 * t, -0.2 * t + i])
    return acc, gyr


def feed(al: StreamAligner, stamps: list[tuple[int, int]]) -> list:
    out = []
    for i, t in stamps:
        a, w = signal(i, t)
        out += al.push(i, t, a, w)
    return out


def round_robin(n: int, start: int = T0, segs: int = 3, skip=lambda i, k: False) -> list[tuple[int, int]]:
    return [(i, start + k * P) for k in range(n) for i in range(segs) if not skip(i, k)]


def test_on_grid_streams_pass_through_exactly_with_identical_stamps():
    al = StreamAligner(StreamConfig(SEGS, 200.0))
    out = feed(al, round_robin(50))
    assert [s.stamp_ns for s in out] == [T0 + k * P for k in range(50)]
    for s in out:
        for i in range(3):
            a, w = signal(i, s.stamp_ns)
            np.testing.assert_array_equal(s.accel_m_s2[i], a)
            np.testing.assert_array_equal(s.gyro_rad_s[i], w)
    assert out[0].reset and not any(s.reset for s in out[1:])
    assert all(s.gap_s == 0.0 for s in out)
    assert al.dropped_total() == 0 and al.lag_s_max == 0.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-1_200_000, 1_200_000), min_size=90, max_size=90))
def test_jittered_stamps_are_interpolated_onto_the_grid(jitter):
    """Each sensor has its own clock jitter (+-1.2 ms at 200 Hz, so neighbours stay within
    max_gap = 1.5 periods); linear signals are recovered exactly on the grid,
    and every grid point inside the common span is emitted once."""
    al = StreamAligner(StreamConfig(SEGS, 200.0))
    stamps = [(i, T0 + k * P + jitter[3 * k + i]) for k in range(30) for i in range(3)]
    out = feed(al, stamps)
    grid = [s.stamp_ns for s in out]
    assert grid == sorted(set(grid)) and all(g % P == 0 for g in grid)
    assert len(grid) >= 26  # ends lose at most 2 points each
    for s in out:
        for i in range(3):
            a, w = signal(i, s.stamp_ns)
            np.testing.assert_allclose(s.accel_m_s2[i], a, atol=1e-9)
            np.testing.assert_allclose(s.gyro_rad_s[i], w, atol=1e-9)
    assert al.dropped_total() == 0
    assert 0 <= al.lag_s_max < 2 * P / 1e9


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ((np.array([np.nan, 0, 9.8]), np.zeros(3)), NAN_INF),
        ((np.array([0, 0, 9.8]), np.array([0, np.inf, 0])), NAN_INF),
        ((np.array([0, 0, 16 * GRAVITY_M_S2]), np.zeros(3)), SATURATED),
        ((np.array([0, 0, 9.8]), np.array([0, 0, -math.radians(2000)])), SATURATED),
    ],
)
def test_invalid_values_are_counted_and_never_output(bad, reason):
    al = StreamAligner(StreamConfig(SEGS, 200.0))
    stamps = round_robin(20)
    out = []
    for i, t in stamps:
        a, w = bad if (i == 1 and t == T0 + 10 * P) else signal(i, t)
        out += al.push(i, t, a, w)
    assert al.counters[1].invalid[reason] == 1
    assert al.counters[1].invalid_total == 1 and al.counters[0].invalid_total == 0
    assert T0 + 10 * P not in [s.stamp_ns for s in out]  # the bad sample's grid point is dropped
    assert al.dropped == {"gap:shank_l": 1} and al.dropped_points == 1
    for s in out:
        assert np.all(np.isfinite(s.accel_m_s2)) and np.all(np.abs(s.accel_m_s2) < 100)
    gaps = [s.gap_s for s in out if s.gap_s > 0]
    assert gaps == [pytest.approx(P / 1e9)]


def test_duplicate_and_out_of_order_stamps_are_rejected():
    al = StreamAligner(StreamConfig(SEGS, 200.0))
    stamps = round_robin(10)
    stamps.insert(9, (0, T0 + 2 * P))  # duplicate of pelvis k=2 (just sent)
    stamps.insert(16, (0, T0 + 2 * P + 1000))  # older than pelvis' latest k=4 -> out of order
    out = feed(al, stamps)
    c = al.counters[0]
    assert c.invalid[DUPLICATE] == 1 and c.invalid[OUT_OF_ORDER] == 1
    assert [s.stamp_ns for s in out] == [T0 + k * P for k in range(10)]


def test_backward_jump_of_all_clocks_reanchors_the_grid():
    al = StreamAligner(StreamConfig(SEGS, 200.0))
    out1 = feed(al, round_robin(20))
    back = T0 - 3_000_000_000  # every clock restarts 3 s earlier
    out2 = feed(al, round_robin(20, start=back))
    assert [c.invalid[BACKWARD_JUMP] for c in al.counters] == [1, 1, 1]
    assert al.reanchors == 1
    assert len(out1) == 20 and len(out2) == 20
    assert out2[0].stamp_ns == back and out2[0].reset


def test_backward_jump_of_one_clock_stops_output_until_it_is_consistent():
    al = StreamAligner(StreamConfig(SEGS, 200.0))
    feed(al, round_robin(20))
    stamps = [(i, T0 + k * P - (3_000_000_000 if i == 2 else 0)) for k in range(20, 60) for i in range(3)]
    out = feed(al, stamps)
    assert al.counters[2].invalid[BACKWARD_JUMP] == 1 and al.reanchors == 0
    assert len(out) == 0
    assert al.dropped.get("stale:shank_r", 0) > 0
    assert al.lagging_segments() == ["shank_r"]


def test_silent_sensor_stops_output_and_resumes_by_itself():
    cfg = StreamConfig(SEGS, 200.0, stale_timeout_s=0.05)
    al = StreamAligner(cfg)
    silent = range(40, 100)  # shank_l silent 0.3 s
    out = feed(al, round_robin(160, skip=lambda i, k: i == 1 and k in silent))
    got = {s.stamp_ns for s in out}
    # no output while silent, continuous output outside it
    assert not any(T0 + k * P in got for k in silent)
    assert all(T0 + k * P in got for k in range(40))
    assert all(T0 + k * P in got for k in range(101, 150))
    assert al.dropped["stale:shank_l"] > 40
    resumed = next(s for s in out if s.stamp_ns >= T0 + 100 * P)
    assert resumed.gap_s > 0.25
    # every emitted sample is exact
    for s in out:
        np.testing.assert_allclose(s.accel_m_s2[1], signal(1, s.stamp_ns)[0], atol=1e-9)


def test_silent_and_missing_sensors_by_arrival_time():
    al = StreamAligner(StreamConfig(SEGS, 200.0, stale_timeout_s=0.1))
    assert al.silent_segments(T0) == list(SEGS)  # nothing heard yet: a missing topic
    out = feed(al, [(0, T0), (2, T0)])
    assert out == [] and al.silent_segments(T0 + 1000) == ["shank_l"]
    assert al.silent_segments(T0 + 200_000_000) == list(SEGS)


def test_missing_topic_at_startup_produces_no_output():
    al = StreamAligner(StreamConfig(SEGS, 200.0))
    out = feed(al, round_robin(50, skip=lambda i, k: i == 2))
    assert out == [] and al.emitted == 0


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="unknown segment"):
        StreamConfig(("pelvis", "arm"), 200.0)
    with pytest.raises(ValueError, match="rate_hz"):
        StreamConfig(SEGS, 0.0)
    with pytest.raises(ValueError, match="stale_timeout_s"):
        StreamConfig(SEGS, 100.0, stale_timeout_s=-1.0)
    with pytest.raises(ValueError, match="duplicates"):
        StreamConfig(("pelvis", "pelvis"), 100.0)
    with pytest.raises(ValueError, match="not in this stream set"):
        StreamAligner(StreamConfig(SEGS, 100.0)).index("foot_l")


# ------------------------------------------------------------------------------ calibration
def still(n_sensors: int = 3) -> tuple[np.ndarray, np.ndarray]:
    return np.tile([0.0, 0.0, GRAVITY_M_S2], (n_sensors, 1)), np.full((n_sensors, 3), 0.01)


def moving(n_sensors: int = 3) -> tuple[np.ndarray, np.ndarray]:
    return np.tile([3.0, 0.0, GRAVITY_M_S2 + 3.0], (n_sensors, 1)), np.full((n_sensors, 3), 1.0)


def test_calibration_state_machine():
    windows = []

    def calibrate(acc, gyr):
        windows.append((acc.shape, gyr.shape))
        return {"mean_f": acc.mean(axis=0)}

    cal = StillCalibration(3, 100.0, calibrate, still_s=0.5)
    assert cal.state is CalibrationState.WAITING_FOR_STILL
    for _ in range(10):
        assert cal.update(*moving()) is CalibrationState.WAITING_FOR_STILL
    for _ in range(30):
        assert cal.update(*still()) is CalibrationState.CALIBRATING
    assert cal.update(*moving()) is CalibrationState.WAITING_FOR_STILL  # interrupted
    states = [cal.update(*still()) for _ in range(50)]
    assert states[-1] is CalibrationState.CALIBRATED and states[-2] is CalibrationState.CALIBRATING
    assert windows == [((50, 3, 3), (50, 3, 3))]
    np.testing.assert_allclose(cal.calibration["mean_f"][:, 2], GRAVITY_M_S2)
    assert cal.update(*moving()) is CalibrationState.CALIBRATED  # stays calibrated while moving
    cal.recalibrate()
    assert cal.state is CalibrationState.WAITING_FOR_STILL
    for _ in range(50):
        cal.update(*still())
    assert cal.state is CalibrationState.CALIBRATED and cal.completed == 2


def test_calibration_failure_is_recorded_and_retried():
    calls = []

    def calibrate(acc, gyr):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("segment pelvis: gravity direction ambiguous")
        return "ok"

    cal = StillCalibration(3, 100.0, calibrate, still_s=0.2)
    for _ in range(20):
        cal.update(*still())
    assert cal.state is CalibrationState.WAITING_FOR_STILL and "pelvis" in cal.last_error
    for _ in range(20):
        cal.update(*still())
    assert cal.state is CalibrationState.CALIBRATED and cal.calibration == "ok" and cal.last_error is None


def test_known_calibration_skips_waiting():
    cal = StillCalibration(3, 100.0, lambda a, g: None)
    cal.set_calibration("mounting-from-config")
    assert cal.state is CalibrationState.CALIBRATED and cal.calibration == "mounting-from-config"


def test_calibration_with_a_functional_motion_window():
    calls = []

    def calibrate(acc, gyr, gyr_motion=None):
        calls.append((acc.shape, None if gyr_motion is None else gyr_motion.shape))
        return "static+functional"

    cal = StillCalibration(3, 100.0, calibrate, still_s=0.3, motion_s=0.5)
    for _ in range(30):
        cal.update(*still())
    assert cal.state is CalibrationState.CALIBRATING and cal.phase == "motion" and calls == []
    for _ in range(20):  # standing on: ignored, the still window is kept
        assert cal.update(*still()) is CalibrationState.CALIBRATING
    assert cal.motion_samples == 0
    states = [cal.update(*moving()) for _ in range(50)]
    assert states[-2] is CalibrationState.CALIBRATING and states[-1] is CalibrationState.CALIBRATED
    assert calls == [((30, 3, 3), (50, 3, 3))] and cal.calibration == "static+functional"
    cal.recalibrate()
    assert cal.phase == "still" and cal.motion_samples == 0
    with pytest.raises(ValueError, match="motion_s"):
        StillCalibration(3, 100.0, calibrate, motion_s=-1.0)
