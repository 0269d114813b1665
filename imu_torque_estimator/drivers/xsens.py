"""Xsens MT low-level protocol (Xbus framing, MTData2 decoding, configuration messages). ROS-free.

Sources for the protocol facts used here (cited per constant below):
  [LL]    Xsens "MT Low-Level Communication Protocol Documentation" (MT0101P), as summarised in
          [MTI] Xsens "MTi User Manual, MTi 10-series and MTi 100-series" (MT0605P.E, section 5.3:
          GoToConfig 0x30, SetOutputConfiguration 0xC0 = N x (data id u16, frequency u16) with at most
          32 entries and an acknowledgement holding the values actually used, GoToMeasurement 0x10,
          MTData2 0x36),
  [MTX]   Xsens "MTi and MTx User Manual and Technical Documentation" (MT0100P.N, 5.7.1: all binary data
          big-endian, e.g. 9.81 float32 = 41 1C F5 C3; 4.1.1: calibrated acceleration, rate of turn and
          magnetic field are in the body-fixed sensor frame S; 5.6: clock accurate to +-30 ppm),
  [XDI]   Xsens SDK header xsdataidentifier.h (data identifiers, XDI_SubFormat* precision bits 0x0003,
          XDI_CoordSys* bits 0x000C: Enu 0x0, Ned 0x4, Nwu 0x8) and xsdatapacket.c (preRotFromXdi: the
          quaternions converting NED/NWU orientation to ENU; rotation matrix sent column-major),
  [ETHZ]  ethz-asl/ethzasl_xsens_driver nodes/mtdef.py (message ids incl. Error 0x42 with its error codes,
          ReqDID 0x00 / DeviceID 0x01, SetBaudrate 0x18 and the baud-rate code table, ack = mid + 1),
  [SDK]   Xsens SDK xsmessage.h: XS_MAXDATALEN = 8192 - 7, XS_MAXSHORTDATALEN = 254,
  [MT.h]  fixed-point layouts: fp12.20 = signed int32 / 2^20; fp16.32 = u32 fraction followed by an
          int16 integer part (value = (int16 << 32 | u32) / 2^32), 6 bytes.
Framing: FA (preamble) FF (bus id) MID LEN [EXTLEN_hi EXTLEN_lo if LEN == FF] DATA CS, with the
checksum chosen so that the sum of all bytes from the bus id up to and including CS is 0 mod 256 [LL].
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum

PREAMBLE = 0xFA
BUS_ID_MASTER = 0xFF  # "bus identifier / address" of a directly connected MTi [LL]
EXTENDED_LENGTH = 0xFF  # LEN byte value announcing a 2-byte big-endian extended length [LL]
# Largest data field accepted by the parser: XS_MAXDATALEN = 8192 - 7 in the Xsens SDK (xsmessage.h;
# XS_MAXSHORTDATALEN = 254, so 255+ bytes use the extended length). A smaller cap (XsensDevice uses
# 1024) bounds how long a corrupt header announcing a long frame can hold back the frames behind it.
MAX_PAYLOAD_BYTES = 8192 - 7
# SampleTimeFine counts 0.1 ms ticks in a u32 (rolls over after 2^32 ticks): Movella's ROS driver
# xsens_ros_mti_driver xsens_time_handler.cpp ("1 tenth of a millisecond = 100000 nanoseconds",
# m_RollOver = 0xFFFFFFFF), issue 9.
SAMPLE_TIME_FINE_HZ = 10_000


class XsensProtocolError(ValueError):
    """A message or MTData2 packet that violates the protocol (names the field at fault)."""


class MID(IntEnum):
    """Xbus message identifiers [ETHZ][MTI]; the acknowledgement of a request is mid + 1."""

    REQ_DID = 0x00
    DEVICE_ID = 0x01
    GOTO_MEASUREMENT = 0x10
    GOTO_MEASUREMENT_ACK = 0x11
    SET_BAUDRATE = 0x18
    SET_BAUDRATE_ACK = 0x19
    GOTO_CONFIG = 0x30
    GOTO_CONFIG_ACK = 0x31
    MTDATA2 = 0x36
    WAKEUP = 0x3E
    WAKEUP_ACK = 0x3F
    RESET = 0x40
    RESET_ACK = 0x41
    ERROR = 0x42
    SET_OUTPUT_CONFIGURATION = 0xC0
    SET_OUTPUT_CONFIGURATION_ACK = 0xC1


KNOWN_MIDS = frozenset(int(m) for m in MID)

# Error message (MID 0x42) codes [ETHZ mtdef.MID.ErrorCodes].
ERROR_CODES = {
    0x03: "invalid period",
    0x04: "invalid message",
    0x1E: "timer overflow",
    0x20: "invalid baudrate",
    0x21: "invalid parameter",
    0x28: "device error, try updating the firmware",
}

# SetBaudrate codes [ETHZ mtdef.Baudrates]; 0x80 and 0x0A both mean 921600 depending on the product line.
BAUDRATE_CODES = {
    921600: 0x80,
    460800: 0x00,
    230400: 0x01,
    115200: 0x02,
    76800: 0x03,
    57600: 0x04,
    38400: 0x05,
    28800: 0x06,
    19200: 0x07,
    14400: 0x08,
    9600: 0x09,
    4800: 0x0B,
}
BAUDRATE_FROM_CODE = {code: baud for baud, code in BAUDRATE_CODES.items()} | {0x0A: 921600}


class XDI(IntEnum):
    """MTData2 data identifiers (type part, precision/coordinate bits cleared) [XDI]."""

    PACKET_COUNTER = 0x1020
    SAMPLE_TIME_FINE = 0x1060
    QUATERNION = 0x2010
    ROTATION_MATRIX = 0x2020
    ACCELERATION = 0x4020
    FREE_ACCELERATION = 0x4030
    RATE_OF_TURN = 0x8020
    MAGNETIC_FIELD = 0xC020
    STATUS_WORD = 0xE020


XDI_TYPE_MASK = 0xFFF0  # XDI_FullTypeMask [XDI]
XDI_PRECISION_MASK = 0x0003  # XDI_SubFormatMask [XDI]
XDI_COORD_MASK = 0x000C  # XDI_CoordSysMask [XDI]


class Precision(IntEnum):
    """Real-number encoding selected by bits 0-1 of a data identifier [XDI]."""

    FLOAT32 = 0x0
    FP1220 = 0x1
    FP1632 = 0x2
    FLOAT64 = 0x3


class CoordSys(IntEnum):
    """Earth reference frame selected by bits 2-3 of a data identifier [XDI]."""

    ENU = 0x0
    NED = 0x4
    NWU = 0x8


VALUE_BYTES = {Precision.FLOAT32: 4, Precision.FP1220: 4, Precision.FP1632: 6, Precision.FLOAT64: 8}
_REAL_COUNTS = {
    XDI.QUATERNION: 4,
    XDI.ROTATION_MATRIX: 9,
    XDI.ACCELERATION: 3,
    XDI.FREE_ACCELERATION: 3,
    XDI.RATE_OF_TURN: 3,
    XDI.MAGNETIC_FIELD: 3,
}
_INT_SIZES: dict[int, int] = {XDI.PACKET_COUNTER: 2, XDI.SAMPLE_TIME_FINE: 4, XDI.STATUS_WORD: 4}

_S2 = math.sqrt(0.5)
# Left-multiplying quaternions (w, x, y, z) taking an orientation expressed in the given reference
# frame to ENU: Xsens SDK preRotFromXdi q_ned2enu / q_nwu2enu [XDI].
_Q_TO_ENU = {
    CoordSys.ENU: (1.0, 0.0, 0.0, 0.0),
    CoordSys.NED: (0.0, _S2, _S2, 0.0),
    CoordSys.NWU: (_S2, 0.0, 0.0, _S2),
}


def _vec_to_enu(coord: int, v: tuple[float, ...]) -> tuple[float, float, float]:
    """Re-express a vector given in reference frame `coord` (NED/NWU/ENU) in ENU."""
    x, y, z = v
    if coord == CoordSys.NED:  # E = y_ned, N = x_ned, U = -z_ned
        return (y, x, -z)
    if coord == CoordSys.NWU:  # E = -W, N = N, U = U
        return (-y, x, z)
    return (x, y, z)


def quat_multiply(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """Hamilton product a * b of (w, x, y, z) quaternions."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    )


