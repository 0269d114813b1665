"""ament_python package setup: works with `pip install -e .` (venv) and `colcon build` (ROS 2)."""

from glob import glob
import os

from setuptools import find_packages, setup

PACKAGE = "imu_torque_estimator"

# Node executables. Each is a console script; `launch_ros` and `ros2 run` look for executables
# under <prefix>/lib/<package>/, which wheels do not populate, so a tiny wrapper per node is also
# installed there (see scripts/node_wrapper.sh.in and ../shared/wheels/README.md).
NODES = {
    "imu_driver": "imu_torque_estimator.nodes.imu_driver:main",
    "segment_kinematics": "imu_torque_estimator.nodes.segment_kinematics:main",
    "torque_estimator": "imu_torque_estimator.nodes.torque_estimator:main",
    "bag_replay": "imu_torque_estimator.nodes.bag_replay:main",
}


def _tree(src: str, dst_root: str) -> list[tuple[str, list[str]]]:
    """data_files entries copying directory `src` recursively under `dst_root`."""
    out = []
    for dirpath, _dirs, files in os.walk(src):
        files = [os.path.join(dirpath, f) for f in files if not f.startswith(".")]
        if files:
            out.append((os.path.join(dst_root, dirpath), files))
    return out


data_files = [
    ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
    (f"share/{PACKAGE}", ["package.xml"]),
    (f"share/{PACKAGE}/launch", glob("launch/*.py")),
    (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    (f"lib/{PACKAGE}", sorted(glob("scripts/lib/*"))),
    *_tree("models", f"share/{PACKAGE}"),
]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["py.typed", "sim/patterns.json"]},
    data_files=data_files,
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "vqf>=2.0",
        "rosbags>=0.10",
        "pyserial>=3.5",
        "matplotlib>=3.7",
        "rich>=13",
        "pyyaml>=6",
        "ezc3d>=1.5",
        "threadpoolctl>=3.1",
    ],
    extras_require={
        "test": ["pytest>=7,<8.4", "hypothesis>=6", "ruff>=0.6", "mcap>=1.1", "jsonschema>=4"],
        "biomech": ["opensim>=4.5"],
        "onnx": ["onnxruntime>=1.17", "onnx>=1.15"],
    },
    zip_safe=True,
    maintainer="imu_torque_estimator developers",
    maintainer_email="imu-torque-estimator@example.org",
    description="Real-time lower-limb joint torque estimation from body-worn IMUs (RNN), ROS 2 nodes.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            *(f"{name} = {target}" for name, target in NODES.items()),
            "imu-torque = imu_torque_estimator.cli:main",
        ],
    },
)
