"""Torque stage: the core shared by the `torque_estimator` node and offline bag evaluation (ROS-free).

It joins per-segment kinematics samples by exact stamp, rejects invalid samples, resets the recurrent
state after gaps and steps the inference engine once per complete sample. Units: stamps in integer
nanoseconds, features as defined by `kinematics.py` (per segment: CoM linear acceleration m/s^2 then
angular velocity rad/s, segment frame), torques in Nm/kg from the engine and Nm on output.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .config import EstimatorConfig

FEATURES_PER_SEGMENT = 6


class Engine(Protocol):
    """What the core needs from an inference engine (see model/engine.py)."""

    def step(self, features: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...


@dataclass
class TorqueSample:
    """One estimate: stamp of the input sample, torques in Nm/kg and Nm (body.JOINTS order)."""

    stamp_ns: int
    torque_nm_per_kg: np.ndarray
    torque_nm: np.ndarray
    limited: bool


@dataclass
class EstimatorStatus:
    """Counters and state for diagnostics."""

    published: int = 0
    warming_up: bool = True
    resets: int = 0
    gap_resets: int = 0
    limited: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> count
    last_stamp_ns: int | None = None


class TorqueEstimatorCore:
    """Exact-stamp join of segment kinematics, validity checks, gap handling, engine stepping.

    Call `push(segment, stamp_ns, features6)` for every kinematics message; it returns a
    `TorqueSample` when that message completes a valid sample past warm-up, else None. Rejections are
    counted by reason in `status.rejected` and never produce a torque.
    """

    def __init__(self, engine: Engine, config: EstimatorConfig) -> None:
        self.engine = engine
        self.config = config
        self.status = EstimatorStatus()
        self._index = {s: i for i, s in enumerate(config.segments)}
        n = len(config.segments)
        self._pending: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # stamp -> (features, have mask)
        self._features = np.zeros(n * FEATURES_PER_SEGMENT)
        self._gap_ns = int(round(config.max_gap_s * 1e9))
        self._warmup_samples = int(round(config.warmup_s * config.rate_hz))
        self._since_reset = 0

    def reset(self, reason: str = "requested") -> None:
        """Reset the recurrent state (after a gap, or on request); the estimator warms up again."""
        self.engine.reset()
        self._since_reset = 0
        self.status.warming_up = True
        self.status.resets += 1
        self.status.last_stamp_ns = None
        self._pending.clear()

    def push(self, segment: str, stamp_ns: int, features: np.ndarray) -> TorqueSample | None:
        """Add one segment's 6 features at `stamp_ns`; process the sample when all segments are in."""
        idx = self._index.get(segment)
        if idx is None:
            self.status.rejected["unknown_segment"] += 1
            return None
        last = self.status.last_stamp_ns
        if last is not None and stamp_ns <= last:
            self.status.rejected["stale_or_out_of_order"] += 1
            return None
        entry = self._pending.get(stamp_ns)
        if entry is None:
            entry = (np.empty(len(self._features)), np.zeros(len(self._index), dtype=bool))
            self._pending[stamp_ns] = entry
            self._drop_old_pending()
        buf, have = entry
        if have[idx]:
            self.status.rejected["duplicate"] += 1
            return None
        buf[idx * FEATURES_PER_SEGMENT:(idx + 1) * FEATURES_PER_SEGMENT] = features
        have[idx] = True
        if not have.all():
            return None
        del self._pending[stamp_ns]
        # Older incomplete stamps can no longer complete in order: they are missing a segment.
        for old in [s for s in self._pending if s < stamp_ns]:
            del self._pending[old]
            self.status.rejected["missing_segment"] += 1
        return self._process(stamp_ns, buf)

    def _drop_old_pending(self) -> None:
        while len(self._pending) > self.config.join_window:
            del self._pending[min(self._pending)]
            self.status.rejected["missing_segment"] += 1

    def _process(self, stamp_ns: int, features: np.ndarray) -> TorqueSample | None:
        if not np.all(np.isfinite(features)):
            self.status.rejected["non_finite_features"] += 1
            return None
        last = self.status.last_stamp_ns
        if last is not None and stamp_ns - last > self._gap_ns:
            self.status.gap_resets += 1
            self.reset("gap")
        self.status.last_stamp_ns = stamp_ns
        torque = self.engine.step(features)
        self._since_reset += 1
        if self._since_reset <= self._warmup_samples:
            self.status.warming_up = True
            return None
        self.status.warming_up = False
        limit = self.config.output_limit_nm_per_kg
        limited = bool(np.any(np.abs(torque) > limit))
        if limited:
            torque = np.clip(torque, -limit, limit)
            self.status.limited += 1
        self.status.published += 1
        return TorqueSample(stamp_ns, torque.copy(), torque * self.config.body_mass_kg, limited)
