"""Where the installed package's executables and `ros2` are, found the way a ROS user's shell finds
them (PATH, AMENT_PREFIX_PATH), so the same tests run in the `make setup` venv, after `colcon build`
(`colcon test`) and on a machine with a sourced ROS 2 distribution."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

PACKAGE = "imu_torque_estimator"


def ament_prefix_path() -> str:
    """The caller's AMENT_PREFIX_PATH (colcon, a sourced setup file, the Makefile), else this
    interpreter's prefix (a venv made by `make setup` is an ament prefix)."""
    return os.environ.get("AMENT_PREFIX_PATH") or sys.prefix


def package_executable(name: str) -> Path:
    """<prefix>/lib/imu_torque_estimator/<name> of the first prefix that has it (what `ros2 run` runs),
    else the console script beside this interpreter (a pip install without ament files)."""
    for prefix in ament_prefix_path().split(os.pathsep):
        path = Path(prefix) / "lib" / PACKAGE / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    path = Path(sys.executable).parent / name
    if path.is_file():
        return path
    raise FileNotFoundError(f"executable {name!r} of {PACKAGE} is in no prefix of AMENT_PREFIX_PATH="
                            f"{ament_prefix_path()!r} nor beside {sys.executable}")


def ros2_command() -> str:
    """`ros2` from PATH, else from bin/ of an AMENT_PREFIX_PATH prefix or of this interpreter."""
    found = shutil.which("ros2")
    if found:
        return found
    for d in [*(Path(p) / "bin" for p in ament_prefix_path().split(os.pathsep)), Path(sys.executable).parent]:
        if (d / "ros2").is_file():
            return str(d / "ros2")
    raise FileNotFoundError("no `ros2` on PATH nor in AMENT_PREFIX_PATH: source a ROS 2 setup file")
