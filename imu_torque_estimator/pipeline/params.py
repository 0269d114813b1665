"""The nodes' parameter tables (ROS-free): every parameter of the pipeline's three nodes with its
default, unit and allowed values, defined once.

The nodes declare them (nodes/common.declare_parameters), `scripts/gen_config.py` writes
config/<set>.yaml from them, pipeline/config.py checks YAML files and launch arguments against them
and builds the typed stage configurations from their values. Choices that come from a registry
(sensor sets, sources) are callables, read when used, so registrations made at run time count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..body import SEGMENTS, SENSOR_SETS

RATES_HZ: tuple[int, ...] = (100, 200)  # IMU, kinematics and torque rates the pipeline runs at
BODY_MASS_KG_DEFAULT = 75.0  # wearer's / simulated subject's body mass when none is configured


def sensor_set_names() -> tuple[str, ...]:
    """body.SENSOR_SETS keys (the registry of sensor sets), read at call time."""
    return tuple(SENSOR_SETS)


def source_names() -> tuple[str, ...]:
    """pipeline.sources registry names, read at call time."""
    from .sources import source_names as names

    return names()


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter: name, default (its type fixes the ROS parameter type), description.

    `range` = inclusive (min, max) for int/float parameters (enforced by rclpy via the descriptor);
    `choices` = allowed values, a tuple or a callable returning one (checked at startup);
    `type_` (an rclpy Parameter.Type) is needed only when the default is an empty list."""

    name: str
    default: Any
    description: str
    read_only: bool = True
    range: tuple[float, float] | None = None
    choices: tuple[Any, ...] | Callable[[], tuple[Any, ...]] | None = None
    type_: Any = None

    def allowed(self) -> tuple[Any, ...] | None:
        """The allowed values now (a registry-backed choice list is read at this call)."""
        return self.choices() if callable(self.choices) else self.choices


IMU_DRIVER: tuple[ParamSpec, ...] = (
    ParamSpec("source", "sim", "where samples come from", choices=source_names),
    ParamSpec("segment", "pelvis", "body segment the sensor is on (topic prefix)", choices=SEGMENTS),
    ParamSpec("rate_hz", 100, "output sample rate, Hz", choices=RATES_HZ),
    ParamSpec("frame_id", "", "header.frame_id; empty = '<segment>_imu'"),
    ParamSpec("condition", "walk_1.2", "sim: gait condition, e.g. walk_1.2, run_3.0, walk_1.2_up10"),
    ParamSpec("seed", 0, "sim: random seed (subject style, mounting errors, noise); same for all drivers",
              range=(0, 2**31 - 1)),
    ParamSpec("n_strides", 20, "sim: strides in the trial before it loops", range=(1, 2000)),
    ParamSpec("standing_s", 2.0, "sim: quiet standing before the strides (calibration), s",
              range=(0.0, 20.0)),
    ParamSpec("cache_dir", "", "sim: cache of simulated recordings shared by the drivers; empty = "
              "$IMU_TORQUE_CACHE/sim or ~/.cache/imu_torque_estimator/sim, 'none' = no cache"),
    ParamSpec("imu_errors", "mti3", "sim: sensor error model", choices=("mti3", "ideal")),
    ParamSpec("subject_mass_kg", BODY_MASS_KG_DEFAULT, "sim: body mass, kg", range=(45.0, 110.0)),
    ParamSpec("subject_height_m", 1.75, "sim: body height, m", range=(1.5, 1.95)),
    ParamSpec("subject_sex", "male", "sim: de Leva anthropometrics", choices=("male", "female")),
    ParamSpec("file", "", "replay/bag: recording path (.csv IMU CSV, .txt Xsens export, bag)"),
    ParamSpec("port", "", "xsens: serial port, e.g. /dev/ttyUSB0"),
    ParamSpec("baudrate", 921600, "xsens: serial baud rate", range=(9600, 4000000)),
    ParamSpec("loop", True, "sim/replay/bag: restart the recording at its end"),
    ParamSpec("start_stamp_s", 0.0, "sim/replay/bag: common stamp of the recording start, s since the "
              "epoch (same value for all drivers); 0 = epoch-aligned cycles", range=(0.0, 1.0e10)),
    ParamSpec("truth_topic", "joint_torques_truth", "sim: ground-truth torque topic, published by the "
              "pelvis driver only; empty = off"),
    ParamSpec("diagnostics_period_s", 1.0, "diagnostics publishing period, s", range=(0.1, 60.0)),
)

