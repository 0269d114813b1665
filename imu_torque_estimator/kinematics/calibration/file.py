"""`file` mode: a calibration file written earlier (`imu-torque calibrate`, or by hand, see
docs/calibration.md), validated against the sensor set in use. Needs no motion."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .base import CalibrationMethod, Recording
from .model import CalibrationResult, load_calibration_result


class FileMode(CalibrationMethod):
    """Load `path`; the file's lever arms are kept (they are part of the calibration)."""

    name = "file"
    needs_motion = False

    def __init__(self, path: str | Path) -> None:
        if not path:
            raise ValueError("calibration mode 'file' needs a calibration file path")
        self.path = Path(path)

    def load(self, segments: tuple[str, ...]) -> CalibrationResult:
        res = load_calibration_result(self.path, segments)
        res.mode = self.name
        res.mode_used = self.name
        res.segments = {s: res.segments[s] for s in segments}
        if not res.gyro_bias_estimated:
            res.messages.append(f"{self.path.name}: gyroscope bias not estimated in this file")
        return res

    def calibrate(self, recording: Recording, lever_arms: Mapping[str, np.ndarray]) -> CalibrationResult:
        return self.load(recording.segments)
