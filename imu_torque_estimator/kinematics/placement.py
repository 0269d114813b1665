"""Nominal sensor placement: where each IMU sits on its segment (ROS-free, no simulator).

The live kinematics stage starts from these nominal mountings and corrects them with the
still-standing / walking calibration; the simulator synthesises its IMUs at these sites (perturbed by
its mounting error model); training features use them the same way, so all three agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..body import SEGMENTS, LowerBodyModel

_DEG = np.pi / 180.0


@dataclass(frozen=True)
class SensorPlacement:
    """Where one IMU sits on a segment.

    segment            body.SEGMENTS name
    position_m         (3,) sensor origin relative to the segment CoM, segment axes (m)
    sensor_to_segment  (3,3) rotation mapping sensor-frame vectors to segment-frame vectors
                       (columns = sensor axes expressed in the segment frame)
    """

    segment: str
    position_m: np.ndarray
    sensor_to_segment: np.ndarray

    def __post_init__(self) -> None:
        if self.segment not in SEGMENTS:
            raise ValueError(f"SensorPlacement: unknown segment {self.segment!r}; known: {list(SEGMENTS)}")
        p = np.asarray(self.position_m, dtype=float)
        r = np.asarray(self.sensor_to_segment, dtype=float)
        if p.shape != (3,) or not np.all(np.isfinite(p)):
            raise ValueError(f"SensorPlacement[{self.segment}]: position_m must be 3 finite numbers, got {p}")
        if r.shape != (3, 3) or not np.all(np.isfinite(r)):
            raise ValueError(
                f"SensorPlacement[{self.segment}]: sensor_to_segment must be a finite 3x3 matrix"
            )
        if np.abs(r.T @ r - np.eye(3)).max() > 1e-6 or np.linalg.det(r) < 0:
            raise ValueError(f"SensorPlacement[{self.segment}]: sensor_to_segment is not a proper rotation")
        object.__setattr__(self, "position_m", p)
        object.__setattr__(self, "sensor_to_segment", r)


def segment_com_m(model: LowerBodyModel, segment: str) -> np.ndarray:
    """CoM of `segment` in its own frame (origin at the proximal joint; pelvis: mid-hip point), metres."""
    if segment == "pelvis":
        return np.asarray(model.pelvis_com_m, dtype=float)
    if segment.startswith("foot"):
        return np.asarray(model.foot_com_m, dtype=float)
    if segment in SEGMENTS:
        return np.array([0.0, 0.0, -model.segments[segment].com_from_proximal_m])
    raise ValueError(f"unknown segment {segment!r}; known: {list(SEGMENTS)}")


def _frame(x_axis: np.ndarray, z_axis: np.ndarray) -> np.ndarray:
    """Rotation whose columns are the sensor axes (x, y = z cross x, z) in segment coordinates."""
    x = np.asarray(x_axis, float) / np.linalg.norm(x_axis)
    z = np.asarray(z_axis, float) / np.linalg.norm(z_axis)
    return np.column_stack([x, np.cross(z, x), z])


def default_placements(model: LowerBodyModel) -> dict[str, SensorPlacement]:
    """Nominal sensor sites for all 7 segments (sensor z = outward skin normal, sensor x along the limb).

    - pelvis: sacrum, 6 % of stature behind and 3 % above the mid-hip point, x up, z posterior.
    - thighs: lateral mid-thigh, skin 4.3 % of stature from the femur axis, x up, z lateral.
    - shanks: anterior-medial mid-shank on the flat tibial surface (normal 35 deg medial of anterior,
      2.3 % of stature from the shank axis), x up.
    - feet: dorsum at mid-foot, 2/3 of the ankle height above the sole, normal tilted 20 deg forward,
      x along the dorsum towards the toes.
    Proportions are typical adult values; the realism check compares the resulting signals with the
    real Xsens recording. All positions are returned relative to each segment's CoM.
    """
    h = model.height_m
    out: dict[str, SensorPlacement] = {}
    up, fwd = np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])
    sacrum = np.array([-0.06 * h, 0.0, 0.03 * h])
    out["pelvis"] = SensorPlacement("pelvis", sacrum - segment_com_m(model, "pelvis"), _frame(up, -fwd))
    for side, lat in (("l", 1.0), ("r", -1.0)):
        thigh = f"thigh_{side}"
        length = model.segments[thigh].length_m
        pos = np.array([0.0, lat * 0.043 * h, -0.5 * length])
        out[thigh] = SensorPlacement(
            thigh, pos - segment_com_m(model, thigh), _frame(up, np.array([0.0, lat, 0.0]))
        )
        shank = f"shank_{side}"
        length = model.segments[shank].length_m
        normal = np.array([np.cos(35 * _DEG), -lat * np.sin(35 * _DEG), 0.0])
        pos = 0.023 * h * normal + np.array([0.0, 0.0, -0.5 * length])
        out[shank] = SensorPlacement(shank, pos - segment_com_m(model, shank), _frame(up, normal))
        foot = f"foot_{side}"
        heel, toe = np.asarray(model.heel_m), np.asarray(model.toe_m)
        sole_z = heel[2]
        pos = np.array([0.5 * (heel[0] + toe[0]), 0.0, sole_z * (1.0 - 2.0 / 3.0)])
        normal = np.array([np.sin(20 * _DEG), 0.0, np.cos(20 * _DEG)])
        along = np.array([np.cos(20 * _DEG), 0.0, -np.sin(20 * _DEG)])
        out[foot] = SensorPlacement(foot, pos - segment_com_m(model, foot), _frame(along, normal))
    return {s: out[s] for s in SEGMENTS}
