"""Bad input bags, one test bag per case, generated here: unreadable files give one clear BagError
naming the file/topic; bad samples (NaN, a sensor dropping out, out-of-order messages, a clock jump
backwards) are skipped by the offline evaluator, counted in its report, and produce no torque."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from test_bags import DT_NS, T0_NS, write_test_bag

from imu_torque_estimator.body import SENSOR_SETS
from imu_torque_estimator.data import bags

SET3 = SENSOR_SETS["3imu"]


def _mcap_file(path: Path) -> Path:
    (f,) = path.glob("*.mcap")
    return f


@pytest.fixture
def good_bag(tmp_path) -> Path:
    path = tmp_path / "good"
    write_test_bag(path, n=2000)
    return path


def test_missing_bag_names_the_path(tmp_path):
    with pytest.raises(bags.BagError, match="no such bag"):
        bags.read_bag(tmp_path / "nope")


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_bag_file(good_bag, keep):
    f = _mcap_file(good_bag)
    raw = f.read_bytes()
    f.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(bags.BagError, match=str(good_bag)) as exc:
        bags.read_bag(good_bag)
    assert "truncated or corrupt" in str(exc.value)


def test_corrupt_bag_file(good_bag):
    f = _mcap_file(good_bag)
    raw = bytearray(f.read_bytes())
    mid = len(raw) // 2
    raw[mid:mid + 4096] = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    f.write_bytes(bytes(raw))
    with pytest.raises(bags.BagError, match=f"{good_bag}.*corrupt"):
        bags.read_bag(good_bag)


def test_garbage_file_and_missing_metadata(tmp_path, good_bag):
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"this is not an mcap file" * 10)
    with pytest.raises(bags.BagError, match="junk.mcap"):
        bags.read_bag(junk)
    (good_bag / "metadata.yaml").unlink()
    with pytest.raises(bags.BagError, match="good"):
        bags.read_bag(good_bag)
    # ... but the storage file alone is still readable directly
    assert set(bags.read_bag(_mcap_file(good_bag)).imu) == set(SET3)


def test_corrupt_metadata_yaml(good_bag):
    (good_bag / "metadata.yaml").write_text("rosbag2_bagfile_information: [unclosed\n")
    with pytest.raises(bags.BagError, match="truncated or corrupt"):
        bags.read_bag(good_bag)


def test_sqlite_truncated(tmp_path):
    path = tmp_path / "sq"
    write_test_bag(path, n=500, storage="sqlite3")
    (f,) = path.glob("*.db3")
    f.write_bytes(f.read_bytes()[:3000])
    with pytest.raises(bags.BagError, match="sq"):
        bags.read_bag(path)


def test_bag_without_expected_topics(tmp_path):
    path = tmp_path / "other"
    with bags.BagWriter(path) as w:
        w.write_diagnostics(T0_NS, [{"name": "x"}])
        raw = bags.encode_imu(np.array([T0_NS]), "x", np.zeros((1, 37)))[0]
        w.write_raw("/chatter/imu", bags.IMU_TYPE, T0_NS, raw)
    with pytest.raises(bags.BagError, match=r"no IMU topics .*topics in the bag: /chatter/imu"):
        bags.read_bag(path)


def test_bag_missing_a_segment_of_the_sensor_set(tmp_path):
    path = tmp_path / "two"
    write_test_bag(path, n=10, segments=("pelvis", "shank_l"))
    with pytest.raises(bags.BagError, match=r"missing IMU topic\(s\) \['/shank_r/imu/data_raw'\]"):
        bags.read_bag(path, segments=SET3)


def test_topic_with_wrong_message_type(tmp_path):
    path = tmp_path / "wrongtype"
    write_test_bag(path, n=10, segments=("pelvis", "shank_l"))
    shutil.rmtree(path)
    with bags.BagWriter(path) as w:
        w.write_imu("pelvis", np.array([T0_NS]), np.zeros((1, 3)), np.zeros((1, 3)))
        w.write_torques(np.array([T0_NS]), np.zeros((1, 6)))
        w.write_raw("/shank_l/imu/data_raw", bags.JOINT_STATE_TYPE, T0_NS,
                    bags.encode_joint_state(np.array([T0_NS]), ["a"], np.zeros((1, 1)))[0])
    with pytest.raises(bags.BagError, match="/shank_l/imu/data_raw has message type "
                                            "sensor_msgs/msg/JointState, expected sensor_msgs/msg/Imu"):
        bags.read_bag(path)


def test_several_namespaces_need_a_choice(tmp_path):
    path = tmp_path / "ns"
    with bags.BagWriter(path) as w:
        for ns in ("/a", "/b"):
            w.ns = ns
            w.write_imu("pelvis", np.array([T0_NS]), np.zeros((1, 3)), np.zeros((1, 3)))
    with pytest.raises(bags.BagError, match="several namespaces"):
        bags.read_bag(path)
    assert bags.read_bag(path, ns="/b").imu["pelvis"].topic == "/b/pelvis/imu/data_raw"


def test_stamps_are_integer_nanoseconds_without_float_rounding(tmp_path):
    path = tmp_path / "ns"
    stamps = np.array([T0_NS + 1, T0_NS + DT_NS + 7], dtype=np.int64)
    with bags.BagWriter(path) as w:
        w.write_imu("pelvis", stamps, np.zeros((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(bags.read_bag(path).imu["pelvis"].stamp_ns, stamps)


# ------------------------------------------------------------------------------------------------
# Bad samples through the offline pipeline (real StreamAligner and TorqueEstimatorCore; a transparent
# kinematics estimator and a linear engine stand in for the model so the expected output is known).


class ConcatKinematics:
    """features = [specific force, angular rate] per segment (stands in for KinematicsEstimator)."""

    def __init__(self, n: int):
        self._out = np.empty(6 * n)
        self.resets = 0

    def step(self, f, w):
        self._out.reshape(-1, 6)[:, :3] = f
        self._out.reshape(-1, 6)[:, 3:] = w
        return self._out

    def reset(self):
        self.resets += 1


class LinearEngine:
    """torque_j = sum of the features of segment j mod S: stateless, so every output is predictable."""

    def __init__(self, n_seg: int):
        self.n_seg = n_seg

    def step(self, x):
        per = x.reshape(self.n_seg, 6).sum(axis=1)
        return np.array([per[j % self.n_seg] for j in range(6)]) * 0.01

    def reset(self):
        pass


def run_fake(path, segments=SET3, warmup_s=0.0, **stream):
    from imu_torque_estimator.pipeline import offline
    from imu_torque_estimator.pipeline.alignment import StreamConfig
    from imu_torque_estimator.pipeline.segment_kinematics import ImuFrontend

    bag = bags.read_bag(path, segments=segments)
    fe = ImuFrontend(StreamConfig(segments=tuple(segments), rate_hz=200.0, **stream),
                             lambda cal: ConcatKinematics(len(segments)), calibration="known")
    core = offline.build_core(LinearEngine(len(segments)), segments, 200.0, 70.0, {"warmup_s": warmup_s})
    return offline.run_pipeline(bag, segments, fe, core, JOINTS6), bag


JOINTS6 = ("hip_flexion_l", "hip_flexion_r", "knee_flexion_l", "knee_flexion_r", "ankle_dorsiflexion_l",
           "ankle_dorsiflexion_r")
N = 600


def write_bag_with(path: Path, edit) -> np.ndarray:
    """Bag of N samples per sensor at 200 Hz; `edit(segment, stamps, f, w, log)` may modify arrays
    or return a row mask of messages to keep. Returns the nominal stamps."""
    from test_bags import synthetic_signals

    sig, _ = synthetic_signals(N, SET3)
    stamps = T0_NS + np.arange(N, dtype=np.int64) * DT_NS
    with bags.BagWriter(path, metadata={"body_mass_kg": 70.0}) as w:
        for s in SET3:
            st, (f, g), log = stamps.copy(), (sig[s][0].copy(), sig[s][1].copy()), stamps.copy()
            keep = edit(s, st, f, g, log)
            keep = np.ones(N, bool) if keep is None else keep
            w.write_imu(s, st[keep], f[keep], g[keep], log_time_ns=log[keep])
    return stamps


def expected_torque(path, stamp_ns):
    """LinearEngine output from the bag's raw values at a stamp present in every sensor."""
    bag = bags.read_bag(path)
    per = []
    for s in SET3:
        imu = bag.imu[s]
        (k,) = np.flatnonzero(imu.stamp_ns == stamp_ns)
        per.append(imu.specific_force_m_s2[k].sum() + imu.angular_rate_rad_s[k].sum())
    return np.array([per[j % 3] for j in range(6)]) * 0.01 * 70.0


