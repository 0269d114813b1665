"""Mode name -> algorithm (a new mode = one module + one line here), and the batch entry point."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ...body import LowerBodyModel
from .auto import AutoMode
from .base import CalibrationMethod, Recording
from .file import FileMode
from .lever_arm import default_body, resolve_lever_arms
from .model import CalibrationResult
from .still import StillMode
from .walking import WalkingMode

METHODS: dict[str, type[CalibrationMethod]] = {
    "auto": AutoMode,
    "still": StillMode,
    "walking": WalkingMode,
    "file": FileMode,
}
MODES = tuple(METHODS)


def get_method(mode: str, file: str | Path | None = None) -> CalibrationMethod:
    """The algorithm for a mode name; `file` is the calibration file of mode 'file'."""
    if mode not in METHODS:
        raise ValueError(f"unknown calibration mode {mode!r}; choose one of {list(MODES)}")
    if mode == "file":
        return FileMode(file)  # type: ignore[arg-type]
    if file is not None:
        raise ValueError(f"a calibration file is only read in mode 'file', not {mode!r}")
    return METHODS[mode]()


def calibrate_recording(
    data: Recording | Mapping[str, tuple[np.ndarray, np.ndarray]],
    mode: str = "auto",
    *,
    rate_hz: float | None = None,
    file: str | Path | None = None,
    lever_arms: Mapping[str, object] | None = None,
    body: LowerBodyModel | None = None,
    sensor_ids: Mapping[str, str] | None = None,
) -> CalibrationResult:
    """Calibrate a whole recording (what `imu-torque calibrate` runs).

    data: a Recording, or {segment: (specific force (N,3) m/s^2, angular rate (N,3) rad/s)} in sensor
    frames with `rate_hz`. mode: auto | still | walking | file (`file` = the calibration file).
    lever_arms: per segment a TapeLeverArm / {along_m, anterior_m, lateral_m} / internal (3,) vector;
    missing ones are the nominal sites of `body` (lever_arm.py). Undecided segments are flagged in the
    result (`result.calibrations()` refuses them)."""
    method = get_method(mode, file)
    if isinstance(data, Recording):
        rec = data
    else:
        if rate_hz is None:
            raise ValueError("rate_hz is needed when the data are given as arrays")
        rec = Recording.from_segments(data, rate_hz, sensor_ids)
    arms, notes = resolve_lever_arms(rec.segments, lever_arms, body)
    res = method.calibrate(rec, arms)
    if mode != "file":
        res.messages.extend(notes)
        model = body or default_body()
        res.body = {"height_m": model.height_m, "mass_kg": model.mass_kg, "sex": model.sex}
    return res
