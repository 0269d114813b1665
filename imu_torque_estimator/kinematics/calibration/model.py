"""What a calibration is: per-sensor records, the result of a calibration run, and the file format.

Frames and units (body.py): segment axes x anterior, y left, z up in neutral standing; sensor axes are
whatever the sensor's housing defines. `sensor_to_segment` C maps sensor-frame vectors to segment axes
(v_segment = C v_sensor; its rows are the segment axes written in sensor coordinates). Lever arm
`sensor_position_m` = sensor origin minus segment CoM, segment axes, metres (the internal convention;
`lever_arm.TapeLeverArm` converts a tape measurement). Gyro bias in rad/s, sensor frame.

The file (docs/calibration.md, docs/calibration.schema.json) is JSON: version 1 (what earlier releases
wrote: per-segment rotation, lever arm, bias, method, quality) or version 2 (adds the mode, confidence,
which rule decided each sign, votes, status and messages). Both load; version 2 is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...body import SEGMENTS

FILE_VERSIONS = (1, 2)
STATUSES = ("ok", "undecided")
# Tolerance for a rotation read from a file (rounded JSON numbers): max |C C^T - I|.
ROTATION_TOLERANCE = 1e-4


class CalibrationError(ValueError):
    """Calibration impossible from the data given (names the segment and the reason)."""


def rotation_error(c: np.ndarray) -> str | None:
    """Why `c` is not a proper 3x3 rotation (None if it is)."""
    r = np.asarray(c, dtype=float)
    if r.shape != (3, 3):
        return f"has shape {r.shape}"
    if not np.all(np.isfinite(r)):
        return "contains NaN or inf"
    dev = float(np.abs(r @ r.T - np.eye(3)).max())
    if dev > ROTATION_TOLERANCE:
        return f"is not orthonormal (max |C C^T - I| = {dev:.3g})"
    if np.linalg.det(r) < 0:
        return "is a reflection (determinant -1), not a rotation: check the handedness of the axes"
    return None


def _orthonormalize(r: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(r)
    return u @ vt


@dataclass
class Calibration:
    """Calibration of one sensor on its segment.

    sensor_to_segment (3,3): v_segment = sensor_to_segment @ v_sensor.
    sensor_position_m (3,):  sensor origin relative to the segment CoM, segment axes (the lever arm).
    gyro_bias_rad_s (3,):    gyroscope bias in the sensor frame, subtracted before use.
    method: how it was obtained; quality: numbers that say how well (e.g. eigenvalue ratio).
    status: "ok", or "undecided" (the data could not decide an axis or its sign: use no torque);
    reason: why undecided. confidence: 0..1 (the weakest of axis and sign confidence).
    decided_by: the rule that decided the flexion-axis sign (legs) or the heading (pelvis).
    votes: per rule, its signed support for the chosen sign in -1..1 (negative = it disagreed).
    gyro_bias_estimated: False unless still data gave the bias (walking cannot).
    sensor_id: optional device id (serial) the calibration belongs to.
    """

    segment: str
    sensor_to_segment: np.ndarray
    sensor_position_m: np.ndarray
    gyro_bias_rad_s: np.ndarray = field(default_factory=lambda: np.zeros(3))
    method: str = "config"
    quality: dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    reason: str = ""
    confidence: float = 1.0
    decided_by: str = ""
    votes: dict[str, float] = field(default_factory=dict)
    gyro_bias_estimated: bool = False
    sensor_id: str = ""

    def __post_init__(self) -> None:
        if self.segment not in SEGMENTS:
            raise ValueError(f"Calibration: unknown segment {self.segment!r}; known: {list(SEGMENTS)}")
        why = rotation_error(self.sensor_to_segment)
        if why is not None:
            raise ValueError(
                f"Calibration[{self.segment}]: sensor_to_segment must be a proper 3x3 rotation; it {why}"
            )
        r = np.asarray(self.sensor_to_segment, dtype=float)
        # rounded file values: re-orthonormalise (the estimator's algebra assumes C^T = C^-1); exact
        # rotations stay bit-identical so a calibration round-trips through its JSON unchanged
        self.sensor_to_segment = _orthonormalize(r) if np.abs(r @ r.T - np.eye(3)).max() > 1e-12 else r
        for name in ("sensor_position_m", "gyro_bias_rad_s"):
            v = np.asarray(getattr(self, name), dtype=float)
            if v.shape != (3,) or not np.all(np.isfinite(v)):
                raise ValueError(f"Calibration[{self.segment}]: {name} must be 3 finite numbers, got {v}")
            setattr(self, name, v)
        if self.status not in STATUSES:
            raise ValueError(
                f"Calibration[{self.segment}]: status must be one of {STATUSES}, got {self.status!r}"
            )
        if not (np.isfinite(self.confidence) and 0.0 <= self.confidence <= 1.0):
            raise ValueError(
                f"Calibration[{self.segment}]: confidence must be in 0..1, got {self.confidence!r}"
            )

    @property
    def decided(self) -> bool:
        return self.status == "ok"

    @classmethod
    def from_placement(cls, placement: object) -> Calibration:
        """Known mounting (any object with segment, position_m, sensor_to_segment, e.g. SensorPlacement)."""
        return cls(
            placement.segment,
            placement.sensor_to_segment,
            placement.position_m,  # type: ignore[attr-defined]
            method="config",
        )

    def to_dict(self) -> dict:
        d: dict[str, Any] = {
            "segment": self.segment,
            "sensor_to_segment": self.sensor_to_segment.tolist(),
            "sensor_position_m": self.sensor_position_m.tolist(),
            "gyro_bias_rad_s": self.gyro_bias_rad_s.tolist(),
            "method": self.method,
            "quality": {k: float(v) for k, v in self.quality.items()},
            "status": self.status,
            "confidence": float(self.confidence),
            "decided_by": self.decided_by,
            "votes": {k: float(v) for k, v in self.votes.items()},
            "gyro_bias_estimated": bool(self.gyro_bias_estimated),
        }
        if self.reason:
            d["reason"] = self.reason
        if self.sensor_id:
            d["sensor_id"] = self.sensor_id
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        """From a file entry (version 1 or 2). Raises ValueError naming the segment and the field."""
        seg = d.get("segment", "?") if isinstance(d, dict) else "?"
        if not isinstance(d, dict):
            raise ValueError(f"calibration entry {seg!r} must be a mapping, got {type(d).__name__}")
        for key in ("segment", "sensor_to_segment", "sensor_position_m"):
            if key not in d:
                alt = " (or lever_arm_tape with the file's body)" if key == "sensor_position_m" else ""
                raise ValueError(f"calibration entry {seg!r} is missing field {key!r}{alt}")
        arrays = {}
        for key, shape in (
            ("sensor_to_segment", (3, 3)),
            ("sensor_position_m", (3,)),
            ("gyro_bias_rad_s", (3,)),
        ):
            raw = d.get(key, [0.0, 0.0, 0.0])
            try:
                a = np.asarray(raw, dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"calibration entry {seg!r}: {key} must be numbers, got {raw!r}") from None
            if a.shape != shape:
                raise ValueError(
                    f"calibration entry {seg!r}: {key} must have shape {list(shape)}, got {list(a.shape)}"
                )
            arrays[key] = a
        why = rotation_error(arrays["sensor_to_segment"])
        if why is not None:
            raise ValueError(
                f"calibration entry {seg!r}: sensor_to_segment must be a proper rotation; it {why}"
            )
        return cls(
            d["segment"],
            arrays["sensor_to_segment"],
            arrays["sensor_position_m"],
            arrays["gyro_bias_rad_s"],
            str(d.get("method", "config")),
            dict(d.get("quality", {})),
            status=str(d.get("status", "ok")),
            reason=str(d.get("reason", "")),
            confidence=float(d.get("confidence", 1.0)),
            decided_by=str(d.get("decided_by", "")),
            votes=dict(d.get("votes", {})),
            gyro_bias_estimated=bool(d.get("gyro_bias_estimated", False)),
            sensor_id=str(d.get("sensor_id", "")),
        )


@dataclass
class CalibrationResult:
    """Outcome of one calibration run over a recording (batch) or a stream (Calibrator).

    segments: per-segment calibrations (undecided ones included, flagged; never use them for torque).
    mode: what was asked (auto | still | walking | file); mode_used: what decided (still | walking | file).
    gait: the gait the walking analysis saw (walk | run | none | unknown). strides: strides analysed per
    segment. messages: what a user must know (swapped sensors, no gyro bias without still data, ...).
    checks: named diagnostic numbers (e.g. left/right consistency scores).
    body: {height_m, mass_kg, sex} the lever arms refer to (written so the file also gives each lever
    arm as a tape measurement, `lever_arm_tape`).
    """

    segments: dict[str, Calibration]
    mode: str
    mode_used: str
    gait: str = "unknown"
    strides: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    checks: dict[str, float] = field(default_factory=dict)
    body: dict[str, Any] | None = None

    @property
    def undecided(self) -> dict[str, str]:
        """segment -> reason, for the segments the data could not decide."""
        return {s: c.reason or "undecided" for s, c in self.segments.items() if not c.decided}

    @property
    def ok(self) -> bool:
        return not self.undecided

    @property
    def gyro_bias_estimated(self) -> bool:
        return bool(self.segments) and all(c.gyro_bias_estimated for c in self.segments.values())

    @property
    def confidence(self) -> dict[str, float]:
        return {s: c.confidence for s, c in self.segments.items()}

    def calibrations(self, segments: tuple[str, ...] | list[str] | None = None) -> dict[str, Calibration]:
        """The calibrations of `segments` (default: all) for the kinematics estimator. Raises
        CalibrationError when one is missing or undecided: publish no torque rather than a guess."""
        want = tuple(self.segments) if segments is None else tuple(segments)
        missing = [s for s in want if s not in self.segments]
        if missing:
            raise CalibrationError(
                f"no calibration for segment(s) {missing}; calibrated: {list(self.segments)}"
            )
        bad = {s: self.segments[s].reason or "undecided" for s in want if not self.segments[s].decided}
        if bad:
            raise CalibrationError(
                "calibration undecided for " + "; ".join(f"{s}: {r}" for s, r in bad.items())
            )
        return {s: self.segments[s] for s in want}

    def summary(self) -> str:
        """A few lines for a console: mode, per segment status/confidence/decided_by, messages."""
        lines = [f"calibration mode {self.mode_used} (asked: {self.mode}), gait {self.gait}"]
        for s, c in self.segments.items():
            extra = f" ({c.reason})" if not c.decided else ""
            lines.append(
                f"  {s:8s} {c.status:9s} confidence {c.confidence:4.2f} "
                f"strides {self.strides.get(s, 0):3d} sign by {c.decided_by or '-'}{extra}"
            )
        lines += [f"  note: {m}" for m in self.messages]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        d = {
            "version": 2,
            "mode": self.mode,
            "mode_used": self.mode_used,
            "gait": self.gait,
            "strides": {k: int(v) for k, v in self.strides.items()},
            "messages": list(self.messages),
            "checks": {k: float(v) for k, v in self.checks.items() if np.isfinite(v)},
        }
        if self.body:
            d["body"] = dict(self.body)
        d["segments"] = {s: c.to_dict() for s, c in self.segments.items()}
        if self.body:
            from .lever_arm import TapeLeverArm

            model = body_model(self.body)
            for s, c in self.segments.items():
                d["segments"][s]["lever_arm_tape"] = TapeLeverArm.from_internal(
                    s, c.sensor_position_m, model
                ).to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict, segments: tuple[str, ...] | list[str] | None = None) -> CalibrationResult:
        """Validate and read a calibration file's content (version 1 or 2); `segments` = the sensor set
        it must cover (extra segments are kept, missing ones are an error naming them)."""
        cals = calibrations_from_dict(d, segments)
        return cls(
            cals,
            str(d.get("mode", "file")),
            "file",
            str(d.get("gait", "unknown")),
            {k: int(v) for k, v in d.get("strides", {}).items()},
            list(d.get("messages", [])),
            {k: float(v) for k, v in d.get("checks", {}).items()},
            d.get("body"),
        )


def body_model(body: dict) -> Any:
    """LowerBodyModel from a file's {height_m, mass_kg[, sex]} (ValueError naming what is wrong)."""
    from ...body import lower_body_model

    if not isinstance(body, dict) or "height_m" not in body:
        raise ValueError("'body' must be a mapping with height_m (and mass_kg, sex) of the subject")
    try:
        return lower_body_model(
            float(body.get("mass_kg", 75.0)), float(body["height_m"]), body.get("sex", "male")
        )
    except (TypeError, ValueError) as e:
        raise ValueError(f"'body': {e}") from None


