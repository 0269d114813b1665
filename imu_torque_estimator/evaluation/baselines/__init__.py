"""Baseline predictors for the results tables: one module per predictor behind `base.Baseline`.

Registered names (results files use them): "zero", "mean_curve" (gait-phase mean curve, causal,
IMU-detected events; the main baseline row), "mean_curve_oracle" (force-plate events, true mode and
speed). IMU-driven inverse dynamics needs forces and full kinematics and stays in evaluation.imu_id.
"""

from . import mean_curve, zero  # noqa: F401  (modules register their predictors on import)
from .base import REGISTRY, Baseline, EvalRecording, Prediction, make_baseline, register

__all__ = ["REGISTRY", "Baseline", "EvalRecording", "Prediction", "make_baseline", "register"]
