"""Bag I/O (data/bags.py): round trips in MCAP and sqlite3, the vectorised CDR codec against rosbags,
reading back with the `mcap` reader and rosbags' standard ROS 2 definitions (no ROS needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imu_torque_estimator.body import JOINTS, SENSOR_SETS
from imu_torque_estimator.data import bags

RATE_HZ = 200.0
DT_NS = 5_000_000
T0_NS = 1_700_000_000_000_000_000


def synthetic_signals(n: int, segments, seed: int = 0):
    """Smooth made-up IMU signals (m/s^2, rad/s) and torques (Nm): enough for I/O tests."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE_HZ
    out = {}
    for i, s in enumerate(segments):
        f = np.stack([np.sin(2 * np.pi * 1.1 * t + i), 0.2 * np.cos(t),
                      9.81 + 0.5 * np.sin(2 * np.pi * t)], 1)
        w = np.stack([0.1 * np.sin(t), 2.0 * np.sin(2 * np.pi * 0.9 * t + i), 0.05 * np.ones(n)], 1)
        out[s] = (f + 0.01 * rng.normal(size=(n, 3)), w + 0.01 * rng.normal(size=(n, 3)))
    torque = np.stack([np.sin(2 * np.pi * t + j) * 50 for j in range(len(JOINTS))], 1)
    return out, torque


def write_test_bag(path: Path, n: int = 400, segments=SENSOR_SETS["3imu"], storage="mcap", ns="",
                   truth=True, seed=0):
    sig, torque = synthetic_signals(n, segments, seed)
    stamps = T0_NS + np.arange(n, dtype=np.int64) * DT_NS
    meta = {"rate_hz": RATE_HZ, "body_mass_kg": 70.0}
    with bags.BagWriter(path, storage=storage, ns=ns, metadata=meta) as w:
        for s in segments:
            w.write_imu(s, stamps, *sig[s])
        if truth:
            w.write_torques(stamps, torque, truth=True)
        w.write_diagnostics(int(stamps[0]), [{"name": "sim", "level": 0, "message": "ok",
                                              "values": {"n": n}}])
        w.write_clock(int(stamps[0]))
    return stamps, sig, torque


@pytest.mark.parametrize("storage", bags.STORAGES)
def test_round_trip_preserves_every_value_and_stamp(tmp_path, storage):
    path = tmp_path / "bag"
    stamps, sig, torque = write_test_bag(path, storage=storage)
    data = bags.read_bag(path, segments=SENSOR_SETS["3imu"])
    assert data.storage == storage and data.ns == ""
    assert data.metadata == {"rate_hz": RATE_HZ, "body_mass_kg": 70.0}
    for s, (f, w) in sig.items():
        imu = data.imu[s]
        assert imu.frame_id == f"{s}_imu" and imu.topic == f"/{s}/imu/data_raw"
        np.testing.assert_array_equal(imu.stamp_ns, stamps)
        np.testing.assert_array_equal(imu.log_time_ns, stamps)
        np.testing.assert_array_equal(imu.specific_force_m_s2, f)
        np.testing.assert_array_equal(imu.angular_rate_rad_s, w)
    assert data.truth is not None and data.truth.names == JOINTS
    np.testing.assert_array_equal(data.truth.effort_nm, torque)
    assert data.torques is None and data.diagnostics_count == 1
    assert data.duration_s == pytest.approx((len(stamps) - 1) * DT_NS * 1e-9)


def test_messages_are_written_in_log_time_order_across_topics(tmp_path):
    path = tmp_path / "bag"
    write_test_bag(path, n=50)
    order = [(t, log) for t, _ty, log, _raw in bags.iter_raw(path)]
    logs = [log for _t, log in order]
    assert logs == sorted(logs)
    # merged arrival order interleaves the sensors sample by sample
    data = bags.read_bag(path)
    seg_idx, rows = data.imu_arrival(SENSOR_SETS["3imu"])
    assert list(seg_idx[:6]) == [0, 1, 2, 0, 1, 2] and list(rows[:6]) == [0, 0, 0, 1, 1, 1]


