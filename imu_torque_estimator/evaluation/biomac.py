"""Real-IMU evaluation on the BioMAC cycles: shipped models and baselines against real moments.

`biomac_recording(cycle)` turns one stride-averaged BioMAC cycle (data.biomac) into an `EvalRecording` the
predictors and the RNNs run on:
1. each of the 100-sample cycle's channels is resampled periodically (FFT, exact for a band-limited
   periodic signal) to round(stride duration x rate) samples at the models' rate (100 Hz), i.e. the
   stride is rounded to a whole number of samples (<= 0.5 sample, 0.4 % at 1.2 s);
2. the cycle is tiled end to end (`n_cycles`) as a stand-in for steady gait. LIMITS: an averaged cycle
   is smoother than any real stride (no stride-to-stride variability, impacts averaged out), the
   signals are already in segment axes (sensor-to-segment calibration is not exercised) and each
   file is one person and one condition;
3. calibration: sensor-to-segment rotation = body.R_OSIM_TO_ROS (OpenSim segment axes -> project
   segment axes x anterior, y left, z up), gyro bias 0 (unknown; averaged data), lever arm = the
   file's IMU position mapped to the project frame minus the segment CoM of a de Leva body of the
   participant's mass and height (1.75 m / 75 kg where the file gives none; positions and CoM only
   matter through the lever arm);
4. features by kinematics.estimate_features (the node's batch twin), RNNs by model.engine.run_sequence
   (the NumPy streaming engine), evaluated after `warmup_cycles` cycles;
5. reference: right-leg moments in the project convention (data.biomac), in Nm/kg with the file's body
   mass; without a mass (IMU_walking_P03) only the correlation is reported. Left leg: no reference.
   Force-plate events (the oracle) from the right vertical GRF (> 0.03 BW, linearly resampled), the left
   leg's by a half-cycle shift (the files give L_HS at 50 % for walking).
In IMU_walking_P03 the left-leg accelerometers are copies of the right leg's shifted by half a cycle;
their medio-lateral (OpenSim z) axis is negated so the copy is a mirror image (a left leg), stated in
the notes.

`evaluate_biomac_file(path, bundles, baselines)` is the one-call entry point (also for a CLI).
BioMAC is never used to choose or fit anything: callers pass predictors fitted elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import resample

from .. import kinematics as K
from ..body import JOINTS, R_OSIM_TO_ROS, SEGMENTS, lower_body_model
from ..data.biomac import BiomacCycle, read_cycle
from ..model import metrics as M
from ..model.bundle import Bundle
from .baselines import Baseline, EvalRecording
from .bootstrap import phase_blocks, rmse_r_ci

N_CYCLES = 12
WARMUP_CYCLES = 2
GRF_ON_BW = 0.03
DEFAULT_HEIGHT_M = 1.75
DEFAULT_MASS_KG = 75.0
KINDS = ("hip", "knee", "ankle")


@dataclass
class BiomacResult:
    """Predictions of every method on the evaluated samples of one tiled cycle.

    true: (N, 6) Nm/kg (right leg; NaN elsewhere), or Nm when `rmse_valid` is False (no body mass).
    phase: (N,) position in the cycle (0..1, 0 = the file's first event), for phase-block intervals.
    """

    name: str
    meta: dict
    true: np.ndarray
    pred: dict[str, np.ndarray]
    phase: np.ndarray
    rmse_valid: bool
    info: dict[str, dict] = field(default_factory=dict)

    def metrics(self, n_boot: int = 2000) -> dict[str, dict[str, dict]]:
        """{method: {hip|knee|ankle: rmse_r_ci over 10 phase blocks}} (right leg)."""
        out = {}
        for meth, p in self.pred.items():
            out[meth] = {}
            for kind in KINDS:
                j = JOINTS.index(_right(kind))
                units = phase_blocks(p[:, j], self.true[:, j], self.phase)
                out[meth][kind] = rmse_r_ci(units, "phase_block", n_boot, rmse=self.rmse_valid)
        return out


def _right(kind: str) -> str:
    return {"hip": "hip_flexion_r", "knee": "knee_flexion_r", "ankle": "ankle_dorsiflexion_r"}[kind]


def _periodic(x: np.ndarray, n: int) -> np.ndarray:
    """FFT resampling of one periodic cycle (IMU signals and moments: smooth)."""
    return resample(np.asarray(x, float), n, axis=0)


def _periodic_linear(x: np.ndarray, n: int) -> np.ndarray:
    """Linear resampling of one periodic cycle (the GRF: FFT would ring around contact and toe off)."""
    x = np.asarray(x, float)
    return np.interp(np.arange(n) * len(x) / n, np.arange(len(x) + 1), np.r_[x, x[:1]])


def _crossings(on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Circular rising / falling edges of a boolean cycle, as sample indices."""
    prev = np.roll(on, 1)
    return np.flatnonzero(on & ~prev).astype(float), np.flatnonzero(~on & prev).astype(float)


def biomac_recording(cycle: BiomacCycle, rate_hz: float = 100.0, n_cycles: int = N_CYCLES,
                     warmup_cycles: int = WARMUP_CYCLES, sex: str = "male") -> EvalRecording:
    """A tiled, resampled, calibrated BioMAC cycle as an `EvalRecording` (see module docstring)."""
    if n_cycles <= warmup_cycles:
        raise ValueError(f"n_cycles ({n_cycles}) must exceed warmup_cycles ({warmup_cycles})")
    nc = int(round(cycle.stride_s * rate_hz))
    if nc < 20:
        raise ValueError(f"{cycle.name}: {nc} samples per stride at {rate_hz} Hz is too few")
    notes = list(cycle.notes)
    mass = cycle.mass_kg or DEFAULT_MASS_KG
    height = cycle.height_m or DEFAULT_HEIGHT_M
    if cycle.height_m is None:
        notes.append(f"lever arms from a de Leva body of {DEFAULT_HEIGHT_M} m (no height in the file)")
    from ..kinematics.placement import segment_com_m

    model = lower_body_model(mass, height, sex)  # type: ignore[arg-type]
    f_cyc, w_cyc, cal = [], [], {}
    for seg in SEGMENTS:
        sf = cycle.specific_force_m_s2[seg].copy()
        if cycle.left_acc_is_copy and seg.endswith("_l") and seg != "pelvis":
            sf[:, 2] = -sf[:, 2]
        f_cyc.append(_periodic(sf, nc))
        w_cyc.append(_periodic(cycle.angular_rate_rad_s[seg], nc))
        lever = R_OSIM_TO_ROS @ cycle.imu_position_osim_m[seg] - segment_com_m(model, seg)
        cal[seg] = K.Calibration(seg, R_OSIM_TO_ROS, lever, np.zeros(3), "file: BioMAC segment axes")
    if cycle.left_acc_is_copy:
        notes.append("copied left-leg accelerometers mirrored (medio-lateral axis negated)")
    f = np.tile(np.stack(f_cyc), (1, n_cycles, 1))
    w = np.tile(np.stack(w_cyc), (1, n_cycles, 1))
    feats = K.estimate_features((f, w), "7imu", rate_hz, cal)
    n = feats.shape[0]
    truth = np.full((n, len(JOINTS)), np.nan)
    ref = cycle.moments_nm_per_kg() if cycle.mass_kg is not None else cycle.moments_nm
    for joint, m in ref.items():
        truth[:, JOINTS.index(joint)] = np.tile(_periodic(m, nc), n_cycles)
    on = _periodic_linear(cycle.grf_bw[:, 1], nc) > GRF_ON_BW
    hs, to = _crossings(on)
    offs = np.arange(n_cycles)[:, None] * nc
    events = {"r": {"heel_strike": (hs[None] + offs).ravel(), "toe_off": (to[None] + offs).ravel()},
              "l": {"heel_strike": ((hs[None] + nc / 2) % nc + offs).ravel(),
                    "toe_off": ((to[None] + nc / 2) % nc + offs).ravel()}}
    meta = {"eval_from": warmup_cycles * nc, "motion_from": 0, "samples_per_cycle": nc, "n_cycles": n_cycles,
            "mass_kg": cycle.mass_kg, "height_m": cycle.height_m, "stride_s": cycle.stride_s,
            "reference_unit": "Nm/kg" if cycle.mass_kg is not None else "Nm", "notes": notes,
            "file_events": cycle.events, "calibration": K.calibrations_to_dict(cal)}
    return EvalRecording(cycle.name, rate_hz, feats, K.feature_names("7imu"), height, truth, events,
                         cycle.mode, cycle.speed_m_s, meta)


def evaluate_biomac(cycle: BiomacCycle, bundles: dict[str, Bundle] | None = None,
                    baselines: dict[str, Baseline] | None = None, rate_hz: float = 100.0,
                    n_cycles: int = N_CYCLES) -> BiomacResult:
    """Run the shipped models (`bundles` {sensor_set: Bundle}) and fitted `baselines` {name: predictor}
    on one cycle; the zero predictor is always included."""
    from .yardstick import predict_all

    rec = biomac_recording(cycle, rate_hz, n_cycles)
    e = int(rec.meta["eval_from"])
    pred, info = predict_all(rec, bundles, baselines, e)
    nc = int(rec.meta["samples_per_cycle"])
    phase = (np.arange(len(rec))[e:] % nc) / nc
    meta = {"file": str(cycle.path), "mode": cycle.mode, "speed_m_s": round(cycle.speed_m_s, 3),
            "stride_s": round(cycle.stride_s, 4), "n_eval_samples": int(len(rec) - e), "leg": "right",
            **{k: rec.meta[k] for k in ("mass_kg", "height_m", "samples_per_cycle", "n_cycles",
                                        "reference_unit", "notes")}}
    return BiomacResult(cycle.name, meta, rec.moments_nm_per_kg[e:], pred, phase,  # type: ignore[index]
                        cycle.mass_kg is not None, info)


def evaluate_biomac_file(path: str | Path, bundles: dict[str, Bundle] | None = None,
                         baselines: dict[str, Baseline] | None = None, rate_hz: float = 100.0) -> dict:
    """One call for a CLI: read a converted BioMAC cycle, evaluate, return a JSON-friendly dict
    {"meta", "metrics": {method: {hip|knee|ankle: {rmse, rmse_ci, r, r_ci, ...}}},
    "plain": model.metrics.joint_metrics of the right leg (None without a body mass), "info"}."""
    res = evaluate_biomac(read_cycle(path), bundles, baselines, rate_hz)
    plain = {m: M.joint_metrics(p[:, [JOINTS.index(_right(k)) for k in KINDS]],
                                res.true[:, [JOINTS.index(_right(k)) for k in KINDS]],
                                [_right(k) for k in KINDS]) for m, p in res.pred.items()}
    return {"meta": res.meta, "metrics": res.metrics(), "plain": plain if res.rmse_valid else None,
            "info": res.info}
