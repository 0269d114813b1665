"""The predictor contract behind every row of the results tables (gaitmap style: one module per
predictor, a registry, one base class).

A predictor maps an `EvalRecording` (segment-frame IMU features, as the segment_kinematics stage gives
them, plus what is known about the subject) to sagittal moments (N, 6) in Nm/kg, body.JOINTS order,
project sign convention (positive = internal flexion / dorsiflexion). Predictors that learn from
data (`fit`) are only ever fitted on recordings of the selection set (real-motion trials, simulated
subjects), never on the held-out real-IMU data (BioMAC).

Adding a predictor = one module with a `Baseline` subclass decorated with `@register`, imported in
`baselines/__init__.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ...body import JOINTS


@dataclass
class EvalRecording:
    """One recording as predictors and metrics see it (rows = samples at `rate_hz`): calibrated
    segment-frame features plus the truth, not the raw sensor-frame samples of
    kinematics.calibration.Recording.

    features (N, F): segment-frame features named by `feature_names` (kinematics.feature_names
        order, e.g. "shank_l/omega_y" rad/s, "pelvis/sf_com_z" m/s^2); any superset of what a
        predictor needs.
    Truth (optional; for fitting, for the oracle rows and for metrics; predictors from IMU data
    alone must not read it): moments_nm_per_kg (N, 6) (NaN where unknown, e.g. the left leg of
    BioMAC), true_events {side: {"heel_strike": idx, "toe_off": idx}} (fractional samples, force
    plates), mode ("walk"/"run"), speed_m_s.
    height_m: body height if known (NaN otherwise). meta: anything for grouping and reports.
    """

    name: str
    rate_hz: float
    features: np.ndarray
    feature_names: list[str]
    height_m: float = math.nan
    moments_nm_per_kg: np.ndarray | None = None
    true_events: dict[str, dict[str, np.ndarray]] | None = None
    mode: str | None = None
    speed_m_s: float | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        f = np.asarray(self.features, float)
        if f.ndim != 2 or f.shape[1] != len(self.feature_names):
            raise ValueError(f"{self.name}: features must be (N, {len(self.feature_names)}) for the names "
                             f"given, got {f.shape}")
        if not np.isfinite(self.rate_hz) or self.rate_hz <= 0:
            raise ValueError(f"{self.name}: rate_hz must be a positive number, got {self.rate_hz!r}")
        self.features = f
        if self.moments_nm_per_kg is not None:
            m = np.asarray(self.moments_nm_per_kg, float)
            if m.shape != (len(f), len(JOINTS)):
                raise ValueError(f"{self.name}: moments must be ({len(f)}, {len(JOINTS)}), got {m.shape}")
            self.moments_nm_per_kg = m

    def __len__(self) -> int:
        return len(self.features)

    def column(self, name: str, who: str = "predictor") -> np.ndarray:
        """One feature column by name; ValueError naming the feature and what is available."""
        try:
            return self.features[:, self.feature_names.index(name)]
        except ValueError:
            segs = sorted({n.split("/")[0] for n in self.feature_names})
            raise ValueError(f"{who} needs feature {name!r}, which recording {self.name!r} lacks "
                             f"(it has segments {segs})") from None


@dataclass
class Prediction:
    """moments_nm_per_kg (N, 6), body.JOINTS order; info: JSON-friendly flags of this prediction
    (e.g. fraction of samples without gait-phase synchronisation, speed clamped to the curves' range)."""

    moments_nm_per_kg: np.ndarray
    info: dict = field(default_factory=dict)


class Baseline:
    """Base class. Subclasses set `name` (registry key, used in results files) and `label` (tables)."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""

    def fit(self, recordings: Sequence[EvalRecording]) -> Baseline:
        """Learn from selection-set recordings (default: nothing to learn)."""
        return self

    def predict(self, rec: EvalRecording) -> Prediction:
        raise NotImplementedError


REGISTRY: dict[str, type[Baseline]] = {}


def register(cls: type[Baseline]) -> type[Baseline]:
    """Class decorator: add a predictor to the registry under `cls.name`."""
    if not cls.name or cls.name in REGISTRY:
        raise ValueError(f"predictor name {cls.name!r} is empty or already registered")
    REGISTRY[cls.name] = cls
    return cls


def make_baseline(name: str, **kwargs: object) -> Baseline:
    """A registered predictor by name; ValueError naming the valid choices."""
    try:
        return REGISTRY[name](**kwargs)
    except KeyError:
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(REGISTRY)}") from None
