"""Readers: TRC, C3D (ezc3d), Xsens MT Manager text, IMU CSV. Real files from ../shared/data when present,
hypothesis round trips and garbage inputs (DataFormatError or a valid result, never another exception)."""

from __future__ import annotations

import glob
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from imu_torque_estimator.body import GRAVITY_M_S2, SEGMENTS
from imu_torque_estimator.data.c3d import read_c3d
from imu_torque_estimator.data.errors import DataFormatError
from imu_torque_estimator.data.imu_csv import read_imu_csv, write_imu_csv
from imu_torque_estimator.data.trc import MarkerData, read_trc, write_trc
from imu_torque_estimator.data.xsens_text import (
    OPENSIM_IMU_TO_SEGMENT,
    angular_rate_from_orientation,
    read_imu_mappings,
    read_xsens_export,
    read_xsens_trial,
)
from imu_torque_estimator.motion import ImuSignals

DATA = (Path(__file__).parents[1] / ".." / "shared" / "data").resolve()
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data folder {DATA} absent")
needs_ezc3d = pytest.mark.skipif(importlib.util.find_spec("ezc3d") is None,
                                 reason="ezc3d is not installed (extra 'data')")
HSET = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ----------------------------------------------------------------------------------------------- TRC
@needs_data
@pytest.mark.data
@pytest.mark.parametrize("rel", ["opensim_walk_rajagopal/markers_walk.trc",
                                 *(f"hamner_run_subject04/run{v}/markers.trc" for v in (200, 300, 400, 500))])
def test_trc_real_files(rel):
    d = read_trc(DATA / rel)
    assert d.rate_hz == 100.0
    assert np.allclose(np.diff(d.time_s), 0.01, atol=1e-6)
    assert d.source_units == "mm"
    # Pelvis markers of an adult are 0.8-1.3 m above the floor (OpenSim Y up) -> mm were converted to m.
    asis = d.markers["R.ASIS" if "R.ASIS" in d.markers else "RASI"]
    assert 0.7 < np.nanmedian(asis[:, 1]) < 1.3
    assert all(v.shape == (len(d), 3) for v in d.markers.values())


def test_trc_missing_markers_are_nan(tmp_path):
    p = tmp_path / "m.trc"
    p.write_text("PathFileType\t4\t(X/Y/Z)\tm.trc\n"
                 "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\n100\t100\t2\t2\tcm\n"
                 "Frame#\tTime\tA\t\t\tB\t\t\n\t\tX1\tY1\tZ1\tX2\tY2\tZ2\n\n"
                 "1\t0.00\t1\t2\t3\t\t\t\n2\t0.01\t4\t5\t6\n")
    d = read_trc(p)
    assert np.allclose(d.markers["A"], [[0.01, 0.02, 0.03], [0.04, 0.05, 0.06]])
    assert np.isnan(d.markers["B"]).all()


finite = st.floats(-5.0, 5.0, allow_nan=False, width=32)


@HSET
@given(n=st.integers(1, 12), m=st.integers(1, 4), data=st.data(),
       units=st.sampled_from(["mm", "m", "cm"]))
