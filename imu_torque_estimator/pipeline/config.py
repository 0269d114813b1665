"""One source of configuration (ROS-free): typed stage configurations, parameter files and their
layering, launch-argument validation, and where configs and models are found.

Parameters are layered, later wins: the set's defaults (config/<set>.yaml, generated from the nodes'
tables in params.py; the tables themselves when a set has no file) -> the user's YAML (`params_file`)
-> launch arguments that were given. `resolve_configuration` checks every argument and YAML key
before any node starts, so a bad setup stops with one `ConfigError` naming the problem and the valid
choices, instead of failing in one of ten node processes. The launch files (launch_builder.py), the
offline pipeline (offline.py) and `imu-torque demo` all resolve parameters here.

Sensor sets come from body.SENSOR_SETS and sources from the pipeline.sources registry; nothing here
lists them.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..body import SENSOR_SETS, sensor_set
from ..paths import default_model_dir, share_dir
from . import params as P


class ConfigError(ValueError):
    """A configuration problem (launch argument, parameter file, node parameter); the message names it."""


# ----------------------------------------------------------------------------------- sensor sets
# The shipped files of the first two sets kept their historical names; any other set uses its own.
_FILE_STEMS = {"3imu": "three_imu", "7imu": "seven_imu"}
GENERIC_LAUNCH = "imu_pipeline.launch.py"


def check_sensor_set(name: str) -> tuple[str, ...]:
    """The segments of sensor set `name`; ConfigError naming the known sets (body.sensor_set's message)."""
    try:
        return sensor_set(name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def file_stem(set_name: str) -> str:
    """Name of a set's config and wrapper launch files: config/<stem>.yaml, launch/<stem>.launch.py."""
    return _FILE_STEMS.get(set_name, set_name)


def config_file(set_name: str) -> Path:
    """The set's shipped defaults (may not exist for a set added without regenerating the configs)."""
    return share_dir() / "config" / f"{file_stem(set_name)}.yaml"


def launch_command(set_name: str) -> str:
    """How to launch a set: its wrapper launch file if there is one, else the generic launch file."""
    wrapper = f"{file_stem(set_name)}.launch.py"
    if (share_dir() / "launch" / wrapper).is_file():
        return wrapper
    return f"{GENERIC_LAUNCH} sensor_set:={set_name}"


def driver_node_name(segment: str) -> str:
    return f"{segment}_imu_driver"


def node_executables(set_name: str) -> dict[str, str]:
    """Node name -> executable for a sensor set (one imu_driver per sensor)."""
    out = {driver_node_name(s): "imu_driver" for s in check_sensor_set(set_name)}
    out.update(segment_kinematics="segment_kinematics", torque_estimator="torque_estimator")
    return out


def declared_parameters() -> dict[str, set[str]]:
    """Node executable -> declared parameter names (params.NODE_PARAMS, plus ROS's use_sim_time)."""
    return {exe: {p.name for p in specs} | {"use_sim_time"} for exe, specs in P.NODE_PARAMS.items()}


# ------------------------------------------------------------------------------ parameter files
def load_params_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a ROS 2 parameter YAML -> {node-name pattern: {param: value}}; ConfigError if unusable.

    Keys may be plain node names or ROS wildcards (`/**`, `/**/*_imu_driver`); the namespace part is
    dropped because the launch applies the file to the nodes it starts, whatever their namespace."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"params_file {p} does not exist")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"params_file {p} is not valid YAML: {' '.join(str(exc).split())}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"params_file {p}: top level must map node names to ros__parameters")
    out: dict[str, dict[str, Any]] = {}
    for node, body in doc.items():
        values = body.get("ros__parameters") if isinstance(body, dict) else None
        if not isinstance(values, dict):
            raise ConfigError(f"params_file {p}: node '{node}' has no 'ros__parameters' mapping")
        key = str(node).strip("/")
        key = "*" if key in ("**", "") else key.split("/")[-1]
        out[key] = values
    return out


def default_layer(set_name: str) -> dict[str, dict[str, Any]]:
    """The set's defaults as a parameter layer: config/<set>.yaml when shipped, else the same values
    from the nodes' tables (what scripts/gen_config.py would write)."""
    path = config_file(set_name)
    if path.is_file():
        return load_params_file(path)
    layer: dict[str, dict[str, Any]] = {"*_imu_driver": P.defaults("imu_driver")}
    for seg in check_sensor_set(set_name):
        layer[driver_node_name(seg)] = {"segment": seg}
    for exe in ("segment_kinematics", "torque_estimator"):
        layer[exe] = {**P.defaults(exe), "sensor_set": set_name}
    return layer


def check_params(layer: dict[str, dict[str, Any]], set_name: str, origin: str) -> None:
    """Every node pattern in `layer` matches a node of this setup that declares every key given."""
    exes = node_executables(set_name)
    declared = declared_parameters()
    for pattern, values in layer.items():
        nodes = [n for n in exes if fnmatch.fnmatchcase(n, pattern)]
        if not nodes:
            raise ConfigError(f"{origin}: '{pattern}' matches no node of the {set_name} setup; "
                              f"nodes are {sorted(exes)}")
        for node in nodes:
            unknown = sorted(set(values) - declared[exes[node]])
            if unknown and pattern != "*":
                raise ConfigError(f"{origin}: unknown parameter(s) {unknown} for node '{node}'; "
                                  f"declared: {sorted(declared[exes[node]])}")
        if pattern == "*":
            common = set.intersection(*(declared[exes[n]] for n in nodes))
            if set(values) - common:
                raise ConfigError(f"{origin}: parameter(s) {sorted(set(values) - common)} under "
                                  f"'/**' are not declared by every node")


def merged_parameters(layers: list[dict[str, dict[str, Any]]], set_name: str) -> dict[str, dict[str, Any]]:
    """Per-node parameters from YAML layers (later layers win, exact names over wildcards)."""
    out: dict[str, dict[str, Any]] = {}
    for node in node_executables(set_name):
        eff: dict[str, Any] = {}
        for layer in layers:
            for pattern in sorted(layer, key=lambda k: (k != "*", "*" not in k)):
                if fnmatch.fnmatchcase(node, pattern):
                    eff.update(layer[pattern])
        out[node] = eff
    return out


def set_body_mass(node_params: dict[str, dict[str, Any]], mass_kg: float) -> None:
    """The wearer's mass, in the two nodes that use it: torque_estimator body_mass_kg (Nm/kg -> N m)
    and segment_kinematics subject_mass_kg (nominal sensor mountings). The one place for this mapping."""
    node_params["torque_estimator"]["body_mass_kg"] = float(mass_kg)
    node_params["segment_kinematics"]["subject_mass_kg"] = float(mass_kg)


# ---------------------------------------------------------------------------------------- models
def model_dir(model: str | Path | None, set_name: str) -> Path:
    """The model bundle to run: `model` when given (non-empty), else the set's shipped bundle."""
    return Path(model) if model else default_model_dir(set_name)


def check_model(model: str | Path | None, set_name: str) -> Path:
    """model_dir(...) after checking it is a bundle for `set_name`; ConfigError naming the problem."""
    from ..model.bundle import CONFIG_FILE, BundleError, load_bundle

    path = model_dir(model, set_name)
    if not (path / CONFIG_FILE).is_file():
        raise ConfigError(f"model {path}: no model bundle there (missing {CONFIG_FILE})")
    try:
        got = load_bundle(path).sensor_set
    except BundleError as exc:
        raise ConfigError(str(exc)) from None
    if got != set_name:
        raise ConfigError(f"model {path} is for sensor set {got!r} but this launch runs {set_name!r}: "
                          f"use {launch_command(got)} or a {set_name} model")
    return path


# ----------------------------------------------------------------------------- launch arguments
def resolve_configuration(set_name: str, args: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Validate launch arguments + YAML files; return each node's effective parameters.

    `args`: the launch arguments as strings ('' = not given); `defaults_file` (optional) replaces
    the set's default layer (`default_layer`)."""
    from .sources import check_source, check_source_name

    segments = check_sensor_set(set_name)
    if args.get("defaults_file"):
        layers = [load_params_file(args["defaults_file"])]
        origin = str(args["defaults_file"])
    else:
        layers, origin = [default_layer(set_name)], f"defaults of {set_name}"
    check_params(layers[0], set_name, origin)
    if args.get("params_file"):
        layers.append(load_params_file(args["params_file"]))
        check_params(layers[1], set_name, args["params_file"])
    eff = merged_parameters(layers, set_name)
    drivers = [driver_node_name(s) for s in segments]
    try:
        if args.get("rate_hz"):
            for node in eff:
                eff[node]["rate_hz"] = int(float(args["rate_hz"]))
        if args.get("body_mass_kg"):
            set_body_mass(eff, float(args["body_mass_kg"]))
    except ValueError as exc:
        raise ConfigError(f"body_mass_kg and rate_hz must be numbers ({exc})") from None
    for seg, node in zip(segments, drivers, strict=True):
        d = eff[node]
        d["segment"] = seg
        if args.get("source"):
            d["source"] = args["source"]
        if args.get("file"):
            d["file"] = args["file"]
        if args.get(f"port_{seg}"):
            d["port"] = args[f"port_{seg}"]
    if args.get("model"):
        eff["torque_estimator"]["model"] = args["model"]
    for node in ("segment_kinematics", "torque_estimator"):
        eff[node]["sensor_set"] = set_name

    # --- the effective configuration must be runnable
    try:
        for node in drivers:
            check_source_name(eff[node].get("source", P.defaults("imu_driver")["source"]))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    rates = {int(v.get("rate_hz", P.defaults("imu_driver")["rate_hz"])) for v in eff.values()}
    if not rates <= set(P.RATES_HZ) or len(rates) != 1:
        raise ConfigError(f"rate_hz must be one of {list(P.RATES_HZ)} and equal for every node, "
                          f"got {sorted(rates)}")
    mass = float(eff["torque_estimator"].get("body_mass_kg", P.BODY_MASS_KG_DEFAULT))
    lo, hi = next(p.range for p in P.TORQUE_ESTIMATOR if p.name == "body_mass_kg") or (0.0, math.inf)
    if not lo <= mass <= hi:
        raise ConfigError(f"body_mass_kg must be within {lo:g}..{hi:g} kg, got {mass:g}")
    eff["torque_estimator"]["model"] = str(check_model(str(eff["torque_estimator"].get("model", "")),
                                                       set_name))
    for seg, node in zip(segments, drivers, strict=True):
        try:
            check_source(eff[node].get("source", "sim"), eff[node], seg)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return eff


# ---------------------------------------------------------------------------- typed stage configs
def _from_params(cls: Any, table: tuple[P.ParamSpec, ...], values: Mapping[str, Any],
                 overrides: dict[str, Any]) -> Any:
    """`cls` from node parameter values; missing ones take the table's defaults."""
    merged = {**{p.name: p.default for p in table}, **values, **overrides}
    return cls(**{f.name: merged[f.name] for f in fields(cls) if f.name in merged})


@dataclass(frozen=True)
class KinematicsConfig:
    """Settings of the kinematics stage (pipeline/segment_kinematics.py), from the segment_kinematics
    node's parameters (params.SEGMENT_KINEMATICS: units and meaning there). `max_gap_s` 0 = 1.5 periods;
    `functional_s` 0 = static calibration only; `calibration_file` '' = calibrate from still standing."""

    sensor_set: str
    rate_hz: float
    feature_frame: str
    stale_timeout_s: float
    max_gap_s: float
    backward_jump_s: float
    reset_gap_s: float
    accel_full_scale_m_s2: float
    gyro_full_scale_rad_s: float
    still_s: float
    still_gyro_rad_s: float
    still_accel_m_s2: float
    functional_s: float
    calibration_file: str
    subject_mass_kg: float
    subject_height_m: float
    subject_sex: str

    def __post_init__(self) -> None:
        check_sensor_set(self.sensor_set)
        object.__setattr__(self, "rate_hz", float(self.rate_hz))

    @property
    def segments(self) -> tuple[str, ...]:
        return SENSOR_SETS[self.sensor_set]

    @classmethod
    def from_params(cls, values: Mapping[str, Any] | None = None, **overrides: Any) -> KinematicsConfig:
        """From segment_kinematics parameter values (missing = the node's defaults) and overrides."""
        return _from_params(cls, P.SEGMENT_KINEMATICS, values or {}, overrides)


@dataclass
class EstimatorConfig:
    """Settings of the torque stage (pipeline/torque_estimator.py); see config/*.yaml for the
    documented node defaults (`from_params`). The defaults here are the library's."""

    segments: tuple[str, ...]
    rate_hz: float
    body_mass_kg: float
    max_gap_s: float = 0.1
    warmup_s: float = 0.5
    output_limit_nm_per_kg: float = 5.0
    join_window: int = 8  # incomplete stamps kept waiting for their missing segments

    def __post_init__(self) -> None:
        if not np.isfinite(self.body_mass_kg) or self.body_mass_kg <= 0:
            raise ValueError(f"body_mass_kg must be a positive number of kg, got {self.body_mass_kg!r}")
        if not self.rate_hz > 0:
            raise ValueError(f"rate_hz must be positive, got {self.rate_hz!r}")
        if not self.max_gap_s > 0:
            raise ValueError(f"max_gap_s must be positive, got {self.max_gap_s!r}")
        if self.warmup_s < 0:
            raise ValueError(f"warmup_s must be >= 0, got {self.warmup_s!r}")
        if not self.output_limit_nm_per_kg > 0:
            raise ValueError(f"output_limit_nm_per_kg must be positive, got {self.output_limit_nm_per_kg!r}")
        if not self.segments:
            raise ValueError("segments must not be empty")

    @classmethod
    def from_params(cls, values: Mapping[str, Any] | None = None, **overrides: Any) -> EstimatorConfig:
        """From torque_estimator parameter values (missing = the node's defaults) and overrides;
        `segments` from the `sensor_set` parameter unless given."""
        merged = {**P.defaults("torque_estimator"), **(values or {}), **overrides}
        if "segments" not in merged:
            merged["segments"] = check_sensor_set(merged["sensor_set"])
        merged["rate_hz"] = float(merged["rate_hz"])
        return cls(**{f.name: merged[f.name] for f in fields(cls) if f.name in merged})
