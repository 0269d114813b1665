"""OpenSim .sto/.mot and ExternalLoads readers: header styles, round trip, malformed input, real files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imu_torque_estimator import body
from imu_torque_estimator.data import opensim_io as oio
from imu_torque_estimator.data.errors import DataFormatError

DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared data not found at {DATA}")

OLD_STYLE = """Coordinates
nRows=2
nColumns=4

Units are S.I. units (second, meters, Newtons, ...)
Angles are in degrees.

endheader
time\tpelvis_tilt\tpelvis_tx\tknee_angle_r
      0.50000000\t      90.0\t      0.5\t  -45.0
      0.51666667\t     180.0\t      0.6\t  -90.0
"""

NEW_STYLE = """Coordinates
inDegrees=no
nColumns=3
nRows=2
endheader
time\t/jointset/ground_pelvis/pelvis_tilt/value\t/jointset/hip_r/hip_flexion_r/speed
0.45\t0.1\t2.0
0.46\t0.2\t3.0
"""


def _write(tmp_path: Path, text: str, name: str = "t.sto") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_old_header_style_degrees_and_conversion(tmp_path):
    s = oio.read_storage(_write(tmp_path, OLD_STYLE))
    assert s.in_degrees and s.name == "Coordinates" and len(s) == 2
    rad = oio.coordinates_rad(s)
    np.testing.assert_allclose(rad.column("pelvis_tilt"), [np.pi / 2, np.pi])
    np.testing.assert_allclose(rad.column("knee_angle_r"), [-np.pi / 4, -np.pi / 2])
    np.testing.assert_allclose(rad.column("pelvis_tx"), [0.5, 0.6])  # translation stays in metres
    assert not rad.in_degrees


def test_new_header_style_full_path_columns(tmp_path):
    s = oio.read_storage(_write(tmp_path, NEW_STYLE))
    assert not s.in_degrees
    np.testing.assert_allclose(s.column("pelvis_tilt"), [0.1, 0.2])
    np.testing.assert_allclose(s.column("hip_flexion_r_speed"), [2.0, 3.0])
    np.testing.assert_allclose(s.column("/jointset/ground_pelvis/pelvis_tilt/value"), [0.1, 0.2])
    with pytest.raises(ValueError, match="column 'knee_angle_r' not found in .*t.sto"):
        s.column("knee_angle_r")


names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(lambda x: x != "time")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(names, min_size=1, max_size=6, unique=True), st.integers(0, 20), st.booleans(),
       st.data())
def test_round_trip(tmp_path, cols, n, deg, data):
    vals = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
    table = {c: np.array(data.draw(st.lists(vals, min_size=n, max_size=n))) for c in cols}
    t = np.cumsum(np.array(data.draw(st.lists(st.floats(1e-3, 1.0), min_size=n, max_size=n))))
    s = oio.Storage(t, table, deg, name="rt")
    p = tmp_path / "rt.sto"
    oio.write_storage(p, s)
    back = oio.read_storage(p)
    assert back.in_degrees == deg and list(back.columns) == cols
    np.testing.assert_array_equal(back.time_s, t)
    for c in cols:
        np.testing.assert_array_equal(back.columns[c], table[c])


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
       .filter(lambda s: s.split() and "\n" not in s and "\r" not in s))
def test_garbage_line_gives_data_format_error(garbage):
    """A random non-numeric line in the table gives DataFormatError naming the file and line,
    never another exception (unless the garbage happens to be a valid row)."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "g.sto"
        p.write_text(NEW_STYLE + garbage + "\n")
        try:
            oio.read_storage(p)
        except DataFormatError as exc:
            assert "g.sto" in str(exc) and "line" in str(exc)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a\nb\n", "no 'endheader'"),
        ("x\nendheader\n", "no column-name line"),
        ("x\nendheader\nfoo\tbar\n1\t2\n", "first column must be 'time'"),
        ("x\nendheader\ntime\ta\ta\n1\t2\t3\n", "duplicate column"),
        ("x\nendheader\ntime\ta\n1\t2\t3\n", "line 4: 3 values but 2 columns"),
        ("x\nendheader\ntime\ta\n1\tabc\n", "line 4, column 'a': not a number: 'abc'"),
        ("x\nendheader\ntime\ta\n1\t2\n1\t3\n", "time is not strictly increasing"),
        ("x\ninDegrees=maybe\nendheader\ntime\n", "line 2: inDegrees must be yes or no"),
    ],
)
def test_malformed_files(tmp_path, text, match):
    with pytest.raises(DataFormatError, match=match):
        oio.read_storage(_write(tmp_path, text, "bad.sto"))


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.sto"):
        oio.read_storage(tmp_path / "nope.sto")


GRF = """grf
version=1
nRows=2
nColumns=10
inDegrees=no
endheader
time\tf_vx\tf_vy\tf_vz\tf_px\tf_py\tf_pz\tt_x\tt_y\tt_z
0\t1\t700\t3\t0.1\t0\t0.2\t0\t5\t0
0.01\t2\t710\t4\t0.2\t0\t0.3\t0\t6\t0
"""

