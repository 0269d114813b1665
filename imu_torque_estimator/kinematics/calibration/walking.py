"""`walking` mode: calibration from a few strides of walking, no standing, no mounting assumption.

Vertical: the mean gravity direction of each sensor over whole strides (acausal VQF inclination,
accurate to ~1-2 deg in gait, averaged). Flexion axis (thigh, shank, foot): principal axis of the
angular rate. Signs and the pelvis heading: gait rules (rules.py). Pitch about the flexion axis: a
walking segment is not upright on average, so the stride-mean pitch is set to a population prior
(PITCH_PRIOR_DEG): the mean segment inclination of the gait patterns the simulator (and so the shipped
models' training data) is built from -- the real IK trials of ../shared/data (walking: OpenSim
walking trials; running: Hamner & Delp 2013), through the simulator's truth over subjects and speeds
(level walking 0.8-2.0 m/s: inter-subject SD ~2 deg, independent of speed; running 3.0-4.5 m/s: the
shank and foot values vary by +-4 deg with speed). A subject whose mean inclination differs from the
prior gets that difference as a pitch offset (the price of not standing); slopes shift it by the
slope angle (+-5.7 deg at 10 %). The gyroscope bias cannot be separated from motion here: it stays 0
and the result says so.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .base import CalibrationMethod, Recording
from .functional import Analysis, analyse
from .model import Calibration, CalibrationResult

# Stride-mean sagittal inclination (deg, + = segment top ahead of its distal end / foot toe down)
# of each segment type while walking or running, from the simulator's truth (see module docstring).
PITCH_PRIOR_DEG: dict[str, dict[str, float]] = {
    "walk": {"pelvis": -2.6, "thigh": -9.1, "shank": 14.6, "foot": 10.3},
    "run": {"pelvis": 7.8, "thigh": -12.9, "shank": 41.0, "foot": 35.0},
}
NO_BIAS_MESSAGE = "gyroscope bias not estimated (it needs still data; walking mode leaves it at 0)"


def result_from_analysis(
    a: Analysis,
    rec: Recording,
    lever_arms: Mapping[str, np.ndarray],
    mode: str,
    mode_used: str,
    gyro_bias: Mapping[str, np.ndarray] | None = None,
    extra_quality: Mapping[str, Mapping[str, float]] | None = None,
) -> CalibrationResult:
    """Calibration records from an Analysis (undecided segments keep an identity rotation as a
    placeholder: they are flagged and never used)."""
    cals = {}
    for seg in rec.segments:
        e = a.estimates[seg]
        bias = None if gyro_bias is None else gyro_bias.get(seg)
        q = dict(e.quality)
        if extra_quality and seg in extra_quality:
            q.update(extra_quality[seg])
        q = {k: float(v) for k, v in q.items() if np.isfinite(v)}
        cals[seg] = Calibration(
            seg,
            e.rotation if e.rotation is not None else np.eye(3),
            np.asarray(lever_arms[seg], float),
            np.zeros(3) if bias is None else np.asarray(bias, float),
            mode_used,
            q,
            status="ok" if e.status == "ok" else "undecided",
            reason=e.reason,
            confidence=float(e.confidence) if e.status == "ok" else 0.0,
            decided_by=e.decided_by,
            votes=dict(e.votes),
            gyro_bias_estimated=bias is not None,
            sensor_id=rec.sensor_id(seg),
        )
    messages = list(a.messages)
    if gyro_bias is None:
        messages.append(NO_BIAS_MESSAGE)
    return CalibrationResult(
        cals,
        mode,
        mode_used,
        a.gait,
        {s: a.estimates[s].strides for s in rec.segments},
        messages,
        dict(a.checks),
    )


class WalkingMode(CalibrationMethod):
    """Calibrate from walking alone (see module docstring)."""

    name = "walking"

    def __init__(
        self, pitch_prior_deg: Mapping[str, Mapping[str, float]] | None = None, knee_hinge: bool = True
    ) -> None:
        self.pitch_prior_deg = PITCH_PRIOR_DEG if pitch_prior_deg is None else pitch_prior_deg
        self.knee_hinge = knee_hinge

    def calibrate(self, recording: Recording, lever_arms: Mapping[str, np.ndarray]) -> CalibrationResult:
        a = analyse(recording, pitch_prior_deg=self.pitch_prior_deg, knee_hinge=self.knee_hinge)
        return result_from_analysis(a, recording, lever_arms, self.name, self.name)
