"""IMU sources of the `imu_driver` node: the registry (ROS-free).

One module per source beside this file (base.py holds the contracts: `ImuSource`, the array-backed
`RecordedSource`, the vendor-neutral `Device` protocol and its `DeviceSource` adapter). A source is
registered as a factory `factory(SourceConfig) -> ImuSource`, or as 'module:attr' imported on first
use so that the driver node does not import the simulator or a vendor library it does not run.
A new IMU vendor = a driver module implementing `Device` + one line in `_REGISTRY` below (or a
`register_source` call from the code that uses it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from .base import DeviceSource, ImuSource, RecordedSource, SourceConfig, SourceSample

SourceFactory = Callable[[SourceConfig], ImuSource]

_REGISTRY: dict[str, SourceFactory | str] = {
    "sim": "imu_torque_estimator.pipeline.sources.sim:SimSource",
    "replay": "imu_torque_estimator.pipeline.sources.replay:ReplaySource",
    "xsens": "imu_torque_estimator.pipeline.sources.xsens:XsensSource",
    "bag": "imu_torque_estimator.pipeline.sources.bag:bag_source",
}

__all__ = ["DeviceSource", "ImuSource", "RecordedSource", "SourceConfig", "SourceFactory", "SourceSample",
           "check_source_name", "create_source", "register_source", "source_names"]


def register_source(name: str, factory: SourceFactory | str) -> None:
    """Add (or replace) a source: a callable `factory(SourceConfig) -> ImuSource`, or 'module:attr'
    imported on first use (keeps heavy imports out of the driver's startup)."""
    _REGISTRY[name] = factory


def source_names() -> tuple[str, ...]:
    """Registered source names, in registration order."""
    return tuple(_REGISTRY)


def check_source_name(name: str) -> str:
    """`name` if registered; else ValueError naming the registered sources (the one message for it)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown source {name!r}; choose one of {list(_REGISTRY)}")
    return name


def create_source(name: str, config: SourceConfig) -> ImuSource:
    """Build the named source; ValueError naming the known sources for an unknown one."""
    factory = _REGISTRY[check_source_name(name)]
    if isinstance(factory, str):
        mod_name, _, attr = factory.partition(":")
        try:
            factory = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"source {name!r} is not available ({factory}: {exc})") from None
    return factory(config)