def test_clean_bag_gives_one_torque_per_sample_equal_to_the_model(tmp_path):
    path = tmp_path / "clean"
    stamps = write_bag_with(path, lambda *a: None)
    res, _ = run_fake(path)
    np.testing.assert_array_equal(res.stamp_ns, stamps)
    assert res.report["imu_invalid_total"] == 0 and res.report["grid_dropped_total"] == 0
    np.testing.assert_allclose(res.torque_nm[123], expected_torque(path, stamps[123]), rtol=1e-12)


def test_nan_samples_are_skipped_counted_and_give_no_torque(tmp_path):
    path = tmp_path / "nan"

    def edit(s, st, f, g, log):
        if s == "shank_l":
            f[200:205, 1] = np.nan
        if s == "pelvis":
            g[300, 2] = np.inf

    stamps = write_bag_with(path, edit)
    res, _ = run_fake(path)
    bad = set(stamps[200:205].tolist()) | {int(stamps[300])}
    assert not bad & set(res.stamp_ns.tolist())
    assert res.report["imu_invalid"]["shank_l"] == {"nan_inf": 5}
    assert res.report["imu_invalid"]["pelvis"] == {"nan_inf": 1}
    assert res.report["grid_dropped"] == {"gap:pelvis": 1, "gap:shank_l": 5}
    assert len(res.stamp_ns) == N - 6 and np.isfinite(res.torque_nm).all()


