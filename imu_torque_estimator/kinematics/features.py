"""Segment CoM kinematics and the estimator's feature vector, streaming and batch (ROS-free).

Per sensor (sensor frame S -> segment frame B with the calibration rotation C, lever arm r = sensor
minus CoM in B):
    omega_B = C (w_S - bias)
    alpha_B = causal derivative of omega_B (see ALPHA_FILTER)
    f_com_B = C f_S - alpha_B x r - omega_B x (omega_B x r)    specific force at the CoM, segment axes
In the (rotating) segment frame the rigid-body relation holds with body-frame omega and alpha because
d(omega_B)/dt = R^T d(omega_G)/dt (omega x omega = 0).

Feature frames (per segment, 3 acceleration + 3 angular velocity):
- "segment" (FEATURE_SPEC_ID "seg_frame_sf_com+omega/v1"): f_com_B (CoM acceleration minus gravity,
  i.e. including gravity as an accelerometer would read it at the CoM) and omega_B, both in segment
  axes. Needs no orientation filter: no drift, no heading, no gravity-removal error; gravity in the
  segment frame carries the segment's inclination.
- "heading": gravity-removed CoM acceleration and angular velocity in a heading-invariant frame
  (z up, x = the segment's x axis projected on the horizontal), via the VQF orientation.
The default ("segment") was chosen by measurement (benchmarks/bench_kinematics.py ->
benchmarks/results/kinematics.json; simulated walk 1.2 + run 3.0 m/s, 2 subjects, feature error vs the
same feature from ground truth, CoM acceleration RMSE per segment pelvis..foot_r):
- perfect sensors, true mounting: segment frame 0.04-0.09 m/s^2, heading frame 0.07-1.89 m/s^2 (the
  VQF inclination error, ~1-2 deg in gait, leaks g sin(error) into the gravity-removed frame);
- MTi-3 errors + mounting/placement offsets, static+functional calibration: segment frame
  0.26-2.49 m/s^2 and 0.019-0.18 rad/s, heading frame 0.27-3.73 m/s^2 and 0.019-0.51 rad/s.
The segment frame is better or equal in every segment, needs no orientation filter in the feature
path and keeps the inclination information (gravity direction) that the heading frame removes.
Kinematics topics (DESIGN.md) carry exactly these: linear_acceleration = f_com_B (includes gravity,
like an accelerometer at the CoM), angular_velocity = omega_B, orientation = VQF segment orientation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import butter, lfilter

from ..body import GRAVITY_VECTOR_M_S2, SENSOR_SETS, sensor_set
from ..motion import ImuSignals, SegmentKinematics
from .calibration import Calibration
from .orientation import (
    initial_sensor_rotation,
    make_vqf,
    matrix_to_wxyz,
    orientation_batch,
    wxyz_to_matrix,
)

FEATURE_FRAMES = ("segment", "heading")
DEFAULT_FEATURE_FRAME = "segment"
FEATURE_SPEC_IDS = {"segment": "seg_frame_sf_com+omega/v1", "heading": "heading_frame_acc_nog+omega/v1"}
FEATURE_SPEC_ID = FEATURE_SPEC_IDS[DEFAULT_FEATURE_FRAME]
# Causal angular-acceleration estimate: derivative kind and optional 2nd-order Butterworth low-pass.
# "diff2" = (3 w_k - 4 w_k-1 + w_k-2) / (2 dt): exact for quadratics, no lag to 2nd order.
# "diff1" = (w_k - w_k-1) / dt: half a sample late. Chosen by measurement (bench_kinematics.py).
ALPHA_FILTER: dict[str, Any] = {"derivative": "diff2", "lowpass_hz": None}


def feature_names(sensor_set_name: str, frame: str = DEFAULT_FEATURE_FRAME) -> list[str]:
    """Feature names in order: for each segment of the set, acc x,y,z then omega x,y,z."""
    _check_frame(frame)
    acc = "sf_com" if frame == "segment" else "acc_com"
    return [f"{s}/{q}_{a}" for s in sensor_set(sensor_set_name) for q in (acc, "omega") for a in "xyz"]


def _check_frame(frame: str) -> None:
    if frame not in FEATURE_FRAMES:
        raise ValueError(f"unknown feature frame {frame!r}; choose one of {list(FEATURE_FRAMES)}")


def alpha_filter_coefficients(rate_hz: float, derivative: str = "diff2",
                              lowpass_hz: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """IIR (b, a) of the causal angular-acceleration estimator (derivative then optional low-pass)."""
    dt = 1.0 / rate_hz
    if derivative == "diff1":
        b = np.array([1.0, -1.0]) / dt
    elif derivative == "diff2":
        b = np.array([3.0, -4.0, 1.0]) / (2.0 * dt)
    else:
        raise ValueError(f"unknown derivative {derivative!r}; choose 'diff1' or 'diff2'")
    a = np.array([1.0])
    if lowpass_hz is not None:
        if not 0 < lowpass_hz < rate_hz / 2:
            raise ValueError(f"lowpass_hz must be in (0, {rate_hz / 2}) Hz, got {lowpass_hz}")
        bl, al = butter(2, lowpass_hz, fs=rate_hz)
        b, a = np.convolve(b, bl), al
    return b, a


def _check_calibration(segs: tuple[str, ...], calibration: dict[str, Calibration]) -> None:
    missing = [s for s in segs if s not in calibration]
    if missing:
        raise ValueError(f"no calibration for segment(s) {missing} of the sensor set")


def _stack_imu(imu: dict[str, ImuSignals] | np.ndarray | tuple[np.ndarray, np.ndarray],
               segs: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """-> specific force (S,N,3), angular rate (S,N,3) in sensor-set order."""
    if isinstance(imu, dict):
        missing = [s for s in segs if s not in imu]
        if missing:
            raise ValueError(f"no IMU signals for segment(s) {missing} of the sensor set")
        f = np.stack([imu[s].specific_force_m_s2 for s in segs])
        w = np.stack([imu[s].angular_rate_rad_s for s in segs])
    else:
        f, w = (np.asarray(x, float) for x in imu)
    if f.shape != w.shape or f.ndim != 3 or f.shape[0] != len(segs) or f.shape[2] != 3:
        raise ValueError(f"IMU arrays must be (S={len(segs)}, N, 3) each, got {f.shape} and {w.shape}")
    if f.shape[1] < 1:
        raise ValueError("IMU arrays are empty")
    if not (np.all(np.isfinite(f)) and np.all(np.isfinite(w))):
        bad = [s for i, s in enumerate(segs) if not (np.all(np.isfinite(f[i])) and np.all(np.isfinite(w[i])))]
        raise ValueError(f"IMU signals of {bad} contain NaN or inf; drop or fill invalid samples first")
    return f, w


def _rate(rate_hz: float) -> float:
    if not np.isfinite(rate_hz) or rate_hz <= 0:
        raise ValueError(f"rate_hz must be a positive number, got {rate_hz!r}")
    return float(rate_hz)


@dataclass
class EstimatedKinematics:
    """IMU-derived kinematics per segment (time axis = IMU samples), for reports and IMU-driven ID.

    rotation[s]               (N,3,3) segment -> ground estimate (VQF 6-D; heading = segment x along
                              ground x at the first sample, drifts with the gyro yaw bias)
    angular_velocity_rad_s[s] (N,3) segment frame;   angular_acceleration_rad_s2[s] (N,3) segment frame
    com_specific_force_m_s2[s] (N,3) CoM acceleration minus gravity, segment frame
    com_acceleration_m_s2[s]  (N,3) CoM acceleration (gravity removed), ground frame via `rotation`
    """

    rotation: dict[str, np.ndarray]
    angular_velocity_rad_s: dict[str, np.ndarray]
    angular_acceleration_rad_s2: dict[str, np.ndarray]
    com_specific_force_m_s2: dict[str, np.ndarray]
    com_acceleration_m_s2: dict[str, np.ndarray]

    def to_segment_kinematics(self, time_s: np.ndarray) -> SegmentKinematics:
        """As motion.SegmentKinematics (ground frame; needs orientation). CoM POSITIONS ARE NOT
        ESTIMATED (IMUs give no position): they are NaN, so a consumer must build positions from the
        orientations and segment lengths (e.g. a chain from the pelvis) before using moment arms."""
        if not self.rotation:
            raise ValueError("estimated without orientation; run estimate_kinematics(orientation=True)")
        segs = list(self.rotation)
        n = len(time_s)
        ground = {s: (lambda r: lambda v: np.einsum("nij,nj->ni", r, v))(self.rotation[s]) for s in segs}
        return SegmentKinematics(
            np.asarray(time_s, float), dict(self.rotation), {s: np.full((n, 3), np.nan) for s in segs},
            dict(self.com_acceleration_m_s2), {s: ground[s](self.angular_velocity_rad_s[s]) for s in segs},
            {s: ground[s](self.angular_acceleration_rad_s2[s]) for s in segs})


def estimate_kinematics(imu: dict[str, ImuSignals] | tuple[np.ndarray, np.ndarray], segments: tuple[str, ...],
                        rate_hz: float, calibration: dict[str, Calibration],
                        orientation: bool = True, alpha_filter: dict | None = None) -> EstimatedKinematics:
    """Batch CoM kinematics of `segments` (orientation with causal VQF unless `orientation=False`).
    `alpha_filter` overrides ALPHA_FILTER (for benchmarks comparing derivative estimators only: the
    streaming estimator always uses ALPHA_FILTER)."""
    rate = _rate(rate_hz)
    _check_calibration(segments, calibration)
    f, w = _stack_imu(imu, segments)
    b, a = alpha_filter_coefficients(rate, **(ALPHA_FILTER if alpha_filter is None else alpha_filter))
    out = EstimatedKinematics({}, {}, {}, {}, {})
    for i, s in enumerate(segments):
        cal = calibration[s]
        c = cal.sensor_to_segment
        w_s = w[i] - cal.gyro_bias_rad_s
        om = w_s @ c.T
        # zero initial state = the streaming estimator's state after reset (signal assumed 0 before)
        al = lfilter(b, a, om, axis=0)
        r = cal.sensor_position_m
        f_com = f[i] @ c.T - np.cross(al, r) - np.cross(om, np.cross(om, r))
        out.angular_velocity_rad_s[s] = om
        out.angular_acceleration_rad_s2[s] = al
        out.com_specific_force_m_s2[s] = f_com
        if orientation:
            r0 = initial_sensor_rotation(f[i, 0], c)
            q = orientation_batch(w_s, f[i], rate, initial_rotation=r0)
            rot = wxyz_to_matrix(q) @ c.T  # segment -> ground
            out.rotation[s] = rot
            out.com_acceleration_m_s2[s] = np.einsum("nij,nj->ni", rot, f_com) + GRAVITY_VECTOR_M_S2
    return out


def _heading_frame(rot: np.ndarray) -> np.ndarray:
    """(N,3,3) segment->ground -> (N,3,3) heading frame -> ground (z up, x = segment x horizontal)."""
    x = rot[:, :, 0].copy()
    x[:, 2] = 0.0
    n = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(n < 1e-9, 1.0, n)
    z = np.broadcast_to([0.0, 0.0, 1.0], x.shape)
    return np.stack([x, np.cross(z, x), z], axis=2)


def _features_from(segs: tuple[str, ...], acc: dict[str, np.ndarray], om: dict[str, np.ndarray],
                   rot: dict[str, np.ndarray] | None, frame: str) -> np.ndarray:
    cols = []
    for s in segs:
        if frame == "segment":
            cols += [acc[s], om[s]]
        else:
            h = _heading_frame(rot[s])  # type: ignore[index]
            a_g = np.einsum("nij,nj->ni", rot[s], acc[s]) + GRAVITY_VECTOR_M_S2  # type: ignore[index]
            w_g = np.einsum("nij,nj->ni", rot[s], om[s])  # type: ignore[index]
            cols += [np.einsum("nji,nj->ni", h, a_g), np.einsum("nji,nj->ni", h, w_g)]
    return np.concatenate(cols, axis=1)


def estimate_features(imu: dict[str, ImuSignals] | tuple[np.ndarray, np.ndarray], sensor_set_name: str,
                      rate_hz: float, calibration: dict[str, Calibration],
                      frame: str = DEFAULT_FEATURE_FRAME) -> np.ndarray:
    """Batch feature matrix (N, 6 S) for a sensor set; identical to stepping `KinematicsEstimator`.
    `imu`: dict segment -> ImuSignals, or a tuple (specific force (S,N,3), angular rate (S,N,3)) in
    sensor-set order (sensor frames, m/s^2 and rad/s)."""
    _check_frame(frame)
    segs = sensor_set(sensor_set_name)
    k = estimate_kinematics(imu, segs, rate_hz, calibration, orientation=frame != "segment")
    return _features_from(segs, k.com_specific_force_m_s2, k.angular_velocity_rad_s, k.rotation, frame)


def features_from_truth(kin: SegmentKinematics, sensor_set_name: str,
                        frame: str = DEFAULT_FEATURE_FRAME) -> np.ndarray:
    """The same features computed from ground-truth kinematics (N, 6 S)."""
    _check_frame(frame)
    segs = sensor_set(sensor_set_name)
    missing = [s for s in segs if s not in kin.rotation]
    if missing:
        raise ValueError(f"ground-truth kinematics lack segment(s) {missing}")
    acc, om = {}, {}
    for s in segs:
        r = kin.rotation[s]
        acc[s] = np.einsum("nji,nj->ni", r, kin.com_acceleration_m_s2[s] - GRAVITY_VECTOR_M_S2)
        om[s] = np.einsum("nji,nj->ni", r, kin.angular_velocity_rad_s[s])
    return _features_from(segs, acc, om, kin.rotation, frame)


class KinematicsEstimator:
    """Streaming twin of `estimate_features`: one synchronised sample of all sensors per `step`.

    `step(specific_force (S,3), angular_rate (S,3))` -> features (6 S,) in `feature_names` order. The
    returned array is an internal buffer overwritten by the next call (copy it to keep it). After each
    step, `orientation_wxyz` (S,4) gives segment -> ground quaternions when `orientation=True` (VQF per
    sensor, updated every step, read lazily; needed by the "heading" frame and the kinematics topic).
    The hot path allocates no arrays (VQF's getQuat6D does, only when the orientation is read).
    """

    def __init__(self, sensor_set_name: str, rate_hz: float, calibration: dict[str, Calibration],
                 frame: str = DEFAULT_FEATURE_FRAME, orientation: bool = True) -> None:
        _check_frame(frame)
        if sensor_set_name not in SENSOR_SETS:
            sensor_set(sensor_set_name)  # raises the standard error
        self.segments = sensor_set(sensor_set_name)
        self.rate_hz = _rate(rate_hz)
        _check_calibration(self.segments, calibration)
        self.frame = frame
        self.orientation = orientation or frame != "segment"
        cals = [calibration[s] for s in self.segments]
        n = len(self.segments)
        self._c = np.stack([c.sensor_to_segment for c in cals])            # (S,3,3)
        self._bias = np.stack([c.gyro_bias_rad_s for c in cals])           # (S,3)
        self._r = np.stack([c.sensor_position_m for c in cals])            # (S,3)
        b, a = alpha_filter_coefficients(self.rate_hz, **ALPHA_FILTER)
        self._m, self._t2, self._order = _linear_step_matrices(self._c, self._bias, self._r, b, a)
        o = self._order
        # v = [f (S,3) | w (S,3) | IIR state (o,S,3) | 1];  y = [features (S,6) | new IIR state (o,S,3)]
        self._v = np.zeros(6 * n + 3 * o * n + 1)
        self._v[-1] = 1.0
        self._vf = self._v[:3 * n].reshape(n, 3)
        self._vw = self._v[3 * n:6 * n].reshape(n, 3)
        self._vz = self._v[6 * n:6 * n + 3 * o * n]
        self._y = np.zeros(6 * n + 3 * o * n)
        self._out = self._y[:6 * n]
        self._view = self._out.reshape(n, 6)
        self._acc = self._view[:, :3]
        self._om = self._view[:, 3:]
        self._yz = self._y[6 * n:]
        self._outer = np.zeros((n, 3, 3))
        self._cp = np.zeros((n, 3, 1))
        self._outer9 = self._outer.reshape(n, 9, 1)
        self._om_col, self._om_row = self._om[:, :, None], self._om[:, None, :]  # views made once
        self._cp_flat = self._cp[:, :, 0]
        # orientation (VQF per sensor, bias-corrected gyro in the sensor frame)
        self._ws = np.zeros((n, 3))
        self._f_rows = [self._vf[i] for i in range(n)]
        self._w_rows = [self._ws[i] for i in range(n)]
        self._qs = np.zeros((n, 4))
        self._qseg = np.zeros((n, 4, 1))
        self._qseg[:, 0] = 1.0
        self._q_fresh = True
        self._use_9d = False
        self._jobs: list = []
        self._qmul = np.stack([_right_mult(_conj(matrix_to_wxyz(c))) for c in self._c])
        self._filters: list | None = None

    def reset(self) -> None:
        """Forget all filter state (orientation filters re-initialise from the next sample)."""
        self._vz[...] = 0.0
        self._qseg[...] = 0.0
        self._qseg[:, 0] = 1.0
        self._q_fresh = True
        self._use_9d = False
        self._filters = None

    def step(self, specific_force_m_s2: np.ndarray, angular_rate_rad_s: np.ndarray,
             magnetic_field: np.ndarray | None = None) -> np.ndarray:
        """One synchronised sample: specific force (S,3) m/s^2 and angular rate (S,3) rad/s, sensor
        frames, sensor-set order. Returns the feature buffer (6 S,). Inputs are not validated here
        (hot path): the caller drops NaN/inf or saturated samples first (see pipeline/alignment.py).
        `magnetic_field` (S,3), any unit: 9-D orientation (heading from the magnetometer) for this and
        later reads of `orientation_wxyz`; features do not depend on it in the "segment" frame."""
        self._vf[...] = specific_force_m_s2
        self._vw[...] = angular_rate_rad_s
        # all linear terms at once: C f + r x alpha, omega, and the next IIR state
        np.matmul(self._m, self._v, out=self._y)
        self._vz[...] = self._yz
        # centripetal omega x (omega x r) = T2 vec(omega omega^T); subtract from the acceleration
        np.multiply(self._om_col, self._om_row, out=self._outer)
        np.matmul(self._t2, self._outer9, out=self._cp)
        np.subtract(self._acc, self._cp_flat, out=self._acc)
        if self.orientation:
            np.subtract(self._vw, self._bias, out=self._ws)
            if self._filters is None:
                self._filters = [make_vqf(self.rate_hz, initial_sensor_rotation(self._vf[i], self._c[i]))
                                 for i in range(len(self.segments))]
                self._jobs = list(zip(self._filters, self._w_rows, self._f_rows, strict=True))
            if magnetic_field is None:
                for v, wr, fr in self._jobs:
                    v.update(wr, fr)
            else:
                mag = np.ascontiguousarray(magnetic_field, dtype=float)
                for (v, wr, fr), m in zip(self._jobs, mag, strict=True):
                    v.update(wr, fr, m)
                self._use_9d = True
            self._q_fresh = False
            if self.frame == "heading":
                self._heading_features()
        return self._out

    @property
    def orientation_wxyz(self) -> np.ndarray:
        """(S,4) segment -> ground quaternions w,x,y,z after the last step (identity before the first
        step or with orientation off). Read lazily from the VQF filters: a buffer reused per step."""
        if not self._q_fresh and self._filters is not None:
            qs = self._qs
            for i, v in enumerate(self._filters):
                qs[i] = v.getQuat9D() if self._use_9d else v.getQuat6D()
            # segment -> ground: q_seg = q_sensor * conj(q_C), as a fixed 4x4 right-multiplication
            np.matmul(self._qmul, qs[:, :, None], out=self._qseg)
            self._q_fresh = True
        return self._qseg[:, :, 0]

    def _heading_features(self) -> None:
        rot = wxyz_to_matrix(self.orientation_wxyz)
        h = _heading_frame(rot)
        a_g = np.einsum("nij,nj->ni", rot, self._acc) + GRAVITY_VECTOR_M_S2
        w_g = np.einsum("nij,nj->ni", rot, self._om)
        self._acc[...] = np.einsum("nji,nj->ni", h, a_g)
        self._om[...] = np.einsum("nji,nj->ni", h, w_g)


def _linear_step_matrices(c: np.ndarray, bias: np.ndarray, r: np.ndarray, b: np.ndarray,
                          a: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Matrices of the streaming step. M maps v = [f | w | z | 1] to y = [features | z'] for the
    linear part (C f + r x alpha, omega, IIR state update in direct form II transposed, exactly as
    scipy.signal.lfilter); T2 maps vec(omega omega^T) to omega x (omega x r)
    = omega (omega.r) - r |omega|^2."""
    n = c.shape[0]
    b, a = b / a[0], a / a[0]
    o = max(len(b), len(a)) - 1
    b = np.pad(b, (0, o + 1 - len(b)))
    a = np.pad(a, (0, o + 1 - len(a)))
    nv, ny = 6 * n + 3 * o * n + 1, 6 * n + 3 * o * n
    m = np.zeros((ny, nv))
    eye = np.eye(3)

    def fcol(i: int) -> slice:
        return slice(3 * i, 3 * i + 3)

    def wcol(i: int) -> slice:
        return slice(3 * n + 3 * i, 3 * n + 3 * i + 3)

    def zidx(k: int, i: int) -> slice:
        return slice(6 * n + 3 * (k * n + i), 6 * n + 3 * (k * n + i) + 3)

    t2 = np.zeros((n, 3, 9))
    for i in range(n):
        # omega = C w - C bias, as a row block on [w | 1]
        om_w, om_1 = c[i], -c[i] @ bias[i]
        # alpha = b0 omega + z0
        al_w, al_1 = b[0] * om_w, b[0] * om_1
        al_z0 = eye if o else np.zeros((3, 3))
        rx = _skew(r[i])  # r x alpha = [r]x alpha
        acc_rows, om_rows = slice(6 * i, 6 * i + 3), slice(6 * i + 3, 6 * i + 6)
        m[acc_rows, fcol(i)] = c[i]
        m[acc_rows, wcol(i)] = rx @ al_w
        m[acc_rows, -1] = rx @ al_1
        if o:
            m[acc_rows, zidx(0, i)] = rx @ al_z0
        m[om_rows, wcol(i)] = om_w
        m[om_rows, -1] = om_1
        for k in range(o):
            rows = slice(6 * n + 3 * (k * n + i), 6 * n + 3 * (k * n + i) + 3)
            # z_k' = b_{k+1} omega + z_{k+1} - a_{k+1} alpha
            m[rows, wcol(i)] = b[k + 1] * om_w - a[k + 1] * al_w
            m[rows, -1] = b[k + 1] * om_1 - a[k + 1] * al_1
            m[rows, zidx(0, i)] += -a[k + 1] * al_z0
            if k + 1 < o:
                m[rows, zidx(k + 1, i)] += eye
        for j in range(3):
            for k in range(3):
                for l in range(3):
                    # omega_j omega_l r_l (j==k term) - r_j omega_k omega_l (k==l)
                    t2[i, j, 3 * k + l] = (r[i, l] if j == k else 0.0) - (r[i, j] if k == l else 0.0)
    return m, t2, o


def _conj(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _right_mult(p: np.ndarray) -> np.ndarray:
    """4x4 matrix M with q * p = M q (Hamilton product, w,x,y,z)."""
    p0, p1, p2, p3 = p
    return np.array([[p0, -p1, -p2, -p3], [p1, p0, p3, -p2], [p2, -p3, p0, p1], [p3, p2, -p1, p0]])


def _skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
