"""ament_python package setup: works with `colcon build` (ROS 2), `pip install -e .` (the venv of
`make setup`) and `pip install .` (a wheel). Dependencies and extras are declared in setup.cfg."""

import os
import stat
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "imu_torque_estimator"

# Node executables and the CLI, all console scripts. colcon installs console scripts into
# <prefix>/lib/<package>/ (setup.cfg [install]/[develop]), where `ros2 run` and launch_ros look.
NODES = {
    "imu_driver": "imu_torque_estimator.nodes.imu_driver:main",
    "segment_kinematics": "imu_torque_estimator.nodes.segment_kinematics:main",
    "torque_estimator": "imu_torque_estimator.nodes.torque_estimator:main",
    "bag_replay": "imu_torque_estimator.nodes.bag_replay:main",
}
CONSOLE_SCRIPTS = {**NODES, "imu-torque": "imu_torque_estimator.cli:main"}


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
    *_tree("models", f"share/{PACKAGE}"),
]


def write_wrappers(out_dir: str) -> list[str]:
    """lib/<package>/ wrappers (scripts/node_wrapper.sh.in) for every console script, for installs
    that put console scripts in <prefix>/bin (wheels). scripts/install_ament_files.py does the same
    for the editable venv of `make setup`."""
    template_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts", "node_wrapper.sh.in")
    with open(template_path) as f:
        template = f.read()
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name in sorted(CONSOLE_SCRIPTS):
        path = os.path.join(out_dir, name)
        with open(path, "w") as f:
            f.write(template.replace("@EXECUTABLE@", name))
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        paths.append(path)
    return paths


cmdclass = {}
try:  # only wheels need the wrappers; colcon never builds one (and may run an older setuptools)
    try:
        from setuptools.command.bdist_wheel import bdist_wheel
    except ImportError:
        from wheel.bdist_wheel import bdist_wheel

    class BdistWheelWithWrappers(bdist_wheel):
        def run(self) -> None:
            wrappers = write_wrappers(os.path.join(self.bdist_dir or "build", "..", "node_wrappers"))
            self.distribution.data_files = [*(self.distribution.data_files or []),
                                            (f"lib/{PACKAGE}", wrappers)]
            super().run()

    cmdclass["bdist_wheel"] = BdistWheelWithWrappers
except ImportError:
    pass

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={PACKAGE: ["py.typed", "sim/patterns.json"]},
    data_files=data_files,
    cmdclass=cmdclass,
    # here, not in setup.cfg: colcon reads setup() arguments with ast.literal_eval, and setup.cfg's
    # python_requires becomes a SpecifierSet object
    python_requires=">=3.10",
    zip_safe=True,
    maintainer="imu_torque_estimator developers",
    maintainer_email="imu-torque-estimator@example.org",
    description="Real-time lower-limb joint torque estimation from body-worn IMUs (RNN), ROS 2 nodes.",
    license="Apache-2.0",
    entry_points={"console_scripts": [f"{name} = {target}" for name, target in CONSOLE_SCRIPTS.items()]},
)