# A lever arm given both ways must agree to this (m).
LEVER_ARM_AGREEMENT_M = 1e-3


def _tape_to_internal(s: str, c: dict, d: dict) -> dict:
    """Entry with `lever_arm_tape` -> entry with sensor_position_m (checks agreement if both given)."""
    from .lever_arm import TapeLeverArm

    tape = c.get("lever_arm_tape")
    if tape is None:
        return c
    if "body" not in d:
        raise ValueError(
            f"calibration entry {s!r}: lever_arm_tape needs the file's 'body' (height_m, mass_kg) "
            "to place the segment's centre of mass"
        )
    if not isinstance(tape, dict):
        raise ValueError(
            f"calibration entry {s!r}: lever_arm_tape must be a mapping along_m, anterior_m, lateral_m"
        )
    try:
        internal = TapeLeverArm(s, **{k: float(v) for k, v in tape.items()}).to_internal(
            body_model(d["body"])
        )
    except TypeError:
        raise ValueError(
            f"calibration entry {s!r}: lever_arm_tape has fields along_m, anterior_m, lateral_m; "
            f"got {sorted(tape)}"
        ) from None
    if "sensor_position_m" in c:
        given = np.asarray(c["sensor_position_m"], dtype=float)
        if given.shape == (3,) and np.abs(given - internal).max() > LEVER_ARM_AGREEMENT_M:
            raise ValueError(
                f"calibration entry {s!r}: sensor_position_m {given.round(4).tolist()} and "
                f"lever_arm_tape (= {internal.round(4).tolist()}) disagree; edit one and delete the other"
            )
        return c
    return {**c, "sensor_position_m": internal.tolist()}


