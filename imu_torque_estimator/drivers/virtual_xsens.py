"""A virtual Xsens MTi on a pseudo-terminal, for tests and demos without hardware. ROS-free.

`VirtualXsens` opens a pty pair (os.openpty), publishes the slave side under a stable symlink (`.port`)
so a driver can reopen "the same port" after a simulated unplug, answers the Xbus configuration
messages (GoToConfig, ReqDID, SetOutputConfiguration, SetBaudrate, GoToMeasurement) and, in
measurement state, streams MTData2 frames in real time built from a synthesised motion (a sensor
swinging about its y axis while slowly turning about the vertical, at rest otherwise: specific force =
R^T * (0, 0, g), sensor frame). Every emitted sample is recorded (`sent`) with its true values.

Fault injection: `unplug()` / `replug()` (read error, device restart), `reboot()` (restart on the
same port), `error_on` (answer a request with an Error message), `reject_config` ("error": Error 0x21,
"modify": ack a different configuration), `drop_counters` (skip packets, counter gap), `nan_counters`
(NaN values), `silent` (hung device), `inject_garbage()`, and a baud-rate check: if the host set the pty
to a different speed than the device's, both directions are garbled as on a real UART.
"""

from __future__ import annotations

import math
import os
import select
import tempfile
import termios
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path

from imu_torque_estimator.body import GRAVITY_M_S2
from imu_torque_estimator.drivers import xsens as x

_DEFAULT_OUTPUTS = [
    x.OutputSetting(x.XDI.PACKET_COUNTER, 0xFFFF),
    x.OutputSetting(x.XDI.SAMPLE_TIME_FINE, 0xFFFF),
    x.OutputSetting(x.XDI.QUATERNION, 100),
    x.OutputSetting(x.XDI.ACCELERATION, 100),
    x.OutputSetting(x.XDI.RATE_OF_TURN, 100),
]


@dataclass(frozen=True)
class SentSample:
    """One sample as the virtual device produced it (true float64 values, before encoding)."""

    packet_counter: int
    sample_time_fine: int
    true_host_ns: int  # host wall clock (time.time_ns) at which the device sampled (its grid time)
    emit_host_ns: int  # host wall clock when the frame was actually written (>= true_host_ns)
    specific_force_m_s2: tuple[float, float, float]  # sensor frame
    angular_rate_rad_s: tuple[float, float, float]  # sensor frame
    quaternion_wxyz: tuple[float, float, float, float]  # sensor -> ENU
    status_word: int
    frame: bytes


def _quat_about(axis: int, angle_rad: float) -> tuple[float, float, float, float]:
    q = [math.cos(angle_rad / 2), 0.0, 0.0, 0.0]
    q[1 + axis] = math.sin(angle_rad / 2)
    return (q[0], q[1], q[2], q[3])


def _rotate_inverse(q: tuple[float, float, float, float], v: tuple[float, float, float]) -> tuple:
    """R(q)^T v: a world vector expressed in the sensor frame."""
    w, qx, qy, qz = q
    conj = (w, -qx, -qy, -qz)
    r = x.quat_multiply(x.quat_multiply(conj, (0.0, *v)), q)
    return (r[1], r[2], r[3])


def synth_motion(t_s: float) -> tuple[tuple, tuple, tuple]:
    """(quaternion sensor->ENU, angular rate rad/s, specific force m/s^2) at time t, sensor frame."""
    amp, f_hz, yaw_rate = 0.6, 1.2, 0.3
    theta = amp * math.sin(2 * math.pi * f_hz * t_s)
    theta_dot = amp * 2 * math.pi * f_hz * math.cos(2 * math.pi * f_hz * t_s)
    q = x.quat_multiply(_quat_about(2, yaw_rate * t_s), _quat_about(1, theta))
    # omega_sensor = Ry(theta)^T e_z * yaw_rate + e_y * theta_dot
    omega = (-math.sin(theta) * yaw_rate, theta_dot, math.cos(theta) * yaw_rate)
    f = _rotate_inverse(q, (0.0, 0.0, GRAVITY_M_S2))  # at rest apart from rotation: f = -R^T g
    return q, omega, f