XML = """<?xml version="1.0" encoding="UTF-8" ?>
<OpenSimDocument Version="40000"><ExternalLoads><objects>
<ExternalForce name="R"><applied_to_body>calcn_r</applied_to_body>
<force_expressed_in_body>ground</force_expressed_in_body>
<point_expressed_in_body>{point_in}</point_expressed_in_body>
<force_identifier>f_v</force_identifier><point_identifier>f_p</point_identifier>
<torque_identifier>{torque}</torque_identifier></ExternalForce>
</objects><datafile>grf.mot</datafile></ExternalLoads></OpenSimDocument>
"""


def test_external_loads_and_ros_frame(tmp_path):
    _write(tmp_path, GRF, "grf.mot")
    xml = _write(tmp_path, XML.format(point_in="ground", torque="t_"), "grf.xml")
    el = oio.read_external_loads(xml)
    assert el.applied_to_body == {"r": "calcn_r"} and el.frame == "opensim"
    np.testing.assert_allclose(el.contacts["r"].force_n[0], [1, 700, 3])
    ros = el.in_ros_frame()
    # OpenSim Y up -> ROS z up; OpenSim Z right -> ROS -y (left)
    np.testing.assert_allclose(ros.contacts["r"].force_n[0], [1, -3, 700])
    np.testing.assert_allclose(ros.contacts["r"].cop_m[0], [0.1, -0.2, 0.0])
    np.testing.assert_allclose(ros.contacts["r"].free_moment_nm[0], [0, 0, 5])
    np.testing.assert_allclose(ros.contacts["r"].force_n[0], body.R_OSIM_TO_ROS @ [1, 700, 3])
    half = el.resampled(np.array([0.005]))
    np.testing.assert_allclose(half.contacts["r"].force_n[0], [1.5, 705, 3.5])
    with pytest.raises(ValueError, match="outside the GRF record"):
        el.resampled(np.array([0.5]))


@pytest.mark.parametrize(
    ("point_in", "torque", "match"),
    [("calcn_r", "t_", "point_expressed_in_body='calcn_r' is not supported"),
     ("ground", "q_", "torque identifier 'q_'")],
)
def test_external_loads_bad_fields(tmp_path, point_in, torque, match):
    _write(tmp_path, GRF, "grf.mot")
    xml = _write(tmp_path, XML.format(point_in=point_in, torque=torque), "grf.xml")
    with pytest.raises(DataFormatError, match=match):
        oio.read_external_loads(xml)


def test_external_loads_malformed_xml_and_side(tmp_path):
    _write(tmp_path, GRF, "grf.mot")
    with pytest.raises(DataFormatError, match=r"bad.xml: line 2: malformed XML"):
        oio.read_external_loads(_write(tmp_path, "<a>\n<b></a>", "bad.xml"))
    text = XML.format(point_in="ground", torque="t_").replace("calcn_r", "calcn")
    with pytest.raises(DataFormatError, match="cannot tell the side of body 'calcn'"):
        oio.read_external_loads(_write(tmp_path, text, "side.xml"))


def test_external_loads_nan_force(tmp_path):
    _write(tmp_path, GRF.replace("\t700\t", "\tnan\t", 1), "grf.mot")
    xml = _write(tmp_path, XML.format(point_in="ground", torque="t_"), "grf.xml")
    with pytest.raises(DataFormatError, match="NaN/inf in force columns f_v"):
        oio.read_external_loads(xml)


@needs_data
@pytest.mark.data
def test_all_shared_storage_files_read():
    files = sorted(DATA.glob("**/*.sto")) + sorted(DATA.glob("**/*.mot"))
    assert files
    for f in files:
        s = oio.read_storage(f)
        assert len(s) > 10 and np.all(np.diff(s.time_s) > 0)
    ik = oio.read_storage(DATA / "opensim_subject01_walk" / "subject01_walk1_ik.mot")
    assert ik.in_degrees  # "Angles are in degrees." style
    coords = oio.read_storage(DATA / "opensim_walk_rajagopal" / "coordinates.sto")
    assert not coords.in_degrees and coords.has("knee_angle_r")


@needs_data
@pytest.mark.data
@pytest.mark.parametrize("xml", ["opensim_walk_rajagopal/grf_walk.xml",
                                 "opensim_subject01_walk/subject01_walk1_grf.xml"])
def test_shared_external_loads_body_weight(xml):
    el = oio.read_external_loads(DATA / xml).in_ros_frame()
    assert set(el.contacts) == {"l", "r"}
    fz = el.contacts["l"].force_n[:, 2] + el.contacts["r"].force_n[:, 2]
    # walking: vertical GRF peaks at roughly 1.1-1.3 body weights (60-90 kg subjects)
    assert 600 < fz.max() < 1300 and fz.min() > -50


@needs_data
@pytest.mark.data
def test_hamner_grf_without_xml():
    s = oio.read_storage(DATA / "hamner_run_subject04" / "run300" / "grf.mot")
    el = oio.external_loads_from_storage(s, {
        side.lower(): (f"{side}_ground_force_v", f"{side}_ground_force_p", f"{side}_ground_torque_")
        for side in ("L", "R")}).in_ros_frame()
    assert el.contacts["r"].force_n[:, 2].max() > 1500  # running: > 2 BW for 80 kg
