"""Where the package's files are (ROS-free; ament index when available): installed resources
(config, launch, shipped models) and the one cache directory convention.

Cache: `$IMU_TORQUE_CACHE` if set, else `$XDG_CACHE_HOME/imu_torque_estimator`, else
`~/.cache/imu_torque_estimator`; each kind of cached data has its own sub-directory (`sim` for the
simulated recordings of the sim source, `real_trials` for the built real trials).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = "imu_torque_estimator"
REPO_ROOT = Path(__file__).resolve().parents[1]


def share_dir() -> Path:
    """The package share directory (ament index), else the source checkout root."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            return Path(get_package_share_directory(PACKAGE))
        except (PackageNotFoundError, OSError):  # not installed / AMENT_PREFIX_PATH unset
            pass
    except ImportError:
        pass
    return REPO_ROOT


def default_model_dir(sensor_set: str) -> Path:
    """The shipped model bundle of a sensor set: <share>/models/<sensor_set>."""
    return share_dir() / "models" / sensor_set


def cache_dir(kind: str) -> Path:
    """The cache sub-directory for one kind of data (see the module docstring); not created here."""
    env = os.environ.get("IMU_TORQUE_CACHE")
    if env:
        return Path(env) / kind
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / PACKAGE / kind
