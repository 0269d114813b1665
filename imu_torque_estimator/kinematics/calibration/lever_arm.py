"""Lever arms: where the sensor sits on its segment, as a user measures it and as the estimator uses it.

Internal convention (Calibration.sensor_position_m): sensor origin minus the segment's centre of mass,
segment axes (x anterior, y left, z up in neutral standing), metres. The CoM comes from the body model
(body.lower_body_model: de Leva 1996 scaled to the subject's height), which a user cannot see, so a
tape measurement is given from the segment's proximal joint centre instead (`TapeLeverArm`):

  segment  origin (proximal joint centre)      along_m (+)             anterior_m (+)   lateral_m (+)
  pelvis   mid-point of the two hip centres    up                      forward          to the left
  thigh    hip joint centre (greater            down the thigh          forward          outward
           trochanter is ~1 cm lateral/above)  towards the knee
  shank    knee joint centre (joint line)      down towards the ankle  forward          outward
  foot     ankle joint centre (malleoli)       forward, towards toes   up (dorsal)      outward

"outward" = away from the body midline (+y on the left side, -y on the right); "lateral" for the
pelvis is simply +y (left). A sensor on the front of the shank 15 cm below the knee and 4 cm in front of
the tibia axis: TapeLeverArm("shank_l", along_m=0.15, anterior_m=0.04).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ...body import SEGMENTS, LowerBodyModel, lower_body_model
from ..placement import default_placements, segment_com_m


def _com(model: LowerBodyModel, segment: str) -> np.ndarray:
    return segment_com_m(model, segment)  # the one definition of the segment CoM in its own frame


@dataclass(frozen=True)
class TapeLeverArm:
    """A tape-measured sensor position (metres) from the segment's proximal joint centre (table above)."""

    segment: str
    along_m: float
    anterior_m: float = 0.0
    lateral_m: float = 0.0

    def __post_init__(self) -> None:
        if self.segment not in SEGMENTS:
            raise ValueError(f"TapeLeverArm: unknown segment {self.segment!r}; known: {list(SEGMENTS)}")
        for name in ("along_m", "anterior_m", "lateral_m"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and np.isfinite(v) and abs(v) <= 1.0):
                raise ValueError(
                    f"TapeLeverArm[{self.segment}].{name} must be a distance in metres "
                    f"(|value| <= 1), got {v!r}"
                )

    def from_joint_m(self) -> np.ndarray:
        """Sensor position relative to the proximal joint centre, segment axes (m)."""
        out_sign = 1.0 if self.segment.endswith("_l") or self.segment == "pelvis" else -1.0
        lat = out_sign * self.lateral_m
        if self.segment == "pelvis":
            return np.array([self.anterior_m, lat, self.along_m])
        if self.segment.startswith("foot"):
            return np.array([self.along_m, lat, self.anterior_m])
        return np.array([self.anterior_m, lat, -self.along_m])

    def to_internal(self, model: LowerBodyModel) -> np.ndarray:
        """The internal lever arm (sensor minus segment CoM, segment axes, m) for a body model."""
        return self.from_joint_m() - _com(model, self.segment)

    @classmethod
    def from_internal(
        cls, segment: str, sensor_position_m: np.ndarray, model: LowerBodyModel
    ) -> TapeLeverArm:
        """The tape measurement equivalent to an internal lever arm (for reports)."""
        p = np.asarray(sensor_position_m, float) + _com(model, segment)
        out_sign = 1.0 if segment.endswith("_l") or segment == "pelvis" else -1.0
        if segment == "pelvis":
            return cls(segment, float(p[2]), float(p[0]), float(out_sign * p[1]))
        if segment.startswith("foot"):
            return cls(segment, float(p[0]), float(p[2]), float(out_sign * p[1]))
        return cls(segment, float(-p[2]), float(p[0]), float(out_sign * p[1]))

    def to_dict(self) -> dict:
        return {"along_m": self.along_m, "anterior_m": self.anterior_m, "lateral_m": self.lateral_m}


def default_body() -> LowerBodyModel:
    """Body used when the caller gives no size: 1.75 m, 75 kg, male (lever arms only)."""
    return lower_body_model(75.0, 1.75)


def resolve_lever_arms(
    segments: tuple[str, ...],
    lever_arms: Mapping[str, object] | None = None,
    model: LowerBodyModel | None = None,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Internal lever arm per segment: from `lever_arms[segment]` (a TapeLeverArm, a mapping with the
    TapeLeverArm fields, or an internal (3,) vector), else the nominal sensor site of the body model
    (placement.default_placements). Returns (lever arms, notes for the report)."""
    notes = []
    if model is None:
        model = default_body()
        if lever_arms is None or any(s not in lever_arms for s in segments):
            notes.append(
                "lever arms: nominal sensor sites of a 1.75 m body (give the body size or tape "
                "measurements for the real ones)"
            )
    nominal = default_placements(model)
    out = {}
    for s in segments:
        v = None if lever_arms is None else lever_arms.get(s)
        if v is None:
            out[s] = np.asarray(nominal[s].position_m, float)
        elif isinstance(v, TapeLeverArm):
            out[s] = v.to_internal(model)
        elif isinstance(v, Mapping):
            try:
                out[s] = TapeLeverArm(s, **{k: float(x) for k, x in v.items()}).to_internal(model)
            except TypeError:
                raise ValueError(
                    f"lever arm of {s}: a tape measurement has fields along_m, anterior_m, "
                    f"lateral_m; got {sorted(v)}"
                ) from None
        else:
            a = np.asarray(v, float)
            if a.shape != (3,) or not np.all(np.isfinite(a)):
                raise ValueError(
                    f"lever arm of {s} must be 3 finite numbers (m) or a tape measurement, got {v!r}"
                )
            out[s] = a
    return out, notes
