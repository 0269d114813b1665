"""IMU signal synthesis from rigid-segment kinematics, with a switchable sensor error model (ROS-free).

Physics (ground frame G: x forward, y left, z up; gravity g_vec = (0, 0, -9.81) m/s^2). A sensor whose
origin sits at r (ground axes) from its segment's CoM moves with

    a_sensor = a_com + alpha x r + omega x (omega x r)          (rigid attachment)
             + 2 omega x (R_seg d') + R_seg d''                   (soft-tissue relative motion d(t))

and reads, in its own frame S (R_sensor = sensor -> ground):

    specific force  f = R_sensor^T (a_sensor - g_vec)     (at rest: +9.81 along the sensor's up axis)
    angular rate    w = R_sensor^T omega_sensor

The error model then applies, in order: scale factor and axis misalignment, bias (turn-on offset plus a
first-order Gauss-Markov in-run bias), white noise, saturation; stamps get jitter.

`SensorPlacement.position_m` (kinematics/placement.py) is the sensor origin relative to the segment CoM
in segment axes (the lever arm), so synthesis needs nothing but `motion.SegmentKinematics`;
`kinematics.placement.default_placements(model)` gives the nominal sites the product also assumes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy.spatial.transform import Rotation

from ..body import GRAVITY_M_S2, GRAVITY_VECTOR_M_S2, SEGMENTS
from ..kinematics.placement import SensorPlacement
from ..motion import ImuSignals, SegmentKinematics

_DEG = np.pi / 180.0


# Soft-tissue artefact defaults per segment type: (translation RMS per axis m, rotation RMS per axis deg).
# Orders of magnitude from Leardini et al. 2005 (Gait Posture 21:212) and Camomilla et al. 2017
# (review): thigh skin sensors move up to 1-3 cm and a few degrees relative to the bone, the shank's
# tibial surface much less, the sacrum and foot dorsum little.
# The artefact is modulated by the segment's motion (envelope = smoothed |omega| / 1 rad/s, capped at
# 1), so a subject standing still has none and static calibration sees a still sensor.
STA_DEFAULTS: dict[str, tuple[float, float]] = {
    "pelvis": (0.003, 0.5),
    "thigh": (0.004, 1.5),
    "shank": (0.002, 0.7),
    "foot": (0.0015, 0.5),
}


# Heel-strike transients (impact shock + soft-tissue wobble after contact), per segment type: (peak
# acceleration m/s^2, oscillation frequency Hz), decaying with `impact_decay_s`, directed mostly along
# the segment's long axis. Orders of magnitude: tibial peak acceleration 2-5 g at heel strike in
# walking (Lafortune 1991; skin-mounted sensors), attenuated up the chain; soft-tissue vibration
# frequencies 10-50 Hz (Wakeling & Nigg 2001). The rigid-body simulator has no such content, which the
# real Xsens recording shows in its 8-20 Hz band (imu_realism.json). Assumptions, not fitted.
IMPACT_DEFAULTS: dict[str, tuple[float, float]] = {
    "pelvis": (4.0, 10.0),
    "thigh": (10.0, 12.0),
    "shank": (20.0, 18.0),
    "foot": (30.0, 25.0),
}
_IMPACT_DIRECTION = np.array([0.5, 0.0, 1.0]) / np.hypot(0.5, 1.0)  # segment frame


def _seg_type(segment: str) -> str:
    return segment.split("_")[0]


@dataclass(frozen=True)
class ImuErrorModel:
    """Sensor error model; each effect is off when its parameter is 0 (or None for saturation).

    Datasheet numbers (`mti3()`): Xsens MTi 1-series data sheet (MTi-1/-2/-3), document MT0512P:
    gyroscope full range +-2000 deg/s, noise density 0.007 deg/s/sqrt(Hz), in-run bias stability
    10 deg/h; accelerometer full range +-16 g, noise density 120 ug/sqrt(Hz), in-run bias stability
    0.03 mg. White-noise std per sample = density * sqrt(rate_hz / 2) (noise over the Nyquist band).
    NOT in the data sheet, chosen as typical for body-worn consumer MEMS (assumptions, documented):
    turn-on bias offsets (gyro 0.2 deg/s, accel 0.05 m/s^2 per axis, 1 sigma), residual scale factor
    error 0.5 % and axis misalignment 0.2 deg (1 sigma), Gauss-Markov bias correlation time 100 s,
    timestamp jitter 0.5 ms (1 sigma, clipped to 40 % of the period), mounting rotation offsets uniform
    up to 10 deg about a random axis, placement offsets uniform +-3 cm per axis, soft-tissue artefact
    from STA_DEFAULTS scaled by `sta_scale`, heel-strike transients from IMPACT_DEFAULTS scaled by
    `impact_scale` (only when `synthesize_imu` is given the heel-strike times).
    """

    acc_noise_density_m_s2_rthz: float = 0.0
    gyro_noise_density_rad_s_rthz: float = 0.0
    acc_bias_instability_m_s2: float = 0.0
    gyro_bias_instability_rad_s: float = 0.0
    bias_correlation_time_s: float = 100.0
    acc_bias_offset_std_m_s2: float = 0.0
    gyro_bias_offset_std_rad_s: float = 0.0
    scale_factor_std: float = 0.0
    misalignment_std_rad: float = 0.0
    mounting_rotation_max_rad: float = 0.0
    placement_offset_max_m: float = 0.0
    sta_scale: float = 0.0
    sta_band_hz: tuple[float, float] = (0.3, 2.0)
    timestamp_jitter_std_s: float = 0.0
    acc_range_m_s2: float | None = None
    gyro_range_rad_s: float | None = None
    sta_per_segment: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(STA_DEFAULTS))
    impact_scale: float = 0.0
    impact_decay_s: float = 0.03
    impact_per_segment: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(IMPACT_DEFAULTS))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float | int) and not isinstance(v, bool) and (not np.isfinite(v) or v < 0):
                raise ValueError(f"ImuErrorModel.{f.name} must be a finite number >= 0, got {v!r}")
        for name in ("acc_range_m_s2", "gyro_range_rad_s"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ValueError(f"ImuErrorModel.{name} must be > 0 or None, got {v!r}")
        if self.bias_correlation_time_s <= 0:
            raise ValueError("ImuErrorModel.bias_correlation_time_s must be > 0")
        lo, hi = self.sta_band_hz
        if not 0 < lo < hi:
            raise ValueError(f"ImuErrorModel.sta_band_hz must be 0 < low < high, got {self.sta_band_hz}")

    @classmethod
    def ideal(cls) -> ImuErrorModel:
        """Perfect sensors, perfectly mounted: every effect off."""
        return cls()

    @classmethod
    def mti3(cls) -> ImuErrorModel:
        """Xsens MTi-3-like body-worn sensor with realistic mounting (see class docstring for sources)."""
        ug = 1e-6 * GRAVITY_M_S2
        return cls(
            acc_noise_density_m_s2_rthz=120.0 * ug,
            gyro_noise_density_rad_s_rthz=0.007 * _DEG,
            acc_bias_instability_m_s2=30.0 * ug,
            gyro_bias_instability_rad_s=10.0 * _DEG / 3600.0,
            acc_bias_offset_std_m_s2=0.05,
            gyro_bias_offset_std_rad_s=0.2 * _DEG,
            scale_factor_std=0.005,
            misalignment_std_rad=0.2 * _DEG,
            mounting_rotation_max_rad=10.0 * _DEG,
            placement_offset_max_m=0.03,
            sta_scale=1.0,
            timestamp_jitter_std_s=0.5e-3,
            impact_scale=1.0,
            acc_range_m_s2=16.0 * GRAVITY_M_S2,
            gyro_range_rad_s=2000.0 * _DEG,
        )

    def replace(self, **changes: object) -> ImuErrorModel:
        """Copy with some fields changed (e.g. `ImuErrorModel.mti3().replace(sta_scale=0.0)`)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


