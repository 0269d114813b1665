"""Sensor-to-segment calibration (ROS-free).

Modes (registry.METHODS; one module each, behind base.CalibrationMethod):
- `still`   (still.py): still standing gives the vertical and gyro bias, walking the flexion axes;
- `walking` (walking.py): a few strides of walking only;
- `file`    (file.py): a calibration file (docs/calibration.md);
- `auto`    (auto.py): still if the subject stood still, else walking.
No mode assumes a mounting: axis signs and the pelvis heading come from gait rules (rules.py), and a
segment the data cannot decide is returned undecided (no torque), never guessed.
Batch: `calibrate_recording(...)` -> CalibrationResult. Streaming: `Calibrator` (streaming.py).
Lever arms: `TapeLeverArm` converts a tape measurement to the internal convention (lever_arm.py).
`calibrate` (legacy.py) is the nominal-mounting still+functional calibration used for simulated
training data, where the mounting is known.
"""

from .base import CalibrationMethod, Recording
from .legacy import (
    calibrate,
    find_still_window,
    flexion_axis,
    is_still,
    pelvis_forward_axis,
    static_calibrator,
    vertical_axis,
)
from .lever_arm import TapeLeverArm, resolve_lever_arms
from .model import (
    Calibration,
    CalibrationError,
    CalibrationResult,
    calibrations_from_dict,
    calibrations_to_dict,
    load_calibration_result,
    load_calibrations,
    save_calibrations,
)
from .registry import METHODS, MODES, calibrate_recording, get_method
from .streaming import Calibrator, CalibratorState

__all__ = [
    "METHODS",
    "MODES",
    "Calibration",
    "CalibrationError",
    "CalibrationMethod",
    "CalibrationResult",
    "Calibrator",
    "CalibratorState",
    "Recording",
    "TapeLeverArm",
    "calibrate",
    "calibrate_recording",
    "calibrations_from_dict",
    "calibrations_to_dict",
    "find_still_window",
    "flexion_axis",
    "get_method",
    "is_still",
    "load_calibration_result",
    "load_calibrations",
    "pelvis_forward_axis",
    "resolve_lever_arms",
    "save_calibrations",
    "static_calibrator",
    "vertical_axis",
]
