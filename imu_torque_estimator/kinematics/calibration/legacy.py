"""Still + functional calibration WITH a nominal mounting (kept for simulated training data, where the
mounting is known up to +-10 deg; real recordings use the mode algorithms of this package).

Three sources, combined per segment by `calibrate`:
1. known mounting from config (`Calibration.from_placement`, e.g. `placement.default_placements`): the
   nominal sensor_to_segment rotation and lever arm;
2. static standing pose: every segment frame is aligned with ground in neutral standing (body.py), so
   the mean specific force direction in the sensor frame IS the segment's z axis (exact inclination);
   the mean angular rate during stillness is the gyroscope bias;
3. functional calibration from walking: the principal axis of the angular rate (largest-variance
   direction) of thigh, shank and foot is their flexion axis, i.e. the segment y axis (sign taken
   towards the nominal y axis), computed on the rate with its component along the (static) segment z
   axis removed, so turning and axial rotation do not bias it. It fixes the heading of the mounting
   about the vertical. The pelvis' walking rotation has no dominant axis (tilt, obliquity and
   rotation are of similar size), so its heading stays at the nominal mounting.
The nominal mounting decides the flexion-axis sign here: use the `still`/`walking` modes
(`calibrate_recording`) when the mounting is unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ...body import GRAVITY_M_S2, SEGMENTS
from .model import Calibration, CalibrationError

# Stillness thresholds for the static pose (per sensor): gyro norm and deviation of the specific force
# norm from its mean. Standing sway is ~0.02 rad/s; walking is > 1 rad/s on the shank.
STILL_GYRO_RAD_S = 0.15
STILL_ACC_DEV_M_S2 = 0.4
# Minimum ratio between the first and second eigenvalue of the angular-rate covariance for the
# functional flexion axis to be trusted.
MIN_FUNCTIONAL_EIG_RATIO = 4.0


def is_still(specific_force_m_s2: np.ndarray, angular_rate_rad_s: np.ndarray) -> np.ndarray:
    """Per-sample stillness of one sensor (N,): gyro norm below STILL_GYRO_RAD_S and specific-force norm
    within STILL_ACC_DEV_M_S2 of g (tolerates a few % accelerometer scale error)."""
    f = np.asarray(specific_force_m_s2, float)
    w = np.asarray(angular_rate_rad_s, float)
    fn = np.linalg.norm(f, axis=-1)
    return (np.linalg.norm(w, axis=-1) < STILL_GYRO_RAD_S) & (np.abs(fn - GRAVITY_M_S2) < STILL_ACC_DEV_M_S2)


def find_still_window(specific_force_m_s2: np.ndarray, angular_rate_rad_s: np.ndarray, rate_hz: float,
                      min_duration_s: float = 1.0, margin_s: float = 0.25) -> slice | None:
    """First window of >= `min_duration_s` where ALL sensors are still. Arrays (S,N,3). None if none.
    The last `margin_s` before motion resumes is dropped (slow motion onset passes the thresholds)."""
    still = np.all([is_still(f, w) for f, w in zip(specific_force_m_s2, angular_rate_rad_s,
                                                    strict=True)], axis=0)
    need = max(1, int(round(min_duration_s * rate_hz)))
    run = 0
    for i, s in enumerate(still):
        run = run + 1 if s else 0
        if run >= need:
            start = i - run + 1
            end = start + run
            while end < still.size and still[end]:
                end += 1
            if end < still.size:
                end = max(start + need, end - int(round(margin_s * rate_hz)))
            return slice(start, end)
    return None


def vertical_axis(specific_force_m_s2: np.ndarray, segment: str = "?") -> np.ndarray:
    """Segment z axis in the sensor frame from a static standing window (mean specific force direction)."""
    f = np.asarray(specific_force_m_s2, float)
    if f.ndim != 2 or f.shape[0] < 2 or f.shape[1] != 3 or not np.all(np.isfinite(f)):
        raise CalibrationError(f"{segment}: static window must be (N>=2, 3) finite specific force samples")
    m = f.mean(axis=0)
    n = np.linalg.norm(m)
    if not 7.0 < n < 12.5:
        raise CalibrationError(f"{segment}: mean specific force {n:.2f} m/s^2 is not gravity; "
                               "not standing still?")
    return m / n


def flexion_axis(angular_rate_rad_s: np.ndarray, segment: str = "?") -> tuple[np.ndarray, float]:
    """Principal axis of the angular rate during walking (unit, sensor frame; sign arbitrary) and the
    ratio of the two largest eigenvalues of the rate covariance (second moment about zero)."""
    w = np.asarray(angular_rate_rad_s, float)
    if w.ndim != 2 or w.shape[0] < 10 or w.shape[1] != 3 or not np.all(np.isfinite(w)):
        raise CalibrationError(f"{segment}: functional window must be (N>=10, 3) finite angular rates")
    ev, vec = np.linalg.eigh(w.T @ w / w.shape[0])
    ratio = float(ev[2] / max(ev[1], 1e-12))
    return vec[:, 2], ratio


# Minimum correlation between forward and the time derivative of vertical specific force for the
# pelvis heading from walking to be trusted (simulated level walking 0.6-1.8 m/s: 0.3-0.8).
MIN_PELVIS_PENDULUM_CORRELATION = 0.2


def pelvis_forward_axis(specific_force_m_s2: np.ndarray, z_axis: np.ndarray) -> tuple[np.ndarray, float]:
    """Forward (segment x) axis of the pelvis in the sensor frame from a few strides of WALKING.

    Walking is an inverted pendulum: forward speed is lowest when the CoM is highest (mid-stance), so
    the forward acceleration is proportional to minus the vertical velocity, i.e. in phase with the
    time derivative of the vertical acceleration: E[f_h d(f_z)/dt] points forward (checked on the
    simulator: within 2 deg of the pelvis x axis for level and uphill walking 0.6-1.8 m/s, 8-18 deg
    downhill; running reverses it, so calibrate on walking). Returns (unit axis perpendicular to
    `z_axis`, correlation of f.x with d(f_z)/dt)."""
    f = np.asarray(specific_force_m_s2, float)
    z = np.asarray(z_axis, float)
    if f.ndim != 2 or f.shape[1] != 3 or f.shape[0] < 10 or not np.all(np.isfinite(f)):
        raise CalibrationError("pelvis: walking specific force must be (N>=10, 3) finite samples")
    fz = f @ z
    fh = f - np.outer(fz, z)
    dfz = np.gradient(fz)
    c = (fh - fh.mean(0)).T @ (dfz - dfz.mean()) / len(fz)
    n = np.linalg.norm(c)
    if n < 1e-12:
        return np.cross(z, [0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.cross([0.0, 0.0, 1.0], z), 0.0
    x = c / n
    px = (fh - fh.mean(0)) @ x
    corr = float(np.corrcoef(px, dfz)[0, 1]) if px.std() > 0 and dfz.std() > 0 else 0.0
    return x, corr


def calibrate(
    nominal: Mapping[str, object],
    static: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    walking_rate_rad_s: Mapping[str, np.ndarray | tuple[np.ndarray, np.ndarray]] | None = None,
    functional_segments: tuple[str, ...] = ("thigh_l", "thigh_r", "shank_l", "shank_r", "foot_l", "foot_r"),
    sign_from_gait: bool = False,
    min_eig_ratio: float = MIN_FUNCTIONAL_EIG_RATIO,
    pelvis_from_gait: bool = True,
) -> dict[str, Calibration]:
    """Calibrate each segment of `nominal` (placements or Calibrations giving the config mounting).

    static[seg] = (specific_force (N,3), angular_rate (N,3)) over a still standing window: sets the
    segment z axis and the gyro bias. walking_rate_rad_s[seg] = angular rate (N,3) over a few strides,
    or a tuple (specific force (N,3), angular rate (N,3)): sets the y axis (flexion) for
    `functional_segments` when the eigenvalue ratio is >= `min_eig_ratio`. The remaining axis follows
    by orthogonalisation (x = y cross z).
    The lever arm always comes from `nominal` (placement offsets are not observable here).

    `sign_from_gait=True` (recordings whose mounting is unknown, e.g. the OpenSense Xsens trial): the
    flexion axis sign comes from gait physics instead of the nominal y axis (rules checked on the
    simulator, walking 0.6-1.8 m/s incl. +-10 % slopes and running 3 m/s, two body sizes). Shank: the
    swing phase's fast forward rotation is about -y, so the flexion rate is negatively skewed. Thigh:
    the hip is flexed on average while walking, so the mean specific force along the segment x axis is
    positive (+0.9..+2.6 m/s^2; needs the specific force in the walking data), else the skew rule.
    Foot: its flexion rate correlates positively with the ipsilateral shank's (r > 0.8).

    Pelvis (`pelvis_from_gait`, needs the walking specific force): heading from the inverted-pendulum
    exchange of walking, see `pelvis_forward_axis`; kept at the config heading when the correlation is
    below MIN_PELVIS_PENDULUM_CORRELATION.
    """
    out: dict[str, Calibration] = {}
    flex_rate: dict[str, np.ndarray] = {}
    # segment order (shank before foot) so the foot's gait sign can use the shank's flexion rate
    order = sorted(nominal, key=lambda s: SEGMENTS.index(s) if s in SEGMENTS else -1)
    for seg in order:
        nom = nominal[seg]
        base = nom if isinstance(nom, Calibration) else Calibration.from_placement(nom)
        if base.segment != seg:
            raise ValueError(f"nominal[{seg!r}] is for segment {base.segment!r}")
        c0 = base.sensor_to_segment
        quality: dict[str, float] = {}
        methods = ["config"]
        z = c0[2]
        bias = base.gyro_bias_rad_s
        if static is not None and seg in static:
            f, w = static[seg]
            z = vertical_axis(f, seg)
            w = np.asarray(w, float)
            if w.shape != np.asarray(f).shape:
                raise CalibrationError(f"{seg}: static specific force and angular rate differ in shape")
            bias = w.mean(axis=0)
            quality["static_tilt_correction_deg"] = float(np.degrees(np.arccos(np.clip(z @ c0[2], -1, 1))))
            quality["static_gyro_std_rad_s"] = float(np.linalg.norm(w.std(axis=0)))
            methods.append("static")
        y = c0[1]
        walk_pelvis = walking_rate_rad_s.get(seg) if walking_rate_rad_s is not None else None
        if seg == "pelvis" and pelvis_from_gait and isinstance(walk_pelvis, tuple):
            x_dir, strength = pelvis_forward_axis(walk_pelvis[0], z)
            quality["pelvis_pendulum_correlation"] = strength
            if strength >= MIN_PELVIS_PENDULUM_CORRELATION:
                y = np.cross(z, x_dir)
                methods.append("functional(pendulum heading)")
        elif walking_rate_rad_s is not None and seg in walking_rate_rad_s and seg in functional_segments:
            walk = walking_rate_rad_s[seg]
            walk_f = None
            if isinstance(walk, tuple):
                walk_f, walk = (np.asarray(x, float) for x in walk)
            rate = np.asarray(walk, float) - bias
            # rotation about the segment's long (vertical) axis -- turning, pelvis and hip rotation --
            # carries no flexion information: remove it so PCA works in the plane the y axis lives in
            rate = rate - np.outer(rate @ z, z)
            axis, ratio = flexion_axis(rate, seg)
            quality["functional_eig_ratio"] = ratio
            if ratio >= min_eig_ratio:
                if sign_from_gait:
                    proj = rate @ axis
                    shank = seg.replace("foot", "shank")
                    if seg.startswith("foot") and shank in flex_rate and len(flex_rate[shank]) == len(proj):
                        positive = float(proj @ flex_rate[shank]) > 0
                    elif seg.startswith("thigh") and walk_f is not None:
                        positive = float(walk_f.mean(axis=0) @ np.cross(axis, z)) > 0  # x = y cross z
                    else:
                        positive = float((proj**3).mean()) < 0
                    y = axis if positive else -axis
                    flex_rate[seg] = rate @ y
                    methods.append("functional(gait sign)")
                else:
                    y = axis if axis @ c0[1] >= 0 else -axis
                    methods.append("functional")
        y = y - (y @ z) * z
        if np.linalg.norm(y) < 1e-3:
            raise CalibrationError(f"{seg}: flexion axis is parallel to the vertical; cannot calibrate")
        y /= np.linalg.norm(y)
        x = np.cross(y, z)
        c = np.vstack([x, y, z])
        quality["rotation_from_config_deg"] = float(np.degrees(
            np.arccos(np.clip((np.trace(c @ c0.T) - 1) / 2, -1, 1))))
        out[seg] = Calibration(seg, c, base.sensor_position_m, bias, "+".join(methods), quality)
    return out


StaticCalibrator = Callable[[np.ndarray, np.ndarray], dict[str, Calibration]]


def static_calibrator(nominal: dict[str, object], segments: tuple[str, ...]) -> StaticCalibrator:
    """Adapter for stream-level state machines (e.g. pipeline/calibration.py): returns
    f(accel (N,S,3), gyro (N,S,3)) -> {segment: Calibration} using the static standing window only (z axis
    + gyro bias; heading and lever arm from `nominal`). Raises CalibrationError (a ValueError) when the
    window is not standing."""
    missing = [s for s in segments if s not in nominal]
    if missing:
        raise ValueError(f"no nominal mounting for segment(s) {missing}")

    def _calibrate(accel: np.ndarray, gyro: np.ndarray) -> dict[str, Calibration]:
        a, g = np.asarray(accel, float), np.asarray(gyro, float)
        if a.ndim != 3 or a.shape != g.shape or a.shape[1:] != (len(segments), 3):
            raise CalibrationError(f"static window must be (N, {len(segments)}, 3) arrays, "
                                   f"got {a.shape} and {g.shape}")
        return calibrate({s: nominal[s] for s in segments},
                         {s: (a[:, i], g[:, i]) for i, s in enumerate(segments)})

    return _calibrate
