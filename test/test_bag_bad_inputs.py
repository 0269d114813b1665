"""Bad input bags, one test bag per case, generated here: unreadable files give one clear BagError
naming the file/topic; bad samples (NaN, a sensor dropping out, out-of-order messages, a clock jump
backwards) are skipped by the offline evaluator, counted in its report, and produce no torque."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from test_bags import DT_NS, T0_NS, write_test_bag  # noqa: I001  (sibling test helper)

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
