"""`xsens` source: a live Xsens MTi over serial (drivers/xsens_device.py), one device per sensor."""

from __future__ import annotations

from collections.abc import Mapping
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


def check_port(params: Mapping[str, Any], segment: str) -> None:
    """Launch-time check: the sensor's serial port is given and can be opened."""
    port = str(params.get("port", ""))
    if not port:
        raise ValueError(f"source:=xsens needs the serial port of the {segment} sensor: "
                         f"port_{segment}:=/dev/ttyUSBx")
    try:
        import serial

        serial.Serial(port, timeout=0).close()
    except (OSError, ValueError, ImportError) as exc:  # serial.SerialException is an OSError
        raise ValueError(f"port_{segment}: cannot open {port}: {' '.join(str(exc).split())}") from None
