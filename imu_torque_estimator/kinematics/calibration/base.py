"""The contract every calibration mode implements, and the recording it reads.

A mode is one module with one `CalibrationMethod` subclass (gaitmap style) and one line in
`registry.METHODS`. `calibrate(recording, lever_arms)` returns a `CalibrationResult` for every segment
of the recording: decided ones, and undecided ones with the reason (never a silent guess).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...body import SEGMENTS
from .model import CalibrationResult


@dataclass
class Recording:
    """Synchronised IMU samples of a set of segments (sensor frames).

    specific_force_m_s2, angular_rate_rad_s: (S, N, 3), segment order of `segments`; NaN rows mark a
    sensor's missing samples (dropout), the other sensors' samples at that instant stay usable.
    sensor_ids: optional device ids (serials), kept in the calibration per sensor.
    """

    segments: tuple[str, ...]
    specific_force_m_s2: np.ndarray
    angular_rate_rad_s: np.ndarray
    rate_hz: float
    sensor_ids: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self.segments = tuple(self.segments)
        unknown = [s for s in self.segments if s not in SEGMENTS]
        if unknown:
            raise ValueError(f"unknown segment(s) {unknown}; known segments are {list(SEGMENTS)}")
        if len(set(self.segments)) != len(self.segments):
            raise ValueError(f"segments listed twice: {list(self.segments)}")
        f = np.asarray(self.specific_force_m_s2, dtype=float)
        w = np.asarray(self.angular_rate_rad_s, dtype=float)
        s = len(self.segments)
        if f.shape != w.shape or f.ndim != 3 or f.shape[0] != s or f.shape[2] != 3:
            raise ValueError(f"IMU arrays must be (S={s}, N, 3) each, got {f.shape} and {w.shape}")
        if not np.isfinite(self.rate_hz) or self.rate_hz <= 0:
            raise ValueError(f"rate_hz must be a positive number, got {self.rate_hz!r}")
        if self.sensor_ids is not None and len(self.sensor_ids) != s:
            raise ValueError(f"sensor_ids must name {s} sensors, got {len(self.sensor_ids)}")
        self.specific_force_m_s2, self.angular_rate_rad_s = f, w

    @classmethod
    def from_segments(
        cls,
        data: Mapping[str, tuple[np.ndarray, np.ndarray]],
        rate_hz: float,
        sensor_ids: Mapping[str, str] | None = None,
    ) -> Recording:
        """{segment: (specific force (N,3), angular rate (N,3))}, all of one length, body.SEGMENTS order."""
        segs = tuple(s for s in SEGMENTS if s in data)
        unknown = [s for s in data if s not in SEGMENTS]
        if unknown:
            raise ValueError(f"unknown segment(s) {unknown}; known segments are {list(SEGMENTS)}")
        lengths = {s: np.shape(data[s][0])[0] for s in segs}
        if len(set(lengths.values())) > 1:
            raise ValueError(
                f"sensors have different sample counts {lengths}: resample them onto one "
                "time grid first (calibration needs synchronised samples)"
            )
        f = np.stack([np.asarray(data[s][0], float) for s in segs])
        w = np.stack([np.asarray(data[s][1], float) for s in segs])
        ids = None if sensor_ids is None else tuple(str(sensor_ids.get(s, "")) for s in segs)
        return cls(segs, f, w, rate_hz, ids)

    @property
    def n_samples(self) -> int:
        return int(self.specific_force_m_s2.shape[1])

    def index(self, segment: str) -> int:
        return self.segments.index(segment)

    def sensor_id(self, segment: str) -> str:
        return self.sensor_ids[self.index(segment)] if self.sensor_ids else ""

    def window(self, sl: slice) -> Recording:
        return Recording(
            self.segments,
            self.specific_force_m_s2[:, sl],
            self.angular_rate_rad_s[:, sl],
            self.rate_hz,
            self.sensor_ids,
        )


class CalibrationMethod(ABC):
    """One calibration mode. Subclasses set `name` and implement `calibrate`."""

    name: ClassVar[str]
    needs_motion: ClassVar[bool] = True

    @abstractmethod
    def calibrate(self, recording: Recording, lever_arms: Mapping[str, np.ndarray]) -> CalibrationResult:
        """Calibrate every segment of `recording`; `lever_arms[segment]` = sensor position relative to
        the segment CoM in segment axes (m), see lever_arm.py. Undecided segments are returned flagged."""