# ----------------------------------------------------------------------------------------- framing


def checksum(body: bytes | bytearray) -> int:
    """Checksum byte for `body` = bus id .. last data byte, so that sum(body) + cs == 0 mod 256."""
    return (-sum(body)) & 0xFF


def encode_message(mid: int, payload: bytes = b"", bus_id: int = BUS_ID_MASTER) -> bytes:
    """Complete Xbus frame for `mid` with data `payload` (extended length form above 254 bytes)."""
    n = len(payload)
    if not 0 <= mid <= 0xFF:
        raise XsensProtocolError(f"message id {mid} outside 0..255")
    if n > 0xFFFF:
        raise XsensProtocolError(f"payload of {n} bytes exceeds the 65535-byte extended length")
    if n < EXTENDED_LENGTH:
        body = bytes((bus_id, mid, n)) + payload
    else:
        body = bytes((bus_id, mid, EXTENDED_LENGTH, n >> 8, n & 0xFF)) + payload
    return bytes((PREAMBLE,)) + body + bytes((checksum(body),))


@dataclass(frozen=True, slots=True)
class XbusMessage:
    """One checksum-valid Xbus frame: message id and data field."""

    mid: int
    payload: bytes
    bus_id: int = BUS_ID_MASTER


@dataclass
class ParserStats:
    """Counters of an incremental parser; all monotonically increasing."""

    frames: int = 0  # checksum-valid frames returned
    bytes_in: int = 0
    garbage_bytes: int = 0  # bytes skipped while searching for a frame start
    bad_checksums: int = 0
    bad_lengths: int = 0  # announced data length above the cap
    malformed_mtdata2: int = 0  # checksum ok but the MTData2 item chain does not fill the data field
    unknown_mids: int = 0  # valid frames whose message id is not in KNOWN_MIDS (still returned)