def calibrations_to_dict(cal: dict[str, Calibration]) -> dict:
    """Whole calibration set -> plain dict (JSON/YAML-ready), file version 2 without run metadata."""
    return {"version": 2, "segments": {s: c.to_dict() for s, c in cal.items()}}


def calibrations_from_dict(
    d: dict, segments: tuple[str, ...] | list[str] | None = None
) -> dict[str, Calibration]:
    """Validate a calibration mapping (file version 1 or 2) -> {segment: Calibration}. With `segments`
    (the sensor set in use), every one of them must be present."""
    if not isinstance(d, dict) or "segments" not in d:
        raise ValueError("calibration file must be a mapping with a 'segments' entry")
    version = d.get("version", 1)
    if version not in FILE_VERSIONS:
        raise ValueError(
            f"calibration file version {version!r} is not supported; supported: {list(FILE_VERSIONS)}"
        )
    entries = d["segments"]
    if not isinstance(entries, dict) or not entries:
        raise ValueError("'segments' must be a non-empty mapping segment -> calibration")
    unknown = [s for s in entries if s not in SEGMENTS]
    if unknown:
        raise ValueError(f"unknown segment(s) {unknown} in 'segments'; known segments are {list(SEGMENTS)}")
    out = {}
    for s, c in entries.items():
        if not isinstance(c, dict):
            raise ValueError(f"calibration entry {s!r} must be a mapping, got {type(c).__name__}")
        cal = Calibration.from_dict({**_tape_to_internal(s, c, d), "segment": c.get("segment", s)})
        if cal.segment != s:
            raise ValueError(f"calibration entry {s!r} is for segment {cal.segment!r}")
        out[s] = cal
    if segments is not None:
        missing = [s for s in segments if s not in out]
        if missing:
            raise ValueError(
                f"the calibration covers {list(out)} but the sensor set needs {list(segments)} "
                f"(missing: {missing}); was it made for another sensor set?"
            )
    return out


