"""Where the package's installed resources are (ROS-free; ament index when available)."""

from __future__ import annotations

from pathlib import Path

PACKAGE = "imu_torque_estimator"
_REPO_ROOT = Path(__file__).resolve().parents[1]


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
    return _REPO_ROOT


def default_model_dir(sensor_set: str) -> Path:
    """The shipped model bundle of a sensor set ('3imu' or '7imu')."""
    return share_dir() / "models" / sensor_set
