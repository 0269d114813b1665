"""C3D motion-capture files through `ezc3d`: markers, analog channels and force platforms.

Everything is returned in SI units in the file's own laboratory frame (no axis change): markers in
metres, forces in N, moments in N m, centre of pressure in m. Force-platform wrenches come from
ezc3d's platform support (it applies the calibration matrix and the plate-to-lab transform for
platform types 1-4). The sign is normalised so the returned force is the force of the ground on the
subject: labs differ in whether their channels give action or reaction, so if the vertical component is
negative while a plate is loaded, force and free moment are flipped (`ForcePlate.flipped` says so).
Channel offsets are not removed (the raw zero level is kept; CoP is NaN below LOADED_THRESHOLD_N).
Zipped files (`*.c3d.zip`, one C3D inside) are read through a temporary extraction.
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..extras import require
from .errors import DataFormatError

_LENGTH_TO_M = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}
_MOMENT_TO_NM = {"nmm": 1e-3, "nm": 1.0, "n.mm": 1e-3, "n.m": 1.0}
# Plates of the shared walks carry 14-27 N of uncorrected channel offset: "loaded" needs more than that.
LOADED_THRESHOLD_N = 50.0


@dataclass
class ForcePlate:
    """One force platform, lab frame, sampled at the analog rate.

    force_n (M, 3): ground-on-subject force; cop_m (M, 3): centre of pressure (NaN where unloaded);
    free_moment_nm (M, 3): free moment about the plate normal through the CoP (ground on subject);
    corners_m (4, 3) and centre_m (3,): plate geometry (lab); origin_m (3,): FORCE_PLATFORM:ORIGIN as
    ezc3d reports it (plate frame, from the surface centre to the sensor origin); channels: 1-based
    analog channel numbers.
    """

    index: int
    plate_type: int
    corners_m: np.ndarray
    centre_m: np.ndarray
    channels: tuple[int, ...]
    force_n: np.ndarray
    cop_m: np.ndarray
    free_moment_nm: np.ndarray
    origin_m: np.ndarray = field(default_factory=lambda: np.zeros(3))
    flipped: bool = False

    def loaded(self, threshold_n: float = LOADED_THRESHOLD_N) -> np.ndarray:
        """(M,) bool: plate carries more than `threshold_n` along its normal."""
        return np.abs(self.force_n @ self.normal) > threshold_n

    @property
    def normal(self) -> np.ndarray:
        """Unit normal of the plate surface pointing towards the subject (lab frame)."""
        c = self.corners_m
        n = np.cross(c[1] - c[0], c[2] - c[0])
        n = n / np.linalg.norm(n)
        return n if n[np.argmax(np.abs(n))] > 0 else -n


@dataclass
class C3DData:
    """Contents of one C3D file in SI units (lab frame). time_s: point frames; analog_time_s: analogs.

    Points that the file lists as model outputs (POINT:ANGLES/FORCES/MOMENTS/POWERS, e.g. Plug-in-Gait
    joint angles and moments) are not markers: they are in `model_outputs` as stored, with their unit
    (POINT:ANGLE_UNITS etc.; Vicon moments are per kg of body mass) in `model_output_units`."""

    path: Path
    point_rate_hz: float
    analog_rate_hz: float
    time_s: np.ndarray
    markers: dict[str, np.ndarray]
    analog_time_s: np.ndarray
    analogs: dict[str, np.ndarray]
    analog_units: dict[str, str]
    force_plates: list[ForcePlate] = field(default_factory=list)
    parameters: dict[str, dict[str, object]] = field(default_factory=dict)
    model_outputs: dict[str, np.ndarray] = field(default_factory=dict)
    model_output_units: dict[str, str] = field(default_factory=dict)

    @property
    def marker_names(self) -> list[str]:
        return list(self.markers)


def _param(path: Path, params: dict, group: str, name: str) -> Any:
    try:
        return params[group][name]["value"]
    except KeyError:
        raise DataFormatError(f"{path}: parameter {group}:{name} missing") from None


def _ezc3d_read(path: Path):
    require("ezc3d")
    import ezc3d  # lazy: heavy compiled module, only needed for C3D

    try:
        return ezc3d.c3d(str(path), extract_forceplat_data=True)
    except Exception as exc:  # ezc3d raises RuntimeError/IOError/ValueError on corrupt files
        raise DataFormatError(f"{path}: not a readable C3D file ({type(exc).__name__}: {exc})") from exc


def read_c3d(path: str | Path) -> C3DData:
    """Read markers, analogs and force platforms of a `.c3d` (or a `.c3d.zip` holding one)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(path) as z:
                inner = [n for n in z.namelist() if n.lower().endswith(".c3d")]
                if len(inner) != 1:
                    raise DataFormatError(f"{path}: expected exactly one .c3d inside the zip, found {inner}")
                with tempfile.TemporaryDirectory() as tmp:
                    extracted = Path(z.extract(inner[0], tmp))
                    data = _read_c3d_file(extracted, shown_as=path)
        except zipfile.BadZipFile as exc:
            raise DataFormatError(f"{path}: not a valid zip archive ({exc})") from exc
        return data
    return _read_c3d_file(path, shown_as=path)


