"""One synthesised trial: subject x condition -> joint coordinates -> chain kinematics -> dynamically
consistent GRF/CoP -> ground-truth joint moments (inverse dynamics of the same motion) -> IMU signals.

Steps (`simulate_trial`):
1. stride plan: stride length from speed and stature (gait.py, Alexander 1984, coefficient fitted to
   the real trials), stride time = length / speed, stride-to-stride variability: stride time CV 2 %
   walking / 1.5 % running (order of magnitude reported for healthy adults, e.g. Hausdorff et al.
   1996, J Appl Physiol 80:1448), duty
   factor +- 0.01, per-stride pattern offsets (1 deg) and amplitude scale (3 %);
   personal style per subject (seeded by Subject.style_seed): offsets 2 deg (legs) / 1 deg (pelvis),
   harmonic amplitude scale 8 %.
2. slope (treadmill grade): hip flexion offset + slope angle, ankle dorsiflexion offset + slope angle
   (foot flat on the incline); the CoM design runs in the surface frame with gravity's along-slope
   component (net propulsive impulse uphill, braking downhill).
3. sagittal amplitudes (hip, knee, ankle harmonics and pelvis rotation) scaled by one factor so the
   stance contact point's backward travel relative to the pelvis matches the distance the body covers
   in stance (speed x stance time minus the roll along the foot): keeps the stance foot from sliding
   when speed and stature differ from the real trials' (the walking trials span only 1.0-1.25 m/s).
4. the upper body (head, arms, trunk; chain.py trunk_* coordinates) follows the stride-averaged pelvis
   orientation plus 30 % of its tilt/list oscillation and -40 % of its rotation (thorax-pelvis
   counter-rotation).
5. grf.design_com / grf.solve_cop; pelvis translation = CoM - CoM_relative(angles). Then up to
   `trunk_passes` - 1 times: the moment residual (what CoP and free moment could not balance, e.g.
   in flight) is absorbed by a trunk counter-rotation (small-angle, upper-body inertia about the CoM,
   double integral high-passed at 0.4 Hz) and step 5 is repeated. The trunk's yaw stands in for the
   arms' swing (dynamically similar angular momentum); its size is reported (trunk_correction_max_deg).
6. inverse dynamics (dynamics.inverse_dynamics) with the upper body merged into the pelvis (combined
   CoM, exact inertial moment via chain.pelvis_composite); its pelvis residual is the whole-body
   Newton-Euler residual reported in `diagnostics`. Joint moments do not depend on it (bottom-up).
7. IMU synthesis (sim/imu.py) at the trial rate from the 7-segment kinematics (pelvis CoM = pelvis
   segment only, as kinematics.placement.default_placements expects).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ..body import GRAVITY_M_S2, JOINTS, SEGMENTS, SIDES
from ..motion import FootContact, SegmentKinematics
from .chain import Coordinates, pelvis_composite, relative_chain, total_mass_kg, whole_body_com
from .gait import (
    PATTERN_COORDINATES,
    GaitPatterns,
    StridePlan,
    load_patterns,
    phase_to_time,
    synthesize_coordinates,
)
from .grf import Stance, design_com, solve_cop
from .subjects import Condition, Subject

_DEG = np.pi / 180.0
MAX_STRIDES = 2000
TRUNK_PASSES = 3
TRUNK_STOP_FRACTION = 0.005  # stop the trunk passes once the residual is below 0.5 % BW x height


@dataclass
class SimTrial:
    """A synthesised (or loaded) trial in the dataset layout (see sim/dataset.py for shapes/frames)."""

    time_s: np.ndarray
    imu_specific_force_m_s2: np.ndarray
    imu_angular_rate_rad_s: np.ndarray
    imu_stamp_s: np.ndarray
    rotation: np.ndarray
    com_acceleration_m_s2: np.ndarray
    angular_velocity_rad_s: np.ndarray
    sensor_to_segment: np.ndarray
    sensor_position_m: np.ndarray
    moments_nm_per_kg: np.ndarray
    grf_n: np.ndarray
    cop_m: np.ndarray
    meta: dict
    moments_extra_nm_per_kg: np.ndarray | None = None
    moments_extra_names: tuple[str, ...] = ()
    kinematics: SegmentKinematics | None = None
    contacts: dict[str, FootContact] | None = None
    diagnostics: dict = field(default_factory=dict)

    @property
    def truth_kinematics(self) -> SegmentKinematics:
        """The simulated segment kinematics (kept by simulate_trial; None only for trials built from
        arrays without them)."""
        if self.kinematics is None:
            raise ValueError("this trial carries no segment kinematics")
        return self.kinematics

    @property
    def trial_id(self) -> str:
        return str(self.meta["trial_id"])

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays written to a shard (sim/dataset.py)."""
        out = {
            k: getattr(self, k)
            for k in (
                "time_s",
                "imu_specific_force_m_s2",
                "imu_angular_rate_rad_s",
                "imu_stamp_s",
                "rotation",
                "com_acceleration_m_s2",
                "angular_velocity_rad_s",
                "sensor_to_segment",
                "sensor_position_m",
                "moments_nm_per_kg",
                "grf_n",
                "cop_m",
            )
        }
        if self.moments_extra_nm_per_kg is not None:
            out["moments_extra_nm_per_kg"] = self.moments_extra_nm_per_kg
            out["moments_extra_names"] = np.array(self.moments_extra_names)
        out["meta"] = np.array(json.dumps(self.meta))
        return out


