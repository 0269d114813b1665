"""Per-sensor orientation with the VQF filter (Laidig & Seel 2023, `vqf` package), batch and streaming.

Frames: VQF estimates the sensor frame S relative to an earth frame E with z up (6-D: heading is
unobservable and set by the initial state). We initialise every filter so that E is the project's
ground frame for the segment at the first sample: inclination from the first accelerometer sample,
heading such that the segment's x axis (through the sensor-to-segment calibration) points along
ground x. Batch (`VQF.updateBatch`) and streaming (`VQF.update`) start from the same state and run the
same C++ code, so they agree to the last bit (tested). `offlineVQF` (acausal) is offered for offline
accuracy reports only; it cannot match the streaming filter by construction.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation
from vqf import VQF, offlineVQF


def initial_sensor_rotation(specific_force_m_s2: np.ndarray, sensor_to_segment: np.ndarray) -> np.ndarray:
    """Sensor -> ground rotation from one accelerometer sample (z up) with the heading chosen so that
    the segment's x axis projects onto ground +x. Raises ValueError for a zero/NaN sample."""
    f = np.asarray(specific_force_m_s2, dtype=float)
    norm = np.linalg.norm(f)
    if not np.isfinite(norm) or norm < 1e-6:
        raise ValueError(f"cannot initialise orientation from specific force {f} (zero or not finite)")
    up = f / norm
    x_seg = np.asarray(sensor_to_segment, dtype=float)[0]  # segment x axis in sensor coordinates
    gx = x_seg - (x_seg @ up) * up
    if np.linalg.norm(gx) < 1e-6:  # segment x vertical: fall back to the segment y axis for heading
        y_seg = np.asarray(sensor_to_segment, dtype=float)[1]
        gy = y_seg - (y_seg @ up) * up
        gy /= np.linalg.norm(gy)
        gx = np.cross(gy, up)
    gx /= np.linalg.norm(gx)
    gy = np.cross(up, gx)
    return np.vstack([gx, gy, up])  # rows: ground axes in sensor coordinates => sensor -> ground


def matrix_to_wxyz(r: np.ndarray) -> np.ndarray:
    """Rotation matrix (...,3,3) -> unit quaternion (...,4) w, x, y, z with w >= 0."""
    q = Rotation.from_matrix(r).as_quat()
    q = np.concatenate([q[..., 3:], q[..., :3]], axis=-1)
    return q * np.where(q[..., :1] < 0, -1.0, 1.0)


def wxyz_to_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternion (...,4) w, x, y, z -> rotation matrix (...,3,3) (vectorised, no normalisation)."""
    w, x, y, z = (q[..., i] for i in range(4))
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], -2)


def make_vqf(rate_hz: float, initial_rotation: np.ndarray | None = None, **params: float) -> VQF:
    """A VQF instance at `rate_hz` whose 6-D estimate starts at `initial_rotation` (sensor -> ground)."""
    v = VQF(1.0 / rate_hz, **params)
    if initial_rotation is not None:
        st = v.state
        st["gyrQuat"] = matrix_to_wxyz(initial_rotation)
        st["accQuat"] = np.array([1.0, 0.0, 0.0, 0.0])
        v.state = st
    return v


def orientation_batch(gyr_rad_s: np.ndarray, acc_m_s2: np.ndarray, rate_hz: float,
                      initial_rotation: np.ndarray | None = None, mag: np.ndarray | None = None,
                      offline: bool = False, **params: float) -> np.ndarray:
    """Sensor -> earth quaternions (N,4) w,x,y,z for one sensor.

    Causal (default): a fresh `make_vqf` fed with `updateBatch` -- identical to streaming `update`.
    `mag` (N,3) switches to 9-D (returns quat9D). `offline=True` uses the acausal `offlineVQF` (heading
    then starts wherever the filter puts it; `initial_rotation` is ignored)."""
    gyr = np.ascontiguousarray(gyr_rad_s, dtype=float)
    acc = np.ascontiguousarray(acc_m_s2, dtype=float)
    m = None if mag is None else np.ascontiguousarray(mag, dtype=float)
    if offline:
        out = offlineVQF(gyr, acc, m, 1.0 / rate_hz, params or None)
    else:
        out = make_vqf(rate_hz, initial_rotation, **params).updateBatch(gyr, acc, m)
    return out["quat9D" if m is not None else "quat6D"]