def test_namespace_topics_and_info(tmp_path):
    path = tmp_path / "bag"
    write_test_bag(path, n=20, ns="/subject1")
    info = bags.bag_info(path)
    assert info["namespaces"] == ["/subject1"]
    assert info["topics"]["/subject1/pelvis/imu/data_raw"] == (bags.IMU_TYPE, 20)
    assert info["topics"]["/subject1/joint_torques_truth"] == (bags.JOINT_STATE_TYPE, 20)
    data = bags.read_bag(path)
    assert data.ns == "/subject1" and set(data.imu) == set(SENSOR_SETS["3imu"])


def test_mcap_reader_and_rosbags_standard_types_read_the_bag(tmp_path):
    """The official `mcap` reader sees ROS 2 schemas (ros2msg) and CDR messages that rosbags' standard
    kilted and humble definitions decode, i.e. no custom types are involved."""
    from mcap.reader import make_reader

    path = tmp_path / "bag"
    stamps, sig, torque = write_test_bag(path, n=30)
    (mcap_file,) = path.glob("*.mcap")
    seen: dict[str, int] = {}
    with open(mcap_file, "rb") as fh:
        reader = make_reader(fh)
        for schema, channel, message in reader.iter_messages():
            assert schema.encoding == "ros2msg" and channel.message_encoding == "cdr"
            seen[channel.topic] = seen.get(channel.topic, 0) + 1
            for distro in ("kilted", "humble"):
                msg = bags.typestore(distro).deserialize_cdr(message.data, schema.name)
                if channel.topic == "/shank_l/imu/data_raw":
                    i = seen[channel.topic] - 1
                    assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == stamps[i]
                    assert msg.angular_velocity.y == sig["shank_l"][1][i, 1]
                    assert msg.linear_acceleration.z == sig["shank_l"][0][i, 2]
                    assert msg.orientation_covariance[0] == -1.0  # REP-145: no orientation
                elif channel.topic == "/joint_torques_truth":
                    assert list(msg.name) == list(JOINTS) and len(msg.position) == 0
                    np.testing.assert_array_equal(msg.effort, torque[seen[channel.topic] - 1])
    assert seen["/pelvis/imu/data_raw"] == 30 and seen["/diagnostics"] == 1 and seen["/clock"] == 1


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), frame_id=st.text("abcdefgh_xyz0123456789", min_size=0, max_size=23),
       stamp=st.integers(0, 2**31 * 10**9 - 1 - 4 * 3), data=st.data())  # last of n <= 5 stamps fits
def test_vectorised_imu_codec_equals_rosbags(n, frame_id, stamp, data):
    block = np.array(data.draw(st.lists(finite, min_size=37 * n, max_size=37 * n))).reshape(n, 37)
    stamps = stamp + np.arange(n, dtype=np.int64) * 3
    ours = bags.encode_imu(stamps, frame_id, block)
    ts = bags.typestore()
    for i in range(n):
        msg = bags._imu_msg(int(stamps[i]), frame_id, block[i], "kilted")
        ref = bytes(ts.serialize_cdr(msg, bags.IMU_TYPE))
        assert ours[i] == ref
    s2, b2, f2 = bags._decode_imu(ours, "kilted")
    np.testing.assert_array_equal(s2, stamps)
    np.testing.assert_array_equal(b2, block)
    assert f2 == frame_id


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 4), data=st.data(),
       names=st.lists(st.text("abc_xyz", min_size=1, max_size=12), min_size=1, max_size=8))
def test_vectorised_joint_state_codec_equals_rosbags(n, names, data):
    effort = np.array(data.draw(st.lists(finite, min_size=n * len(names), max_size=n * len(names))))
    effort = effort.reshape(n, len(names))
    stamps = 10**9 + np.arange(n, dtype=np.int64)
    ours = bags.encode_joint_state(stamps, names, effort)
    ts = bags.typestore()
    for i in range(n):
        msg = ts.deserialize_cdr(ours[i], bags.JOINT_STATE_TYPE)
        assert list(msg.name) == names and len(msg.position) == 0 and len(msg.velocity) == 0
        np.testing.assert_array_equal(msg.effort, effort[i])
        assert bytes(ts.serialize_cdr(msg, bags.JOINT_STATE_TYPE)) == ours[i]
    s2, e2, names2 = bags._decode_joint_state(ours, "kilted")
    np.testing.assert_array_equal(s2, stamps)
    np.testing.assert_array_equal(e2, effort)
    assert names2 == tuple(names)


