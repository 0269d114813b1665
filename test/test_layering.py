"""Layering (issue 12): the run-time stage code never pulls in the simulator, torch, rclpy or the
launch side. Each group of modules is imported (and exercised) in a fresh interpreter whose
sys.modules is then inspected, so a lazy import inside a function counts too when it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = "imu_torque_estimator"

# Stage code: pipeline/ and kinematics/ (every module, found by walking the packages, so new ones are
# covered), the model engine + bundle, the foundations and the readers/drivers the sources use.
WALKED = ("pipeline", "kinematics")
STAGE_MODULES = (
    "model.architectures", "model.engine", "model.bundle", "model.config",
    "body", "units", "paths", "motion", "atomic", "data.bags", "data.imu_csv", "data.xsens_text",
    "drivers.xsens_device", "drivers.xsens", "drivers.clock",
)


def stage_modules() -> list[str]:
    import importlib.util
    import pkgutil

    names = []
    for pkg in WALKED:
        spec = importlib.util.find_spec(f"{PKG}.{pkg}")
        assert spec is not None and spec.submodule_search_locations
        names.append(f"{PKG}.{pkg}")
        names += [m.name for m in pkgutil.walk_packages(spec.submodule_search_locations, f"{PKG}.{pkg}.")]
    return names + [f"{PKG}.{m}" for m in STAGE_MODULES]


FORBIDDEN = (f"{PKG}.sim", "torch", "rclpy", f"{PKG}.launch_builder", f"{PKG}.nodes", f"{PKG}.commands",
             f"{PKG}.evaluation", "matplotlib")
# What the stages do at run time (lazy imports included): build the kinematics stage and feed it
# still standing until it calibrates, load the shipped 3imu bundle into its engine, step the torque
# stage, build the replay and xsens sources, resolve the launch configuration of both sets.
EXERCISE = """
import numpy as np
from imu_torque_estimator.body import SENSOR_SETS
from imu_torque_estimator.kinematics.placement import default_placements
from imu_torque_estimator.body import lower_body_model, GRAVITY_M_S2
from imu_torque_estimator.model.architectures import make_engine
from imu_torque_estimator.model.bundle import load_bundle
from imu_torque_estimator.pipeline import config as C
from imu_torque_estimator.pipeline.segment_kinematics import build_frontend
from imu_torque_estimator.pipeline.torque_estimator import TorqueEstimatorCore
from imu_torque_estimator.pipeline.sources import SourceConfig, create_source, check_source
fe = build_frontend(C.KinematicsConfig.from_params(sensor_set="3imu", functional_s=0.0))
pl = default_placements(lower_body_model(75.0, 1.75))
for k in range(150):
    for i, s in enumerate(SENSOR_SETS["3imu"]):
        fe.push(i, k * 10_000_000, pl[s].sensor_to_segment.T @ [0, 0, GRAVITY_M_S2], np.zeros(3))
assert fe.calibration.state.value == "calibrated", fe.report()
bundle = load_bundle(C.model_dir("", "3imu"))
core = TorqueEstimatorCore(make_engine(bundle), C.EstimatorConfig.from_params(sensor_set="3imu"))
core.push("pelvis", 0, np.zeros(6))
import imu_torque_estimator.data.imu_csv as csv
from imu_torque_estimator.motion import ImuSignals
import tempfile, pathlib
d = pathlib.Path(tempfile.mkdtemp())
sig = ImuSignals(np.arange(50) / 100.0, np.zeros((50, 3)), np.zeros((50, 3)))
csv.write_imu_csv(d / "r.csv", {"pelvis": sig})
create_source("replay", SourceConfig("pelvis", file=str(d / "r.csv")))
create_source("xsens", SourceConfig("pelvis", port="/dev/null"))
check_source("replay", {"source": "replay", "file": str(d / "r.csv")}, "pelvis")
for s in SENSOR_SETS:
    C.resolve_configuration(s, {})
"""
PROBE = """
import importlib, json, sys
names = json.loads(sys.argv[1])
forbidden = json.loads(sys.argv[2])
def bad():
    return sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden))
out = {}
for name in names:
    before = set(bad())
    importlib.import_module(name)
    new = sorted(set(bad()) - before)
    if new:
        out[name] = new
exec(sys.argv[3])
after = sorted(set(bad()) - {m for v in out.values() for m in v})
if after:
    out["<exercise>"] = after
print(json.dumps(out))
"""


def _probe(modules: list[str], forbidden: tuple[str, ...], exercise: str = "") -> dict[str, list[str]]:
    env = dict(os.environ)
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)  # the child sets up the ROS wheels' libraries itself
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(modules), json.dumps(list(forbidden)),
                          exercise], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_stage_modules_import_no_simulator_torch_rclpy_or_launch_code():
    modules = stage_modules()
    assert f"{PKG}.pipeline.sources.xsens" in modules and f"{PKG}.kinematics.placement" in modules
    found = _probe(modules, FORBIDDEN, EXERCISE)
    assert found == {}, f"forbidden imports (module -> what it pulled in): {found}"


@pytest.mark.parametrize("node", ["imu_driver", "segment_kinematics", "torque_estimator", "bag_replay"])
def test_nodes_import_no_simulator_torch_or_launch_code(node):
    pytest.importorskip("rclpy")
    forbidden = tuple(f for f in FORBIDDEN if f not in ("rclpy", f"{PKG}.nodes"))
    assert _probe([f"{PKG}.nodes.{node}"], forbidden) == {}


def test_the_probe_sees_a_forbidden_import():
    """The check can fail: the simulator's recording module is found importing the simulator."""
    assert _probe([f"{PKG}.sim.recording"], (f"{PKG}.sim",)) == {f"{PKG}.sim.recording": [
        f"{PKG}.sim", f"{PKG}.sim.recording"]}
