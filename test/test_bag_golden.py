"""Golden bag: a small deterministic bag generated here; its offline evaluation
(pipeline.offline.evaluate_bag) must equal the torques the live nodes publish when the bag is replayed
through the graph (bag_replay -> segment_kinematics -> torque_estimator), sample for sample within 1e-6.

Also (ROS): `imu-torque bag record` stops cleanly on SIGINT leaving a valid bag, and bag_replay plays
the recorded messages unchanged, with /clock, looping on one continuous timeline.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_bags import make_bundle, write_test_bag

from imu_torque_estimator.data import bags

SET3 = ("pelvis", "shank_l", "shank_r")
MASS_KG = 68.0


def golden_bag(path: Path) -> Path:
    """2 s quiet standing + 9 walking strides (enough for a functional calibration and torques after it),
    3 IMUs at 200 Hz, ideal sensors, seeded."""
    from imu_torque_estimator.sim.recording import simulate_bag

    simulate_bag(path, condition="walk_1.2", set_name="3imu", strides=9, rate_hz=200.0, seed=7,
                 errors="ideal", mass_kg=MASS_KG, height_m=1.70, sex="female")
    return path


def params_file(path: Path, model: Path) -> Path:
    """The node parameters used by both the graph and the offline run (same YAML layer)."""
    doc = {
        "segment_kinematics": {"ros__parameters": {
            "sensor_set": "3imu", "rate_hz": 200, "subject_mass_kg": MASS_KG, "subject_height_m": 1.70,
            "subject_sex": "female", "queue_depth": 1000, "functional_s": 5.0}},
        "torque_estimator": {"ros__parameters": {
            "sensor_set": "3imu", "rate_hz": 200, "body_mass_kg": MASS_KG, "model": str(model),
            "queue_depth": 1000}},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    d = tmp_path_factory.mktemp("golden")
    model = make_bundle(d / "model", "3imu")
    return golden_bag(d / "bag"), model, params_file(d / "params.yaml", model)


def test_golden_bag_and_its_offline_evaluation_are_deterministic(golden, tmp_path):
    from imu_torque_estimator.pipeline.offline import OfflineConfig, evaluate_bag

    bag, model, params = golden
    again = golden_bag(tmp_path / "again")
    assert list(bags.iter_raw(bag)) == list(bags.iter_raw(again))  # every message, byte for byte
    r1 = evaluate_bag(bag, model, OfflineConfig(params_file=params))
    r2 = evaluate_bag(again, model, OfflineConfig(params_file=params))
    assert r1.report["calibration_state"] == "calibrated" and len(r1.stamp_ns) > 600
    assert r1.report["parameters"]["torque_estimator"]["body_mass_kg"] == MASS_KG
    np.testing.assert_array_equal(r1.stamp_ns, r2.stamp_ns)
    np.testing.assert_array_equal(r1.torque_nm, r2.torque_nm)


# ---------------------------------------------------------------------------------------------- ROS


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # the venv's ROS wheel bootstrapper must rebuild LD_LIBRARY_PATH in each child (imports in this
    # process, e.g. opensim or torch, may have changed it)
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    env.update(ROS_DOMAIN_ID=str(random.randint(1, 200)), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               AMENT_PREFIX_PATH=str(Path(sys.prefix)), PYTHONUNBUFFERED="1")
    return env


def _node(module: str, env: dict, *params: str, params_file: Path | None = None) -> subprocess.Popen:
    args = [sys.executable, "-m", f"imu_torque_estimator.nodes.{module}", "--ros-args"]
    if params_file is not None:
        args += ["--params-file", str(params_file)]
    for p in params:
        args += ["-p", p]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(procs: list[subprocess.Popen]) -> str:
    logs = []
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            out, _ = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        logs.append(out or "")
    return "\n".join(logs)


def _wait(cond, timeout_s: float, what: str, procs=()) -> None:
    t_end = time.monotonic() + timeout_s
    while not cond():
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: a process exited early:\n{_stop(list(procs))}")
        if time.monotonic() > t_end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run_live(bag: Path, params: Path, expected: int,
             record: Path | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Replay `bag` through segment_kinematics + torque_estimator (real nodes, private domain) and
    collect /joint_torques: (stamps (M,), efforts (M, 6) N m, node logs). With `record`, the graph is
    also recorded there by `imu-torque bag record` (stopped with SIGINT at the end)."""
    rclpy = pytest.importorskip("rclpy")
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState

    from imu_torque_estimator.nodes.common import sensor_qos

    env = _env()
    got: list[tuple[int, np.ndarray]] = []
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=int(env["ROS_DOMAIN_ID"]))
    node = rclpy.create_node("golden_listener", context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    node.create_subscription(JointState, "/joint_torques",
                             lambda m: got.append((m.header.stamp.sec * 10**9 + m.header.stamp.nanosec,
                                                   np.array(m.effort))), sensor_qos(5000))
    procs = [_node("segment_kinematics", env, params_file=params),
             _node("torque_estimator", env, params_file=params)]
    need_subs = 1
    if record is not None:
        log = record.with_suffix(".log")
        procs.insert(0, subprocess.Popen(
            [sys.executable, "-m", "imu_torque_estimator.cli", "bag", "record", "--out", str(record),
             "--sensor-set", "3imu", "--mass-kg", str(MASS_KG)], env=env, stdout=subprocess.DEVNULL,
            stderr=log.open("w")))
        need_subs = 2
    try:
        _wait(lambda: all(node.count_subscribers(f"/{s}/kinematics") >= need_subs for s in SET3)
              and all(node.count_subscribers(f"/{s}/imu/data_raw") >= need_subs for s in SET3)
              and node.count_subscribers("/joint_torques") >= need_subs
              and node.count_publishers("/joint_torques") >= 1, 120, "the pipeline nodes", procs)
        procs.append(_node("bag_replay", env, f"bag:={bag}", "rate:=1.0",
                           f"wait_for_subscribers:={need_subs}", "start_delay_s:=1.0"))
        t_end = time.monotonic() + bags.bag_info(bag)["duration_s"] + 30
        while len(got) < expected and time.monotonic() < t_end:
            executor.spin_once(timeout_sec=0.1)
        for _ in range(20):  # anything still in flight
            executor.spin_once(timeout_sec=0.05)
    finally:
        logs = _stop(procs)
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
    return (np.array([st for st, _ in got], dtype=np.int64), np.array([e for _, e in got]).reshape(-1, 6),
            logs)


def assert_live_equals_offline(bag: Path, model: Path, params: Path, record: Path | None = None) -> dict:
    from imu_torque_estimator.pipeline.offline import OfflineConfig, evaluate_bag

    offline = evaluate_bag(bag, model, OfflineConfig(params_file=params))
    stamps, effort, logs = run_live(bag, params, len(offline.stamp_ns), record)
    # Every torque the graph published must be an offline torque with the same value. The listener's
    # best-effort subscription may (rarely, on a loaded machine) miss a published message: that does
    # not touch the pipeline's state (a lost INPUT message would change all later values), so a few
    # offline-only stamps are tolerated and reported, nothing else.
    n_off = len(offline.stamp_ns)
    only_live = np.setdiff1d(stamps, offline.stamp_ns)
    only_off = np.setdiff1d(offline.stamp_ns, stamps)
    assert only_live.size == 0, f"live torques at stamps the offline run has not: {only_live[:10]}\n{logs}"
    assert len(only_off) <= max(2, n_off // 200), f"live {len(stamps)} vs offline {n_off}\n{logs}"
    _, i_live, i_off = np.intersect1d(stamps, offline.stamp_ns, return_indices=True)
    err = np.abs(effort[i_live] - offline.torque_nm[i_off]).max()
    assert err <= 1e-6, f"max |live - offline| = {err} N m"
    print(f"{bag.name}: {len(stamps)} live / {n_off} offline torques (missed by the listener: "
          f"{len(only_off)}), max |live - offline| = {err:.3g} N m")
    return offline.report


@pytest.mark.ros
@pytest.mark.slow
def test_live_graph_equals_offline_evaluation_sample_for_sample(golden, tmp_path):
    """Also the user's regression workflow: `bag record` the live graph, `bag evaluate` the recording
    (from its IMU topics, and from its kinematics topics): both reproduce the recorded torques."""
    from imu_torque_estimator.pipeline.offline import OfflineConfig, evaluate_bag

    bag, model, params = golden
    rep = assert_live_equals_offline(bag, model, params, record=tmp_path / "recorded")
    for source in ("imu", "kinematics"):
        res = evaluate_bag(tmp_path / "recorded", model, OfflineConfig(params_file=params, source=source))
        cmp = res.report["recorded_torques"]  # (a recorded torque message may be missed, see above)
        assert cmp["only_recorded"] == 0 and cmp["matched"] == cmp["recorded"], cmp
        assert cmp["only_offline"] <= max(2, rep["torques_published"] // 200), cmp
        assert cmp["max_abs_diff_nm"] <= 1e-6, cmp


@pytest.mark.ros
@pytest.mark.slow
def test_live_graph_skips_bad_samples_like_the_offline_evaluation(golden, tmp_path):
    """The golden bag with NaN samples, an out-of-order message, a 0.5 s sensor dropout and a clock jump
    backwards (all after calibration): the graph publishes exactly the offline torques, none from the
    bad samples."""
    src, model, params = golden
    data = bags.read_bag(src)
    bad = tmp_path / "bad"
    with bags.BagWriter(bad, metadata=data.metadata) as w:
        for s in SET3:
            t = data.imu[s]
            st, log = t.stamp_ns.copy(), t.log_time_ns.copy()
            f, g = t.specific_force_m_s2.copy(), t.angular_rate_rad_s.copy()
            keep = np.ones(len(st), bool)
            n = len(st)  # bad samples in the last 3 s, after calibration and warm-up
            if s == "shank_l":
                f[n - 600:n - 595, 2] = np.nan
            if s == "pelvis":  # a message arrives before its predecessor
                order = np.arange(n)
                order[n - 500], order[n - 499] = n - 499, n - 500
                st, f, g = st[order], f[order], g[order]
            if s == "shank_r":
                keep[n - 400:n - 300] = False  # 0.5 s at 200 Hz
            st[n - 100:] -= 2_000_000_000  # every sensor clock jumps 2 s back for the last 0.5 s
            w.write_imu(s, st[keep], f[keep], g[keep], log_time_ns=log[keep])
    rep = assert_live_equals_offline(bad, model, params)
    assert rep["imu_invalid"]["shank_l"] == {"nan_inf": 5, "backward_jump": 1}
    assert rep["imu_invalid"]["pelvis"] == {"out_of_order": 1, "backward_jump": 1}
    assert rep["imu_invalid"]["shank_r"] == {"backward_jump": 1}
    assert rep["grid_dropped_total"] >= 100 + 5 + 1 and rep["estimator_gap_resets"] == 1
    assert rep["grid_reanchors"] == 1 and rep["estimator_rejected"]["stale_or_out_of_order"] > 0


@pytest.mark.ros
@pytest.mark.slow
def test_replay_loop_and_record_with_sigint_give_a_valid_bag(tmp_path):
    src = tmp_path / "src"
    stamps, sig, _ = write_test_bag(src, n=200)  # 1 s at 200 Hz
    env = _env()
    out = tmp_path / "recorded"
    log = tmp_path / "record.log"
    rec = subprocess.Popen([sys.executable, "-m", "imu_torque_estimator.cli", "bag", "record", "--out",
                            str(out), "--sensor-set", "3imu", "--topic", "/clock:rosgraph_msgs/msg/Clock"],
                           env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"), text=True)
    _wait(lambda: "recording" in log.read_text(), 120, "the recorder to start", [rec])
    rp = _node("bag_replay", env, f"bag:={src}", "rate:=1.0", "loop:=true", "wait_for_subscribers:=1",
               "start_delay_s:=1.0")
    try:
        time.sleep(7.0)  # discovery + >= 2 loop passes
    finally:
        replay_log = _stop([rp])
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=30)
    err = log.read_text()
    assert rec.returncode == 0, err
    assert "wrote" in err
    data = bags.read_bag(out)  # a valid, finalised bag (metadata.yaml written on SIGINT)
    p = data.imu["pelvis"]
    assert len(p) >= 300, replay_log
    # first pass = the source bag's messages, unchanged; later passes continue the timeline
    k = int(np.searchsorted(stamps, p.stamp_ns[0]))
    n1 = min(len(stamps) - k, len(p))
    np.testing.assert_array_equal(p.stamp_ns[:n1], stamps[k:k + n1])
    np.testing.assert_array_equal(p.specific_force_m_s2[:n1], sig["pelvis"][0][k:k + n1])
    d = np.diff(p.stamp_ns)
    assert np.all(d > 0) and np.median(d) == 5_000_000
    assert p.stamp_ns[-1] > stamps[-1]  # looped, stamps kept increasing
    assert data.topics.get("/clock", ("", 0))[1] > 50


@pytest.mark.ros
def test_bag_replay_startup_errors_are_one_line(tmp_path):
    env = _env()
    for params, needle in ((["bag:=" + str(tmp_path / "nope")], "no such bag"),
                           ([], "parameter 'bag' is required")):
        p = _node("bag_replay", env, *params)
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 2, out
        assert needle in out and "Traceback" not in out


@pytest.mark.ros
def test_shift_header_stamp_keeps_the_message_and_moves_the_stamp():
    from imu_torque_estimator.nodes.bag_replay import shift_header_stamp

    raw = bags.encode_imu(np.array([1_999_999_999]), "pelvis_imu", np.arange(37.0)[None, :])[0]
    shifted = shift_header_stamp(raw, 3_000_000_002)
    msg = bags.typestore().deserialize_cdr(shifted, bags.IMU_TYPE)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (5, 1)
    assert msg.header.frame_id == "pelvis_imu" and shifted[12:] == raw[12:]
