"""Xsens MT Manager text exports (one `.txt` per sensor) and OpenSense IMU mapping files.

Export format: lines starting with `//` are comments (`// Update Rate: 100.0Hz` gives the output
rate), then a tab-separated header row and one row per packet; empty cells are missing values.
Columns used: `PacketCounter`, `SampleTimeFine` (10 kHz ticks, if filled), `Acc_X/Y/Z` (calibrated
specific force incl. gravity, m/s^2, sensor frame), `Gyr_X/Y/Z` (rad/s, if exported), orientation as
`Mat[i][j]` (rotation matrix, row i column j, sensor -> Xsens global frame; the sensor reads +g along
global z at rest, which the tests check) or `Quat_q0..q3` (w, x, y, z, sensor -> global).

Angular rate when there is no gyroscope column (`angular_rate_from_orientation`): body-frame rate from
consecutive orientations, omega_k = log(R_{k-1}^T R_{k+1}) / (t_{k+1} - t_{k-1}) (central difference on
SO(3), one-sided at the ends). That is the mean of the two adjacent forward differences
log(R_k^T R_{k+1}) / dt, i.e. a 2-tap moving average: the only smoothing applied. It is second-order
accurate, removes the half-sample delay of a forward difference and attenuates content near Nyquist
(gain cos(pi f / fs)); e.g. 0.95 at 10 Hz for 100 Hz data.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..motion import ImuSignals
from .errors import DataFormatError

DEFAULT_RATE_HZ = 100.0
PACKET_COUNTER_MODULO = 1 << 16
SAMPLE_TIME_FINE_HZ = 10_000.0
SAMPLE_TIME_FINE_MODULO = 1 << 32

# OpenSense IMU frame names (Rajagopal-type models) -> project segments. torso_imu has no segment.
OPENSIM_IMU_TO_SEGMENT: dict[str, str] = {
    "pelvis_imu": "pelvis",
    "femur_l_imu": "thigh_l",
    "femur_r_imu": "thigh_r",
    "tibia_l_imu": "shank_l",
    "tibia_r_imu": "shank_r",
    "calcn_l_imu": "foot_l",
    "calcn_r_imu": "foot_r",
    "talus_l_imu": "foot_l",
    "talus_r_imu": "foot_r",
}

_MAT = re.compile(r"^Mat\[([123])\]\[([123])\]$")


@dataclass
class XsensExport:
    """One sensor's export. Missing cells are NaN. `orientation` (N, 3, 3) sensor -> Xsens global
    (None if not exported); `angular_rate_source` is 'gyroscope' or 'orientation'."""

    path: Path
    rate_hz: float
    packet_counter: np.ndarray
    time_s: np.ndarray
    specific_force_m_s2: np.ndarray
    angular_rate_rad_s: np.ndarray
    orientation: np.ndarray | None
    angular_rate_source: str
    header: dict[str, str] = field(default_factory=dict)

    @property
    def serial(self) -> str:
        """Device id from the MT Manager file name `..._<serial>.txt`."""
        return self.path.stem.rsplit("_", 1)[-1]

    def to_imu_signals(self) -> ImuSignals:
        q = None
        if self.orientation is not None:
            q = np.full((len(self.time_s), 4), np.nan)
            ok = np.all(np.isfinite(self.orientation), axis=(1, 2))
            if ok.any():
                xyzw = Rotation.from_matrix(self.orientation[ok]).as_quat()
                q[ok] = xyzw[:, [3, 0, 1, 2]]
        return ImuSignals(time_s=self.time_s, specific_force_m_s2=self.specific_force_m_s2,
                          angular_rate_rad_s=self.angular_rate_rad_s, orientation_wxyz=q)


def angular_rate_from_orientation(rotation: np.ndarray, time_s: np.ndarray) -> np.ndarray:
    """Body-frame angular rate (N, 3) rad/s from orientations (N, 3, 3) sensor -> global.

    Central difference on SO(3) (see module docstring); NaN where a needed orientation is missing.
    """
    rotation = np.asarray(rotation, dtype=float)
    time_s = np.asarray(time_s, dtype=float)
    n = len(time_s)
    if rotation.shape != (n, 3, 3):
        raise ValueError(f"rotation: expected shape ({n}, 3, 3), got {rotation.shape}")
    out = np.full((n, 3), np.nan)
    if n < 2:
        return out
    lo = np.r_[0, np.arange(n - 2), n - 2]
    hi = np.r_[1, np.arange(2, n), n - 1]
    ok = np.all(np.isfinite(rotation[lo]), axis=(1, 2)) & np.all(np.isfinite(rotation[hi]), axis=(1, 2))
    if ok.any():
        rel = np.einsum("nji,njk->nik", rotation[lo[ok]], rotation[hi[ok]])
        # Re-orthonormalise (exports are rounded to 6 decimals) before taking the log.
        u, _, vt = np.linalg.svd(rel)
        rel = u @ vt
        out[ok] = Rotation.from_matrix(rel).as_rotvec() / (time_s[hi[ok]] - time_s[lo[ok]])[:, None]
    return out


def _unwrap(counter: np.ndarray, modulo: int) -> np.ndarray:
    steps = np.diff(counter)
    steps = np.where(steps < -modulo // 2, steps + modulo, steps)
    return counter[0] + np.r_[0, np.cumsum(steps)]


def read_xsens_export(path: str | Path, default_rate_hz: float = DEFAULT_RATE_HZ) -> XsensExport:
    """Read one MT Manager text export. Time from SampleTimeFine if filled, else PacketCounter /
    update rate (header `// Update Rate:`, else `default_rate_hz`); both counters are unwrapped and
    not re-zeroed, so sensors of one synchronised recording (shared counter) share a time base."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read: {exc}") from exc
    header: dict[str, str] = {}
    i = 0
    while i < len(lines) and (lines[i].startswith("//") or not lines[i].strip()):
        if ":" in lines[i]:
            key, value = lines[i][2:].split(":", 1)
            header[key.strip()] = value.strip()
        i += 1
    if i >= len(lines):
        raise DataFormatError(f"{path}: line {i + 1}: no header row after the // comments")
    cols = [c.strip() for c in lines[i].split("\t")]
    head_line = i + 1
    index = {c: k for k, c in enumerate(cols) if c}
    if len(index) != len([c for c in cols if c]):
        raise DataFormatError(f"{path}: line {head_line}: duplicate column names")
    for need in ("PacketCounter", "Acc_X", "Acc_Y", "Acc_Z"):
        if need not in index:
            raise DataFormatError(f"{path}: line {head_line}: column {need!r} missing")
    mat_cols = {(int(m.group(1)) - 1, int(m.group(2)) - 1): k
                for c, k in index.items() if (m := _MAT.match(c))}
    has_mat = len(mat_cols) == 9
    if mat_cols and not has_mat:
        raise DataFormatError(f"{path}: line {head_line}: incomplete rotation matrix columns "
                              f"({len(mat_cols)} of 9 Mat[i][j])")
    quat = [f"Quat_q{k}" for k in range(4)]
    has_quat = all(q in index for q in quat)
    gyr = ["Gyr_X", "Gyr_Y", "Gyr_Z"]
    has_gyr = all(g in index for g in gyr)
    if not (has_gyr or has_mat or has_quat):
        raise DataFormatError(f"{path}: line {head_line}: needs Gyr_X/Y/Z or an orientation "
                              "(Mat[i][j] or Quat_q0..q3) to give an angular rate")

    wanted = ["PacketCounter", "SampleTimeFine", "Acc_X", "Acc_Y", "Acc_Z", *gyr, *quat,
              *(c for c in index if _MAT.match(c))]
    wanted = [w for w in wanted if w in index]
    data: dict[str, list[float]] = {w: [] for w in wanted}
    for lineno, line in enumerate(lines[head_line:], start=head_line + 1):
        if not line.strip() or line.startswith("//"):
            continue
        cells = line.split("\t")
        if len(cells) > len(cols) and any(c.strip() for c in cells[len(cols):]):
            raise DataFormatError(f"{path}: line {lineno}: {len(cells)} cells, header has {len(cols)}")
        for w in wanted:
            k = index[w]
            cell = cells[k].strip() if k < len(cells) else ""
            if not cell:
                data[w].append(np.nan)
                continue
            try:
                data[w].append(float(cell))
            except ValueError:
                raise DataFormatError(f"{path}: line {lineno}: field {w!r} is not a number: "
                                      f"{cell!r}") from None
    arr = {w: np.asarray(v, dtype=float) for w, v in data.items()}
    n = len(arr["PacketCounter"])
    if n == 0:
        raise DataFormatError(f"{path}: line {len(lines) + 1}: no data rows")
    if not np.all(np.isfinite(arr["PacketCounter"])):
        first_bad = int(np.flatnonzero(~np.isfinite(arr["PacketCounter"]))[0])
        raise DataFormatError(f"{path}: data row {first_bad + 1}: field 'PacketCounter' is empty")

    rate_hz = float(default_rate_hz)
    if "Update Rate" in header:
        m = re.match(r"^\s*([0-9.]+)\s*Hz", header["Update Rate"])
        if not m:
            raise DataFormatError(f"{path}: header field 'Update Rate' unreadable: {header['Update Rate']!r}")
        rate_hz = float(m.group(1))
    if not np.isfinite(rate_hz) or rate_hz <= 0:
        raise DataFormatError(f"{path}: header field 'Update Rate' must be positive, got {rate_hz}")

    stf = arr.get("SampleTimeFine")
    if stf is not None and np.all(np.isfinite(stf)):
        ticks = _unwrap(stf.astype(np.int64), SAMPLE_TIME_FINE_MODULO)
        time_s = ticks / SAMPLE_TIME_FINE_HZ
        clock = "SampleTimeFine"
    else:
        counts = _unwrap(arr["PacketCounter"].astype(np.int64), PACKET_COUNTER_MODULO)
        time_s = counts / rate_hz
        clock = "PacketCounter"
    bad = np.flatnonzero(np.diff(time_s) <= 0)
    if bad.size:
        raise DataFormatError(f"{path}: data row {bad[0] + 2}: field {clock!r} does not increase")

    acc = np.column_stack([arr["Acc_X"], arr["Acc_Y"], arr["Acc_Z"]])
    orientation: np.ndarray | None = None
    if has_mat:
        orientation = np.empty((n, 3, 3))
        for (row, col), k in mat_cols.items():
            orientation[:, row, col] = arr[cols[k]]
    elif has_quat:
        q = np.column_stack([arr[c] for c in quat])
        orientation = np.full((n, 3, 3), np.nan)
        ok = np.all(np.isfinite(q), axis=1) & (np.linalg.norm(q, axis=1) > 0.5)
        if ok.any():
            orientation[ok] = Rotation.from_quat(q[ok][:, [1, 2, 3, 0]]).as_matrix()
    if has_gyr:
        rate = np.column_stack([arr[g] for g in gyr])
        source = "gyroscope"
    else:
        assert orientation is not None  # checked above: a rate needs Gyr_* or an orientation
        rate = angular_rate_from_orientation(orientation, time_s)
        source = "orientation"
    return XsensExport(path=path, rate_hz=rate_hz, packet_counter=arr["PacketCounter"].astype(np.int64),
                       time_s=time_s, specific_force_m_s2=acc, angular_rate_rad_s=rate,
                       orientation=orientation, angular_rate_source=source, header=header)