def test_decoder_falls_back_to_rosbags_for_mixed_layouts():
    """Messages of one topic with different frame_ids (different layouts) still decode correctly."""
    a = bags.encode_imu(np.array([1, 2]), "a", np.ones((2, 37)))
    b = bags.encode_imu(np.array([3]), "longer_frame", np.full((1, 37), 2.0))
    stamps, block, _ = bags._decode_imu(a + b, "kilted")
    np.testing.assert_array_equal(stamps, [1, 2, 3])
    np.testing.assert_array_equal(block[:, 0], [1, 1, 2])


def test_writer_refuses_existing_path_and_bad_arguments(tmp_path):
    path = tmp_path / "bag"
    write_test_bag(path, n=5)
    with pytest.raises(bags.BagError, match="cannot create bag"):
        bags.BagWriter(path)
    with pytest.raises(bags.BagError, match="storage"):
        bags.BagWriter(tmp_path / "x", storage="rosbag1")
    with pytest.raises(bags.BagError, match="namespace"):
        bags.BagWriter(tmp_path / "y", ns="bad ns!")
    with bags.BagWriter(tmp_path / "z") as w, pytest.raises(bags.BagError, match="effort"):
        w.write_torques(np.arange(3), np.zeros((3, 5)))


def test_stamps_outside_ros_time_range_are_rejected():
    with pytest.raises(bags.BagError, match="int32"):
        bags.encode_imu(np.array([2**31 * 10**9]), "x", np.zeros((1, 37)))
    with pytest.raises(bags.BagError, match="int32"):
        bags.encode_imu(np.array([-1]), "x", np.zeros((1, 37)))


def test_bag_source_of_the_imu_driver(tmp_path):
    """The imu_driver's `bag` source (sources registry) yields the bag's samples and true torques."""
    from imu_torque_estimator.pipeline.sources import SourceConfig, create_source

    path = tmp_path / "bag"
    stamps, sig, torque = write_test_bag(path, n=100)
    src = create_source("bag", SourceConfig(segment="shank_r", rate_hz=RATE_HZ, file=str(path), loop=False,
                                            start_stamp_ns=5 * 10**9))
    src.start(5 * 10**9)
    out = src.poll(10**12)
    assert len(out) == 100 and src.finished
    assert [s.stamp_ns for s in out] == (5 * 10**9 + stamps - stamps[0]).tolist()
    np.testing.assert_array_equal(np.array([s.specific_force_m_s2 for s in out]), sig["shank_r"][0])
    np.testing.assert_array_equal(np.array([s.joint_torques_nm for s in out]), torque)
    assert src.truth_joints == JOINTS
    with pytest.raises(ValueError, match="does not match rate_hz=100"):
        create_source("bag", SourceConfig(segment="pelvis", rate_hz=100.0, file=str(path)))
    with pytest.raises(ValueError, match="missing IMU topic"):
        create_source("bag", SourceConfig(segment="foot_l", rate_hz=RATE_HZ, file=str(path)))
    with pytest.raises(ValueError, match="needs the 'file' parameter"):
        create_source("bag", SourceConfig(segment="pelvis", rate_hz=RATE_HZ))


# ------------------------------------------------------------------------------------------------
# `imu-torque bag ...` commands and the offline evaluator with a real (untrained, seeded) model bundle.