def test_sensor_dropping_out_for_half_a_second(tmp_path):
    path = tmp_path / "dropout"
    gone = slice(200, 300)  # 100 samples = 0.5 s at 200 Hz

    def edit(s, st, f, g, log):
        keep = np.ones(N, bool)
        if s == "shank_r":
            keep[gone] = False
        return keep

    stamps = write_bag_with(path, edit)
    res, _ = run_fake(path, warmup_s=0.05)
    published = set(res.stamp_ns.tolist())
    assert not published & set(stamps[gone].tolist())
    dropped = res.report["grid_dropped"]
    assert set(dropped) <= {"gap:shank_r", "stale:shank_r"} and sum(dropped.values()) == 100
    # a gap beyond max_gap_s resets the RNN state and the estimator warms up again (10 samples)
    assert res.report["estimator_gap_resets"] == 1
    assert not published & set(stamps[300:310].tolist()) and int(stamps[310]) in published
    assert res.report["torques_published"] == N - 100 - 2 * 10


def test_out_of_order_messages(tmp_path):
    path = tmp_path / "ooo"

    def edit(s, st, f, g, log):
        if s == "pelvis":  # sample 251 arrives before 250 (log times swapped)
            log[250], log[251] = log[251], log[250] + 1
            order = np.argsort(log, kind="stable")
            st[:], f[:], g[:], log[:] = st[order], f[order], g[order], log[order]

    stamps = write_bag_with(path, edit)
    bag = bags.read_bag(path)
    assert bag.imu["pelvis"].stamp_ns[250] == stamps[251]  # really out of order in the bag
    res, _ = run_fake(path)
    assert res.report["imu_invalid"]["pelvis"] == {"out_of_order": 1}
    assert int(stamps[250]) not in set(res.stamp_ns.tolist())
    assert np.all(np.diff(res.stamp_ns) > 0)
    assert res.report["torques_published"] == N - 1


def test_clock_jump_backwards(tmp_path):
    path = tmp_path / "jump"
    back_ns = 2 * 10**9  # all sensor clocks restart 2 s earlier at sample 400

    def edit(s, st, f, g, log):
        st[400:] -= back_ns

    stamps = write_bag_with(path, edit)
    res, _ = run_fake(path)
    rep = res.report
    assert all(rep["imu_invalid"][s] == {"backward_jump": 1} for s in SET3)
    assert rep["grid_reanchors"] == 1 and rep["kinematics_resets"] == 1
    # the torque stage never goes back in time: the restarted timeline (2 s back, all before the last
    # published stamp) is rejected sample by sample, never published
    np.testing.assert_array_equal(res.stamp_ns, stamps[:400])
    assert rep["estimator_rejected"] == {"stale_or_out_of_order": 3 * rep["kinematics_samples"] - 3 * 400}
