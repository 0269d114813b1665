"""Xsens Xbus/MTData2 protocol and SampleTimeFine clock: hand-written byte vectors from the protocol
description, frame conversions against scipy, parser accounting, clock mapping (wrap, drift, outliers)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from imu_torque_estimator.drivers import xsens as x
from imu_torque_estimator.drivers.clock import SampleClock

# ---------------------------------------------------------------------------------------------
# Hand vectors. Checksums worked out by hand: CS = (-(sum of bytes from the bus id FF up to the
# last data byte)) mod 256, e.g. GoToConfig: FF + 30 + 00 = 0x12F -> CS = 0x100 - 0x2F = 0xD1.


def test_request_messages_match_hand_vectors() -> None:
    assert x.goto_config() == bytes.fromhex("FA FF 30 00 D1")
    assert x.goto_measurement() == bytes.fromhex("FA FF 10 00 F1")
    assert x.req_did() == bytes.fromhex("FA FF 00 00 01")
    # SetBaudrate 115200 = code 0x02: FF+18+01+02 = 0x11A -> E6
    assert x.set_baudrate(115200) == bytes.fromhex("FA FF 18 01 02 E6")
    # SetOutputConfiguration: PacketCounter every packet, Acceleration float32 ENU at 100 Hz:
    # FF+C0+08+10+20+FF+FF+40+20+00+64 = 0x4B9 -> 0x47
    msg = x.set_output_configuration([x.OutputSetting(0x1020, 0xFFFF), x.OutputSetting(0x4020, 100)])
    assert msg == bytes.fromhex("FA FF C0 08 10 20 FF FF 40 20 00 64 47")


def test_checksum_property_on_all_builders() -> None:
    for frame in (x.goto_config(), x.req_did(), x.set_baudrate(921600),
                  x.encode_message(0x36, bytes(range(256)) * 2)):
        assert frame[0] == 0xFA and frame[1] == 0xFF
        assert sum(frame[1:]) % 256 == 0


def test_extended_length_form() -> None:
    payload = bytes(300)
    frame = x.encode_message(0x99, payload)
    assert frame[:6] == bytes.fromhex("FA FF 99 FF 01 2C")  # LEN = FF, then 300 = 0x012C big-endian
    assert len(frame) == 6 + 300 + 1
    msgs = x.FrameParser().feed(frame)
    assert msgs == [x.XbusMessage(0x99, payload)]
    # 254 bytes still uses the 1-byte length; 255 needs the extended form
    assert x.encode_message(0x36, bytes(254))[3] == 254
    assert x.encode_message(0x36, bytes(255))[3:6] == bytes.fromhex("FF 00 FF")


def test_hand_built_mtdata2_frame_decodes() -> None:
    # PacketCounter 0x1020 = 42; SampleTimeFine 0x1060 = 100000 (0x000186A0);
    # Acceleration float32 (0, 0, 9.81) with 9.81 = 41 1C F5 C3 (MT0100P 5.7.1 example)
    payload = bytes.fromhex(
        "10 20 02 00 2A"
        "10 60 04 00 01 86 A0"
        "40 20 0C 00 00 00 00 00 00 00 00 41 1C F5 C3"
    )
    assert len(payload) == 0x1B
    body = bytes.fromhex("FF 36 1B") + payload
    cs = (-sum(body)) & 0xFF
    frame = b"\xfa" + body + bytes((cs,))
    assert frame == x.encode_mtdata2([(0x1020, 42), (0x1060, 100000), (0x4020, (0.0, 0.0, 9.81))])
    (msg,) = x.FrameParser().feed(frame)
    pkt = x.parse_mtdata2(msg.payload)
    assert pkt.packet_counter == 42
    assert pkt.sample_time_fine == 100000
    assert pkt.acceleration_m_s2 == pytest.approx((0.0, 0.0, 9.81), rel=1e-7)


@pytest.mark.parametrize(
    ("precision", "values", "wire_hex"),
    [
        (x.Precision.FLOAT32, [9.81], "41 1C F5 C3"),
        (x.Precision.FLOAT64, [9.81], "40 23 9E B8 51 EB 85 1F"),
        # fp12.20: signed int32 / 2^20: 1.0 = 0x00100000, -1.5 = -0x180000 = 0xFFE80000
        (x.Precision.FP1220, [1.0, -1.5], "00 10 00 00 FF E8 00 00"),
        # fp16.32: u32 fraction then int16 integer part: 1.5 = (0x80000000, 1), -1.5 = (0x80000000, -2)
        (x.Precision.FP1632, [1.5, -1.5], "80 00 00 00 00 01 80 00 00 00 FF FE"),
    ],
)
def test_real_encodings_hand_vectors(precision: x.Precision, values: list[float], wire_hex: str) -> None:
    wire = bytes.fromhex(wire_hex)
    assert x.encode_reals(values, precision) == wire
    assert x.decode_reals(wire, 0, precision, len(values)) == pytest.approx(values, rel=1e-7)


def test_fixed_point_range_errors() -> None:
    with pytest.raises(x.XsensProtocolError, match="fp12.20"):
        x.encode_reals([5000.0], x.Precision.FP1220)
    with pytest.raises(x.XsensProtocolError, match="fp16.32"):
        x.encode_reals([40000.0], x.Precision.FP1632)


# ---------------------------------------------------------------------------------------------
# Reference-frame bits: compare against scipy rotations built from the frame definitions.
ENU_FROM = {  # columns: the NED / NWU axes expressed in ENU
    x.CoordSys.NED: np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1]], dtype=float),
    x.CoordSys.NWU: np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=float),
    x.CoordSys.ENU: np.eye(3),
}


@pytest.mark.parametrize("coord", list(x.CoordSys))
@pytest.mark.parametrize("precision", list(x.Precision))
def test_orientation_and_free_acc_mapped_to_enu(coord: x.CoordSys, precision: x.Precision) -> None:
    rng = np.random.default_rng(int(coord) * 10 + int(precision))
    r_ref = Rotation.random(random_state=rng)  # sensor -> device reference frame (NED/NWU/ENU)
    r_enu_expected = ENU_FROM[coord] @ r_ref.as_matrix()
    q_xyzw = r_ref.as_quat()
    q_wxyz = (q_xyzw[3], q_xyzw[0], q_xyzw[1], q_xyzw[2])
    m = r_ref.as_matrix()
    free_acc = (0.3, -1.2, 2.5)
    frame = x.encode_mtdata2([
        (x.XDI.QUATERNION | precision | coord, q_wxyz),
        (x.XDI.ROTATION_MATRIX | precision | coord, tuple(m.T.ravel())),  # column-major on the wire
        (x.XDI.FREE_ACCELERATION | precision | coord, free_acc),
        (x.XDI.ACCELERATION | precision | coord, (1.0, 2.0, 3.0)),
    ])
    pkt = x.parse_mtdata2(x.FrameParser().feed(frame)[0].payload)
    tol = 1e-5 if precision in (x.Precision.FLOAT32, x.Precision.FP1220) else 1e-9
    w, qx, qy, qz = pkt.quaternion_wxyz
    r_from_q = Rotation.from_quat([qx, qy, qz, w]).as_matrix()
    np.testing.assert_allclose(r_from_q, r_enu_expected, atol=tol)
    np.testing.assert_allclose(np.array(pkt.rotation_matrix), r_enu_expected, atol=tol)
    np.testing.assert_allclose(pkt.free_acceleration_m_s2, ENU_FROM[coord] @ np.array(free_acc), atol=tol)
    # sensor-frame specific force is body fixed: not re-expressed (MT0100P 4.1.1)
    np.testing.assert_allclose(pkt.acceleration_m_s2, (1.0, 2.0, 3.0), atol=tol)
    assert pkt.orientation_coord == coord


def test_ned_identity_orientation_means_x_north_z_down() -> None:
    frame = x.encode_mtdata2([(x.XDI.QUATERNION | x.CoordSys.NED, (1.0, 0.0, 0.0, 0.0))])
    w, qx, qy, qz = x.parse_mtdata2(x.FrameParser().feed(frame)[0].payload).quaternion_wxyz
    r = Rotation.from_quat([qx, qy, qz, w])
    np.testing.assert_allclose(r.apply([1, 0, 0]), [0, 1, 0], atol=1e-7)  # sensor x -> north
    np.testing.assert_allclose(r.apply([0, 0, 1]), [0, 0, -1], atol=1e-7)  # sensor z -> down


def test_all_known_ids_decode_and_unknown_ids_are_listed() -> None:
    frame = x.encode_mtdata2([
        (x.XDI.PACKET_COUNTER, 65535),
        (x.XDI.SAMPLE_TIME_FINE, 0xFFFFFFFF),
        (x.XDI.RATE_OF_TURN | x.Precision.FP1632, (0.5, -3.25, 7.0)),
        (x.XDI.MAGNETIC_FIELD | x.Precision.FLOAT64, (0.1, 0.2, -0.3)),
        (x.XDI.STATUS_WORD, 0x00400003),
    ]) [:-1]
    payload = frame[4:] + bytes.fromhex("08 10 04 41 C8 00 00")  # + Temperature 0x0810 (not decoded)
    pkt = x.parse_mtdata2(payload)
    assert pkt.packet_counter == 65535 and pkt.sample_time_fine == 0xFFFFFFFF
    assert pkt.rate_of_turn_rad_s == pytest.approx((0.5, -3.25, 7.0))
    assert pkt.magnetic_field_au == pytest.approx((0.1, 0.2, -0.3))
    assert pkt.status_word == 0x00400003
    assert pkt.unknown_ids == (0x0810,)


@pytest.mark.parametrize(
    ("payload_hex", "match"),
    [
        ("10 20 03 00 00 01", "0x1020 has size 3, expected 2"),
        ("40 20 08 00 00 00 00 00 00 00 00", "0x4020 has size 8, expected 12"),
        ("10 60 04 00 00", "0x1060 size 4 runs past"),
        ("10 20 02 00 01 40", "truncated item header"),
        ("20 1C 10" + " 00" * 16, "reserved coordinate bits"),
    ],
)
def test_malformed_mtdata2_raises_naming_the_item(payload_hex: str, match: str) -> None:
    with pytest.raises(x.XsensProtocolError, match=match):
        x.parse_mtdata2(bytes.fromhex(payload_hex))


def test_config_replies_parse() -> None:
    assert x.parse_device_id(bytes.fromhex("03 70 01 23")) == 0x03700123
    with pytest.raises(x.XsensProtocolError, match="DeviceID"):
        x.parse_device_id(b"\x01\x02")
    err = x.parse_error(b"\x21")
    assert (err.code, err.text) == (0x21, "invalid parameter")
    assert "0x21" in str(err)
    assert x.parse_error(b"\x99").text == "unknown error code"
    ack = x.parse_output_configuration(bytes.fromhex("10 20 FF FF 40 20 00 64"))
    assert ack == [x.OutputSetting(0x1020, 0xFFFF), x.OutputSetting(0x4020, 100)]
    with pytest.raises(x.XsensProtocolError, match="multiple of 4"):
        x.parse_output_configuration(b"\x10\x20\xff")
    assert x.ack_mid(x.MID.GOTO_CONFIG) == 0x31 and x.ack_mid(x.MID.SET_OUTPUT_CONFIGURATION) == 0xC1


def test_builder_errors_are_clear() -> None:
    with pytest.raises(x.XsensProtocolError, match="unsupported baud rate 12345"):
        x.set_baudrate(12345)
    with pytest.raises(x.XsensProtocolError, match="1..32 entries"):
        x.set_output_configuration([x.OutputSetting(0x4020, 100)] * 33)
    with pytest.raises(x.XsensProtocolError, match="1..32 entries"):
        x.set_output_configuration([])


# ---------------------------------------------------------------------------------------------
# Parser


def test_parser_resyncs_counts_and_splits() -> None:
    good = [x.encode_mtdata2([(0x1020, k), (0x1060, 100 * k)]) for k in range(5)]
    bad_cs = bytearray(good[1])
    bad_cs[-1] ^= 0x01
    stream = (b"\x00\x13garbage\xfa" + good[0] + bytes(bad_cs) + good[2] + b"\xfa\xff"
              + x.encode_message(0xEE, b"\x01") + good[3] + good[4])
    p = x.FrameParser()
    out = []
    for k in range(len(stream)):  # one byte at a time: same result as one chunk
        out += p.feed(stream[k : k + 1])
    out += p.flush()
    mids = [m.mid for m in out]
    assert mids == [0x36, 0x36, 0xEE, 0x36, 0x36]
    assert [x.parse_mtdata2(m.payload).packet_counter for m in out if m.mid == 0x36] == [0, 2, 3, 4]
    assert p.stats.bad_checksums == 1
    assert p.stats.unknown_mids == 1
    frame_bytes = sum(len(x.encode_message(m.mid, m.payload)) for m in out)
    assert p.stats.garbage_bytes + frame_bytes == p.stats.bytes_in == len(stream)
    assert p.pending_bytes == 0


def test_parser_rejects_oversized_and_malformed_mtdata2() -> None:
    p = x.FrameParser(max_payload=100)
    huge = x.encode_message(0x36, bytes(200))
    malformed = x.encode_message(0x36, bytes.fromhex("10 20 05 00"))  # item claims 5 bytes, has 1
    good = x.encode_mtdata2([(0x1020, 7)])
    out = p.feed(huge + malformed + good)
    assert [x.parse_mtdata2(m.payload).packet_counter for m in out] == [7]
    assert p.stats.bad_lengths == 1
    assert p.stats.malformed_mtdata2 == 1


def test_incomplete_frame_waits_then_completes() -> None:
    p = x.FrameParser()
    frame = x.encode_mtdata2([(0x1020, 1)])
    assert p.feed(frame[:4]) == []
    assert p.pending_bytes == 4
    assert len(p.feed(frame[4:])) == 1


# ---------------------------------------------------------------------------------------------
# Clock mapping


def test_clock_unwraps_32bit_and_maps_ideal_data_exactly() -> None:
    c = SampleClock()
    host0 = 1_700_000_000_000_000_000
    start = 2**32 - 250  # wraps after 3 samples at 100 ticks each
    stamps = []
    for k in range(500):
        ticks = (start + 100 * k) % 2**32
        c.observe(ticks, host0 + k * 10_000_000)
        stamps.append(c.to_host_ns(ticks))
    assert stamps == [host0 + k * 10_000_000 for k in range(500)]
    assert c.unwrap((start + 100 * 499) % 2**32) == 100 * 499
    assert c.to_host_ns((start + 100 * 498) % 2**32) == host0 + 498 * 10_000_000  # older sample


def test_clock_tracks_30ppm_drift_and_rejects_latency_spikes() -> None:
    rng = np.random.default_rng(3)
    n = 100 * 120  # 2 minutes at 100 Hz
    skew = 30e-6
    true_ns = 5_000_000_000 + np.round(np.arange(n) * 1e7 * (1 + skew)).astype(np.int64)
    latency = 800_000 + np.abs(rng.normal(0, 100_000, n))
    spikes = rng.random(n) < 0.02
    latency[spikes] += 20_000_000  # 20 ms scheduling stalls
    host = true_ns + latency.astype(np.int64)
    c = SampleClock()
    stamps = np.empty(n, dtype=np.int64)
    for k in range(n):
        c.observe(100 * k, int(host[k]))
        stamps[k] = c.to_host_ns(100 * k)
    assert c.skew_ppm == pytest.approx(30.0, abs=2.0)
    err = (stamps - true_ns)[3000:].astype(float)
    jitter = err - np.median(err)
    assert np.percentile(np.abs(jitter), 99) < 50_000  # <= 50 us p99 despite 2 % 20 ms spikes
    assert np.all(np.diff(stamps) > 0)


def test_clock_restarts_after_host_time_step() -> None:
    c = SampleClock()
    for k in range(1000):
        c.observe(100 * k, k * 10_000_000)
    resets = c.resets
    step = 3_600 * 10**9  # host clock jumped one hour (NTP step)
    for k in range(1000, 1400):
        c.observe(100 * k, k * 10_000_000 + step)
    assert c.resets == resets + 1
    assert c.to_host_ns(100 * 1399) == pytest.approx(1399 * 10_000_000 + step, abs=1000)


def test_clock_errors() -> None:
    with pytest.raises(ValueError, match="tick_hz"):
        SampleClock(tick_hz=3)
    with pytest.raises(RuntimeError, match="before any observe"):
        SampleClock().to_host_ns(0)


def test_quat_multiply_matches_scipy() -> None:
    a, b = Rotation.random(2, random_state=1)
    qa = np.roll(a.as_quat(), 1)
    qb = np.roll(b.as_quat(), 1)
    got = np.array(x.quat_multiply(tuple(qa), tuple(qb)))
    ref = np.roll((a * b).as_quat(), 1)
    assert np.allclose(got, ref) or np.allclose(got, -ref)
    assert math.isclose(float(np.linalg.norm(got)), 1.0)
