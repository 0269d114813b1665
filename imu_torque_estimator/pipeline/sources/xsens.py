"""`xsens` source: a live Xsens MTi over serial (drivers/xsens_device.py), one device per sensor."""

from __future__ import annotations

from typing import Any

from .base import DeviceSource, SourceConfig


class XsensSource(DeviceSource):
    """Live Xsens MTi through drivers.xsens_device.XsensDevice (stamps mapped by the device's clock).
    `device`: an already built device session (tests); default: XsensDevice on `config.port`."""

    def __init__(self, config: SourceConfig, device: Any = None) -> None:
        errors: tuple[type[BaseException], ...] = ()
        try:
            from ...drivers.xsens_device import XsensError

            errors = (XsensError,)
        except ImportError:  # pyserial missing: only an injected device can work
            if device is None:
                raise
        if device is None and not config.port:
            raise ValueError("source 'xsens' needs the 'port' parameter (e.g. /dev/ttyUSB0)")

        def open_device() -> Any:
            if device is not None:
                return device
            from ...drivers.xsens_device import XsensDevice

            return XsensDevice(config.port, rate_hz=int(config.rate_hz), baudrate=config.baudrate)

        super().__init__(config, open_device, "xsens", f"xsens {config.port}", errors=errors)
