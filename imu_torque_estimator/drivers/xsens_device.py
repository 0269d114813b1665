"""Xsens MTi device session over a serial port (pyserial): configure, stream, stamp, reconnect. ROS-free.

Typical use (what the `xsens` source of the imu_driver node does)::

    dev = XsensDevice("/dev/ttyUSB0", rate_hz=100, clock_ns=lambda: node.get_clock().now().nanoseconds)
    dev.connect()                      # raises an XsensError subclass with a clear message
    while running:                     # e.g. in a timer at >= 2x the sample rate
        for s in dev.read_samples():   # never raises on read errors: reconnects by itself
            publish(s.stamp_ns, s.specific_force_m_s2, s.angular_rate_rad_s, s.orientation_wxyz)
    dev.close()

Stamps come from the device's SampleTimeFine mapped to the host clock by `SampleClock` (drift
tracking), not from the receive time. Samples are never returned twice and stamps strictly increase,
also across reconnections.
"""

from __future__ import annotations

import logging
import math
import select
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import serial

from imu_torque_estimator.drivers import xsens as x
from imu_torque_estimator.drivers.clock import SampleClock

_LOG = logging.getLogger("imu_torque_estimator.drivers.xsens")
# A newest frame whose mapped time is this far from its receive time means the device-clock fit broke.
_CLOCK_BREAK_NS = 500_000_000


class XsensError(Exception):
    """Base class of device-session errors; the message names the port and the failed step."""


class XsensPortError(XsensError):
    """The serial port cannot be opened (no device at that path, permissions, busy)."""


class XsensNoDataError(XsensError):
    """No valid Xbus frame within the timeout (wrong baud rate, device off or hung)."""


class XsensTimeoutError(XsensError):
    """Valid frames arrive but the expected acknowledgement does not."""


