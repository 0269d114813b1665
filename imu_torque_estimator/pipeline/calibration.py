"""Still-standing calibration state machine of the kinematics stage (ROS-free): decides WHEN to
calibrate (waiting_for_still -> calibrating -> calibrated) from the aligned samples; HOW is the
`calibrate` callable (kinematics/calibration.py algorithms, wired in pipeline/segment_kinematics.py).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

import numpy as np

from ..body import GRAVITY_M_S2


class CalibrationState(str, Enum):
    WAITING_FOR_STILL = "waiting_for_still"
    CALIBRATING = "calibrating"
    CALIBRATED = "calibrated"


class StillCalibration:
    """State machine waiting_for_still -> calibrating -> calibrated on aligned samples.

    A sample is still when, for every sensor, |angular rate| < gyro_still_rad_s and
    | |specific force| - g | < accel_still_m_s2. `still_s` seconds of consecutive still samples form
    the static window; motion during it restarts waiting. With `motion_s` = 0 the window is handed
    to `calibrate(accel (N, S, 3), gyro (N, S, 3))`. With `motion_s` > 0 the machine stays in
    `calibrating` (`phase` = "motion") until `motion_s` seconds of non-still samples (e.g. walking,
    for a functional flexion axis) are collected, then calls `calibrate(accel, gyro, gyro_motion
    (M, S, 3))`. The return value becomes `.calibration`; a ValueError from `calibrate` is recorded
    in `.last_error` and waiting restarts. `recalibrate()` starts over; `set_calibration(c)`
    installs a known calibration (e.g. mounting from configuration)."""

    def __init__(self, n_sensors: int, rate_hz: float, calibrate: Callable[..., Any],
                 still_s: float = 1.0, gyro_still_rad_s: float = 0.2, accel_still_m_s2: float = 0.7,
                 motion_s: float = 0.0) -> None:
        if not still_s > 0:
            raise ValueError(f"still_s must be > 0, got {still_s}")
        if not motion_s >= 0:
            raise ValueError(f"motion_s must be >= 0, got {motion_s}")
        self._n_window = max(2, int(round(still_s * rate_hz)))
        self._acc = np.empty((self._n_window, n_sensors, 3))
        self._gyr = np.empty((self._n_window, n_sensors, 3))
        self._n_motion = int(round(motion_s * rate_hz))
        self._gyr_motion = np.empty((self._n_motion, n_sensors, 3))
        self._k = 0
        self._m = 0
        self._calibrate = calibrate
        self._gyro_thr2 = gyro_still_rad_s ** 2
        self._acc_thr = accel_still_m_s2
        self.state = CalibrationState.WAITING_FOR_STILL
        self.phase = "still"
        self.calibration: Any = None
        self.attempts = 0
        self.completed = 0
        self.last_error: str | None = None

    @property
    def motion_samples(self) -> int:
        """Motion samples collected so far for the functional part."""
        return self._m

    def is_still(self, accel_m_s2: np.ndarray, gyro_rad_s: np.ndarray) -> bool:
        w2 = np.einsum("ij,ij->i", gyro_rad_s, gyro_rad_s)
        f = np.sqrt(np.einsum("ij,ij->i", accel_m_s2, accel_m_s2))
        return bool(np.all(w2 < self._gyro_thr2) and np.all(np.abs(f - GRAVITY_M_S2) < self._acc_thr))

    def update(self, accel_m_s2: np.ndarray, gyro_rad_s: np.ndarray) -> CalibrationState:
        """Feed one aligned sample (S, 3) each; returns the state after it."""
        if self.state is CalibrationState.CALIBRATED:
            return self.state
        still = self.is_still(accel_m_s2, gyro_rad_s)
        if self.phase == "motion":
            if not still:
                self._gyr_motion[self._m] = gyro_rad_s
                self._m += 1
                if self._m == self._n_motion:
                    self._finish(self._acc.copy(), self._gyr.copy(), self._gyr_motion.copy())
            return self.state
        if not still:
            self.state = CalibrationState.WAITING_FOR_STILL
            self._k = 0
            return self.state
        self.state = CalibrationState.CALIBRATING
        self._acc[self._k] = accel_m_s2
        self._gyr[self._k] = gyro_rad_s
        self._k += 1
        if self._k == self._n_window:
            self._k = 0
            if self._n_motion:
                self.phase = "motion"
                self._m = 0
            else:
                self._finish(self._acc.copy(), self._gyr.copy())
        return self.state

    def _finish(self, *windows: np.ndarray) -> None:
        self.attempts += 1
        self.phase = "still"
        self._m = 0
        try:
            self.calibration = self._calibrate(*windows)
        except ValueError as exc:
            self.last_error = str(exc)
            self.state = CalibrationState.WAITING_FOR_STILL
            return
        self.completed += 1
        self.last_error = None
        self.state = CalibrationState.CALIBRATED

    def recalibrate(self) -> None:
        self.state = CalibrationState.WAITING_FOR_STILL
        self.phase = "still"
        self._k = 0
        self._m = 0

    def set_calibration(self, calibration: Any) -> None:
        self.calibration = calibration
        self.completed += 1
        self.state = CalibrationState.CALIBRATED