def test_trc_round_trip(tmp_path, n, m, data, units):
    names = [f"M{k}" for k in range(m)]
    vals = {nm: np.array(data.draw(st.lists(st.lists(finite | st.just(float("nan")), min_size=3, max_size=3),
                                            min_size=n, max_size=n))) for nm in names}
    md = MarkerData(time_s=np.arange(n) / 50.0, markers=vals, rate_hz=50.0)
    back = read_trc(write_trc(tmp_path / "r.trc", md, units=units))
    assert back.names == names and back.rate_hz == 50.0
    assert np.allclose(back.time_s, md.time_s)
    for nm in names:
        assert np.allclose(back.markers[nm], vals[nm], equal_nan=True, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("text, where", [
    ("", "line 1"),
    ("Nope\n" * 6, "line 1"),
    ("PathFileType\t4\nDataRate\tNumMarkers\tUnits\n100\t1\tinches\nFrame#\tTime\tA\n\t\tX1\n1\t0\t1\t2\t3\n",
     "Units"),
    ("PathFileType\t4\nDataRate\tNumMarkers\tUnits\n100\t2\tmm\nFrame#\tTime\tA\n\t\tX1\n1\t0\t1\t2\t3\n",
     "NumMarkers=2"),
    ("PathFileType\t4\nDataRate\tNumMarkers\tUnits\n100\t1\tmm\nFrame#\tTime\tA\n\t\tX1\n1\t0\t1\tx\t3\n",
     "A.Y"),
    ("PathFileType\t4\nDataRate\tNumMarkers\tUnits\n100\t1\tmm\nFrame#\tTime\tA\n\t\tX1\n1\t0\t1\t2\t3\n"
     "2\t0\t1\t2\t3\n", "not strictly increasing"),
    ("PathFileType\t4\nDataRate\tNumMarkers\tUnits\n100\t1\tmm\nFrame#\tTime\tA\n\t\tX1\n", "no data rows"),
])
def test_trc_bad_files_name_file_and_field(tmp_path, text, where):
    p = tmp_path / "bad.trc"
    p.write_text(text)
    with pytest.raises(DataFormatError, match=where) as e:
        read_trc(p)
    assert "bad.trc" in str(e.value)


@HSET
@given(garbage=st.text(alphabet=st.sampled_from("PathFileTypeDaR0123456789.\t\n -mX#"), max_size=300))
def test_trc_garbage_never_crashes(tmp_path, garbage):
    p = tmp_path / "g.trc"
    p.write_text(garbage)
    try:
        d = read_trc(p)
    except DataFormatError:
        return
    assert len(d) >= 1 and all(v.shape == (len(d), 3) for v in d.markers.values())


# ----------------------------------------------------------------------------------------------- C3D
C3D_FILES = ["opensim_c3d_walk/walking2.c3d", "opensim_c3d_walk/walking5.c3d", "ktk_walk_c3d/walk.c3d.zip"]


@needs_ezc3d
@needs_data
@pytest.mark.data
@pytest.mark.parametrize("rel", C3D_FILES)
def test_c3d_real_files(rel):
    d = read_c3d(DATA / rel)
    assert d.point_rate_hz > 0 and d.analog_rate_hz >= d.point_rate_hz
    assert len(d.time_s) > 100 and np.allclose(np.diff(d.time_s), 1 / d.point_rate_hz)
    pelvis = d.markers["RASI"]
    assert 0.7 < np.nanmedian(pelvis[:, 2]) < 1.3  # lab z up, metres
    loaded_plates = [p for p in d.force_plates if p.loaded().any()]
    assert len(loaded_plates) >= 2
    for p in loaded_plates:
        L = p.loaded()
        assert p.force_n.shape == (len(d.analog_time_s), 3)
        assert np.all(p.force_n[L] @ p.normal > 0)  # ground pushes up on the subject
        # Peak vertical force of walking: 0.9-1.5 body weights of an adult (50-110 kg).
        assert 450 < np.max(p.force_n[:, 2]) < 1700
        # Centre of pressure inside the plate outline (2 cm tolerance for edge noise) while loaded.
        lo, hi = p.corners_m.min(axis=0) - 0.02, p.corners_m.max(axis=0) + 0.02
        heavy = p.force_n[:, 2] > 200
        assert np.all((p.cop_m[heavy, :2] >= lo[:2]) & (p.cop_m[heavy, :2] <= hi[:2]))
        # Free moment is about the plate normal only.
        assert np.allclose(p.free_moment_nm[L, :2], 0.0)


@needs_ezc3d
@needs_data
@pytest.mark.data
def test_c3d_force_plate_matches_type2_channels():
    """ezc3d's wrench (force at CoP + free moment) reproduces the raw type-2 channels: the moment about
    the plate centre computed from the returned quantities equals the plate moment channels."""
    d = read_c3d(DATA / "opensim_c3d_walk/walking2.c3d")
    p = d.force_plates[0]
    ch = np.column_stack([d.analogs[f"{q}1"] for q in ("Fx", "Fy", "Fz", "Mx", "My", "Mz")])
    L = p.force_n[:, 2] > 200
    # Same force magnitude as the channels.
    assert np.allclose(np.linalg.norm(p.force_n[L], axis=1), np.linalg.norm(ch[L, :3], axis=1), rtol=1e-6)
    # Moment about the plate's top-surface centre from (F at CoP) + free moment: its horizontal part
    # has the magnitude of the channel moment measured at the plate origin corrected for the origin depth.
    origin_depth_m = 37.84e-3  # FORCE_PLATFORM:ORIGIN z of this plate (mm -> m)
    assert abs(abs(p.origin_m[2]) - origin_depth_m) < 1e-6
    r = p.cop_m[L] - p.centre_m
    m_top = np.cross(r, p.force_n[L]) + p.free_moment_nm[L]
    m_ch = ch[L, 3:] * 1e-3  # N mm -> N m
    f_ch = ch[L, :3]
    m_ch_top = m_ch + np.cross(np.array([0, 0, origin_depth_m]), f_ch)  # shift to the surface
    assert np.allclose(np.linalg.norm(m_top, axis=1), np.linalg.norm(m_ch_top, axis=1), rtol=1e-3, atol=0.5)


@needs_ezc3d
@needs_data
@pytest.mark.data
def test_c3d_model_outputs_are_not_markers():
    d = read_c3d(DATA / "ktk_walk_c3d/walk.c3d.zip")
    assert "LAnkleMoment" in d.model_outputs and "LAnkleMoment" not in d.markers
    assert d.model_output_units["LAnkleMoment"] == "Nmm" and d.model_output_units["LKneeAngles"] == "deg"
    assert "LKJC" in d.markers  # modelled markers stay markers (metres)
    # Peak knee flexion of walking, degrees as stored.
    assert 45 < np.nanmax(d.model_outputs["LKneeAngles"][:, 0]) < 80
    assert d.parameters["PROCESSING"]["Bodymass"][0] == pytest.approx(73.4, abs=0.01)


@needs_ezc3d
def test_c3d_bad_files(tmp_path):
    p = tmp_path / "bad.c3d"
    p.write_bytes(b"\x02\x50" + b"garbage" * 50)
    with pytest.raises(DataFormatError, match="bad.c3d"):
        read_c3d(p)
    z = tmp_path / "bad.c3d.zip"
    z.write_bytes(b"not a zip")
    with pytest.raises(DataFormatError, match="bad.c3d.zip"):
        read_c3d(z)
    with pytest.raises(FileNotFoundError):
        read_c3d(tmp_path / "missing.c3d")


@needs_ezc3d
def test_c3d_round_trip_with_ezc3d(tmp_path):
    """A C3D written by ezc3d (markers in mm) reads back in metres with the right rate and time."""
    import ezc3d

    c = ezc3d.c3d()
    c["parameters"]["POINT"]["RATE"]["value"] = [120.0]
    c["parameters"]["POINT"]["LABELS"]["value"] = ("A", "B")
    c["parameters"]["POINT"]["UNITS"]["value"] = ["mm"]
    pts = np.zeros((4, 2, 5))
    pts[:3] = np.arange(30, dtype=float).reshape(3, 2, 5)
    pts[3] = 1.0
    c["data"]["points"] = pts
    c.write(str(tmp_path / "rt.c3d"))
    d = read_c3d(tmp_path / "rt.c3d")
    assert d.point_rate_hz == 120.0 and list(d.markers) == ["A", "B"]
    assert np.allclose(d.markers["A"], pts[:3, 0, :].T / 1000.0)
    assert np.allclose(d.time_s, np.arange(5) / 120.0)


# ------------------------------------------------------------------------------------------ Xsens
XSENS = DATA / "opensense_xsens_walk"


@needs_data
@pytest.mark.data
def test_xsens_files_gravity_and_rate():
    files = sorted(glob.glob(str(XSENS / "MT_*.txt")))
    assert len(files) == 8
    for f in files:
        e = read_xsens_export(f)
        assert e.rate_hz == 100.0 and e.angular_rate_source == "orientation"
        assert np.allclose(np.diff(e.time_s), 0.01)
        # Mat[i][j] is sensor -> global: rotating the specific force to global gives +g on z on average.
        g = np.einsum("nij,nj->ni", e.orientation, e.specific_force_m_s2).mean(axis=0)
        assert abs(g[2] - GRAVITY_M_S2) < 0.1 and np.hypot(g[0], g[1]) < 0.1
        rate = np.linalg.norm(e.angular_rate_rad_s, axis=1)
        assert 0.3 < np.sqrt(np.mean(rate**2)) < 6.0  # walking: order 1 rad/s


@needs_data
@pytest.mark.data
def test_xsens_trial_maps_serials_to_segments():
    mapping = read_imu_mappings(XSENS / "myIMUMappings.xml")
    assert mapping["00B42279"] == "pelvis_imu" and mapping["00B4227D"] == "tibia_r_imu"
    trial = read_xsens_trial(XSENS)
    assert set(trial) == set(SEGMENTS)  # torso skipped
    assert all(isinstance(s, ImuSignals) and s.orientation_wxyz is not None for s in trial.values())
    # Shared packet counter: all sensors start at the same stamp.
    starts = {round(float(s.time_s[0]), 6) for s in trial.values()}
    assert len(starts) == 1


def test_rate_from_orientation_constant_rotation():
    """A constant body-frame rate w: R_k = R0 exp(k dt w); the derivative recovers w exactly."""
    w = np.array([0.4, -1.2, 2.5])
    t = np.arange(50) * 0.01
    r0 = Rotation.from_euler("xyz", [0.3, -0.2, 1.0])
    rot = (r0 * Rotation.from_rotvec(t[:, None] * w)).as_matrix()
    assert np.allclose(angular_rate_from_orientation(rot, t), w, atol=1e-9)


def test_rate_from_orientation_sinusoid_gain():
    """Documented smoothing: a sinusoidal rate at f is returned with gain sinc-like cos(pi f/fs)-ish,
    > 0.99 at 2 Hz for 100 Hz data, and with no phase lag (centred difference)."""
    fs, f = 100.0, 2.0
    t = np.arange(400) / fs
    angle = 0.5 * np.sin(2 * np.pi * f * t)
    rot = Rotation.from_rotvec(angle[:, None] * np.array([0, 0, 1.0])).as_matrix()
    est = angular_rate_from_orientation(rot, t)[5:-5, 2]
    true = (0.5 * 2 * np.pi * f * np.cos(2 * np.pi * f * t))[5:-5]
    gain = np.dot(est, true) / np.dot(true, true)
    assert 0.99 < gain <= 1.0
    assert np.max(np.abs(est - gain * true)) < 1e-6 * np.max(np.abs(true)) + 1e-9


def _xsens_text(rows: list[str], cols: str, rate: str = "100.0Hz") -> str:
    return f"// Update Rate: {rate}\n// Firmware Version: 4.0.2\n{cols}\n" + "\n".join(rows) + "\n"


def test_xsens_quaternion_gyro_and_missing_cells(tmp_path):
    cols = ("PacketCounter\tSampleTimeFine\tAcc_X\tAcc_Y\tAcc_Z\tGyr_X\tGyr_Y\tGyr_Z\t"
            "Quat_q0\tQuat_q1\tQuat_q2\tQuat_q3")
    rows = ["65534\t\t0\t0\t9.8\t0.1\t0.2\t0.3\t1\t0\t0\t0",
            "65535\t\t\t\t\t0.1\t0.2\t0.3\t1\t0\t0\t0",
            "00000\t\t0\t0\t9.8\t0.1\t0.2\t0.3\t0.7071068\t0\t0\t0.7071068"]
    p = tmp_path / "MT_x_00B4AAAA.txt"
    p.write_text(_xsens_text(rows, cols, rate="50.0Hz"))
    e = read_xsens_export(p)
    assert e.serial == "00B4AAAA" and e.angular_rate_source == "gyroscope"
    assert np.allclose(np.diff(e.time_s), 0.02)  # counter wrapped 65535 -> 0
    assert np.isnan(e.specific_force_m_s2[1]).all() and np.allclose(e.specific_force_m_s2[0], [0, 0, 9.8])
    assert np.allclose(e.orientation[2], Rotation.from_euler("z", 90, degrees=True).as_matrix(), atol=1e-6)
    sig = e.to_imu_signals()
    assert np.allclose(sig.orientation_wxyz[2], [0.7071068, 0, 0, 0.7071068], atol=1e-6)


@pytest.mark.parametrize("cols, rows, where", [
    ("PacketCounter\tAcc_X\tAcc_Y", ["1\t0\t0"], "Acc_Z"),
    ("PacketCounter\tAcc_X\tAcc_Y\tAcc_Z", ["1\t0\t0\t0"], "Gyr_X/Y/Z or an orientation"),
    ("PacketCounter\tAcc_X\tAcc_Y\tAcc_Z\tGyr_X\tGyr_Y\tGyr_Z", ["1\t0\tx\t0\t0\t0\t0"], "line 4.*Acc_Y"),
    ("PacketCounter\tAcc_X\tAcc_Y\tAcc_Z\tGyr_X\tGyr_Y\tGyr_Z",
     ["2\t0\t0\t0\t0\t0\t0", "2\t0\t0\t0\t0\t0\t0"],
     "PacketCounter.*does not increase"),
    ("PacketCounter\tAcc_X\tAcc_Y\tAcc_Z\tMat[1][1]", ["1\t0\t0\t0\t1"], "incomplete rotation matrix"),
    ("PacketCounter\tAcc_X\tAcc_Y\tAcc_Z\tGyr_X\tGyr_Y\tGyr_Z", [], "no data rows"),
])
def test_xsens_bad_files(tmp_path, cols, rows, where):
    p = tmp_path / "MT_bad.txt"
    p.write_text(_xsens_text(rows, cols))
    with pytest.raises(DataFormatError, match=where) as e:
        read_xsens_export(p)
    assert "MT_bad.txt" in str(e.value)


def test_imu_mappings_bad_xml(tmp_path):
    p = tmp_path / "map.xml"
    p.write_text("<OpenSimDocument><XsensDataReaderSettings>")
    with pytest.raises(DataFormatError, match="map.xml"):
        read_imu_mappings(p)
    p.write_text("<a><ExperimentalSensor name='_1'/></a>")
    with pytest.raises(DataFormatError, match="name_in_model"):
        read_imu_mappings(p)
    assert OPENSIM_IMU_TO_SEGMENT["tibia_l_imu"] == "shank_l"


@HSET
@given(garbage=st.text(alphabet=st.sampled_from("PacketCounterAc_XYZGyrMat[123]\t\n/0123456789.-"),
                       max_size=300))
def test_xsens_garbage_never_crashes(tmp_path, garbage):
    p = tmp_path / "MT_g.txt"
    p.write_text(garbage)
    try:
        e = read_xsens_export(p)
    except DataFormatError:
        return
    assert e.specific_force_m_s2.shape == (len(e.time_s), 3)


# -------------------------------------------------------------------------------------------- CSV
@HSET
@given(data=st.data(), segs=st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=7, unique=True))
def test_imu_csv_round_trip(tmp_path, data, segs):
    signals = {}
    for s in segs:
        n = data.draw(st.integers(1, 8))
        t = np.cumsum(np.array(data.draw(st.lists(st.floats(1e-3, 1.0), min_size=n, max_size=n))))
        vals = np.array(data.draw(st.lists(st.lists(st.floats(-1e3, 1e3), min_size=6, max_size=6),
                                           min_size=n, max_size=n)))
        signals[s] = ImuSignals(time_s=t, specific_force_m_s2=vals[:, :3], angular_rate_rad_s=vals[:, 3:])
    back = read_imu_csv(write_imu_csv(tmp_path / "r.csv", signals))
    assert set(back) == set(segs)
    for s in segs:
        assert np.array_equal(back[s].time_s, signals[s].time_s)
        assert np.array_equal(back[s].specific_force_m_s2, signals[s].specific_force_m_s2)
        assert np.array_equal(back[s].angular_rate_rad_s, signals[s].angular_rate_rad_s)


