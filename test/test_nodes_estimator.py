"""torque_estimator node with real messages: published torques equal the batch engine sample for
sample; NaN features, a missing segment and a gap publish nothing and are reported; bad bundles and
a bad body mass stop the node at startup with one line (issue 6)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

from helpers_bundle import make_bundle  # noqa: E402
from rosgraph import REPO, Graph, _env  # noqa: E402
from rosgraph import graph as graph  # noqa: E402  (pytest fixture)
from sensor_msgs.msg import Imu, JointState  # noqa: E402

from imu_torque_estimator.body import SENSOR_SETS  # noqa: E402
from imu_torque_estimator.model.bundle import load_bundle  # noqa: E402
from imu_torque_estimator.model.engine import run_sequence  # noqa: E402
from imu_torque_estimator.nodes import common  # noqa: E402

SEGS = SENSOR_SETS["3imu"]
MASS = 68.0
DT_NS = 10_000_000


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("b") / "3imu", "3imu", hidden=32)


def _features(n: int, seed: int = 1) -> np.ndarray:
    """Smooth gait-like features (N, 18): CoM specific force ~ +-15 m/s^2, angular rate ~ +-5 rad/s."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 100.0
    phase = rng.uniform(0, 2 * np.pi, 18)
    amp = np.tile([12.0, 3.0, 15.0, 2.0, 5.0, 1.5], 3)
    return amp * np.sin(2 * np.pi * 1.0 * t[:, None] + phase) + np.tile([0, 0, 9.8, 0, 0, 0], 3)


class Bench:
    """Publishes kinematics for SEGS and collects joint_torques (stamp -> effort)."""

    def __init__(self, g: Graph) -> None:
        self.g = g
        self.torques: dict[int, np.ndarray] = {}
        self.pubs = {s: g.node.create_publisher(Imu, f"{s}/kinematics", 100) for s in SEGS}
        g.node.create_subscription(JointState, "joint_torques", self._on, common.sensor_qos(500))

    def _on(self, m: JointState) -> None:
        with self.g.lock:
            self.torques[common.time_msg_to_ns(m.header.stamp)] = np.array(m.effort)

    def wait_connected(self) -> None:
        self.g.wait_for(lambda: all(p.get_subscription_count() > 0 for p in self.pubs.values()), 60.0,
                        "torque_estimator subscriptions")

    def publish(self, stamp_ns: int, feats: np.ndarray, skip: tuple[str, ...] = ()) -> None:
        msg = Imu()
        for i, s in enumerate(SEGS):
            if s in skip:
                continue
            common.fill_imu_msg(msg, stamp_ns, s, feats[6 * i:6 * i + 3], feats[6 * i + 3:6 * i + 6],
                                (1.0, 0.0, 0.0, 0.0))
            self.pubs[s].publish(msg)
        time.sleep(0.01)  # real time at 100 Hz


def _start(g: Graph, bundle_dir: Path, **params) -> None:
    g.start("torque_estimator", "torque_estimator",
            {"model": str(bundle_dir), "sensor_set": "3imu", "body_mass_kg": MASS,
             "diagnostics_period_s": 0.2, **params})


def test_node_torques_equal_the_batch_engine_sample_for_sample(graph, bundle_dir):
    bench = Bench(graph)
    _start(graph, bundle_dir, warmup_s=0.0)
    bench.wait_connected()
    feats = _features(300)
    t0 = 1_700_000_000 * 1_000_000_000
    for k in range(len(feats)):
        bench.publish(t0 + k * DT_NS, feats[k])
    graph.wait_for(lambda: len(bench.torques) >= len(feats), 30.0, "all torques")
    expected = run_sequence(load_bundle(bundle_dir), feats) * MASS
    got = np.stack([bench.torques[t0 + k * DT_NS] for k in range(len(feats))])
    assert got.shape == (300, 6)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6 * MASS)
    assert np.abs(got).max() > 1.0  # not a trivially zero output


def test_bad_samples_publish_nothing_and_are_reported(graph, bundle_dir):
    bench = Bench(graph)
    _start(graph, bundle_dir, warmup_s=0.05, max_gap_s=0.1)  # 5 warm-up samples
    bench.wait_connected()
    feats = _features(120, seed=3)
    t0 = 1_700_000_100 * 1_000_000_000
    stamps = [t0 + k * DT_NS for k in range(60)]
    gap_start = t0 + 60 * DT_NS + 500_000_000  # 0.5 s gap > max_gap_s
    stamps += [gap_start + k * DT_NS for k in range(60)]
    nan_k, missing_k = 20, 30
    for k, st in enumerate(stamps):
        f = feats[k].copy()
        if k == nan_k:
            f[7] = np.nan
        bench.publish(st, f, skip=("shank_l",) if k == missing_k else ())
    bench.publish(stamps[-1] + DT_NS, feats[-1])  # completes the last sample's successor
    name = "torque_estimator: estimator"
    graph.wait_for(lambda: int(graph.diag.get(name, {}).get("published", 0)) >= 109, 30.0,
                   f"diagnostics: {graph.diag.get(name)}")
    with graph.lock:
        got = dict(bench.torques)
        diag = dict(graph.diag[name])
    assert stamps[nan_k] not in got and stamps[missing_k] not in got
    assert diag["rejected.non_finite_features"] == "1" and diag["rejected.missing_segment"] == "1"
    # warm-up: the first 5 samples of each state are not published
    assert not any(s in got for s in stamps[:5]) and not any(s in got for s in stamps[60:65])
    assert all(s in got for s in stamps[5:20] + stamps[65:120])
    # after the gap the state restarted: torques equal a fresh engine over the post-gap samples
    expected = run_sequence(load_bundle(bundle_dir), feats[60:120]) * MASS
    np.testing.assert_allclose(np.stack([got[s] for s in stamps[65:120]]), expected[5:], rtol=1e-6,
                               atol=1e-6 * MASS)


def _refuse(tmp_path: Path, **params) -> str:
    args = [sys.executable, "-m", "imu_torque_estimator.nodes.torque_estimator", "--ros-args"]
    for k, v in params.items():
        args += ["-p", f"{k}:={v}"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=90, cwd=REPO, env=_env(199))
    assert out.returncode == 2, out.stdout + out.stderr
    err = out.stderr.strip()
    assert "Traceback" not in err and err.count("configuration error") == 1, err
    return err


def test_bundle_for_another_sensor_set_is_refused(tmp_path):
    b7 = make_bundle(tmp_path / "7imu", "7imu", hidden=8)
    assert "is for sensor set '7imu'" in _refuse(tmp_path, model=str(b7), sensor_set="3imu")


def test_bundle_for_another_rate_is_refused(tmp_path, bundle_dir):
    assert "trained at 100 Hz" in _refuse(tmp_path, model=str(bundle_dir), rate_hz=200)


def test_missing_model_is_refused(tmp_path):
    assert "does not exist" in _refuse(tmp_path, model=str(tmp_path / "nothing"))


def test_corrupt_weights_are_refused(tmp_path, bundle_dir):
    bad = tmp_path / "corrupt"
    shutil.copytree(bundle_dir, bad)
    w = next(p for p in bad.iterdir() if p.suffix == ".npz")
    w.write_bytes(w.read_bytes()[:-20] + b"\0" * 20)
    assert "corrupt" in _refuse(tmp_path, model=str(bad))


@pytest.mark.parametrize("mass", ["0.0", "-70.0"])
def test_non_positive_body_mass_is_refused(tmp_path, bundle_dir, mass):
    assert "body_mass_kg" in _refuse(tmp_path, model=str(bundle_dir), body_mass_kg=mass)
