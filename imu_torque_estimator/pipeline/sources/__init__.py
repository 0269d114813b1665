"""IMU sources of the `imu_driver` node: the registry (ROS-free).

One module per source beside this file (base.py holds the contracts: `ImuSource`, the array-backed
`RecordedSource`, the vendor-neutral `Device` protocol and its `DeviceSource` adapter). A source is
registered with a factory `factory(SourceConfig) -> ImuSource` and optionally a launch-time check
`check(driver node parameters, segment)` raising ValueError; both may be 'module:attr' strings
imported on first use, so that the driver node does not import the simulator or a vendor library it
does not run. A new IMU vendor = a driver module implementing `Device` + one line in `_REGISTRY`
below (or a `register_source` call from the code that uses it). The node's `source` parameter, the
launch argument `source:=` and their checks all read this registry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .base import DeviceSource, ImuSource, RecordedSource, SourceConfig, SourceSample

SourceFactory = Callable[[SourceConfig], ImuSource]
SourceCheck = Callable[[Mapping[str, Any], str], None]


@dataclass(frozen=True)
class SourceEntry:
    factory: SourceFactory | str
    check: SourceCheck | str | None = None


_M = "imu_torque_estimator.pipeline.sources"
_REGISTRY: dict[str, SourceEntry] = {
    "sim": SourceEntry(f"{_M}.sim:SimSource"),
    "replay": SourceEntry(f"{_M}.replay:ReplaySource", check=f"{_M}.base:require_file"),
    "xsens": SourceEntry(f"{_M}.xsens:XsensSource", check=f"{_M}.xsens:check_port"),
    "bag": SourceEntry(f"{_M}.bag:bag_source", check=f"{_M}.base:require_file"),
}

__all__ = ["DeviceSource", "ImuSource", "RecordedSource", "SourceConfig", "SourceFactory", "SourceSample",
           "check_source", "check_source_name", "create_source", "register_source", "source_names"]


def register_source(name: str, factory: SourceFactory | str, check: SourceCheck | str | None = None) -> None:
    """Add (or replace) a source: a callable `factory(SourceConfig) -> ImuSource`, or 'module:attr'
    imported on first use (keeps heavy imports out of the driver's startup); `check` likewise."""
    _REGISTRY[name] = SourceEntry(factory, check)


def source_names() -> tuple[str, ...]:
    """Registered source names, in registration order."""
    return tuple(_REGISTRY)


def check_source_name(name: str) -> str:
    """`name` if registered; else ValueError naming the registered sources (the one message for it)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown source {name!r}; choose one of {list(_REGISTRY)}")
    return name


def _resolve(name: str, what: Any) -> Any:
    if not isinstance(what, str):
        return what
    mod_name, _, attr = what.partition(":")
    try:
        return getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"source {name!r} is not available ({what}: {exc})") from None


def check_source(name: str, params: Mapping[str, Any], segment: str) -> None:
    """The source's launch-time check of one driver's parameters (ValueError naming the problem)."""
    check = _REGISTRY[check_source_name(name)].check
    if check is not None:
        _resolve(name, check)(params, segment)


def create_source(name: str, config: SourceConfig) -> ImuSource:
    """Build the named source; ValueError naming the known sources for an unknown one."""
    return _resolve(name, _REGISTRY[check_source_name(name)].factory)(config)