def read_imu_mappings(xml_path: str | Path) -> dict[str, str]:
    """OpenSense `XsensDataReaderSettings` file -> {serial (no leading '_'): OpenSim IMU frame name}."""
    xml_path = Path(xml_path)
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise DataFormatError(f"{xml_path}: not a readable XML file ({exc})") from exc
    out: dict[str, str] = {}
    sensors = root.findall(".//ExperimentalSensor")
    if not sensors:
        raise DataFormatError(f"{xml_path}: no <ExperimentalSensor> elements")
    for el in sensors:
        name = (el.get("name") or "").strip().lstrip("_")
        frame = (el.findtext("name_in_model") or "").strip()
        if not name or not frame:
            raise DataFormatError(f"{xml_path}: <ExperimentalSensor name={el.get('name')!r}> needs a name "
                                  "and a <name_in_model>")
        out[name] = frame
    return out


def trial_prefix(xml_path: str | Path) -> str:
    """The `<trial_prefix>` of an OpenSense mappings file ('' when absent)."""
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise DataFormatError(f"{xml_path}: not a readable XML file ({exc})") from exc
    return (root.findtext(".//trial_prefix") or "").strip()


def read_xsens_trial(directory: str | Path, mappings_xml: str | Path | None = None,
                     default_rate_hz: float = DEFAULT_RATE_HZ) -> dict[str, ImuSignals]:
    """All sensors of an OpenSense-style trial folder -> {project segment: ImuSignals}.

    Uses `myIMUMappings.xml` (or `mappings_xml`) to map serials to OpenSim frames and
    OPENSIM_IMU_TO_SEGMENT to project segments; sensors without a segment (torso) are skipped.
    """
    directory = Path(directory)
    xml = Path(mappings_xml) if mappings_xml else directory / "myIMUMappings.xml"
    mapping = read_imu_mappings(xml)
    prefix = trial_prefix(xml)
    out: dict[str, ImuSignals] = {}
    for serial, frame in mapping.items():
        seg = OPENSIM_IMU_TO_SEGMENT.get(frame)
        if seg is None:
            continue
        files = sorted(directory.glob(f"{prefix}*_{serial}.txt"))
        if len(files) != 1:
            raise DataFormatError(f"{xml}: sensor {serial} ({frame}): expected one file "
                                  f"{prefix}*_{serial}.txt in {directory}, found {len(files)}")
        if seg in out:
            raise DataFormatError(f"{xml}: two sensors map to segment {seg!r}")
        out[seg] = read_xsens_export(files[0], default_rate_hz).to_imu_signals()
    return out