def with_trunk(
    coords: Coordinates,
    stride_samples: float,
    follow: tuple[float, float, float] = (0.3, 0.3, -0.4),
) -> Coordinates:
    """Add the upper-body orientation: the stride-averaged pelvis orientation plus `follow` x the
    pelvis oscillation about it (tilt, list, rotation; negative = counter-rotation of the thorax
    against the pelvis, as in walking and running)."""
    from scipy.ndimage import gaussian_filter1d

    q, qd, qdd = dict(coords.q), dict(coords.qd), dict(coords.qdd)
    sigma = max(stride_samples / 2.0, 1.0)
    for name, k in zip(("tilt", "list", "rotation"), follow, strict=True):
        src = f"pelvis_{name}"
        outs = []
        for d in (coords.q, coords.qd, coords.qdd):
            x = d[src]
            lp = gaussian_filter1d(x, sigma, mode="nearest")
            outs.append(lp + k * (x - lp))
        q[f"trunk_{name}"], qd[f"trunk_{name}"], qdd[f"trunk_{name}"] = outs
    return Coordinates(coords.time_s, q, qd, qdd)


def trunk_correction(
    model, state, com, residual_nm: np.ndarray, dt: float, highpass_hz: float = 0.4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trunk rotation (small angles about ground x, y, z -> list, tilt, rotation increments) whose
    angular-momentum rate cancels `residual_nm`: I_G dtheta'' = -residual, I_G = upper-body inertia
    about the whole-body CoM (time-averaged); double integral high-passed (Butterworth, zero phase) so
    the trunk does not drift. Returns (theta, theta', theta''), each (N, 3)."""
    from scipy.interpolate import make_interp_spline
    from scipy.signal import butter, sosfiltfilt

    rot = state.rotation["upper_body"]
    i_local = np.diag(model.upper_body.inertia_kg_m2)
    d = state.com["upper_body"].p - com.p
    m = model.upper_body.mass_kg
    i_g = rot @ i_local @ rot.transpose(0, 2, 1) + m * (
        np.einsum("ni,ni->n", d, d)[:, None, None] * np.eye(3) - np.einsum("ni,nj->nij", d, d)
    )
    acc = -np.linalg.solve(i_g.mean(axis=0), residual_nm.T).T
    n = acc.shape[0]
    sos = butter(2, highpass_hz, btype="highpass", fs=1.0 / dt, output="sos")
    pad = min(3 * int(1.0 / (highpass_hz * dt)), n - 1)
    vel = sosfiltfilt(sos, _cum(acc, dt), axis=0, padlen=pad)
    ang = sosfiltfilt(sos, _cum(vel, dt), axis=0, padlen=pad)
    t = np.arange(n) * dt
    spl = make_interp_spline(t, ang, k=5)
    return ang, spl(t, 1), spl(t, 2)


def _cum(y: np.ndarray, dt: float) -> np.ndarray:
    out = np.zeros_like(y)
    out[1:] = np.cumsum(0.5 * (y[1:] + y[:-1]), axis=0) * dt
    return out


def add_trunk_delta(coords: Coordinates, delta: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Coordinates:
    """Add a small trunk rotation about ground (x, y, z) to trunk list, tilt and rotation."""
    q, qd, qdd = dict(coords.q), dict(coords.qd), dict(coords.qdd)
    for name, axis in (("trunk_list", 0), ("trunk_tilt", 1), ("trunk_rotation", 2)):
        q[name] = q[name] + delta[0][:, axis]
        qd[name] = qd[name] + delta[1][:, axis]
        qdd[name] = qdd[name] + delta[2][:, axis]
    return Coordinates(coords.time_s, q, qd, qdd)


def _resolve_errors(imu_errors):
    from .imu import ImuErrorModel

    if imu_errors is None or imu_errors == "ideal":
        return ImuErrorModel.ideal()
    if imu_errors == "mti3":
        return ImuErrorModel.mti3()
    if isinstance(imu_errors, ImuErrorModel):
        return imu_errors
    raise ValueError(f"imu_errors must be 'ideal', 'mti3', None or an ImuErrorModel, got {imu_errors!r}")


def _check_args(n_strides: int, rate_hz: float) -> None:
    if not isinstance(n_strides, int | np.integer) or not 1 <= n_strides <= MAX_STRIDES:
        raise ValueError(f"n_strides must be an integer in 1..{MAX_STRIDES}, got {n_strides!r}")
    if not np.isfinite(rate_hz) or not 50 <= rate_hz <= 2000:
        raise ValueError(f"rate_hz must be in 50..2000 Hz, got {rate_hz!r}")


def _style(subject: Subject, n_coef: int) -> tuple[np.ndarray, np.ndarray]:
    """Personal offsets (rad, per coordinate) and harmonic amplitude scales, fixed per subject."""
    rng = np.random.default_rng(subject.style_seed)
    sd = np.array([1.0 if c.startswith("pelvis") else 2.0 for c in PATTERN_COORDINATES]) * _DEG
    off = rng.normal(0.0, sd)
    scale = np.clip(rng.normal(1.0, 0.08, size=len(PATTERN_COORDINATES)), 0.8, 1.2)
    return off, scale


def _stride_modes(condition: Condition, n: int) -> tuple[list[str], np.ndarray]:
    if condition.mode == "walk_run":
        half = max(1, n // 2)
        modes = ["walk"] * half + ["run"] * (n - half)
        speeds = np.array([condition.walk_speed_m_s] * half + [condition.speed_m_s] * (n - half))
    else:
        modes = [condition.mode] * n
        speeds = np.full(n, condition.speed_m_s)
    return modes, speeds


def build_plan(
    subject: Subject,
    condition: Condition,
    n_strides: int,
    rng: np.random.Generator,
    patterns: GaitPatterns,
    hip_scale: dict[str, float] | None = None,
) -> StridePlan:
    """Stride plan with per-stride coefficients (both legs), padded by one stride each side."""
    modes, speeds = _stride_modes(condition, n_strides)
    modes = [modes[0], *modes, modes[-1]]
    speeds = np.concatenate([[speeds[0]], speeds, [speeds[-1]]])
    k = len(modes)
    off, scale = _style(subject, 0)
    theta = condition.slope_rad
    durations = np.empty(k)
    duty = np.empty(k)
    h = patterns["walk"].harmonics
    coef = {s: np.empty((k, len(PATTERN_COORDINATES), 2 * h + 1)) for s in SIDES}
    hip = PATTERN_COORDINATES.index("hip_flexion")
    ankle = PATTERN_COORDINATES.index("ankle_dorsiflexion")
    for i, (mode, v) in enumerate(zip(modes, speeds, strict=True)):
        mp = patterns[mode]
        cv = 0.02 if mode == "walk" else 0.015
        durations[i] = mp.stride_length_m(v, subject.height_m) / v * np.clip(1 + rng.normal(0, cv), 0.9, 1.1)
        duty[i] = mp.duty_factor(v) + np.clip(rng.normal(0, 0.01), -0.03, 0.03)
        base = mp.coefficients(v).copy()
        base[hip, 0] += theta
        base[ankle, 0] += theta
        _scale_amplitudes(base, (hip_scale or {}).get(mode, 1.0))
        for s in SIDES:
            c = base.copy()
            c[:, 0] += off + rng.normal(0.0, 1.0 * _DEG, size=len(PATTERN_COORDINATES))
            c[:, 1:] *= (scale * np.clip(rng.normal(1.0, 0.03, size=len(PATTERN_COORDINATES)), 0.9, 1.1))[
                :, None
            ]
            coef[s][i] = c
    bounds = np.concatenate([[-durations[0]], [0.0], np.cumsum(durations[1:])])
    t_end = float(np.sum(durations[1:-1]))
    return StridePlan(bounds, modes, speeds, duty, coef, t_end)


def stances_of(plan: StridePlan, patterns: GaitPatterns, t_end: float) -> list[Stance]:
    out = []
    phases = []
    for i, d in enumerate(plan.duty):
        k = i - 1
        phases += [k, k + d, k + 0.5, k + 0.5 + d]
    times = phase_to_time(plan, np.array(phases)).reshape(-1, 2, 2)
    for i, (mode, v) in enumerate(zip(plan.modes, plan.speeds_m_s, strict=True)):
        shape = patterns[mode].grf_shape(v)
        for j, side in enumerate(("r", "l")):
            t_on, t_off = times[i, j]
            if t_off > 0 and t_on < t_end:
                out.append(Stance(side, float(t_on), float(t_off), mode, shape))
    return out


# Exponent per pattern coordinate of the stride-length amplitude scale. Scaling hip, knee, ankle and
# pelvis rotation together (exponent 1) was measured best (walk 1.6 m/s: whole-body moment residual
# max 1.2 vs 4.0 % BW x height with the hip alone, stance slip 0.20 vs 0.39 m/s; exponent 0.5 for knee
# and ankle in between): faster walking deepens all sagittal excursions, not only the hip sweep.
AMPLITUDE_EXPONENTS = {
    "hip_flexion": 1.0,
    "pelvis_rotation": 1.0,
    "knee_flexion": 1.0,
    "ankle_dorsiflexion": 1.0,
}


def _scale_amplitudes(coef: np.ndarray, s: float) -> None:
    """Scale the harmonics (not the mean) of the sagittal coordinates in place by s ** exponent."""
    for name, e in AMPLITUDE_EXPONENTS.items():
        coef[PATTERN_COORDINATES.index(name), 1:] *= s**e


def _nominal_plan(
    subject: Subject, mode: str, v: float, slope_rad: float, patterns: GaitPatterns, hip_scale: float
) -> StridePlan:
    """One noise-free stride (plus padding) with the subject's style: used to calibrate the hip scale."""
    mp = patterns[mode]
    off, scale = _style(subject, 0)
    base = mp.coefficients(v).copy()
    hip = PATTERN_COORDINATES.index("hip_flexion")
    ankle = PATTERN_COORDINATES.index("ankle_dorsiflexion")
    base[hip, 0] += slope_rad
    base[ankle, 0] += slope_rad
    base[:, 0] += off
    base[:, 1:] *= scale[:, None]
    _scale_amplitudes(base, hip_scale)
    coef = {s: np.repeat(base[None], 3, axis=0) for s in SIDES}
    dur = mp.stride_length_m(v, subject.height_m) / v
    return StridePlan(
        np.arange(-1, 3, dtype=float) * dur,
        [mode] * 3,
        np.full(3, v),
        np.full(3, mp.duty_factor(v)),
        coef,
        dur,
    )


def _hip_scale(subject: Subject, condition: Condition, patterns: GaitPatterns) -> dict[str, float]:
    """Hip-flexion harmonic scale per mode so the stance contact point travels speed x stance time
    backwards (along the slope) relative to the pelvis (step 3 of the module docstring)."""
    from .grf import lowest_contact_point_local

    model = subject.model()
    modes, speeds = _stride_modes(condition, 2)
    th = condition.slope_rad
    out = {}
    for mode, v in dict(zip(modes, speeds, strict=True)).items():
        slope = th if condition.mode != "walk_run" else 0.0
        exc = []
        trial_scales = (0.8, 1.2)
        for sc in trial_scales:
            plan = _nominal_plan(subject, mode, float(v), slope, patterns, sc)
            t = np.linspace(0.0, plan.t_end_s, 200)
            coords, _ = synthesize_coordinates(plan, t, patterns[mode].harmonics)
            rel = relative_chain(model, coords)
            t_on, t_off = phase_to_time(plan, np.array([0.0, plan.duty[1]]))
            normal = np.array([-np.sin(slope), 0.0, np.cos(slope)])
            local = lowest_contact_point_local(model, rel.rotation["foot_r"], rel.joint["ankle_r"].p, normal)
            p = rel.joint["ankle_r"].p + np.einsum("nij,nj->ni", rel.rotation["foot_r"], local)
            along = p[:, 0] * np.cos(slope) + p[:, 2] * np.sin(slope)
            x_on, x_off = np.interp([t_on, t_off], t, along)
            exc.append(x_on - x_off)
            # the body travels v x stance time while the contact rolls along the foot (heel -> ball)
            roll = float(np.interp(t_off, t, local[:, 0]) - np.interp(t_on, t, local[:, 0]))
            need = v * (t_off - t_on) - roll
        s = trial_scales[0] + (need - exc[0]) * (trial_scales[1] - trial_scales[0]) / (exc[1] - exc[0])
        out[mode] = float(np.clip(s, 0.6, 1.6))
    return out


def simulate_trial(
    subject: Subject,
    condition: Condition | str,
    n_strides: int = 10,
    rate_hz: float = 100.0,
    imu_errors="mti3",
    seed: int = 0,
    patterns: GaitPatterns | None = None,
    trial_id: str | None = None,
    trunk_passes: int = TRUNK_PASSES,
) -> SimTrial:
    """Synthesise one trial (see module docstring). `condition` may be a name ('walk_1.2', 'run_3.0',
    'walk_1.2_up10', 'walk_run'). Deterministic for a given seed. `trunk_passes` = 1 skips the trunk
    counter-rotation (about 2x faster, larger whole-body moment residual in running; for live use).

    BLAS is limited to one thread here: the least-squares systems are small, and multi-threaded
    OpenBLAS was measured 10-30x slower for them on the 2-core CI machine (oversubscription)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _simulate(
            subject, condition, n_strides, rate_hz, imu_errors, seed, patterns, trial_id, trunk_passes
        )


def _simulate(
    subject: Subject,
    condition: Condition | str,
    n_strides: int,
    rate_hz: float,
    imu_errors,
    seed: int,
    patterns: GaitPatterns | None,
    trial_id: str | None,
    trunk_passes: int,
) -> SimTrial:
    from ..dynamics import SegmentInertials, inverse_dynamics, sagittal_moments
    from ..kinematics.placement import default_placements
    from .imu import synthesize_imu

    condition = Condition.parse(condition)
    _check_args(n_strides, rate_hz)
    errors = _resolve_errors(imu_errors)
    patterns = patterns or load_patterns()
    rng = np.random.default_rng(seed)
    model = subject.model()
    mass = total_mass_kg(model)
    hip_scale = _hip_scale(subject, condition, patterns)
    plan = build_plan(subject, condition, int(n_strides), rng, patterns, hip_scale)
    dt = 1.0 / rate_hz
    t = np.arange(0.0, plan.t_end_s, dt)
    coords, _phase = synthesize_coordinates(plan, t, patterns["walk"].harmonics)
    stride_samples = float(np.mean(np.diff(plan.boundaries_s))) * rate_hz
    coords = with_trunk(coords, stride_samples)
    stances = stances_of(plan, patterns, float(t[-1]))
    speed = condition.speed_m_s if condition.mode != "walk_run" else float(np.mean(plan.speeds_m_s[1:-1]))
    trunk_delta = None
    first_residual: np.ndarray | None = None
    basis_cache: dict = {}
    if not isinstance(trunk_passes, int | np.integer) or not 1 <= trunk_passes <= 10:
        raise ValueError(f"trunk_passes must be an integer in 1..10, got {trunk_passes!r}")
    for k in range(trunk_passes):
        # Pass 1 with the stabilised trunk; each further pass adds the trunk counter-rotation that takes
        # up the angular-momentum imbalance left by the previous one (what the CoP could not balance,
        # e.g. in flight). Linearised, so a few passes converge.
        c = coords if trunk_delta is None else add_trunk_delta(coords, trunk_delta)
        rel = relative_chain(model, c)
        design = design_com(model, rel, stances, speed, condition.slope_rad, cache=basis_cache)
        crel = whole_body_com(model, rel)
        state = rel.translated(design.com.p - crel.p, design.com.v - crel.v, design.com.a - crel.a)
        cop = solve_cop(model, state, design.com, design, condition.slope_rad)
        if first_residual is None:
            first_residual = cop.residual_moment_nm
        res_max = np.linalg.norm(cop.residual_moment_nm, axis=1).max()
        if res_max < TRUNK_STOP_FRACTION * total_mass_kg(model) * GRAVITY_M_S2 * subject.height_m:
            break
        if k < trunk_passes - 1:
            corr = trunk_correction(model, state, design.com, cop.residual_moment_nm, dt)
            trunk_delta = (
                corr if trunk_delta is None else tuple(a + b for a, b in zip(trunk_delta, corr, strict=True))
            )

    # Inverse dynamics with the upper body merged into the pelvis (combined CoM and inertial moment).
    combined, pelvis_moment = pelvis_composite(model, state)
    kin_id = state.kinematics(pelvis_com_m=combined)
    loads = inverse_dynamics(
        kin_id, SegmentInertials.from_model(model), cop.contacts, inertial_moment_nm={"pelvis": pelvis_moment}
    )
    sag = sagittal_moments(kin_id, loads)
    moments = np.column_stack([sag[j] for j in JOINTS]) / subject.mass_kg

    kin = state.kinematics()
    synth = synthesize_imu(kin, default_placements(model), errors, rate_hz, rng)
    sig, plc = synth.signals, synth.placements

    bw = mass * GRAVITY_M_S2
    assert loads.pelvis_residual_force_n is not None and loads.pelvis_residual_moment_nm is not None
    res_f = np.linalg.norm(loads.pelvis_residual_force_n, axis=1)
    res_m = np.linalg.norm(loads.pelvis_residual_moment_nm, axis=1)
    fz = {s: design.force_n[s][:, 2] for s in SIDES}
    total_fz = fz["l"] + fz["r"]
    flight = ~(design.loaded["l"] | design.loaded["r"])
    events = {}
    for s in SIDES:
        sts = [st for st in stances if st.side == s]
        events[f"heel_strikes_{s}_s"] = [round(st.t_on_s, 4) for st in sts if 0 <= st.t_on_s <= t[-1]]
        events[f"toe_offs_{s}_s"] = [round(st.t_off_s, 4) for st in sts if 0 <= st.t_off_s <= t[-1]]
    tid = trial_id or f"{subject.subject_id}_{condition.name}_s{seed}"
    meta = {
        "trial_id": tid,
        "subject_id": subject.subject_id,
        "sex": subject.sex,
        "mass_kg": subject.mass_kg,
        "height_m": subject.height_m,
        "mode": condition.mode,
        "speed_m_s": condition.speed_m_s,
        "slope_pct": condition.slope_pct,
        "seed": int(seed),
        "rate_hz": float(rate_hz),
        "n_strides": int(n_strides),
        "condition": condition.name,
        "segments": list(SEGMENTS),
        "joints": list(JOINTS),
        "events": events,
        "stride_time_s": float(np.mean(np.diff(plan.boundaries_s[1:-1]))),
        "imu_errors": imu_errors if isinstance(imu_errors, str) or imu_errors is None else "custom",
    }
    diagnostics = {
        "residual_force_max_pct_bw": float(100 * res_f.max() / bw),
        "residual_moment_max_pct_bw_height": float(100 * res_m.max() / (bw * subject.height_m)),
        "residual_moment_rms_pct_bw_height": float(
            100 * np.sqrt(np.mean(res_m**2)) / (bw * subject.height_m)
        ),
        "peak_vertical_grf_bw": float(total_fz.max() / bw),
        "peak_foot_vertical_grf_bw": float(max(fz["l"].max(), fz["r"].max()) / bw),
        "min_loaded_vertical_grf_bw": float(
            min(fz[s][design.loaded[s]].min() for s in SIDES if design.loaded[s].any()) / bw
        ),
        "flight_fraction": float(flight.mean()),
        "flight_grf_max_n": float(
            max(np.abs(design.force_n[s][flight]).max() if flight.any() else 0.0 for s in SIDES)
        ),
        "double_support_fraction": float((design.loaded["l"] & design.loaded["r"]).mean()),
        "stance_slip_rms_m_s": design.slip_rms_m_s,
        "cop_clamped_fraction": cop.clamped_fraction,
        "cop_outside_max_m": float(max(cop.cop_outside_m.values())),
        "hip_scale": hip_scale,
        "residual_moment_before_trunk_max_pct_bw_height": float(
            100 * np.linalg.norm(_first(first_residual), axis=1).max() / (bw * subject.height_m)
        ),
        "trunk_correction_max_deg": 0.0
        if trunk_delta is None
        else float(np.rad2deg(np.abs(trunk_delta[0]).max())),
    }
    return SimTrial(
        time_s=t,
        imu_specific_force_m_s2=np.stack([sig[s].specific_force_m_s2 for s in SEGMENTS]),
        imu_angular_rate_rad_s=np.stack([sig[s].angular_rate_rad_s for s in SEGMENTS]),
        imu_stamp_s=np.stack([sig[s].time_s for s in SEGMENTS]),
        rotation=np.stack([kin.rotation[s] for s in SEGMENTS]),
        com_acceleration_m_s2=np.stack([kin.com_acceleration_m_s2[s] for s in SEGMENTS]),
        angular_velocity_rad_s=np.stack([kin.angular_velocity_rad_s[s] for s in SEGMENTS]),
        sensor_to_segment=np.stack([plc[s].sensor_to_segment for s in SEGMENTS]),
        sensor_position_m=np.stack([plc[s].position_m for s in SEGMENTS]),
        moments_nm_per_kg=moments,
        grf_n=np.stack([cop.contacts[s].force_n for s in SIDES]),
        cop_m=np.stack([cop.contacts[s].cop_m for s in SIDES]),
        meta=meta,
        kinematics=kin,
        contacts=cop.contacts,
        diagnostics=diagnostics,
    )


def _first(residual: np.ndarray | None) -> np.ndarray:
    """The residual of the first trunk iteration (the loop runs at least once)."""
    if residual is None:
        raise RuntimeError("trunk correction loop did not run")
    return residual