HEAD = "stamp_s,segment,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n"


@pytest.mark.parametrize("text, where", [
    ("", "header row"),
    ("time,seg\n", "header must start"),
    (HEAD + "0,knee,0,0,0,0,0,0\n", "line 2.*unknown segment 'knee'"),
    (HEAD + "0,pelvis,0,0,9.8,0,0\n", "line 2.*7 fields"),
    (HEAD + "0,pelvis,0,0,9.8,0,0,abc\n", "gyr_z"),
    (HEAD + "0,pelvis,0,0,9.8,0,0,nan\n", "not finite"),
    (HEAD + "1,pelvis,0,0,9.8,0,0,0\n0.5,pelvis,0,0,9.8,0,0,0\n", "line 3.*does not increase"),
    (HEAD, "no data rows"),
])
def test_imu_csv_bad_files(tmp_path, text, where):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataFormatError, match=where) as e:
        read_imu_csv(p)
    assert "bad.csv" in str(e.value)


def test_imu_csv_write_rejects_bad_input(tmp_path):
    sig = ImuSignals(time_s=np.array([0.0]), specific_force_m_s2=np.array([[0, 0, np.nan]]),
                     angular_rate_rad_s=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        write_imu_csv(tmp_path / "x.csv", {"pelvis": sig})
    with pytest.raises(ValueError, match="unknown segment"):
        write_imu_csv(tmp_path / "x.csv", {"torso": sig})


@HSET
@given(garbage=st.text(alphabet=st.sampled_from("stamp_s,segmentpelvisacc_xgyr\n#0123456789.-e"),
                       max_size=300))
def test_imu_csv_garbage_never_crashes(tmp_path, garbage):
    p = tmp_path / "g.csv"
    p.write_text(garbage)
    try:
        out = read_imu_csv(p)
    except DataFormatError:
        return
    assert all(s in SEGMENTS for s in out)