class XsensDeviceError(XsensError):
    """The device answered a request with an Error message (MID 0x42)."""

    def __init__(self, message: str, reply: x.DeviceErrorReply | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class XsensConfigRejectedError(XsensDeviceError):
    """The device refused the output configuration or acknowledged a different one."""


@dataclass(frozen=True, slots=True)
class ImuSample:
    """One decoded IMU sample (REP-145 data_raw content).

    stamp_ns: host/ROS time of the sample (SampleTimeFine mapped through SampleClock), ns.
    specific_force_m_s2, angular_rate_rad_s: (3,) float64, sensor frame (body fixed).
    orientation_wxyz: (4,) sensor -> ENU, or None if not configured.
    """

    stamp_ns: int
    packet_counter: int | None
    sample_time_fine: int
    specific_force_m_s2: np.ndarray
    angular_rate_rad_s: np.ndarray
    orientation_wxyz: np.ndarray | None
    status_word: int | None


@dataclass(frozen=True)
class DeviceStats:
    """Snapshot of session counters (cumulative over reconnections)."""

    frames: int
    samples: int
    bad_checksums: int
    bad_lengths: int
    malformed: int
    unknown_ids: int
    unknown_mids: int
    garbage_bytes: int
    dropped_samples: int
    duplicates: int
    unstamped: int
    incomplete: int
    nonfinite: int
    device_errors: int
    read_errors: int
    reconnects: int
    clock_outliers: int
    clock_resets: int


class XsensDevice:
    """One MTi on one serial port (see module docstring for the call sequence)."""

    def __init__(
        self,
        port: str,
        rate_hz: int = 100,
        baudrate: int = 921600,
        timeout_s: float = 1.0,
        *,
        orientation: bool = True,
        precision: x.Precision = x.Precision.FLOAT32,
        auto_reconnect: bool = True,
        reconnect_interval_s: float = 0.5,
        reconnect_timeout_s: float = 0.25,
        clock_ns: Callable[[], int] = time.time_ns,
        logger: logging.Logger | None = None,
        clock: SampleClock | None = None,
        expected_device_id: int | None = None,
    ) -> None:
        if not isinstance(rate_hz, int) or not 1 <= rate_hz <= 400:
            raise ValueError(f"rate_hz must be an integer in 1..400 (MTi orientation output limit), "
                             f"got {rate_hz!r}")
        if x.SAMPLE_TIME_FINE_HZ % rate_hz:
            raise ValueError(f"rate_hz={rate_hz} must divide the 10 kHz SampleTimeFine clock")
        if baudrate not in x.BAUDRATE_CODES:
            raise ValueError(f"baudrate {baudrate} not supported; one of {sorted(x.BAUDRATE_CODES)}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.port = str(port)
        self.rate_hz = rate_hz
        self.baudrate = int(baudrate)
        self.timeout_s = float(timeout_s)
        self.orientation = orientation
        self.precision = x.Precision(precision)
        self.auto_reconnect = auto_reconnect
        self.reconnect_interval_s = float(reconnect_interval_s)
        self.reconnect_timeout_s = float(reconnect_timeout_s)
        self._step_timeout_s = self.timeout_s
        self._clock_ns = clock_ns
        self.log = logger or _LOG
        self.clock = clock or SampleClock(tick_hz=x.SAMPLE_TIME_FINE_HZ)
        self.period_ticks = x.SAMPLE_TIME_FINE_HZ // rate_hz
        self.device_id: int | None = None
        # maps a port to a physical sensor: after a replug, USB ports can swap (ttyUSB0 <-> ttyUSB1)
        self.expected_device_id = expected_device_id
        self._serial: serial.Serial | None = None
        self._parser = x.FrameParser(max_payload=1024)
        self._pending: list[x.XbusMessage] = []
        self._connected = False
        self._closed = False
        self._ever_connected = False
        self._next_reconnect = 0.0
        self._last_pc: int | None = None
        self._last_stf: int | None = None
        self._last_stamp_ns: int | None = None
        self._counts = dict.fromkeys(
            ("samples", "unknown_ids", "malformed", "nonfinite", "dropped_samples", "duplicates",
             "unstamped", "incomplete", "device_errors", "read_errors", "reconnects"), 0)
        self._clock_resets = 0

    # ---------------------------------------------------------------------------- configuration
    @property
    def output_settings(self) -> list[x.OutputSetting]:
        """The SetOutputConfiguration entries this session requests."""
        p = int(self.precision)
        out = [x.OutputSetting(x.XDI.PACKET_COUNTER, 0xFFFF), x.OutputSetting(x.XDI.SAMPLE_TIME_FINE, 0xFFFF)]
        if self.orientation:
            out.append(x.OutputSetting(x.XDI.QUATERNION | p | x.CoordSys.ENU, self.rate_hz))
        out += [
            x.OutputSetting(x.XDI.ACCELERATION | p, self.rate_hz),
            x.OutputSetting(x.XDI.RATE_OF_TURN | p, self.rate_hz),
            x.OutputSetting(x.XDI.STATUS_WORD, self.rate_hz),
        ]
        return out

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def stats(self) -> DeviceStats:
        p = self._parser.stats
        c = self._counts
        return DeviceStats(
            frames=p.frames, samples=c["samples"], bad_checksums=p.bad_checksums, bad_lengths=p.bad_lengths,
            malformed=p.malformed_mtdata2 + c["malformed"], unknown_ids=c["unknown_ids"],
            unknown_mids=p.unknown_mids, garbage_bytes=p.garbage_bytes,
            dropped_samples=c["dropped_samples"], duplicates=c["duplicates"], unstamped=c["unstamped"],
            incomplete=c["incomplete"], nonfinite=c["nonfinite"], device_errors=c["device_errors"],
            read_errors=c["read_errors"],
            reconnects=c["reconnects"], clock_outliers=self.clock.outliers,
            clock_resets=self._clock_resets,
        )

    # ---------------------------------------------------------------------------- session
    def connect(self, timeout_s: float | None = None) -> None:
        """Open the port and configure the device: GoToConfig, ReqDID, SetOutputConfiguration,
        GoToMeasurement, each answered within timeout_s (default: the constructor's). Raises
        XsensPortError / XsensNoDataError / XsensTimeoutError / XsensDeviceError /
        XsensConfigRejectedError with the port and step in the message."""
        self._step_timeout_s = self.timeout_s if timeout_s is None else float(timeout_s)
        self._close_port()
        self._closed = False
        try:
            self._serial = serial.Serial(self.port, baudrate=self.baudrate, timeout=0, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise XsensPortError(f"cannot open serial port {self.port!r} at {self.baudrate} baud: {exc}") \
                from exc
        self._parser.reset()
        self._pending.clear()
        try:
            self._request(x.goto_config(), x.MID.GOTO_CONFIG, "GoToConfig", resend_s=0.2)
            reply = self._request(x.req_did(), x.MID.REQ_DID, "ReqDID", answer_mid=x.MID.DEVICE_ID)
            try:
                self.device_id = x.parse_device_id(reply.payload)
            except x.XsensProtocolError as exc:
                raise XsensDeviceError(f"{self.port}: bad DeviceID reply: {exc}") from exc
            if self.expected_device_id is not None and self.device_id != self.expected_device_id:
                raise XsensDeviceError(
                    f"{self.port}: device id {self.device_id:08X} is not the expected "
                    f"{self.expected_device_id:08X} (sensor on another port, or ports swapped after replug)")
            wanted = self.output_settings
            ack = self._request(x.set_output_configuration(wanted), x.MID.SET_OUTPUT_CONFIGURATION,
                                "SetOutputConfiguration", config=True)
            try:
                used = x.parse_output_configuration(ack.payload)
            except x.XsensProtocolError as exc:
                raise XsensConfigRejectedError(f"{self.port}: unreadable configuration ack: {exc}") from exc
            if sorted((s.data_id, s.frequency_hz) for s in used) != sorted(
                    (s.data_id, s.frequency_hz) for s in wanted):
                raise XsensConfigRejectedError(
                    f"{self.port}: device rejected the output configuration: requested "
                    f"{_fmt_settings(wanted)}, device uses {_fmt_settings(used)} "
                    f"(rate {self.rate_hz} Hz or an output not supported by this MTi model"
                    f"{'; try orientation=False for an IMU-only MTi' if self.orientation else ''})")
            # measurement frames may follow the ack in the same read: keep them (_pending)
            self._request(x.goto_measurement(), x.MID.GOTO_MEASUREMENT, "GoToMeasurement")
        except BaseException:
            self._close_port()
            raise
        self._connected = True
        self._ever_connected = True
        self._last_pc = None
        self._last_stf = None
        self.clock.reset()
        self._clock_resets += 1
        self.log.info(f"xsens {self.port}: device {self.device_id:08X} streaming at {self.rate_hz} Hz "
                      f"({self.baudrate} baud)")

    def close(self) -> None:
        """Close the port and stop reconnecting. Sends GoToConfig first (best effort)."""
        self._closed = True
        if self._serial is not None and self._connected:
            try:
                self._serial.write(x.goto_config())
                self._serial.flush()
            except (serial.SerialException, OSError):
                pass
        self._close_port()

    def __enter__(self) -> XsensDevice:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _close_port(self) -> None:
        self._connected = False
        if self._serial is not None:
            try:
                self._serial.close()
            except (serial.SerialException, OSError):
                pass
        self._serial = None

    # ---------------------------------------------------------------------------- request/ack
    def _read_chunk(self, timeout_s: float) -> bytes:
        """Bytes available within timeout_s (b'' if none). Raises SerialException/OSError on I/O error."""
        ser = self._serial
        if ser is None:
            raise serial.SerialException("port not open")
        # select also reports a hung-up port (unplugged): the read then raises
        ready, _, _ = select.select([ser.fileno()], [], [], max(0.0, timeout_s))
        if not ready:
            return b""
        return ser.read(max(ser.in_waiting, 1))

    def _request(self, frame: bytes, request_mid: int, name: str, *, answer_mid: int | None = None,
                 resend_s: float | None = None, config: bool = False) -> x.XbusMessage:
        answer = x.ack_mid(request_mid) if answer_mid is None else answer_mid
        ser = self._serial
        assert ser is not None
        start = time.monotonic()
        deadline = start + self._step_timeout_s
        frames_before = self._parser.stats.frames
        bytes_before = self._parser.stats.bytes_in
        last_send = -1e9
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if now - last_send >= (resend_s or 1e9):
                try:
                    ser.write(frame)
                except (serial.SerialException, OSError) as exc:
                    raise XsensPortError(f"{self.port}: write of {name} failed: {exc}") from exc
                last_send = now
            try:
                data = self._read_chunk(min(deadline - now, resend_s or 1e9, 0.05))
            except (serial.SerialException, OSError) as exc:
                raise XsensPortError(f"{self.port}: read failed while waiting for the {name} "
                                     f"acknowledgement: {exc}") from exc
            for i, msg in enumerate(msgs := self._parser.feed(data)):
                if msg.mid == answer:
                    self._pending = msgs[i + 1 :]
                    return msg
                if msg.mid == x.MID.ERROR:
                    reply = x.parse_error(msg.payload)
                    cls = XsensConfigRejectedError if config else XsensDeviceError
                    raise cls(f"{self.port}: device answered {name} with {reply}", reply)
        nbytes = self._parser.stats.bytes_in - bytes_before
        if self._parser.stats.frames == frames_before:
            if nbytes:
                raise XsensNoDataError(
                    f"{self.port}: received {nbytes} bytes but no valid Xbus frame within "
                    f"{self._step_timeout_s:.2f} s while waiting for the {name} acknowledgement "
                    f"({self._parser.stats.bad_checksums} bad checksums): wrong baud rate? "
                    f"configured {self.baudrate}")
            raise XsensNoDataError(f"{self.port}: no data at all within {self._step_timeout_s:.2f} s after "
                                   f"{name}: device not powered, wrong port, or hung")
        raise XsensTimeoutError(f"{self.port}: valid frames arrive but no {name} acknowledgement "
                                f"(mid 0x{answer:02X}) within {self._step_timeout_s:.2f} s")

    # ---------------------------------------------------------------------------- streaming
    def read_samples(self, timeout_s: float = 0.0) -> list[ImuSample]:
        """Decoded samples received since the last call (waits up to timeout_s for the first bytes).

        Never raises on I/O: a read error closes the port, is logged and counted, and the next calls
        try to reconnect (every reconnect_interval_s) if auto_reconnect; meanwhile [] is returned.
        """
        if not self._connected:
            if self._closed or not self._ever_connected or not self.auto_reconnect:
                return []
            now = time.monotonic()
            if now < self._next_reconnect:
                return []
            try:
                # short per-step timeout: a hung device must not block the caller (a node timer) long
                self.connect(timeout_s=min(self.timeout_s, self.reconnect_timeout_s))
            except XsensError as exc:
                self._next_reconnect = now + self.reconnect_interval_s
                self.log.warning(f"xsens {self.port}: reconnect failed: {exc}")
                return []
            self._counts["reconnects"] += 1
            self.log.info(f"xsens {self.port}: reconnected ({self._counts['reconnects']} so far)")
        try:
            data = self._read_chunk(timeout_s)
        except (serial.SerialException, OSError) as exc:
            self._counts["read_errors"] += 1
            self.log.error(f"xsens {self.port}: read error, device unplugged? ({exc}); "
                           f"{'will reconnect' if self.auto_reconnect else 'giving up'}")
            self._close_port()
            self._next_reconnect = time.monotonic() + self.reconnect_interval_s
            return []
        host_ns = self._clock_ns()
        msgs = self._pending + self._parser.feed(data) if data else self._pending
        self._pending = []
        return self._samples(msgs, host_ns) if msgs else []

    def _samples(self, msgs: list[x.XbusMessage], host_ns: int) -> list[ImuSample]:
        c = self._counts
        packets: list[x.MTData2Packet] = []
        mtdata2 = int(x.MID.MTDATA2)
        for msg in msgs:
            if msg.mid == mtdata2:
                try:
                    pkt = x.parse_mtdata2(msg.payload)
                except x.XsensProtocolError as exc:
                    c["malformed"] += 1
                    self.log.warning(f"xsens {self.port}: {exc}")
                    continue
                c["unknown_ids"] += len(pkt.unknown_ids)
                packets.append(pkt)
            elif msg.mid == x.MID.ERROR:
                c["device_errors"] += 1
                self.log.error(f"xsens {self.port}: device reported {x.parse_error(msg.payload)}")
        # sequence checks (drops, duplicates, device restarts) in stream order; a restart splits the
        # packets into segments so that each is stamped with its own clock mapping
        segments: list[list[x.MTData2Packet]] = [[]]
        for pkt in packets:
            stf = pkt.sample_time_fine
            if stf is None:
                c["unstamped"] += 1
                continue
            if pkt.acceleration_m_s2 is None or pkt.rate_of_turn_rad_s is None:
                c["incomplete"] += 1
                continue
            if self._last_stf is not None:
                step = (stf - self._last_stf) % (1 << 32)
                if step == 0 or step >= 1 << 31:
                    back = 0 if step == 0 else (1 << 32) - step
                    if back <= x.SAMPLE_TIME_FINE_HZ:  # repeated/older sample: never publish twice
                        c["duplicates"] += 1
                        continue
                    self.log.warning(f"xsens {self.port}: SampleTimeFine jumped back {back} ticks: "
                                     f"device restarted, resetting the clock mapping")
                    segments.append([])
                    self._last_pc = None
                else:
                    # gap from the 16-bit counter (exact) unless it disagrees with the 32-bit sample
                    # time (counter aliased after > 65535 lost packets): then from the sample time
                    stf_gap = max(0, round(step / self.period_ticks) - 1)
                    gap = stf_gap
                    if pkt.packet_counter is not None and self._last_pc is not None:
                        pc_gap = (pkt.packet_counter - self._last_pc - 1) % (1 << 16)
                        gap = pc_gap if abs(pc_gap - stf_gap) <= 2 else stf_gap
                    c["dropped_samples"] += gap
            self._last_stf = stf
            if pkt.packet_counter is not None:
                self._last_pc = pkt.packet_counter
            segments[-1].append(pkt)
        out: list[ImuSample] = []
        for k, seg in enumerate(segments):
            if k > 0:
                self.clock.reset()
                self._clock_resets += 1
            if seg:
                self._stamp_segment(seg, host_ns, out)
        c["samples"] += len(out)
        return out

    def _stamp_segment(self, seg: list[x.MTData2Packet], host_ns: int, out: list[ImuSample]) -> None:
        """Update the clock fit with the segment's newest frame, then stamp and emit its samples."""
        c = self._counts
        newest: int = seg[-1].sample_time_fine  # type: ignore[assignment]
        if self.clock.initialised:
            disagreement_ns = host_ns - self.clock.to_host_ns(newest)
            if abs(disagreement_ns) > _CLOCK_BREAK_NS:
                # the fit no longer holds (device restart with a forward jump, host clock step)
                self.log.warning(f"xsens {self.port}: sample clock and host clock disagree by "
                                 f"{disagreement_ns / 1e9:+.3f} s: resetting the mapping")
                self.clock.reset()
                self._clock_resets += 1
        # the newest frame of a read has the least queueing delay: it alone updates the clock fit
        resets_before = self.clock.resets
        self.clock.observe(newest, host_ns)
        self._clock_resets += self.clock.resets - resets_before
        isfinite = math.isfinite
        for pkt in seg:
            values = pkt.acceleration_m_s2 + pkt.rate_of_turn_rad_s  # type: ignore[operator]
            if not all(map(isfinite, values)):
                c["nonfinite"] += 1  # a sensor fault is never published (downstream sees a gap)
                continue
            stamp = self.clock.to_host_ns(pkt.sample_time_fine)  # type: ignore[arg-type]
            if self._last_stamp_ns is not None and stamp <= self._last_stamp_ns:
                c["duplicates"] += 1  # would publish out of order / twice (e.g. right after reconnect)
                continue
            self._last_stamp_ns = stamp
            q = pkt.quaternion_wxyz
            # one allocation per sample; the fields are views into it
            v = np.array(values if q is None else values + q, dtype=np.float64)
            out.append(ImuSample(
                stamp_ns=stamp,
                packet_counter=pkt.packet_counter,
                sample_time_fine=pkt.sample_time_fine,  # type: ignore[arg-type]
                specific_force_m_s2=v[0:3],
                angular_rate_rad_s=v[3:6],
                orientation_wxyz=None if q is None else v[6:10],
                status_word=pkt.status_word,
            ))


def _fmt_settings(settings: list[x.OutputSetting]) -> str:
    return ", ".join(f"0x{s.data_id:04X}@{'all' if s.frequency_hz == 0xFFFF else s.frequency_hz}"
                     for s in settings)