def _read_c3d_file(path: Path, shown_as: Path) -> C3DData:
    c = _ezc3d_read(path)
    path = shown_as
    params = c["parameters"]
    header = c["header"]
    point_rate = float(header["points"]["frame_rate"])
    analog_rate = float(header["analogs"]["frame_rate"])
    first = int(header["points"]["first_frame"])
    pts = np.asarray(c["data"]["points"], dtype=float)  # (4, n_markers, N)
    labels = list(_param(path, params, "POINT", "LABELS")) if pts.shape[1] else []
    if len(labels) < pts.shape[1]:
        raise DataFormatError(f"{path}: parameter POINT:LABELS has {len(labels)} names for "
                              f"{pts.shape[1]} points")
    n = pts.shape[2]
    if n and (not np.isfinite(point_rate) or point_rate <= 0):
        raise DataFormatError(f"{path}: header field points.frame_rate must be positive, got {point_rate}")
    unit_values = list(params.get("POINT", {}).get("UNITS", {}).get("value", [])) or ["mm"]
    units = str(unit_values[0])
    if units.strip().lower() not in _LENGTH_TO_M:
        raise DataFormatError(f"{path}: parameter POINT:UNITS {units!r} is not a length unit "
                              f"({sorted(_LENGTH_TO_M)})")
    scale = _LENGTH_TO_M[units.strip().lower()]
    point = params.get("POINT", {})
    output_unit: dict[str, str] = {}
    for group, unit_key in (("ANGLES", "ANGLE_UNITS"), ("FORCES", "FORCE_UNITS"), ("MOMENTS", "MOMENT_UNITS"),
                            ("POWERS", "POWER_UNITS")):
        units_v = list(point.get(unit_key, {}).get("value", [])) or [""]
        for lab in point.get(group, {}).get("value", []):
            output_unit[str(lab).strip()] = str(units_v[0])
    markers: dict[str, np.ndarray] = {}
    outputs: dict[str, np.ndarray] = {}
    for k in range(pts.shape[1]):
        name = str(labels[k]).strip()
        if name in output_unit:
            outputs[name] = pts[:3, k, :].T.copy()
            continue
        xyz = pts[:3, k, :].T * scale
        if name in markers:  # duplicated labels exist in the wild: keep the first, suffix the rest
            name = f"{name}#{k}"
        markers[name] = xyz
    time_s = (first + np.arange(n)) / point_rate if n else np.zeros(0)

    an = np.asarray(c["data"]["analogs"], dtype=float)  # (1, n_channels, M)
    an = an.reshape(an.shape[-2], an.shape[-1]) if an.size else np.zeros((0, 0))
    a_labels = [str(x).strip() for x in params.get("ANALOG", {}).get("LABELS", {}).get("value", [])]
    a_units = [str(x).strip() for x in params.get("ANALOG", {}).get("UNITS", {}).get("value", [])]
    analogs: dict[str, np.ndarray] = {}
    analog_units: dict[str, str] = {}
    for k in range(an.shape[0]):
        name = a_labels[k] if k < len(a_labels) and a_labels[k] else f"channel_{k + 1}"
        if name in analogs:
            name = f"{name}#{k + 1}"
        analogs[name] = an[k]
        analog_units[name] = a_units[k] if k < len(a_units) else ""
    m = an.shape[1]
    analog_time_s = (first / point_rate + np.arange(m) / analog_rate) if m else np.zeros(0)

    plates = [_plate(path, k, pf, params) for k, pf in enumerate(c["data"].get("platform", []))]
    keep = {g: {k: v.get("value") for k, v in params[g].items() if isinstance(v, dict) and "value" in v}
            for g in ("SUBJECTS", "PROCESSING", "TRIAL") if g in params}
    return C3DData(path=path, point_rate_hz=point_rate, analog_rate_hz=analog_rate, time_s=time_s,
                   markers=markers, analog_time_s=analog_time_s, analogs=analogs,
                   analog_units=analog_units, force_plates=plates, parameters=keep, model_outputs=outputs,
                   model_output_units={k: output_unit[k] for k in outputs})


def _plate(path: Path, k: int, pf: dict, params: dict) -> ForcePlate:
    pos = _LENGTH_TO_M.get(str(pf.get("unit_position", "mm")).strip().lower())
    mom = _MOMENT_TO_NM.get(str(pf.get("unit_moment", "Nmm")).strip().lower())
    if pos is None or mom is None or str(pf.get("unit_force", "N")).strip() != "N":
        raise DataFormatError(f"{path}: force platform {k + 1}: unsupported units "
                              f"{pf.get('unit_force')}/{pf.get('unit_moment')}/{pf.get('unit_position')}")
    force = np.asarray(pf["force"], dtype=float).T
    cop = np.asarray(pf["center_of_pressure"], dtype=float).T * pos
    tz = np.asarray(pf["Tz"], dtype=float).T * mom
    corners = np.asarray(pf["corners"], dtype=float).T * pos
    types = np.atleast_1d(params.get("FORCE_PLATFORM", {}).get("TYPE", {}).get("value", [0]))
    chans = np.asarray(params.get("FORCE_PLATFORM", {}).get("CHANNEL", {}).get("value", np.zeros((6, 0))))
    channels = tuple(int(x) for x in chans[:, k]) if chans.ndim == 2 and chans.shape[1] > k else ()
    plate = ForcePlate(index=k, plate_type=int(types[k]) if k < len(types) else 0, corners_m=corners,
                       centre_m=corners.mean(axis=0), channels=channels, force_n=force, cop_m=cop,
                       free_moment_nm=tz, origin_m=np.asarray(pf["origin"], dtype=float) * pos)
    fn = force @ plate.normal
    big = np.abs(fn) > LOADED_THRESHOLD_N
    if big.any() and np.sum(fn[big]) < 0:
        plate.force_n = -force
        plate.free_moment_nm = -tz
        plate.flipped = True
    unloaded = ~plate.loaded()
    plate.cop_m[unloaded] = np.nan
    # ezc3d's free moment is undefined (NaN) where the normal force is ~0: no load, no free moment.
    plate.free_moment_nm[~np.isfinite(plate.free_moment_nm)] = 0.0
    return plate
