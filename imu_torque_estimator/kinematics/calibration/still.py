"""`still` mode: a still standing window, then a few walking strides (no mounting assumption).

Standing (every segment frame aligned with ground in neutral standing, body.py): the mean specific
force direction of each sensor is its segment's z axis (exact inclination) and the mean angular rate is
the gyroscope bias. The flexion axes, their signs and the pelvis heading come from the walking that
follows, with the same gait rules as the walking mode (rules.py) -- standing alone cannot tell where
forward is, so without walking every segment stays undecided.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ...body import GRAVITY_M_S2
from .base import CalibrationMethod, Recording
from .functional import analyse
from .legacy import find_still_window
from .model import CalibrationResult
from .walking import result_from_analysis

# A standing mean specific force further than this from g is not standing (m/s^2).
MAX_STANDING_FORCE_ERROR_M_S2 = 1.5
# Motion near the still window is excluded from the gait analysis (s).
STANDING_MARGIN_S = 0.5


@dataclass
class StandingPose:
    """Per segment: z axis in sensor coordinates (unit), gyro bias (rad/s), and the window's gyro std."""

    vertical: dict[str, np.ndarray]
    gyro_bias_rad_s: dict[str, np.ndarray]
    gyro_std_rad_s: dict[str, float]
    window: slice | None = None

    @classmethod
    def from_window(
        cls, segments: tuple[str, ...], f: np.ndarray, w: np.ndarray, window: slice | None = None
    ) -> StandingPose:
        """From still samples f, w (S, M, 3) of `segments`. Raises ValueError if a sensor's mean specific
        force is not gravity (not standing, or wrong units)."""
        vert, bias, std = {}, {}, {}
        for i, s in enumerate(segments):
            m = np.nanmean(f[i], axis=0)
            n = float(np.linalg.norm(m))
            if not abs(n - GRAVITY_M_S2) < MAX_STANDING_FORCE_ERROR_M_S2:
                raise ValueError(
                    f"{s}: mean specific force {n:.2f} m/s^2 while still is not gravity "
                    "(not standing, or not m/s^2?)"
                )
            vert[s] = m / n
            bias[s] = np.nanmean(w[i], axis=0)
            std[s] = float(np.linalg.norm(np.nanstd(w[i], axis=0)))
        return cls(vert, bias, std, window)


def find_standing(rec: Recording, min_duration_s: float = 1.0) -> StandingPose | None:
    win = find_still_window(rec.specific_force_m_s2, rec.angular_rate_rad_s, rec.rate_hz, min_duration_s)
    if win is None:
        return None
    return StandingPose.from_window(
        rec.segments, rec.specific_force_m_s2[:, win], rec.angular_rate_rad_s[:, win], win
    )


class StillMode(CalibrationMethod):
    """Calibrate from still standing plus walking (see module docstring)."""

    name = "still"

    def __init__(self, min_still_s: float = 1.0, knee_hinge: bool = True) -> None:
        self.min_still_s = min_still_s
        self.knee_hinge = knee_hinge

    def calibrate(
        self, recording: Recording, lever_arms: Mapping[str, np.ndarray], standing: StandingPose | None = None
    ) -> CalibrationResult:
        """`standing`: a standing pose found earlier (streaming); default: the first still window."""
        if standing is None:
            standing = find_standing(recording, self.min_still_s)
        if standing is None:
            from .functional import Analysis, AxisEstimate

            a = Analysis({s: AxisEstimate(s, None) for s in recording.segments}, "unknown")
            for e in a.estimates.values():
                e.undecide(f"no still window: stand still for {self.min_still_s:g} s with all sensors on")
            return result_from_analysis(a, recording, lever_arms, self.name, self.name)
        use = np.ones(recording.n_samples, bool)
        if standing.window is not None:
            m = int(STANDING_MARGIN_S * recording.rate_hz)
            use[max(0, standing.window.start - m) : standing.window.stop + m] = False
        a = analyse(
            recording,
            vertical=standing.vertical,
            gyro_bias=standing.gyro_bias_rad_s,
            use=use,
            knee_hinge=self.knee_hinge,
        )
        extra = {s: {"static_gyro_std_rad_s": standing.gyro_std_rad_s[s]} for s in recording.segments}
        return result_from_analysis(
            a,
            recording,
            lever_arms,
            self.name,
            self.name,
            gyro_bias=standing.gyro_bias_rad_s,
            extra_quality=extra,
        )
