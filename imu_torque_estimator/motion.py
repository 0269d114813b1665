"""Plain-array containers shared by dynamics, simulation, kinematics and dataset code.

All arrays are in the ground frame of `body.py` (x forward, y left, z up) and SI units unless a
name says otherwise. N = number of samples. No ROS imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .body import SEGMENTS

# Joint centres carried by SegmentKinematics (ground frame positions).
JOINT_CENTRES: tuple[str, ...] = ("hip_l", "hip_r", "knee_l", "knee_r", "ankle_l", "ankle_r")


def _as_n3(name: str, a: np.ndarray, n: int) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.shape != (n, 3):
        raise ValueError(f"{name}: expected shape ({n}, 3), got {a.shape}")
    return a


@dataclass
class SegmentKinematics:
    """Rigid-body kinematics of body segments, sampled on `time_s`.

    rotation[s]            (N, 3, 3) segment frame -> ground (columns = segment axes in ground)
    com_position_m[s]      (N, 3) CoM position in ground
    com_acceleration_m_s2  (N, 3) CoM linear acceleration in ground (gravity NOT included)
    angular_velocity_rad_s (N, 3) segment angular velocity expressed in ground
    angular_acceleration_rad_s2 (N, 3) expressed in ground
    joint_position_m[j]    (N, 3) joint centre positions in ground, j in JOINT_CENTRES
    """

    time_s: np.ndarray
    rotation: dict[str, np.ndarray]
    com_position_m: dict[str, np.ndarray]
    com_acceleration_m_s2: dict[str, np.ndarray]
    angular_velocity_rad_s: dict[str, np.ndarray]
    angular_acceleration_rad_s2: dict[str, np.ndarray]
    joint_position_m: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.time_s = np.asarray(self.time_s, dtype=float)
        if self.time_s.ndim != 1:
            raise ValueError(f"time_s must be 1-D, got shape {self.time_s.shape}")
        n = self.time_s.shape[0]
        if n > 1 and not np.all(np.diff(self.time_s) > 0):
            raise ValueError("time_s must be strictly increasing")
        for s in self.rotation:
            if s not in SEGMENTS:
                raise ValueError(f"unknown segment {s!r}; known segments are {list(SEGMENTS)}")
            r = np.asarray(self.rotation[s], dtype=float)
            if r.shape != (n, 3, 3):
                raise ValueError(f"rotation[{s!r}]: expected shape ({n}, 3, 3), got {r.shape}")
            self.rotation[s] = r
            for attr in ("com_position_m", "com_acceleration_m_s2", "angular_velocity_rad_s",
                         "angular_acceleration_rad_s2"):
                d = getattr(self, attr)
                if s not in d:
                    raise ValueError(f"{attr} is missing segment {s!r}")
                d[s] = _as_n3(f"{attr}[{s!r}]", d[s], n)
        for j, p in self.joint_position_m.items():
            if j not in JOINT_CENTRES:
                raise ValueError(f"unknown joint centre {j!r}; known: {list(JOINT_CENTRES)}")
            self.joint_position_m[j] = _as_n3(f"joint_position_m[{j!r}]", p, n)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(s for s in SEGMENTS if s in self.rotation)

    def __len__(self) -> int:
        return int(self.time_s.shape[0])


@dataclass
class FootContact:
    """External load on one foot, ground frame: force the ground applies to the foot (N), centre of
    pressure on the ground (m), free moment about the vertical through the CoP (N m, (N, 3) with only
    z non-zero for a flat floor). Zero force where the foot is in the air (CoP then arbitrary)."""

    force_n: np.ndarray
    cop_m: np.ndarray
    free_moment_nm: np.ndarray

    def __post_init__(self) -> None:
        self.force_n = np.asarray(self.force_n, dtype=float)
        n = self.force_n.shape[0] if self.force_n.ndim == 2 else -1
        self.force_n = _as_n3("force_n", self.force_n, n)
        self.cop_m = _as_n3("cop_m", self.cop_m, n)
        self.free_moment_nm = _as_n3("free_moment_nm", self.free_moment_nm, n)
        for name in ("force_n", "free_moment_nm"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"FootContact.{name} contains NaN or inf")
        loaded = np.linalg.norm(self.force_n, axis=1) > 0
        if not np.all(np.isfinite(self.cop_m[loaded])):
            raise ValueError("FootContact.cop_m contains NaN or inf while the foot is loaded")


@dataclass
class ImuSignals:
    """One IMU's raw signals in its sensor frame: specific force incl. gravity (m/s^2), angular rate
    (rad/s), sample stamps (s). Optional orientation (N, 4) quaternion w,x,y,z sensor -> ground."""

    time_s: np.ndarray
    specific_force_m_s2: np.ndarray
    angular_rate_rad_s: np.ndarray
    orientation_wxyz: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.time_s = np.asarray(self.time_s, dtype=float)
        n = self.time_s.shape[0]
        self.specific_force_m_s2 = _as_n3("specific_force_m_s2", self.specific_force_m_s2, n)
        self.angular_rate_rad_s = _as_n3("angular_rate_rad_s", self.angular_rate_rad_s, n)
        if self.orientation_wxyz is not None:
            q = np.asarray(self.orientation_wxyz, dtype=float)
            if q.shape != (n, 4):
                raise ValueError(f"orientation_wxyz: expected shape ({n}, 4), got {q.shape}")
            self.orientation_wxyz = q
