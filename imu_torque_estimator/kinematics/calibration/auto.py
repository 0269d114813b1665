"""`auto` mode (the default): `still` if the subject stood still for a moment, else `walking`."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .base import CalibrationMethod, Recording
from .model import CalibrationResult
from .still import StandingPose, StillMode, find_standing
from .walking import WalkingMode


class AutoMode(CalibrationMethod):
    """Still standing (>= `min_still_s`, all sensors) found: still mode; otherwise walking mode. The
    result's `mode_used` says which decided."""

    name = "auto"

    def __init__(self, min_still_s: float = 1.0) -> None:
        self.min_still_s = min_still_s

    def calibrate(
        self, recording: Recording, lever_arms: Mapping[str, np.ndarray], standing: StandingPose | None = None
    ) -> CalibrationResult:
        if standing is None:
            standing = find_standing(recording, self.min_still_s)
        if standing is not None:
            res = StillMode(self.min_still_s).calibrate(recording, lever_arms, standing)
        else:
            res = WalkingMode().calibrate(recording, lever_arms)
        res.mode = self.name
        return res