def mtdata2_well_formed(payload: bytes | bytearray | memoryview) -> bool:
    """True if `payload` is an exact chain of (id u16, size u8, size bytes) items."""
    n = len(payload)
    j = 0
    while j < n:
        if j + 3 > n:
            return False
        j += 3 + payload[j + 2]
    return j == n


class FrameParser:
    """Incremental Xbus frame parser: feed it arbitrary byte chunks, get checksum-valid frames back.

    Never raises on any byte stream. Resynchronises after garbage by advancing one byte past a rejected
    candidate preamble, so a valid frame that starts inside garbage or inside a corrupted/truncated
    frame is still found. MTData2 frames are additionally required to be well formed (item chain exactly
    filling the data field), which makes a false frame spanning garbage and a real frame very unlikely.
    A candidate whose bytes have not all arrived yet is kept until they do (or until `flush`).
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD_BYTES, bus_id: int = BUS_ID_MASTER) -> None:
        self.max_payload = int(max_payload)
        self.bus_id = int(bus_id)
        self.stats = ParserStats()
        self._buf = bytearray()

    @property
    def pending_bytes(self) -> int:
        """Bytes held back waiting for the rest of a candidate frame."""
        return len(self._buf)

    def reset(self) -> None:
        """Drop buffered bytes (after a reconnect); counters are kept."""
        self._buf.clear()

    def feed(self, data: bytes | bytearray | memoryview) -> list[XbusMessage]:
        """Append `data` and return every complete valid frame now available, in stream order."""
        buf = self._buf
        buf += data
        self.stats.bytes_in += len(data)
        return self._scan(final=False)

    def flush(self) -> list[XbusMessage]:
        """End of stream: resolve incomplete candidates (they are garbage) and return what remains."""
        return self._scan(final=True)

    def _scan(self, final: bool) -> list[XbusMessage]:
        buf = self._buf
        st = self.stats
        out: list[XbusMessage] = []
        n = len(buf)
        pos = 0
        bid = self.bus_id
        max_payload = self.max_payload
        while pos < n:
            i = buf.find(PREAMBLE, pos)
            if i < 0:
                st.garbage_bytes += n - pos
                pos = n
                break
            st.garbage_bytes += i - pos
            pos = i
            if n - i < 5:
                if final:
                    st.garbage_bytes += 1
                    pos = i + 1
                    continue
                break
            if buf[i + 1] != bid:
                st.garbage_bytes += 1
                pos = i + 1
                continue
            length = buf[i + 3]
            header = 4
            if length == EXTENDED_LENGTH:
                if n - i < 7:
                    if final:
                        st.garbage_bytes += 1
                        pos = i + 1
                        continue
                    break
                length = (buf[i + 4] << 8) | buf[i + 5]
                header = 6
            if length > max_payload:
                st.bad_lengths += 1
                st.garbage_bytes += 1
                pos = i + 1
                continue
            end = i + header + length + 1
            if end > n:
                if final:
                    st.garbage_bytes += 1
                    pos = i + 1
                    continue
                break
            if sum(buf[i + 1 : end]) & 0xFF:
                st.bad_checksums += 1
                st.garbage_bytes += 1
                pos = i + 1
                continue
            mid = buf[i + 2]
            payload = bytes(buf[i + header : end - 1])
            if mid == 0x36 and not mtdata2_well_formed(payload):  # MID.MTDATA2 (int: hot path)
                st.malformed_mtdata2 += 1
                st.garbage_bytes += 1
                pos = i + 1
                continue
            if mid not in KNOWN_MIDS:
                st.unknown_mids += 1
            out.append(XbusMessage(mid, payload, bid))
            st.frames += 1
            pos = end
        del buf[:pos]
        return out


# ----------------------------------------------------------------------------- real-number codecs

_STRUCTS: dict[tuple[int, int], struct.Struct] = {}


def _struct_for(precision: int, count: int) -> struct.Struct:
    key = (int(precision), count)
    s = _STRUCTS.get(key)
    if s is None:
        codes: dict[int, str] = {Precision.FLOAT32: "f", Precision.FP1220: "i", Precision.FLOAT64: "d"}
        code = codes.get(precision)
        s = struct.Struct(">" + ("Ih" * count if code is None else code * count))
        _STRUCTS[key] = s
    return s


_TWO20 = float(1 << 20)
_TWO32 = float(1 << 32)


def decode_reals(data: bytes, offset: int, precision: int, count: int) -> tuple[float, ...]:
    """Decode `count` big-endian reals of the given precision starting at `offset` [MT.h]."""
    raw = _struct_for(precision, count).unpack_from(data, offset)
    if precision == 0 or precision == 3:  # float32, float64
        return raw
    if precision == 1:  # fp12.20
        return tuple(v / _TWO20 for v in raw)
    # fp16.32: pairs (u32 fraction, int16 integer part)
    return tuple(raw[k + 1] + raw[k] / _TWO32 for k in range(0, 2 * count, 2))


def encode_reals(values: tuple[float, ...] | list[float], precision: int) -> bytes:
    """Encode reals big-endian in the given precision (rounding to nearest for fixed point)."""
    vals = [float(v) for v in values]
    precision = Precision(precision)
    s = _struct_for(precision, len(vals))
    if precision in (Precision.FLOAT32, Precision.FLOAT64):
        return s.pack(*vals)
    if precision == Precision.FP1220:
        ints = [round(v * _TWO20) for v in vals]
        if any(not -(1 << 31) <= q < (1 << 31) for q in ints):
            raise XsensProtocolError(f"value out of fp12.20 range [-2048, 2048): {vals}")
        return s.pack(*ints)
    flat: list[int] = []
    for v in vals:
        q = round(v * _TWO32)
        integer = q >> 32  # floor division keeps the fraction non-negative
        if not -(1 << 15) <= integer < (1 << 15):
            raise XsensProtocolError(f"value {v} out of fp16.32 range [-32768, 32768)")
        flat += [q & 0xFFFFFFFF, integer]
    return s.pack(*flat)


# ------------------------------------------------------------------------------------ MTData2


@dataclass(slots=True)
class MTData2Packet:
    """Decoded MTData2 content. Earth-frame outputs converted to ROS ENU; sensor-frame outputs as sent.

    quaternion_wxyz / rotation_matrix: sensor frame -> ENU (the device's NED/NWU output re-expressed).
    acceleration_m_s2 (specific force incl. gravity), rate_of_turn_rad_s, magnetic_field_au: sensor
    frame S, body-fixed, not affected by the reference-frame choice, which selects the local earth
    frame L only [MTX 4.1.1; MT0605P.2018.E 5.2.1-5.2.3]; frame bits on these ids are ignored.
    free_acceleration_m_s2: ENU, gravity removed. rotation_matrix is row-major nested tuples.
    """

    packet_counter: int | None = None
    sample_time_fine: int | None = None
    quaternion_wxyz: tuple[float, float, float, float] | None = None
    rotation_matrix: tuple[tuple[float, float, float], ...] | None = None
    acceleration_m_s2: tuple[float, float, float] | None = None
    free_acceleration_m_s2: tuple[float, float, float] | None = None
    rate_of_turn_rad_s: tuple[float, float, float] | None = None
    magnetic_field_au: tuple[float, float, float] | None = None
    status_word: int | None = None
    orientation_coord: int | None = None  # CoordSys the device used for orientation
    unknown_ids: tuple[int, ...] = ()


# Per-data-id decoding plan, built on first sight of an id (at most 65536 entries): the hot loop then
# does one dict lookup per item instead of re-deriving kind/precision/frame from IntEnum members
# (decode throughput: benchmarks/results/xsens.json).
_F_PC, _F_STF, _F_STATUS, _F_QUAT, _F_MAT, _F_ACC, _F_FREE, _F_GYR, _F_MAG, _F_UNKNOWN, _F_BAD = range(11)
_FIELD_OF_KIND = {
    XDI.PACKET_COUNTER: _F_PC, XDI.SAMPLE_TIME_FINE: _F_STF, XDI.STATUS_WORD: _F_STATUS,
    XDI.QUATERNION: _F_QUAT, XDI.ROTATION_MATRIX: _F_MAT, XDI.ACCELERATION: _F_ACC,
    XDI.FREE_ACCELERATION: _F_FREE, XDI.RATE_OF_TURN: _F_GYR, XDI.MAGNETIC_FIELD: _F_MAG,
}
_PLANS: dict[int, tuple] = {}


def _plan(did: int) -> tuple:
    """(field, expected size, precision, count, coord, error text) for one data identifier."""
    kind = did & XDI_TYPE_MASK
    field_ = _FIELD_OF_KIND.get(kind, _F_UNKNOWN)  # type: ignore[call-overload]
    if field_ == _F_UNKNOWN:
        plan: tuple = (_F_UNKNOWN, -1, 0, 0, 0, "")
    elif kind in _INT_SIZES:
        size = _INT_SIZES[kind]
        plan = (field_, size, 0, 0, 0, "") if not did & 0x000F else \
            (_F_BAD, -1, 0, 0, 0, f"item 0x{did:04X}: precision/frame bits on an integer output")
    else:
        precision = did & XDI_PRECISION_MASK
        count = _REAL_COUNTS[kind]  # type: ignore[index]
        coord = did & XDI_COORD_MASK
        if coord == 0xC and field_ in (_F_QUAT, _F_MAT, _F_FREE):
            plan = (_F_BAD, -1, 0, 0, 0, f"item 0x{did:04X} has reserved coordinate bits 0xC")
        else:
            plan = (field_, count * VALUE_BYTES[precision], precision, count, coord, "")  # type: ignore[index]
    _PLANS[did] = plan
    return plan


def parse_mtdata2(payload: bytes) -> MTData2Packet:
    """Decode one MTData2 data field; unknown identifiers are skipped and listed in `unknown_ids`.

    Raises XsensProtocolError naming the item if the item chain or a known item's size is wrong.
    """
    pkt = MTData2Packet()
    unknown: list[int] = []
    n = len(payload)
    j = 0
    plans = _PLANS
    while j < n:
        if j + 3 > n:
            raise XsensProtocolError(f"MTData2: truncated item header at byte {j} of {n}")
        did = (payload[j] << 8) | payload[j + 1]
        size = payload[j + 2]
        off = j + 3
        j = off + size
        if j > n:
            raise XsensProtocolError(f"MTData2: item 0x{did:04X} size {size} runs past the data field")
        plan = plans.get(did) or _plan(did)
        field_ = plan[0]
        if field_ == _F_UNKNOWN:
            unknown.append(did)
            continue
        if size != plan[1]:
            if field_ == _F_BAD:
                raise XsensProtocolError(f"MTData2: {plan[5]}")
            raise XsensProtocolError(f"MTData2: item 0x{did:04X} has size {size}, expected {plan[1]}")
        if field_ == _F_PC:
            pkt.packet_counter = (payload[off] << 8) | payload[off + 1]
            continue
        if field_ == _F_STF:
            pkt.sample_time_fine = int.from_bytes(payload[off:j], "big")
            continue
        if field_ == _F_STATUS:
            pkt.status_word = int.from_bytes(payload[off:j], "big")
            continue
        vals = decode_reals(payload, off, plan[2], plan[3])
        coord = plan[4]
        if field_ == _F_ACC:
            pkt.acceleration_m_s2 = vals  # type: ignore[assignment]
        elif field_ == _F_GYR:
            pkt.rate_of_turn_rad_s = vals  # type: ignore[assignment]
        elif field_ == _F_QUAT:
            pkt.quaternion_wxyz = vals if coord == 0 else quat_multiply(_Q_TO_ENU[coord], vals)  # type: ignore[arg-type,assignment]
            pkt.orientation_coord = coord
        elif field_ == _F_MAT:
            cols = (vals[0:3], vals[3:6], vals[6:9])  # column-major on the wire [XDI xsdatapacket.c]
            cols_enu = [_vec_to_enu(coord, c) for c in cols]
            pkt.rotation_matrix = tuple(tuple(c[r] for c in cols_enu) for r in range(3))  # type: ignore[misc]
            pkt.orientation_coord = coord
        elif field_ == _F_FREE:
            pkt.free_acceleration_m_s2 = _vec_to_enu(coord, vals)
        else:  # _F_MAG
            pkt.magnetic_field_au = vals  # type: ignore[assignment]
    if unknown:
        pkt.unknown_ids = tuple(unknown)
    return pkt


def encode_mtdata2_item(data_id: int, values: tuple | list | int) -> bytes:
    """One MTData2 item (id, size, data): integers for counters/status, reals otherwise.

    Reals are written as given (no frame conversion): the caller supplies values already in the frame
    its data id's coordinate bits announce.
    """
    kind = data_id & XDI_TYPE_MASK
    if kind in _INT_SIZES:
        size = _INT_SIZES[kind]
        data = int(values).to_bytes(size, "big")  # type: ignore[arg-type]
    else:
        data = encode_reals(list(values), data_id & XDI_PRECISION_MASK)  # type: ignore[arg-type]
    if len(data) > 255:
        raise XsensProtocolError(f"item 0x{data_id:04X} of {len(data)} bytes exceeds 255")
    return struct.pack(">HB", data_id, len(data)) + data


def encode_mtdata2(items: list[tuple[int, tuple | list | int]]) -> bytes:
    """Complete MTData2 frame from (data id, values) pairs."""
    return encode_message(MID.MTDATA2, b"".join(encode_mtdata2_item(d, v) for d, v in items))


# ------------------------------------------------------------------------- configuration messages


def goto_config() -> bytes:
    """GoToConfig request (FA FF 30 00 D1)."""
    return encode_message(MID.GOTO_CONFIG)


def goto_measurement() -> bytes:
    """GoToMeasurement request (FA FF 10 00 F1)."""
    return encode_message(MID.GOTO_MEASUREMENT)


def req_did() -> bytes:
    """ReqDID request (FA FF 00 00 01)."""
    return encode_message(MID.REQ_DID)


def set_baudrate(baudrate: int) -> bytes:
    """SetBaudrate request with the 1-byte baud code [ETHZ]."""
    code = BAUDRATE_CODES.get(int(baudrate))
    if code is None:
        raise XsensProtocolError(f"unsupported baud rate {baudrate}; supported: {sorted(BAUDRATE_CODES)}")
    return encode_message(MID.SET_BAUDRATE, bytes((code,)))


@dataclass(frozen=True)
class OutputSetting:
    """One SetOutputConfiguration entry: data id (with precision/coord bits) and rate in Hz.

    frequency_hz 0xFFFF means "with every packet" (used for counters and timestamps) [LL].
    """

    data_id: int
    frequency_hz: int


def set_output_configuration(settings: list[OutputSetting]) -> bytes:
    """SetOutputConfiguration request: N x (data id u16, frequency u16), N <= 32 [MTI 5.3.3]."""
    if not 1 <= len(settings) <= 32:
        raise XsensProtocolError(f"SetOutputConfiguration needs 1..32 entries, got {len(settings)}")
    for s in settings:
        if not (0 <= s.data_id <= 0xFFFF and 0 <= s.frequency_hz <= 0xFFFF):
            raise XsensProtocolError(f"output setting out of range: {s}")
    return encode_message(MID.SET_OUTPUT_CONFIGURATION,
                          b"".join(struct.pack(">HH", s.data_id, s.frequency_hz) for s in settings))


def parse_output_configuration(payload: bytes) -> list[OutputSetting]:
    """Decode a SetOutputConfiguration acknowledgement (the configuration the device actually uses)."""
    if len(payload) % 4:
        raise XsensProtocolError(f"output configuration ack: length {len(payload)} not a multiple of 4")
    return [OutputSetting(*struct.unpack_from(">HH", payload, k)) for k in range(0, len(payload), 4)]


def parse_device_id(payload: bytes) -> int:
    """Decode a DeviceID message (4-byte id; 8 bytes on some newer products)."""
    if len(payload) not in (4, 8):
        raise XsensProtocolError(f"DeviceID: expected 4 or 8 data bytes, got {len(payload)}")
    return int.from_bytes(payload, "big")


@dataclass(frozen=True)
class DeviceErrorReply:
    """Decoded Error message (MID 0x42)."""

    code: int
    text: str

    def __str__(self) -> str:
        return f"error 0x{self.code:02X} ({self.text})"


def parse_error(payload: bytes) -> DeviceErrorReply:
    """Decode an Error message; unknown codes are reported as such."""
    if not payload:
        return DeviceErrorReply(-1, "error message without error code")
    code = payload[0]
    return DeviceErrorReply(code, ERROR_CODES.get(code, "unknown error code"))


def ack_mid(request_mid: int) -> int:
    """Message id of the acknowledgement of `request_mid` (mid + 1) [ETHZ getMIDName]."""
    return (int(request_mid) + 1) & 0xFF