def make_bundle(path: Path, set_name: str = "3imu", hidden: int = 16) -> Path:
    """A small seeded GRU bundle (untrained: the tests check plumbing and numbers, not accuracy)."""
    torch = pytest.importorskip("torch")
    from imu_torque_estimator.kinematics import FEATURE_SPEC_ID, feature_names
    from imu_torque_estimator.model.bundle import save_bundle
    from imu_torque_estimator.model.network import NetworkConfig, TorqueRNN

    torch.manual_seed(0)
    names = feature_names(set_name)
    model = TorqueRNN(NetworkConfig(n_in=len(names), hidden=hidden, layers=2))
    model.set_normalisation(np.zeros(len(names)), np.full(len(names), 5.0), np.zeros(6), np.full(6, 0.5))
    save_bundle(path, model, sensor_set=set_name, rate_hz=RATE_HZ, feature_spec_id=FEATURE_SPEC_ID,
                feature_names=names)
    return path


@pytest.fixture(scope="module")
def sim_bag(tmp_path_factory):
    """`imu-torque bag simulate` output (3 IMUs, 7 strides: the default functional calibration needs
    5 s of walking) and a bundle."""
    from imu_torque_estimator.cli import main

    d = tmp_path_factory.mktemp("sim")
    rc = main(["bag", "simulate", "--out", str(d / "bag"), "--sensor-set", "3imu", "--strides", "7",
               "--condition", "walk_1.2", "--seed", "3", "--mass-kg", "80"])
    assert rc == 0
    return d / "bag", make_bundle(d / "model")


def test_simulated_bag_is_read_by_mcap_and_rosbags_standard_types(sim_bag):
    from mcap.reader import make_reader

    path, _ = sim_bag
    info = bags.bag_info(path)
    assert info["metadata"]["sensor_set"] == "3imu" and info["metadata"]["body_mass_kg"] == 80.0
    n_imu = info["topics"]["/pelvis/imu/data_raw"][1]
    assert n_imu > 7 * 200  # >= 2 s standing + 7 strides at 200 Hz
    (f,) = path.glob("*.mcap")
    counts: dict[str, int] = {}
    with open(f, "rb") as fh:
        for schema, channel, message in make_reader(fh).iter_messages():
            msg = bags.typestore("humble").deserialize_cdr(message.data, schema.name)
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            if schema.name == bags.IMU_TYPE:
                assert np.isfinite(msg.linear_acceleration.z)
    assert counts["/shank_r/imu/data_raw"] == n_imu and counts["/joint_torques_truth"] > 0
    data = bags.read_bag(path, segments=SENSOR_SETS["3imu"])
    standing = data.imu["pelvis"].specific_force_m_s2[:100]
    assert np.linalg.norm(standing, axis=1).mean() == pytest.approx(9.81, abs=0.2)  # quiet standing first


