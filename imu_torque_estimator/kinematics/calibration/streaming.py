"""Streaming calibration: feed aligned samples, get a calibration once it has converged (ROS-free).

`Calibrator` keeps the last `window_s` of samples, watches for still standing (modes still / auto) and
re-runs the mode's batch algorithm on the window every `evaluate_every_s` once gait is seen. It has
converged when every segment is decided, has `min_strides` strides, and its rotation moved less than
`stable_deg` since the previous evaluation -- or, once every segment has `max_strides` strides, at the
next evaluation that decides them all (more strides improve the estimate little:
benchmarks/results/calibration.json). Samples are (S, 3) per sensor, sensor frames, m/s^2 and
rad/s; a sensor's NaN row is a missing sample (dropout) and does not disturb the others. The
calibration is per sensor: after convergence a dropout and reconnect needs nothing, and
`recalibrate(["shank_l"])` redoes one sensor (e.g. after its strap moved) keeping the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from ...body import LowerBodyModel
from .base import Recording
from .legacy import is_still
from .lever_arm import default_body, resolve_lever_arms
from .model import CalibrationResult
from .registry import get_method
from .still import StandingPose


class CalibratorState(str, Enum):
    WAITING = "waiting"  # nothing usable yet (no gait; mode still: no standing yet)
    COLLECTING = "collecting"  # gait seen, not converged (see status() for what is missing)
    CALIBRATED = "calibrated"


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(a @ b.T) - 1) / 2, -1.0, 1.0))))


class Calibrator:
    """Incremental calibration of `segments` (see module docstring). mode: auto | still | walking | file."""

    def __init__(
        self,
        segments: Sequence[str],
        rate_hz: float,
        mode: str = "auto",
        *,
        file: str | Path | None = None,
        lever_arms: Mapping[str, object] | None = None,
        body: LowerBodyModel | None = None,
        window_s: float = 20.0,
        evaluate_every_s: float = 1.0,
        min_strides: int = 3,
        max_strides: int = 5,
        stable_deg: float = 3.0,
        min_still_s: float = 1.0,
        sensor_ids: Sequence[str] | None = None,
    ) -> None:
        self.segments = tuple(segments)
        if not np.isfinite(rate_hz) or rate_hz <= 0:
            raise ValueError(f"rate_hz must be a positive number, got {rate_hz!r}")
        if window_s < 5.0:
            raise ValueError(f"window_s must be >= 5 s (a few strides), got {window_s}")
        self.rate_hz = float(rate_hz)
        self.mode = mode
        self.method = get_method(mode, file)
        self.lever_arms, self._notes = resolve_lever_arms(self.segments, lever_arms, body)
        model = body or default_body()
        self._body = {"height_m": model.height_m, "mass_kg": model.mass_kg, "sex": model.sex}
        self.sensor_ids = tuple(sensor_ids) if sensor_ids is not None else None
        n = len(self.segments)
        self._w = int(round(window_s * rate_hz))
        self._f_buf = np.full((self._w, n, 3), np.nan)
        self._g_buf = np.full((self._w, n, 3), np.nan)
        self._i = 0  # samples received since (re)start
        self._every = max(1, int(round(evaluate_every_s * rate_hz)))
        self._min_eval = int(round(2.0 * rate_hz))  # about two walking strides
        self.min_strides = int(min_strides)
        self.max_strides = max(int(max_strides), self.min_strides)
        self.stable_deg = float(stable_deg)
        self._still_need = max(2, int(round(min_still_s * rate_hz)))
        self._still_run = 0
        self._moving = 0  # non-still samples since (re)start
        self.standing: StandingPose | None = None
        self.latest: CalibrationResult | None = None
        self.result: CalibrationResult | None = None
        self._previous: CalibrationResult | None = None
        self._only: tuple[str, ...] | None = None
        self.evaluations = 0
        self.state = CalibratorState.WAITING
        if mode == "file":
            self.result = self.method.load(self.segments)  # type: ignore[attr-defined]
            self.latest = self.result
            self.state = CalibratorState.CALIBRATED

    # ------------------------------------------------------------------ feeding
    def update(self, accel_m_s2: np.ndarray, gyro_rad_s: np.ndarray) -> CalibratorState:
        """Feed one aligned sample: (S, 3) specific force and angular rate in sensor-set order."""
        return self.update_many(np.asarray(accel_m_s2, float)[None], np.asarray(gyro_rad_s, float)[None])

    def update_many(self, accel_m_s2: np.ndarray, gyro_rad_s: np.ndarray) -> CalibratorState:
        """Feed consecutive aligned samples (N, S, 3) each; identical to N calls of `update`."""
        a, g = np.asarray(accel_m_s2, float), np.asarray(gyro_rad_s, float)
        n = len(self.segments)
        if a.shape != g.shape or a.ndim != 3 or a.shape[1:] != (n, 3):
            raise ValueError(f"samples must be (N, {n}, 3) arrays, got {a.shape} and {g.shape}")
        if self.state is CalibratorState.CALIBRATED:
            return self.state
        for k in range(a.shape[0]):
            self._push(a[k], g[k])
            if self.state is CalibratorState.CALIBRATED:
                break
        return self.state

    def _push(self, f: np.ndarray, w: np.ndarray) -> None:
        j = self._i % self._w
        self._f_buf[j] = f
        self._g_buf[j] = w
        self._i += 1
        still = bool(np.all(is_still(f, w)))
        if still:
            self._still_run += 1
            if self._still_run >= self._still_need and self.mode in ("still", "auto"):
                self._snapshot_standing()
        else:
            self._still_run = 0
            self._moving += 1
        if self.mode == "still" and self.standing is None:
            return
        if self._moving >= self._min_eval and self._i % self._every == 0:
            self._evaluate()

    def _snapshot_standing(self) -> None:
        m = min(self._still_run, self._w)
        idx = (self._i - m + np.arange(m)) % self._w
        try:
            pose = StandingPose.from_window(
                self.segments, self._f_buf[idx].transpose(1, 0, 2), self._g_buf[idx].transpose(1, 0, 2)
            )
        except ValueError:
            return
        pose.window = slice(self._i - m, self._i)  # absolute sample indices
        self.standing = pose
        self._moving = 0  # gait after the latest standing counts

    def _recording(self) -> tuple[Recording, int]:
        m = min(self._i, self._w)
        idx = (self._i - m + np.arange(m)) % self._w
        return Recording(
            self.segments,
            self._f_buf[idx].transpose(1, 0, 2),
            self._g_buf[idx].transpose(1, 0, 2),
            self.rate_hz,
            self.sensor_ids,
        ), self._i - m

    def _evaluate(self) -> None:
        rec, first = self._recording()
        kwargs: dict[str, Any] = {}
        if self.mode in ("still", "auto") and self.standing is not None:
            pose = self.standing
            win = pose.window
            local = None
            if win is not None and win.stop > first:
                local = slice(max(0, win.start - first), win.stop - first)
            kwargs["standing"] = StandingPose(pose.vertical, pose.gyro_bias_rad_s, pose.gyro_std_rad_s, local)
        res = self.method.calibrate(rec, self.lever_arms, **kwargs)
        res.messages.extend(self._notes)
        res.body = dict(self._body)
        self.evaluations += 1
        if self._only is not None and self.result is not None:
            merged = dict(self.result.segments)
            merged.update({s: res.segments[s] for s in self._only})
            res.segments = merged
        self.latest = res
        if res.gait not in ("none", "unknown"):
            self.state = CalibratorState.COLLECTING
        if self._converged(res):
            self.result = res
            self.state = CalibratorState.CALIBRATED
        self._previous = res

    def _converged(self, res: CalibrationResult) -> bool:
        segs = self._only or self.segments
        if any(not res.segments[s].decided or res.strides.get(s, 0) < self.min_strides for s in segs):
            return False
        if min(res.strides.get(s, 0) for s in segs) >= self.max_strides:
            return True  # enough strides: accept the estimate even if it still moves a little
        prev = self._previous
        if prev is None or any(not prev.segments[s].decided for s in segs):
            return False
        return all(
            _angle_deg(res.segments[s].sensor_to_segment, prev.segments[s].sensor_to_segment)
            < self.stable_deg
            for s in segs
        )

    # ------------------------------------------------------------------ control and reports
    def recalibrate(self, segments: Sequence[str] | None = None) -> None:
        """Start over (all sensors, or only `segments`, keeping the others' calibration)."""
        if segments is not None:
            unknown = [s for s in segments if s not in self.segments]
            if unknown:
                raise ValueError(
                    f"recalibrate: unknown segment(s) {unknown}; calibrating {list(self.segments)}"
                )
        if self.mode == "file":
            self.result = self.method.load(self.segments)  # type: ignore[attr-defined]
            return
        self._only = tuple(segments) if segments is not None and self.result is not None else None
        if self._only is None:
            self.result = None
        self._f_buf[...] = np.nan
        self._g_buf[...] = np.nan
        self._i = self._moving = self._still_run = 0
        self.standing = None
        self._previous = self.latest = None
        self.state = CalibratorState.WAITING

    @property
    def strides_seen(self) -> int:
        """Fewest strides any segment has had in the last evaluation (0 before)."""
        if self.latest is None or not self.latest.strides:
            return 0
        return min(self.latest.strides.get(s, 0) for s in self.segments)

    def status(self) -> dict[str, Any]:
        """Diagnostics: state, the mode that decided, strides and confidence per segment, and why a
        segment is still undecided."""
        r = self.result if self.state is CalibratorState.CALIBRATED else self.latest
        out: dict[str, Any] = {
            "state": self.state.value,
            "mode": self.mode,
            "standing_seen": self.standing is not None,
            "evaluations": self.evaluations,
        }
        if self.mode == "still" and self.standing is None:
            out["message"] = "waiting for still standing (1 s, all sensors)"
        elif r is None:
            out["message"] = "waiting for walking (a few strides)"
        if r is not None:
            out.update(
                {
                    "mode_used": r.mode_used,
                    "gait": r.gait,
                    "strides": dict(r.strides),
                    "confidence": {s: round(c.confidence, 3) for s, c in r.segments.items()},
                    "undecided": r.undecided,
                    "messages": list(r.messages),
                }
            )
        return out
