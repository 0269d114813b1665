"""Estimator core: exact-stamp join, invalid samples, gaps, warm-up, output limits (no ROS)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imu_torque_estimator.pipeline.config import EstimatorConfig
from imu_torque_estimator.pipeline.torque_estimator import TorqueEstimatorCore

SEGS = ("pelvis", "shank_l", "shank_r")
RATE = 100.0
DT_NS = 10_000_000


class CountingEngine:
    """Output = [number of steps since reset, sum of features, 0, 0, 0, 0]: makes state visible."""

    def __init__(self):
        self.steps = 0
        self.resets = 0

    def step(self, features):
        self.steps += 1
        return np.array([self.steps, features.sum(), 0.0, 0.0, 0.0, 0.0])

    def reset(self):
        self.steps = 0
        self.resets += 1


def make(warmup_s=0.0, **kw):
    eng = CountingEngine()
    cfg = EstimatorConfig(segments=SEGS, rate_hz=RATE, body_mass_kg=80.0, warmup_s=warmup_s,
                          output_limit_nm_per_kg=kw.pop("limit", 1e6), **kw)
    return eng, TorqueEstimatorCore(eng, cfg)


def push_sample(core, k, value=1.0, order=SEGS, skip=()):
    out = None
    for s in order:
        if s in skip:
            continue
        r = core.push(s, k * DT_NS, np.full(6, value))
        out = r if r is not None else out
    return out


def test_complete_sample_gives_torque_in_nm_and_input_stamp():
    _, core = make()
    r = push_sample(core, 5, value=0.5)
    assert r.stamp_ns == 5 * DT_NS
    assert r.torque_nm_per_kg[1] == pytest.approx(0.5 * 18)
    assert np.allclose(r.torque_nm, r.torque_nm_per_kg * 80.0)


def test_join_is_by_exact_stamp_in_any_arrival_order():
    _, core = make()
    assert core.push("shank_r", DT_NS, np.ones(6)) is None
    assert core.push("pelvis", DT_NS, np.ones(6)) is None
    assert core.push("shank_l", DT_NS, np.ones(6)) is not None
    # a segment at a different stamp does not complete the sample
    assert core.push("pelvis", 2 * DT_NS, np.ones(6)) is None
    assert core.push("shank_l", 2 * DT_NS + 1, np.ones(6)) is None


def test_missing_segment_is_counted_and_never_published():
    eng, core = make()
    assert push_sample(core, 1, skip=("shank_l",)) is None
    r = push_sample(core, 2)
    assert r is not None and r.stamp_ns == 2 * DT_NS
    assert core.status.rejected["missing_segment"] == 1
    assert eng.steps == 1  # the incomplete sample never reached the engine


def test_nan_and_inf_features_are_rejected_without_touching_state():
    eng, core = make()
    push_sample(core, 1)
    for k, bad in ((2, np.nan), (3, np.inf)):
        core.push("pelvis", k * DT_NS, np.ones(6))
        core.push("shank_l", k * DT_NS, np.full(6, bad))
        assert core.push("shank_r", k * DT_NS, np.ones(6)) is None
    assert core.status.rejected["non_finite_features"] == 2
    assert eng.steps == 1
    assert push_sample(core, 4).torque_nm_per_kg[0] == 2  # state continues from before


def test_duplicate_and_out_of_order_stamps_are_rejected():
    _, core = make()
    push_sample(core, 3)
    assert push_sample(core, 3) is None
    assert push_sample(core, 2) is None
    assert core.status.rejected["stale_or_out_of_order"] == 6
    core.push("pelvis", 4 * DT_NS, np.ones(6))
    assert core.push("pelvis", 4 * DT_NS, np.ones(6)) is None
    assert core.status.rejected["duplicate"] == 1


def test_gap_beyond_max_gap_resets_state_and_rewarms():
    eng, core = make(warmup_s=0.05, max_gap_s=0.1)  # 5 warm-up samples
    outs = [push_sample(core, k) for k in range(1, 11)]
    assert all(o is None for o in outs[:5]) and all(o is not None for o in outs[5:])
    assert not core.status.warming_up
    # 0.1 s gap (10 samples) is within the limit, 0.11 s is not
    assert push_sample(core, 20) is not None
    assert push_sample(core, 31) is None
    assert core.status.warming_up and core.status.gap_resets == 1 and eng.resets == 1
    outs = [push_sample(core, k) for k in range(32, 37)]
    assert outs[:4] == [None] * 4 and outs[4] is not None
    assert outs[4].torque_nm_per_kg[0] == 6  # stepped from a fresh state


def test_output_limit_clips_and_counts():
    _, core = make(limit=2.0)
    r = push_sample(core, 1, value=1.0)
    assert r.limited and r.torque_nm_per_kg[1] == 2.0 and core.status.limited == 1


@pytest.mark.parametrize("kw", [dict(body_mass_kg=0.0), dict(body_mass_kg=-70.0),
                                dict(body_mass_kg=float("nan")), dict(rate_hz=0.0), dict(max_gap_s=0.0),
                                dict(segments=())])
def test_bad_configuration_is_rejected(kw):
    base = dict(segments=SEGS, rate_hz=RATE, body_mass_kg=70.0)
    base.update(kw)
    with pytest.raises(ValueError):
        EstimatorConfig(**base)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from((*SEGS, "thigh_l")), st.integers(0, 40),
                          st.sampled_from([0.0, 1.0, np.nan])), max_size=120))
def test_any_message_stream_publishes_only_complete_finite_increasing_samples(msgs):
    _, core = make()
    stamps = []
    for seg, k, v in msgs:
        r = core.push(seg, k * DT_NS, np.full(6, v))
        if r is not None:
            assert np.all(np.isfinite(r.torque_nm))
            stamps.append(r.stamp_ns)
    assert stamps == sorted(set(stamps))
