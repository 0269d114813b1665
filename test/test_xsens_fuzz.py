"""Property-based fuzzing of the Xbus frame parser and MTData2 decoder (hypothesis).

Properties: the parser never raises on any byte stream in any chunking; byte accounting is exact
(garbage + frame bytes == bytes in); every intended valid frame is recovered, in order, from streams with
interleaved garbage, truncated frames, corrupted checksums and wrong lengths. A damaged frame can by
chance form another checksum-valid frame (1 in 256 for a wrong length): that is valid by the protocol,
so such accidental frames are allowed as extras, and an intended frame may only be missing where such
an accidental frame overlapped it. Case counts: `pytest --hypothesis-show-statistics`.
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from imu_torque_estimator.drivers import xsens as x

# example counts keep this file under ~30 s on a loaded 2-core CI machine
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_STREAMS = settings(FUZZ, max_examples=250)

KINDS = [x.XDI.QUATERNION, x.XDI.ROTATION_MATRIX, x.XDI.ACCELERATION, x.XDI.FREE_ACCELERATION,
         x.XDI.RATE_OF_TURN, x.XDI.MAGNETIC_FIELD]
RANGE = {x.Precision.FLOAT32: 2.0**100, x.Precision.FLOAT64: 1e300, x.Precision.FP1220: 2047.0,
         x.Precision.FP1632: 32767.0}


@st.composite
def mtdata2_items(draw) -> tuple[int, object]:
    kind = draw(st.sampled_from([*KINDS, x.XDI.PACKET_COUNTER, x.XDI.SAMPLE_TIME_FINE, x.XDI.STATUS_WORD]))
    if kind == x.XDI.PACKET_COUNTER:
        return int(kind), draw(st.integers(0, 0xFFFF))
    if kind in (x.XDI.SAMPLE_TIME_FINE, x.XDI.STATUS_WORD):
        return int(kind), draw(st.integers(0, 0xFFFFFFFF))
    precision = draw(st.sampled_from(list(x.Precision)))
    coord = draw(st.sampled_from(list(x.CoordSys))) if kind in KINDS[:4] else 0
    n = {x.XDI.QUATERNION: 4, x.XDI.ROTATION_MATRIX: 9}.get(kind, 3)
    lim = RANGE[precision]
    vals = draw(st.lists(st.floats(-lim, lim, allow_nan=False, width=32 if precision == 0 else 64),
                         min_size=n, max_size=n))
    return int(kind) | int(precision) | int(coord), vals


@st.composite
def valid_frames(draw) -> bytes:
    if draw(st.integers(0, 4)):
        return x.encode_mtdata2(draw(st.lists(mtdata2_items(), min_size=1, max_size=6)))
    mid = draw(st.integers(0, 255).filter(lambda m: m != x.MID.MTDATA2))
    return x.encode_message(mid, draw(st.binary(max_size=300)))  # also exercises the extended length


@st.composite
def damaged(draw, frame: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "checksum", "length", "flip"]))
    b = bytearray(frame)
    if kind == "truncate":
        return bytes(b[: draw(st.integers(1, len(b) - 1))])
    if kind == "checksum":
        b[-1] ^= draw(st.integers(1, 255))
    elif kind == "length":
        b[3] = (b[3] + draw(st.integers(1, 255))) & 0xFF
    else:
        k = draw(st.integers(1, len(b) - 1))
        b[k] ^= 1 << draw(st.integers(0, 7))
    return bytes(b)


def feed_chunked(data: bytes, cuts: list[int], parser: x.FrameParser) -> list[x.XbusMessage]:
    out: list[x.XbusMessage] = []
    pos = 0
    for c in sorted(set(cuts)):
        out += parser.feed(data[pos:c])
        pos = c
    out += parser.feed(data[pos:])
    out += parser.flush()
    return out


def frame_len(m: x.XbusMessage) -> int:
    return len(x.encode_message(m.mid, m.payload))


@FUZZ
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=20))
def test_random_bytes_never_raise_and_account_exactly(data: bytes, cuts: list[int]) -> None:
    p = x.FrameParser()
    out = feed_chunked(data, cuts, p)
    for m in out:  # anything returned is a genuine, checksum-valid frame present in the stream
        assert x.encode_message(m.mid, m.payload) in data
    s = p.stats
    assert s.garbage_bytes + sum(frame_len(m) for m in out) == s.bytes_in == len(data)
    assert s.frames == len(out) and p.pending_bytes == 0


@FUZZ
@given(payload=st.binary(max_size=600))
def test_mtdata2_decoder_only_raises_protocol_errors(payload: bytes) -> None:
    try:
        pkt = x.parse_mtdata2(payload)
    except x.XsensProtocolError:
        return
    assert isinstance(pkt, x.MTData2Packet)


@FUZZ_STREAMS
@given(
    parts=st.lists(st.tuples(valid_frames(), st.binary(max_size=40).map(lambda b: b.replace(b"\xfa", b""))),
                   min_size=1, max_size=8),
    cuts=st.lists(st.integers(0, 6000), max_size=30),
)
def test_every_frame_recovered_from_garbage_without_preambles(parts, cuts) -> None:
    """Garbage without the preamble byte cannot start a frame: recovery must be exact."""
    stream = b"".join(g + f for f, g in parts)
    p = x.FrameParser()
    out = feed_chunked(stream, cuts, p)
    assert [x.encode_message(m.mid, m.payload) for m in out] == [f for f, _ in parts]
    assert p.stats.garbage_bytes == sum(len(g) for _, g in parts)


def reference_scan(stream: bytes, max_payload: int = x.MAX_PAYLOAD_BYTES) -> list[tuple[int, int]]:
    """Spans of the frames the protocol definition yields, scanning greedily byte by byte.

    Written from the frame definition independently of FrameParser (no find(), no buffering)."""
    spans = []
    i = 0
    n = len(stream)
    while i + 5 <= n:
        if stream[i] != 0xFA or stream[i + 1] != 0xFF:
            i += 1
            continue
        length, hdr = stream[i + 3], 4
        if length == 0xFF:
            if i + 7 > n:
                i += 1
                continue
            length, hdr = struct.unpack_from(">H", stream, i + 4)[0], 6
        end = i + hdr + length + 1
        ok = length <= max_payload and end <= n and sum(stream[i + 1 : end]) % 256 == 0
        if ok and stream[i + 2] == 0x36:
            ok = x.mtdata2_well_formed(stream[i + hdr : end - 1])
        if ok:
            spans.append((i, end))
            i = end
        else:
            i += 1
    return spans


@FUZZ_STREAMS
@given(data=st.data(), cuts=st.lists(st.integers(0, 8000), max_size=30))
def test_every_frame_recovered_amid_damaged_frames_and_noise(data, cuts) -> None:
    frames = data.draw(st.lists(valid_frames(), min_size=1, max_size=8))
    stream = b""
    intended: list[tuple[int, int]] = []
    for f in frames:
        for _ in range(data.draw(st.integers(0, 2))):
            if data.draw(st.booleans()):
                stream += data.draw(damaged(data.draw(valid_frames())))
            else:
                stream += data.draw(st.binary(max_size=30))  # any bytes, preambles included
        intended.append((len(stream), len(stream) + len(f)))
        stream += f
    p = x.FrameParser()
    out = feed_chunked(stream, cuts, p)
    spans = reference_scan(stream)
    # the incremental parser returns exactly what the protocol definition yields, in any chunking
    assert [x.encode_message(m.mid, m.payload) for m in out] == [stream[a:b] for a, b in spans]
    found = set(spans)
    extras = len(found - set(intended))
    event(f"accidental valid frames: {min(extras, 2)}{'+' if extras > 2 else ''}")
    for span in intended:
        if span not in found:  # only possible if an accidental valid frame swallowed its start
            event("intended frame swallowed by an accidental frame")
            assert any(a < span[0] < b for a, b in spans), (span, spans)