def save_calibrations(cal: dict[str, Calibration] | CalibrationResult, path: str | Path) -> None:
    """Write a calibration file (version 2) atomically (temporary sibling, then rename)."""
    from ...atomic import write_bytes_atomic

    d = cal.to_dict() if isinstance(cal, CalibrationResult) else calibrations_to_dict(cal)
    write_bytes_atomic(path, json.dumps(d, indent=1).encode())


def _read_json(path: str | Path) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ValueError(f"{path}: cannot read calibration file: {e.strerror or e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{path}: bad calibration file: not JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from None


def load_calibrations(
    path: str | Path, segments: tuple[str, ...] | list[str] | None = None
) -> dict[str, Calibration]:
    """Read and validate a calibration file -> {segment: Calibration}. ValueError names the file, the
    segment and the field (wrong sensor set, missing segment, bad rotation, ...)."""
    d = _read_json(path)
    try:
        return calibrations_from_dict(d, segments)
    except ValueError as e:
        raise ValueError(f"{path}: bad calibration file: {e}") from None


def load_calibration_result(
    path: str | Path, segments: tuple[str, ...] | list[str] | None = None
) -> CalibrationResult:
    """As `load_calibrations`, keeping the run metadata (mode, messages) of a version-2 file."""
    d = _read_json(path)
    try:
        return CalibrationResult.from_dict(d, segments)
    except ValueError as e:
        raise ValueError(f"{path}: bad calibration file: {e}") from None