class VirtualXsens:
    """Simulated MTi behind a pty. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        baudrate: int = 921600,
        device_id: int = 0x03700123,
        packet_counter_start: int = 0,
        stf_start: int = 0,
        skew_ppm: float = 0.0,
        outputs: list[x.OutputSetting] | None = None,
        start_in_measurement: bool = True,
    ) -> None:
        self.baudrate = int(baudrate)
        self.device_id = int(device_id)
        self.packet_counter_start = int(packet_counter_start) & 0xFFFF
        self.stf_start = int(stf_start) & 0xFFFFFFFF
        self.skew_ppm = float(skew_ppm)
        self.outputs = list(outputs or _DEFAULT_OUTPUTS)
        self.start_in_measurement = start_in_measurement
        # fault injection (may be changed while running)
        self.error_on: dict[int, int] = {}
        self.reject_config: str | None = None
        self.drop_counters: set[int] = set()
        self.nan_counters: set[int] = set()  # send NaN specific force in these packets (sensor fault)
        self.silent = False  # answer nothing, send nothing (device hung)
        # records
        self.sent: list[SentSample] = []
        self.received: list[x.XbusMessage] = []
        self.raw_in = bytearray()  # every byte the host wrote (wire check in tests)
        self.overflow_bytes = 0
        self.requested_baudrate: int | None = None
        self.sessions = 0
        self._dir = tempfile.TemporaryDirectory(prefix="virtual_xsens_")
        self.port = str(Path(self._dir.name) / "ttyMTi0")
        self._lock = threading.RLock()
        self._master: int | None = None
        self._slave: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending_out = bytearray()
        self._plug()

    # ------------------------------------------------------------------------ lifecycle
    def __enter__(self) -> VirtualXsens:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="virtual-xsens", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.unplug()
        self._dir.cleanup()

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo / newline translation before the driver configures the port
        os.set_blocking(master, False)
        link = Path(self.port)
        tmp = link.with_suffix(".new")
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(link)
        with self._lock:
            self._master, self._slave = master, slave
            self._parser = x.FrameParser()
            self._measuring = self.start_in_measurement
            self._counter = 0  # packets generated this session (counts dropped ones too)
            self._t0 = time.monotonic()  # device power-up: SampleTimeFine = stf_start
            self._t0_wall_ns = time.time_ns()
            self._k = 0  # index of the next sample on the device's sample grid
            self._next = self._t0
            self._session_t0_s = self.sessions * 1000.0  # motion keeps going across sessions
            self._stf0 = self.stf_start
            self.sessions += 1

    def unplug(self) -> None:
        """Close both pty ends: the driver's next read fails (EIO), as when the cable is pulled."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._master = self._slave = None

    def replug(self, stf_start: int | None = None) -> None:
        """A fresh pty under the same `.port` path; the device restarted (counters from their start)."""
        self.unplug()
        if stf_start is not None:
            self.stf_start = int(stf_start) & 0xFFFFFFFF
        self._plug()

    def reboot(self, stf_start: int = 0) -> None:
        """Device restart without losing the port (power glitch): counters and clock restart and the
        device resumes measuring with its stored configuration."""
        with self._lock:
            self.stf_start = int(stf_start) & 0xFFFFFFFF
            self._stf0 = self.stf_start
            self._counter = 0
            self._t0 = time.monotonic()
            self._t0_wall_ns = time.time_ns()
            self._k = 0
            self._next = self._t0
            self._measuring = True

    @property
    def measuring(self) -> bool:
        return self._measuring

    # ------------------------------------------------------------------------ wire helpers
    def _baud_matches(self) -> bool:
        slave = self._slave
        if slave is None:
            return False
        try:
            attrs = termios.tcgetattr(slave)
        except termios.error:
            return False
        want = getattr(termios, f"B{self.baudrate}", None)
        return attrs[5] == want  # ospeed as set by the host side

    @staticmethod
    def _garble(data: bytes) -> bytes:
        """What a UART at the wrong baud rate makes of `data`: framing errors, lost/merged bytes."""
        out = bytearray()
        for k, b in enumerate(data):
            if k % 3 == 2:
                continue
            out.append(((b * 37) ^ 0xA5 ^ (k & 0x0F)) & 0x7F | 0x80 * (k & 1))
        return bytes(out)

    def _write(self, data: bytes) -> None:
        master = self._master
        if master is None:
            return
        if not self._baud_matches():
            data = self._garble(data)
        try:
            n = os.write(master, data)
        except BlockingIOError:
            n = 0
        except OSError:
            return
        self.overflow_bytes += len(data) - n  # pty buffer full = UART overrun: bytes lost

    def inject_garbage(self, data: bytes) -> None:
        """Write raw bytes (noise between frames)."""
        with self._lock:
            master = self._master
            if master is not None:
                try:
                    os.write(master, data)
                except OSError:
                    pass

    # ------------------------------------------------------------------------ protocol
    def _reply(self, mid: int, payload: bytes = b"") -> None:
        self._write(x.encode_message(mid, payload))

    def _handle(self, msg: x.XbusMessage) -> None:
        self.received.append(msg)
        if self.silent:
            return
        if msg.mid in self.error_on:
            self._reply(x.MID.ERROR, bytes((self.error_on[msg.mid],)))
            return
        mid = msg.mid
        if mid == x.MID.GOTO_CONFIG:
            self._measuring = False
            self._reply(x.MID.GOTO_CONFIG_ACK)
        elif mid == x.MID.GOTO_MEASUREMENT:
            self._reply(x.MID.GOTO_MEASUREMENT_ACK)
            self._measuring = True
            # the sample clock kept running in config state: resume on its grid
            self._k = math.ceil(self._device_s(time.monotonic()) * self.rate_hz)
            self._next = self._wall_of(self._k)
        elif self._measuring:
            # in measurement state only GoToConfig is valid; others get "invalid message" [ETHZ]
            self._reply(x.MID.ERROR, bytes((0x04,)))
        elif mid == x.MID.REQ_DID:
            self._reply(x.MID.DEVICE_ID, self.device_id.to_bytes(4, "big"))
        elif mid == x.MID.SET_BAUDRATE:
            if len(msg.payload) == 1 and msg.payload[0] in x.BAUDRATE_FROM_CODE:
                self._reply(x.MID.SET_BAUDRATE_ACK)
                self.requested_baudrate = x.BAUDRATE_FROM_CODE[msg.payload[0]]
            else:
                self._reply(x.MID.ERROR, bytes((0x20,)))
        elif mid == x.MID.SET_OUTPUT_CONFIGURATION:
            try:
                settings = x.parse_output_configuration(msg.payload)
            except x.XsensProtocolError:
                self._reply(x.MID.ERROR, bytes((0x21,)))
                return
            if self.reject_config == "error" or not settings:
                self._reply(x.MID.ERROR, bytes((0x21,)))
                return
            if self.reject_config == "modify":  # device clamps rates, as it does for unsupported ones
                settings = [x.OutputSetting(s.data_id, s.frequency_hz if s.frequency_hz == 0xFFFF
                                            else min(s.frequency_hz, 50)) for s in settings]
            self.outputs = settings
            self._reply(x.MID.SET_OUTPUT_CONFIGURATION_ACK,
                        b"".join(s.data_id.to_bytes(2, "big") + s.frequency_hz.to_bytes(2, "big")
                                 for s in settings))
        else:
            self._reply(x.MID.ERROR, bytes((0x04,)))

    @property
    def rate_hz(self) -> int:
        rates = [s.frequency_hz for s in self.outputs if s.frequency_hz != 0xFFFF]
        return max(rates) if rates else 100

    def _device_s(self, wall_monotonic: float) -> float:
        """Device-clock seconds since power-up (the device clock runs skew_ppm fast)."""
        return (wall_monotonic - self._t0) * (1.0 + self.skew_ppm * 1e-6)

    def _wall_of(self, k: int) -> float:
        return self._t0 + k / self.rate_hz / (1.0 + self.skew_ppm * 1e-6)

    def _emit_sample(self) -> None:
        rate = self.rate_hz
        k = self._k
        true_ns = self._t0_wall_ns + round((self._wall_of(k) - self._t0) * 1e9)
        self._k += 1
        self._next = self._wall_of(self._k)
        counter = (self.packet_counter_start + self._counter) & 0xFFFF
        self._counter += 1
        stf = (self._stf0 + round(k * x.SAMPLE_TIME_FINE_HZ / rate)) & 0xFFFFFFFF
        t_s = self._session_t0_s + k / rate
        q, omega, f = synth_motion(t_s)
        status = 0x00000003  # self-test ok, filter valid (bits 0, 1)
        if counter in self.drop_counters:
            return
        if counter in self.nan_counters:
            f = (math.nan, math.nan, math.nan)
        items: list[tuple[int, object]] = []
        for s in self.outputs:
            kind = s.data_id & x.XDI_TYPE_MASK
            coord = s.data_id & x.XDI_COORD_MASK
            if kind == x.XDI.PACKET_COUNTER:
                items.append((s.data_id, counter))
            elif kind == x.XDI.SAMPLE_TIME_FINE:
                items.append((s.data_id, stf))
            elif kind == x.XDI.STATUS_WORD:
                items.append((s.data_id, status))
            elif kind == x.XDI.QUATERNION:
                to_enu = x._Q_TO_ENU[x.CoordSys(coord)]
                inv = (to_enu[0], -to_enu[1], -to_enu[2], -to_enu[3])
                items.append((s.data_id, x.quat_multiply(inv, q)))
            elif kind == x.XDI.ACCELERATION:
                items.append((s.data_id, f))
            elif kind == x.XDI.RATE_OF_TURN:
                items.append((s.data_id, omega))
            elif kind == x.XDI.MAGNETIC_FIELD:
                items.append((s.data_id, _rotate_inverse(q, (0.0, 0.4, -0.3))))
        frame = x.encode_mtdata2(items)  # type: ignore[arg-type]
        self._write(frame)
        self.sent.append(SentSample(counter, stf, true_ns, time.time_ns(), f, omega, q, status, frame))

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                master = self._master
                measuring = self._measuring and not self.silent
                due = self._next
            if master is None:
                time.sleep(0.002)
                continue
            timeout = max(0.0, due - time.monotonic()) if measuring else 0.02
            try:
                ready, _, _ = select.select([master], [], [], min(timeout, 0.02))
            except (OSError, ValueError):
                continue
            with self._lock:
                if self._master is None:
                    continue
                if ready:
                    try:
                        data = os.read(self._master, 4096)
                    except (BlockingIOError, InterruptedError):
                        data = b""
                    except OSError:  # no process has the slave open (EIO)
                        data = b""
                    self.raw_in += data
                    if data and self._baud_matches():
                        for msg in self._parser.feed(data):
                            self._handle(msg)
                if self._measuring and not self.silent and time.monotonic() >= self._next:
                    self._emit_sample()