def test_evaluate_command_writes_csv_metrics_plot_and_bag(sim_bag, tmp_path):
    import json

    from imu_torque_estimator.cli import main

    path, model = sim_bag
    out, est = tmp_path / "eval", tmp_path / "with_torques"
    assert main(["bag", "evaluate", str(path), "--model", str(model), "--out", str(out),
                 "--write-bag", str(est)]) == 0
    summary = json.loads((out / "metrics.json").read_text())
    rep, met = summary["report"], summary["metrics"]
    assert rep["torques_published"] > 200 and rep["calibration_state"] == "calibrated"
    # estimates start after 1 s of still calibration + warm-up, while the subject still stands (no truth)
    first_truth = bags.read_bag(path).truth.stamp_ns.min()
    published = np.loadtxt(out / "torques.csv", delimiter=",", skiprows=1, usecols=0).astype(np.int64)
    assert rep["body_mass_kg"] == 80.0 and met["n_matched"] == int((published >= first_truth).sum()) > 100
    for j in JOINTS:
        assert met[j]["rmse_nm_per_kg"] > 0 and -1 <= met[j]["r"] <= 1
    rows = (out / "torques.csv").read_text().splitlines()
    assert rows[0].startswith("stamp_ns,time_s,hip_flexion_l_nm")
    assert len(rows) == rep["torques_published"] + 1
    assert (out / "torques.png").stat().st_size > 10_000
    data = bags.read_bag(est)
    assert data.torques is not None and len(data.torques) == rep["torques_published"]
    assert len(data.imu["pelvis"]) == len(bags.read_bag(path).imu["pelvis"])
    csv = np.loadtxt(out / "torques.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(data.torques.effort_nm, csv[:, 2:8], rtol=1e-8)
    np.testing.assert_array_equal(data.torques.stamp_ns, csv[:, 0].astype(np.int64))
    # evaluating the bag that now carries torques compares against them (the regression check)
    from imu_torque_estimator.pipeline.offline import evaluate_bag

    again = evaluate_bag(est, model).report["recorded_torques"]
    assert again["matched"] == again["recorded"] == rep["torques_published"]
    assert again["only_recorded"] == again["only_offline"] == 0 and again["max_abs_diff_nm"] == 0.0


def test_offline_evaluation_is_deterministic(sim_bag):
    from imu_torque_estimator.pipeline.offline import evaluate_bag

    path, model = sim_bag
    a, b = evaluate_bag(path, model), evaluate_bag(path, model)
    np.testing.assert_array_equal(a.stamp_ns, b.stamp_ns)
    np.testing.assert_array_equal(a.torque_nm, b.torque_nm)


def test_kinematics_source_equals_the_engine_batch_path(tmp_path):
    """source=kinematics runs only the torque stage on recorded kinematics topics: after warm-up its
    torques equal model.engine.run_sequence over the same features (an independent code path)."""
    from imu_torque_estimator.model.bundle import load_bundle
    from imu_torque_estimator.model.engine import run_sequence
    from imu_torque_estimator.pipeline.offline import OfflineConfig, evaluate_bag

    model = make_bundle(tmp_path / "model")
    n, segs = 300, SENSOR_SETS["3imu"]
    sig, _ = synthetic_signals(n, segs, seed=5)
    stamps = T0_NS + np.arange(n, dtype=np.int64) * DT_NS
    path = tmp_path / "kin"
    with bags.BagWriter(path, metadata={"body_mass_kg": 60.0}) as w:
        for s in segs:
            q = np.tile([0.0, 0.0, 0.0, 1.0], (n, 1))
            w.write_kinematics(s, stamps, q, sig[s][1], sig[s][0])
    cfg = OfflineConfig(source="kinematics", overrides={"torque_estimator": {"warmup_s": 0.25}})
    res = evaluate_bag(path, model, cfg)
    feats = np.hstack([np.hstack([sig[s][0], sig[s][1]]) for s in segs])
    ref = run_sequence(load_bundle(model), feats)
    np.testing.assert_array_equal(res.stamp_ns, stamps[50:])
    np.testing.assert_allclose(res.torque_nm_per_kg, ref[50:], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.torque_nm, ref[50:] * 60.0, rtol=1e-6)  # engine output may be float32


def test_info_and_export_csv_commands(sim_bag, tmp_path, capsys):
    from imu_torque_estimator.cli import main

    path, _ = sim_bag
    assert main(["bag", "info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "/pelvis/imu/data_raw" in text and "sensor_msgs/msg/Imu" in text and "200." in text
    assert main(["bag", "export-csv", str(path), "--out", str(tmp_path / "csv")]) == 0
    data = bags.read_bag(path)
    arr = np.loadtxt(tmp_path / "csv" / "shank_l_imu.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(arr[:, 0].astype(np.int64), data.imu["shank_l"].stamp_ns)
    np.testing.assert_array_equal(arr[:, 2:5], data.imu["shank_l"].specific_force_m_s2)
    truth = np.loadtxt(tmp_path / "csv" / "joint_torques_truth.csv", delimiter=",", skiprows=1)
    np.testing.assert_array_equal(truth[:, 2:], data.truth.effort_nm)


def test_cli_errors_are_one_line(tmp_path, capsys):
    from imu_torque_estimator.cli import main

    assert main(["bag", "info", str(tmp_path / "missing")]) == 2
    assert "no such bag" in capsys.readouterr().err
    (tmp_path / "exists").mkdir()
    assert main(["bag", "simulate", "--out", str(tmp_path / "exists")]) == 2
    assert "use --force" in capsys.readouterr().err
    write_test_bag(tmp_path / "nometa", n=10)
    assert main(["bag", "evaluate", str(tmp_path / "nometa")]) == 2
    assert "no sensor_set in the bag metadata" in capsys.readouterr().err
    assert main(["bag", "evaluate", str(tmp_path / "nometa"), "--sensor-set", "7imu"]) == 2
    assert "missing imu topics for ['thigh_l', 'thigh_r', 'foot_l', 'foot_r']" in capsys.readouterr().err


@settings(max_examples=60, deadline=None)
@given(ns=st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True), max_size=3),
       seg=st.sampled_from(bags.SEGMENTS))
def test_topic_names_classify_back_to_namespace_and_segment(ns, seg):
    name = "/" + "/".join(ns) if ns else ""
    assert bags.classify_topic(bags.imu_topic(seg, name)) == (name, seg, "imu/data_raw")
    assert bags.classify_topic(bags.kinematics_topic(seg, name)) == (name, seg, "kinematics")
    assert bags.classify_topic(bags.torque_topic(name, truth=True)) == (name, None, "joint_torques_truth")
    assert bags.classify_topic(f"{name}/{seg}/imu/data") is None  # not the raw IMU topic


def test_record_topic_list_and_bad_extra_topic():
    from imu_torque_estimator.data.bag_tools import record_topics

    topics = record_topics("3imu", "/exo", ["/clock:rosgraph_msgs/msg/Clock"])
    assert topics["/exo/shank_l/imu/data_raw"] == bags.IMU_TYPE
    assert topics["/exo/pelvis/kinematics"] == bags.IMU_TYPE
    assert topics["/exo/joint_torques"] == topics["/exo/joint_torques_truth"] == bags.JOINT_STATE_TYPE
    assert topics["/diagnostics"] == bags.DIAGNOSTICS_TYPE and topics["/clock"] == bags.CLOCK_TYPE
    assert len(topics) == 3 * 2 + 2 + 1 + 1
    with pytest.raises(ValueError, match="expected /topic:package/msg/Type"):
        record_topics("3imu", "", ["/foo"])


@pytest.mark.parametrize("storage", bags.STORAGES)
def test_fast_mcap_scan_equals_the_rosbags_reader(tmp_path, storage, monkeypatch):
    """read_bag's own MCAP scan (speed) gives exactly what rosbags' reader gives, message order included;
    sqlite3 bags take the rosbags path."""
    path = tmp_path / "bag"
    write_test_bag(path, n=300, storage=storage)
    with bags.BagWriter(tmp_path / "unsorted", sort_on_close=False) as w:  # file order != log-time order
        w.write_imu("pelvis", np.array([3, 4]) * DT_NS, np.ones((2, 3)), np.ones((2, 3)))
        w.write_imu("pelvis", np.array([1, 2]) * DT_NS, np.zeros((2, 3)), np.zeros((2, 3)))
    for p in (path, tmp_path / "unsorted"):
        fast = bags.read_bag(p)
        assert (bags._scan_mcap(p, {"/pelvis/imu/data_raw"}) is not None) == (storage == "mcap" or
                                                                              p.name == "unsorted")
        monkeypatch.setattr(bags, "_scan_mcap", lambda *a: None)
        ref = bags.read_bag(p)
        monkeypatch.undo()
        assert set(fast.imu) == set(ref.imu)
        for s in ref.imu:
            for f in ("stamp_ns", "log_time_ns", "seq", "specific_force_m_s2", "angular_rate_rad_s"):
                np.testing.assert_array_equal(getattr(fast.imu[s], f), getattr(ref.imu[s], f))
        assert (fast.truth is None) == (ref.truth is None)
        if ref.truth is not None:
            np.testing.assert_array_equal(fast.truth.effort_nm, ref.truth.effort_nm)
        assert fast.diagnostics_count == ref.diagnostics_count
    np.testing.assert_array_equal(bags.read_bag(tmp_path / "unsorted").imu["pelvis"].stamp_ns,
                                  np.arange(1, 5) * DT_NS)