SEGMENT_KINEMATICS: tuple[ParamSpec, ...] = (
    ParamSpec("sensor_set", "3imu", "sensor set (segments subscribed)", choices=sensor_set_names),
    ParamSpec("rate_hz", 100, "common output grid rate, Hz", choices=RATES_HZ),
    ParamSpec("feature_frame", "segment", "kinematics.FEATURE_FRAMES entry for linear_acceleration / "
              "angular_velocity", choices=("segment", "heading")),
    ParamSpec("stale_timeout_s", 0.1, "a sensor lagging the others (or silent) longer than this is stale: "
              "ERROR, output stops for the affected samples", range=(0.005, 10.0)),
    ParamSpec("max_gap_s", 0.0, "largest stamp gap bridged by interpolation, s; 0 = 1.5 periods",
              range=(0.0, 1.0)),
    ParamSpec("backward_jump_s", 0.5, "stamp going back more than this = clock restart, s",
              range=(0.001, 100.0)),
    ParamSpec("reset_gap_s", 0.25, "an output gap longer than this resets the estimator state, s",
              range=(0.0, 100.0)),
    ParamSpec("accel_full_scale_m_s2", 156.9, "accelerometer full scale (saturation check), m/s^2",
              range=(10.0, 2000.0)),
    ParamSpec("gyro_full_scale_rad_s", 34.9, "gyroscope full scale (saturation check), rad/s",
              range=(1.0, 500.0)),
    ParamSpec("still_s", 1.0, "still standing needed to calibrate, s", range=(0.1, 30.0)),
    ParamSpec("still_gyro_rad_s", 0.15, "stillness: max angular rate per sensor, rad/s", range=(0.001, 5.0)),
    ParamSpec("still_accel_m_s2", 0.5, "stillness: max | |f| - g | per sensor, m/s^2", range=(0.01, 5.0)),
    ParamSpec("functional_s", 5.0, "walking needed after the still period for the functional flexion-axis "
              "calibration, s; 0 = static calibration only", range=(0.0, 60.0)),
    ParamSpec("calibration_file", "", "JSON calibration (kinematics.save_calibrations): skip the still "
              "standing calibration"),
    ParamSpec("subject_mass_kg", BODY_MASS_KG_DEFAULT, "body mass for the nominal sensor mountings / lever "
              "arms, kg", range=(30.0, 200.0)),
    ParamSpec("subject_height_m", 1.75, "body height for the nominal mountings / lever arms, m",
              range=(1.0, 2.3)),
    ParamSpec("subject_sex", "male", "de Leva anthropometrics", choices=("male", "female")),
    ParamSpec("startup_timeout_s", 3.0, "a topic without data this long after start is reported missing, s",
              range=(0.1, 600.0)),
    ParamSpec("queue_depth", 50, "subscription queue depth per IMU topic", range=(1, 1000)),
    ParamSpec("diagnostics_period_s", 1.0, "diagnostics publishing period, s", range=(0.1, 60.0)),
)

TORQUE_ESTIMATOR: tuple[ParamSpec, ...] = (
    ParamSpec("model", "", "model bundle directory; empty = the shipped bundle of sensor_set"),
    ParamSpec("sensor_set", "3imu", "sensor set the pipeline runs (must match the bundle)",
              choices=sensor_set_names),
    ParamSpec("rate_hz", 100, "kinematics sample rate, Hz (must match the bundle)", choices=RATES_HZ),
    ParamSpec("feature_frame", "segment", "kinematics feature frame (must match the bundle's feature spec)",
              choices=("segment", "heading")),
    ParamSpec("body_mass_kg", BODY_MASS_KG_DEFAULT, "wearer's body mass, kg: effort [N m] = model output "
              "[Nm/kg] x mass", range=(1.0, 300.0)),
    ParamSpec("max_gap_s", 0.1, "a gap between complete samples longer than this resets the RNN state, s",
              range=(0.001, 10.0)),
    ParamSpec("warmup_s", 0.5, "samples after a (re)start before torques are published, s",
              range=(0.0, 30.0)),
    ParamSpec("output_limit_nm_per_kg", 4.0, "torques are clipped to +-this, Nm/kg (counted in diagnostics)",
              range=(0.1, 20.0)),
    ParamSpec("queue_depth", 50, "subscription queue depth per kinematics topic", range=(1, 1000)),
    ParamSpec("diagnostics_period_s", 1.0, "diagnostics publishing period, s", range=(0.1, 60.0)),
)

# Node executable -> its table (the launch starts one imu_driver per sensor, named <segment>_imu_driver).
NODE_PARAMS: dict[str, tuple[ParamSpec, ...]] = {
    "imu_driver": IMU_DRIVER, "segment_kinematics": SEGMENT_KINEMATICS, "torque_estimator": TORQUE_ESTIMATOR,
}


def defaults(executable: str) -> dict[str, Any]:
    """Parameter name -> default of one node executable."""
    return {p.name: p.default for p in NODE_PARAMS[executable]}