class ImuSynthesis(NamedTuple):
    """Result of `synthesize_imu`: signals per segment and the actual (perturbed) placements used."""

    signals: dict[str, ImuSignals]
    placements: dict[str, SensorPlacement]


def perturb_placement(p: SensorPlacement, errors: ImuErrorModel, rng: np.random.Generator) -> SensorPlacement:
    """Apply the mounting rotation and placement offsets of `errors` to a nominal placement."""
    rot = p.sensor_to_segment
    if errors.mounting_rotation_max_rad > 0:
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        angle = rng.uniform(-errors.mounting_rotation_max_rad, errors.mounting_rotation_max_rad)
        rot = Rotation.from_rotvec(angle * axis).as_matrix() @ rot
    pos = p.position_m
    if errors.placement_offset_max_m > 0:
        pos = pos + rng.uniform(-errors.placement_offset_max_m, errors.placement_offset_max_m, size=3)
    return SensorPlacement(p.segment, pos, rot)


def _band_limited(
    rng: np.random.Generator, t: np.ndarray, rms: float, band_hz: tuple[float, float], n_tones: int = 8
) -> np.ndarray:
    """Random smooth 3-D signal (N,3): sum of sinusoids in `band_hz` with RMS `rms` per axis."""
    f = rng.uniform(band_hz[0], band_hz[1], size=(n_tones, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(n_tones, 3))
    amp = np.full((n_tones, 3), rms * np.sqrt(2.0 / n_tones))
    return (amp * np.sin(2 * np.pi * t[:, None, None] * f[None] + phase[None])).sum(axis=1)


def _motion_envelope(omega: np.ndarray, dt: float, window_s: float = 0.5) -> np.ndarray:
    """Smooth 0..1 activity envelope: moving RMS of |omega| over `window_s`, / 1 rad/s, capped, smoothed."""
    from scipy.ndimage import uniform_filter1d

    w = max(1, int(round(window_s / dt)))
    rms = np.sqrt(uniform_filter1d((omega**2).sum(axis=1), w, mode="nearest"))
    return uniform_filter1d(np.minimum(rms, 1.0), w, mode="nearest")


def _skew(v: np.ndarray) -> np.ndarray:
    """(N,3) -> (N,3,3) cross-product matrices."""
    z = np.zeros(v.shape[0])
    return np.stack(
        [
            np.stack([z, -v[:, 2], v[:, 1]], -1),
            np.stack([v[:, 2], z, -v[:, 0]], -1),
            np.stack([-v[:, 1], v[:, 0], z], -1),
        ],
        axis=1,
    )


def _left_jacobian(theta: np.ndarray) -> np.ndarray:
    """SO(3) left Jacobian: d/dt exp([theta]) exp([theta])^T = [J_l(theta) theta']. (N,3) -> (N,3,3)."""
    a = np.linalg.norm(theta, axis=1)
    k = _skew(theta)
    small = a < 1e-6
    a_safe = np.where(small, 1.0, a)
    c1 = np.where(small, 0.5, (1 - np.cos(a_safe)) / a_safe**2)
    c2 = np.where(small, 1.0 / 6.0, (a_safe - np.sin(a_safe)) / a_safe**3)
    return np.eye(3)[None] + c1[:, None, None] * k + c2[:, None, None] * (k @ k)


def _decimation(time_s: np.ndarray, rate_hz: float) -> int:
    if not np.isfinite(rate_hz) or rate_hz <= 0:
        raise ValueError(f"rate_hz must be a positive number, got {rate_hz!r}")
    if time_s.shape[0] < 2:
        raise ValueError("kinematics need at least 2 samples to synthesise IMU signals")
    dt = np.diff(time_s)
    src_rate = 1.0 / float(np.median(dt))
    if np.abs(dt - dt.mean()).max() > 1e-6 * dt.mean() + 1e-9:
        raise ValueError("kinematics must be sampled uniformly to synthesise IMU signals")
    step = src_rate / rate_hz
    k = int(round(step))
    if k < 1 or abs(step - k) > 1e-6 * step:
        raise ValueError(f"rate_hz={rate_hz} must divide the kinematics rate {src_rate:.6g} Hz by an integer")
    return k


def synthesize_imu(
    kin: SegmentKinematics,
    placements: dict[str, SensorPlacement],
    errors: ImuErrorModel,
    rate_hz: float,
    rng: np.random.Generator,
    heel_strikes_s: Mapping[str, np.ndarray | list[float]] | None = None,
) -> ImuSynthesis:
    """Synthesise IMU signals for every placement (segment order of body.SEGMENTS).

    `kin` must be uniformly sampled at `rate_hz` or an integer multiple of it (samples are then
    picked, no interpolation). Returns `ImuSynthesis(signals, placements)` where `placements` holds the
    actual (perturbed) mountings the signals were generated with. `signals[s].time_s` are the reported
    stamps (sample instants plus jitter); the signals themselves are the motion at the sample instants
    `kin.time_s[::k]`, so they line up with the decimated truth sample for sample.
    `heel_strikes_s` = {"l": times, "r": times} (s, same clock as `kin.time_s`) enables the heel-strike
    transients of the error model (a side's strikes shake its own leg and the pelvis).
    """
    if not isinstance(errors, ImuErrorModel):
        raise TypeError(f"errors must be an ImuErrorModel, got {type(errors).__name__}")
    missing = [s for s in placements if s not in kin.rotation]
    if missing:
        raise ValueError(
            f"no kinematics for placement segment(s) {missing}; kinematics have {list(kin.segments)}"
        )
    for s, p in placements.items():
        if p.segment != s:
            raise ValueError(f"placements[{s!r}] is for segment {p.segment!r}")
    k = _decimation(kin.time_s, rate_hz)
    t = kin.time_s[::k]
    n = t.shape[0]
    dt = 1.0 / rate_hz
    signals: dict[str, ImuSignals] = {}
    actual: dict[str, SensorPlacement] = {}
    for seg in (s for s in SEGMENTS if s in placements):
        p = perturb_placement(placements[seg], errors, rng)
        actual[seg] = p
        r_seg = kin.rotation[seg][::k]
        omega = kin.angular_velocity_rad_s[seg][::k]
        alpha = kin.angular_acceleration_rad_s2[seg][::k]
        a_com = kin.com_acceleration_m_s2[seg][::k]
        lever = np.broadcast_to(p.position_m, (n, 3))
        rel_vel = np.zeros((n, 3))
        rel_acc = np.zeros((n, 3))
        r_rel = np.broadcast_to(np.eye(3), (n, 3, 3))
        omega_s = omega
        if errors.sta_scale > 0:
            d_rms, rot_rms_deg = errors.sta_per_segment.get(_seg_type(seg), (0.0, 0.0))
            env = _motion_envelope(omega, dt)
            d = env[:, None] * _band_limited(rng, t, errors.sta_scale * d_rms, errors.sta_band_hz)
            th_rms = errors.sta_scale * rot_rms_deg * _DEG
            th = env[:, None] * _band_limited(rng, t, th_rms, errors.sta_band_hz)
            # derivatives by 2nd-order finite differences at the sample rate (the artefact is band
            # limited to a few Hz, far below Nyquist)
            rel_vel = np.gradient(d, dt, axis=0, edge_order=2)
            rel_acc = np.gradient(rel_vel, dt, axis=0, edge_order=2)
            dth = np.gradient(th, dt, axis=0, edge_order=2)
            lever = lever + d
            r_rel = Rotation.from_rotvec(th).as_matrix()
            # Relative angular velocity of the skin frame in segment axes, mapped to ground.
            w_rel_seg = np.einsum("nij,nj->ni", _left_jacobian(th), dth)
            omega_s = omega + np.einsum("nij,nj->ni", r_seg, w_rel_seg)
        if errors.impact_scale > 0 and heel_strikes_s:
            a_com = a_com + np.einsum(
                "nij,nj->ni",
                r_seg,
                _impact_series(t, seg, heel_strikes_s, errors, rng)[:, None] * _IMPACT_DIRECTION,
            )
        r_g = np.einsum("nij,nj->ni", r_seg, lever)
        a_s = (
            a_com
            + np.cross(alpha, r_g)
            + np.cross(omega, np.cross(omega, r_g))
            + 2.0 * np.cross(omega, np.einsum("nij,nj->ni", r_seg, rel_vel))
            + np.einsum("nij,nj->ni", r_seg, rel_acc)
        )
        r_sensor = r_seg @ r_rel @ p.sensor_to_segment  # sensor -> ground
        f = np.einsum("nji,nj->ni", r_sensor, a_s - GRAVITY_VECTOR_M_S2)
        w = np.einsum("nji,nj->ni", r_sensor, omega_s)
        f, w = _apply_sensor_errors(f, w, errors, dt, rng)
        stamps = t.copy()
        if errors.timestamp_jitter_std_s > 0:
            lim = 0.4 * dt
            stamps = t + np.clip(rng.normal(0.0, errors.timestamp_jitter_std_s, n), -lim, lim)
        q = Rotation.from_matrix(r_sensor).as_quat()  # x, y, z, w
        signals[seg] = ImuSignals(stamps, f, w, orientation_wxyz=np.column_stack([q[:, 3], q[:, :3]]))
    return ImuSynthesis(signals, actual)


def _impact_series(
    t: np.ndarray, seg: str, heel_strikes_s: Mapping, e: ImuErrorModel, rng: np.random.Generator
) -> np.ndarray:
    """Sum of damped sinusoids A exp(-dt/tau) sin(2 pi f dt) after each relevant heel strike (N,)."""
    amp, freq = e.impact_per_segment.get(_seg_type(seg), (0.0, 0.0))
    sides = ("l", "r") if seg == "pelvis" else (seg[-1],)
    out = np.zeros_like(t)
    for side in sides:
        for t0 in np.asarray(heel_strikes_s.get(side, ()), dtype=float):
            dt = t - t0
            m = (dt >= 0) & (dt < 8 * e.impact_decay_s)
            a = e.impact_scale * amp * rng.lognormal(0.0, 0.2)
            out[m] += a * np.exp(-dt[m] / e.impact_decay_s) * np.sin(2 * np.pi * freq * dt[m])
    return out


def _gauss_markov(rng: np.random.Generator, n: int, sigma: float, tau_s: float, dt: float) -> np.ndarray:
    """(n,3) first-order Gauss-Markov process with stationary std `sigma` (starts in steady state)."""
    from scipy.signal import lfilter

    phi = np.exp(-dt / tau_s)
    drive = rng.normal(0.0, sigma * np.sqrt(1.0 - phi**2), size=(n, 3))
    x0 = rng.normal(0.0, sigma, size=3)
    out = lfilter([1.0], [1.0, -phi], drive, axis=0, zi=(phi * x0)[None, :])[0]
    return out


def _error_matrix(rng: np.random.Generator, scale_std: float, misalign_std: float) -> np.ndarray:
    m = np.eye(3)
    if scale_std > 0:
        m = m + np.diag(rng.normal(0.0, scale_std, 3))
    if misalign_std > 0:
        off = rng.normal(0.0, misalign_std, (3, 3))
        np.fill_diagonal(off, 0.0)
        m = m + off
    return m


def _apply_sensor_errors(
    f: np.ndarray, w: np.ndarray, e: ImuErrorModel, dt: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    n = f.shape[0]
    rate = 1.0 / dt
    f = f @ _error_matrix(rng, e.scale_factor_std, e.misalignment_std_rad).T
    w = w @ _error_matrix(rng, e.scale_factor_std, e.misalignment_std_rad).T
    for arr, off, instab, dens in (
        (f, e.acc_bias_offset_std_m_s2, e.acc_bias_instability_m_s2, e.acc_noise_density_m_s2_rthz),
        (w, e.gyro_bias_offset_std_rad_s, e.gyro_bias_instability_rad_s, e.gyro_noise_density_rad_s_rthz),
    ):
        if off > 0:
            arr += rng.normal(0.0, off, 3)
        if instab > 0:
            arr += _gauss_markov(rng, n, instab, e.bias_correlation_time_s, dt)
        if dens > 0:
            arr += rng.normal(0.0, dens * np.sqrt(rate / 2.0), (n, 3))
    if e.acc_range_m_s2 is not None:
        f = np.clip(f, -e.acc_range_m_s2, e.acc_range_m_s2)
    if e.gyro_range_rad_s is not None:
        w = np.clip(w, -e.gyro_range_rad_s, e.gyro_range_rad_s)
    return f, w


def oscillating_segments_kinematics(
    duration_s: float,
    rate_hz: float,
    seed: int = 0,
    segments: tuple[str, ...] = SEGMENTS,
    stride_hz: float = 0.9,
    forward_speed_m_s: float = 1.2,
    stand_s: float = 2.0,
) -> SegmentKinematics:
    """Analytic, exactly differentiable gait-like rigid motion of independent segments (NOT a gait
    model: no joints, no contacts). For unit tests and benchmarks of IMU synthesis and kinematics:
    each segment pitches about its y axis (thigh/shank/foot up to ~0.5/0.7/0.6 rad at the stride
    frequency and harmonics) with small roll and yaw, and its CoM moves forward at `forward_speed_m_s`
    with vertical/antero-posterior/lateral oscillations of 1-4 m/s^2. Starts with `stand_s` of still
    standing (segment frames aligned with ground), blending in over 0.5 s, so static calibration works.
    Angular acceleration is the central difference of the exact angular velocity with a 1e-5 s step.
    """
    if duration_s <= stand_s + 0.5 or rate_hz <= 0 or stand_s < 0:
        raise ValueError("need duration_s > stand_s + 0.5 s, stand_s >= 0 and rate_hz > 0")
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * rate_hz))
    t = np.arange(n) / rate_hz
    pitch = {"pelvis": 0.05, "thigh": 0.45, "shank": 0.6, "foot": 0.5}
    params = {}
    for s in segments:
        harm = np.array([1.0, 2.0, 3.0]) * stride_hz
        amp = np.zeros((3, 3))
        amp[:, 1] = pitch[_seg_type(s)] * np.array([1.0, 0.35, 0.15])
        amp[:, 0] = 0.06 * np.array([1.0, 0.3, 0.1])
        amp[:, 2] = 0.08 * np.array([1.0, 0.3, 0.1])
        phase = rng.uniform(0, 2 * np.pi, size=(3, 3))
        lin_amp = np.array([1.5, 0.6, 2.0]) * (1.0 if s == "pelvis" else 1.6)
        lin_phase = rng.uniform(0, 2 * np.pi, size=3)
        params[s] = (harm, amp, phase, lin_amp, lin_phase)

    def blend(tt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # smoothstep from 0 (t <= stand_s) to 1 (t >= stand_s + 0.5), C2 (quintic), with derivatives
        x = np.clip((tt - stand_s) / 0.5, 0.0, 1.0)
        b = x**3 * (10 - 15 * x + 6 * x**2)
        db = 30 * x**2 * (1 - x) ** 2 / 0.5
        ddb = 60 * x * (1 - x) * (1 - 2 * x) / 0.25
        return b, db, ddb

    def seg_state(s: str, tt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        harm, amp, phase, _, _ = params[s]
        b, db, _ = blend(tt)
        w = 2 * np.pi * harm[:, None]
        arg = tt[:, None, None] * w[None] + phase[None]
        th0 = (amp * np.sin(arg)).sum(axis=1)
        dth0 = (amp * w * np.cos(arg)).sum(axis=1)
        th = b[:, None] * th0
        dth = db[:, None] * th0 + b[:, None] * dth0
        rot = Rotation.from_rotvec(th).as_matrix()
        omega = np.einsum("njk,nk->nj", _left_jacobian(th), dth)
        return rot, omega

    rot, com, acc, om, al = {}, {}, {}, {}, {}
    h = 1e-5
    for s in segments:
        rot[s], om[s] = seg_state(s, t)
        al[s] = (seg_state(s, t + h)[1] - seg_state(s, t - h)[1]) / (2 * h)
        _, _, _, lin_amp, lin_phase = params[s]
        b, db, ddb = blend(t)
        w = 2 * np.pi * 2 * stride_hz * np.array([1.0, 0.5, 1.0])  # AP and vertical at step frequency
        osc = lin_amp / w**2 * np.sin(w * t[:, None] + lin_phase)
        dosc = lin_amp / w * np.cos(w * t[:, None] + lin_phase)
        ddosc = -lin_amp * np.sin(w * t[:, None] + lin_phase)
        fwd = np.zeros((n, 3))
        # forward progression blended in with the same smoothstep: x = v * B(t), B' = b
        x = np.clip((t - stand_s) / 0.5, 0.0, 1.0)
        big_b = np.where(t >= stand_s + 0.5, t - stand_s - 0.25, 0.5 * (x**4 * (2.5 - 3 * x + x**2)))
        fwd[:, 0] = forward_speed_m_s * big_b
        com[s] = fwd + b[:, None] * osc
        acc_s = b[:, None] * ddosc + 2 * db[:, None] * dosc + ddb[:, None] * osc
        acc_s[:, 0] += forward_speed_m_s * db
        acc[s] = acc_s
    return SegmentKinematics(t, rot, com, acc, om, al)


def with_standing_prefix(
    kin: SegmentKinematics, standing_s: float = 2.0, transition_s: float | None = 1.0
) -> tuple[SegmentKinematics, int]:
    """Prepend `standing_s` of still neutral standing (every segment frame aligned with ground, as the
    static calibration assumes) and a smooth `transition_s` rotation into the first frame of `kin`.

    The transition rotates each segment about the fixed axis of its first-frame rotation with a
    quintic smoothstep (omega = s' theta k, alpha = s'' theta k, CoM still), so the gyro sees the
    motion and an orientation filter stays consistent. Velocity jumps when `kin` starts (IMUs only see
    accelerations). `transition_s` = None: no transition, the motion starts abruptly (the `sim`
    source's recording, sim/recording.py). Returns (kinematics, index of the first original sample). For
    calibration studies with simulators that start mid-stride; uniformly sampled `kin` only.
    """
    if len(kin) < 2:
        raise ValueError("kinematics need at least 2 samples")
    dt = float(np.median(np.diff(kin.time_s)))
    n0 = int(round(standing_s / dt))
    n1 = 0 if transition_s is None else int(round(transition_s / dt))
    if n0 < 0 or (transition_s is not None and n1 < 2):
        raise ValueError("standing_s must be >= 0 and transition_s None or at least 2 samples")
    m = n0 + n1
    t_pre = kin.time_s[0] - dt * np.arange(m, 0, -1)
    x = np.r_[np.zeros(n0), np.arange(n1) / max(n1, 1)]
    s = x**3 * (10 - 15 * x + 6 * x**2)
    if n1:
        assert transition_s is not None  # n1 > 0 only with a transition
        ds = 30 * x**2 * (1 - x) ** 2 / transition_s
        dds = 60 * x * (1 - x) * (1 - 2 * x) / transition_s**2
    else:
        ds = dds = np.zeros(m)
    rot, com, acc, om, al = {}, {}, {}, {}, {}
    for seg in kin.segments:
        tk = Rotation.from_matrix(kin.rotation[seg][0]).as_rotvec()
        rot[seg] = np.concatenate([Rotation.from_rotvec(s[:, None] * tk).as_matrix(), kin.rotation[seg]])
        com[seg] = np.concatenate([np.tile(kin.com_position_m[seg][0], (m, 1)), kin.com_position_m[seg]])
        acc[seg] = np.concatenate([np.zeros((m, 3)), kin.com_acceleration_m_s2[seg]])
        om[seg] = np.concatenate([ds[:, None] * tk, kin.angular_velocity_rad_s[seg]])
        al[seg] = np.concatenate([dds[:, None] * tk, kin.angular_acceleration_rad_s2[seg]])
    joints = {j: np.concatenate([np.tile(p[0], (m, 1)), p]) for j, p in kin.joint_position_m.items()}
    return SegmentKinematics(np.r_[t_pre, kin.time_s], rot, com, acc, om, al, joints), m
