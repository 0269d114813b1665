"""OpenSim storage files (.sto/.mot) and external-loads (ground reaction force) files.

Reads every header style found in ../shared/data: `key=value` lines (`inDegrees=yes/no`, `nRows=..`),
the old free-text style ("Angles are in degrees."), and the old GRF style (`datacolumns 19`,
`datarows 9009`, `range a b`). The header ends at `endheader`; then one row of tab-separated column
names whose first is `time`, then numbers. Column names may be full component paths
(`/jointset/hip_r/hip_flexion_r/value`); `Storage.column("hip_flexion_r")` finds them by short name.
Values are returned as stored (OpenSim ground frame: X forward, Y up, Z right); `coordinates_rad`
converts angles to radians and `ExternalLoads.in_ros_frame` converts GRF to the project's ground frame.
A malformed file raises `DataFormatError` naming the file and line or field.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..body import R_OSIM_TO_ROS
from ..motion import FootContact
from .errors import DataFormatError

_PATH_COLUMN = re.compile(r"^/.*/([^/]+)/(value|speed|acceleration)$")
_TRANSLATION_SUFFIXES = ("_tx", "_ty", "_tz")


def short_name(column: str) -> str:
    """'/jointset/hip_r/hip_flexion_r/value' -> 'hip_flexion_r'; '.../speed' -> 'hip_flexion_r_speed'.
    Other names are returned unchanged."""
    m = _PATH_COLUMN.match(column)
    if not m:
        return column
    return m.group(1) if m.group(2) == "value" else f"{m.group(1)}_{m.group(2)}"


@dataclass
class Storage:
    """One OpenSim table. time_s (N,), columns name -> (N,) as stored (file units), in_degrees from the
    header (False when the header says nothing), header: key -> value strings."""

    time_s: np.ndarray
    columns: dict[str, np.ndarray]
    in_degrees: bool = False
    header: dict[str, str] = field(default_factory=dict)
    name: str = ""
    path: str = ""

    def __post_init__(self) -> None:
        self._short = {short_name(c): c for c in self.columns}

    def column(self, name: str) -> np.ndarray:
        """Column by exact or short name; ValueError naming the file and the column if absent."""
        if name in self.columns:
            return self.columns[name]
        if name in self._short:
            return self.columns[self._short[name]]
        where = f" in {self.path}" if self.path else ""
        raise ValueError(f"column {name!r} not found{where}; available: {sorted(self._short)}")

    def has(self, name: str) -> bool:
        return name in self.columns or name in self._short

    @property
    def short_names(self) -> list[str]:
        return [short_name(c) for c in self.columns]

    def __len__(self) -> int:
        return int(self.time_s.shape[0])


def _parse_header(lines: list[str], path: str) -> tuple[dict[str, str], bool, str, int]:
    """Returns header dict, in_degrees, table name, index of the line after `endheader`."""
    header: dict[str, str] = {}
    in_degrees = False
    name = ""
    for i, raw in enumerate(lines):
        line = raw.strip()
        if line.lower() == "endheader":
            return header, in_degrees, name, i + 1
        if not line:
            continue
        if "=" in line:
            k, v = (s.strip() for s in line.split("=", 1))
            header[k] = v
            if k.lower() == "indegrees":
                if v.lower() not in ("yes", "no"):
                    raise DataFormatError(f"{path}: line {i + 1}: inDegrees must be yes or no, got {v!r}")
                in_degrees = v.lower() == "yes"
        elif "angles are in degrees" in line.lower():
            in_degrees = True
        elif "angles are in radians" in line.lower():
            in_degrees = False
        else:
            parts = line.split(None, 1)
            if len(parts) == 2 and parts[0] in ("name", "datacolumns", "datarows", "range"):
                header[parts[0]] = parts[1].strip()
                if parts[0] == "name":
                    name = parts[1].strip()
            elif i == 0:
                name = line
            else:
                header.setdefault("comments", "")
                header["comments"] += line + "\n"
    raise DataFormatError(f"{path}: no 'endheader' line; not an OpenSim storage file")


def read_storage(path: str | Path) -> Storage:
    """Read an OpenSim .sto/.mot file. Raises DataFormatError (a ValueError) naming file and line."""
    p = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise FileNotFoundError(f"{p}: cannot read OpenSim storage: {exc.strerror}") from None
    lines = text.splitlines()
    header, in_degrees, name, start = _parse_header(lines, p)
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start >= len(lines):
        raise DataFormatError(f"{p}: no column-name line after 'endheader'")
    head_line = lines[start]
    names = [c.strip() for c in (head_line.split("\t") if "\t" in head_line else head_line.split())]
    while names and names[-1] == "":
        names.pop()
    if not names or names[0].lower() != "time":
        raise DataFormatError(f"{p}: line {start + 1}: first column must be 'time', got {names[:1]}")
    if any(not c for c in names):
        raise DataFormatError(f"{p}: line {start + 1}: empty column name")
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise DataFormatError(f"{p}: line {start + 1}: duplicate column name(s) {dup}")
    ncol = len(names)
    rows: list[list[float]] = []
    for i in range(start + 1, len(lines)):
        parts = lines[i].split()
        if not parts:
            continue
        if len(parts) != ncol:
            raise DataFormatError(f"{p}: line {i + 1}: {len(parts)} values but {ncol} columns")
        try:
            row = [float(x) for x in parts]
        except ValueError:
            bad = next(x for x in parts if not _is_float(x))
            col = names[parts.index(bad)]
            raise DataFormatError(f"{p}: line {i + 1}, column {col!r}: not a number: {bad!r}") from None
        rows.append(row)
    data = np.array(rows, dtype=float).reshape(len(rows), ncol)
    # nRows/datarows are not checked: trimmed files in the wild keep the untrimmed count (hamner GRF).
    time_s = data[:, 0]
    if not np.all(np.isfinite(time_s)):
        raise DataFormatError(f"{p}: column 'time' has non-finite values")
    if time_s.size > 1 and not np.all(np.diff(time_s) > 0):
        k = int(np.argmax(np.diff(time_s) <= 0))
        raise DataFormatError(f"{p}: line {start + 3 + k}: time is not strictly increasing "
                              f"({time_s[k]} then {time_s[k + 1]})")
    cols = {c: data[:, j].copy() for j, c in enumerate(names) if j > 0}
    return Storage(time_s.copy(), cols, in_degrees, header, name or Path(p).stem, p)


def _is_float(x: str) -> bool:
    try:
        float(x)
    except ValueError:
        return False
    return True


def write_storage(path: str | Path, storage: Storage) -> None:
    """Write a Storage as an OpenSim 4 .sto (key=value header, tab-separated, full precision)."""
    names = list(storage.columns)
    n = len(storage)
    lines = [storage.name or "table", "version=1", f"nRows={n}", f"nColumns={len(names) + 1}",
             f"inDegrees={'yes' if storage.in_degrees else 'no'}", "endheader",
             "\t".join(["time", *names])]
    data = np.column_stack([storage.time_s, *(storage.columns[c] for c in names)]) if n else np.zeros((0, 0))
    lines += ["\t".join(repr(float(v)) for v in row) for row in data]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def is_translation(coordinate: str) -> bool:
    """True for translational OpenSim coordinates by name (pelvis_tx/ty/tz and any other *_tx/ty/tz)."""
    return short_name(coordinate).endswith(_TRANSLATION_SUFFIXES)


def coordinates_rad(storage: Storage, translational: set[str] | None = None) -> Storage:
    """Copy of a coordinate table with rotational coordinates in radians (translations stay metres).

    `translational`: short names of translational coordinates; default: names ending in _tx/_ty/_tz
    (OpenSim's convention; pass the model's list for models with other translational coordinates).
    """
    cols = {}
    for c, v in storage.columns.items():
        s = short_name(c)
        trans = s in translational if translational is not None else is_translation(s)
        cols[c] = np.deg2rad(v) if storage.in_degrees and not trans else v.copy()
    return Storage(storage.time_s.copy(), cols, False, dict(storage.header), storage.name, storage.path)


# --------------------------------------------------------------------------------------------------
@dataclass
class ExternalLoads:
    """Ground reaction loads per foot ('l'/'r') on `time_s`, in the frame named by `frame`
    ('opensim': X forward, Y up, Z right; 'ros': x forward, y left, z up)."""

    time_s: np.ndarray
    contacts: dict[str, FootContact]
    applied_to_body: dict[str, str]
    frame: str = "opensim"

    def in_ros_frame(self) -> ExternalLoads:
        if self.frame == "ros":
            return self
        r = R_OSIM_TO_ROS
        contacts = {s: FootContact(c.force_n @ r.T, c.cop_m @ r.T, c.free_moment_nm @ r.T)
                    for s, c in self.contacts.items()}
        return ExternalLoads(self.time_s, contacts, dict(self.applied_to_body), "ros")

    def resampled(self, time_s: np.ndarray) -> ExternalLoads:
        """Linear interpolation onto `time_s` (must lie within the recorded span)."""
        t = np.asarray(time_s, dtype=float)
        if t.size and (t[0] < self.time_s[0] - 1e-9 or t[-1] > self.time_s[-1] + 1e-9):
            raise ValueError(f"resampled: requested {t[0]}..{t[-1]} s outside the GRF record "
                             f"{self.time_s[0]}..{self.time_s[-1]} s")

        def interp(a: np.ndarray) -> np.ndarray:
            return np.column_stack([np.interp(t, self.time_s, a[:, k]) for k in range(3)])

        contacts = {s: FootContact(interp(c.force_n), interp(c.cop_m), interp(c.free_moment_nm))
                    for s, c in self.contacts.items()}
        return ExternalLoads(t, contacts, dict(self.applied_to_body), self.frame)


def side_of_body(body_name: str) -> str:
    """OpenSim foot body -> 'l'/'r' ('calcn_r' -> 'r'); ValueError when no side suffix."""
    if body_name.endswith("_r"):
        return "r"
    if body_name.endswith("_l"):
        return "l"
    raise ValueError(f"cannot tell the side of body {body_name!r} (expected a name ending in _l/_r)")


def _triplet(storage: Storage, prefix: str, xml_path: str, what: str) -> np.ndarray:
    for sep in ("", "_"):
        names = [f"{prefix}{sep}{a}" for a in "xyz"]
        if all(storage.has(n) for n in names):
            return np.column_stack([storage.column(n) for n in names])
    raise DataFormatError(f"{xml_path}: {what} identifier {prefix!r}: columns {prefix}x/y/z not found in "
                          f"{storage.path}")


def _contact(storage: Storage, force_id: str, point_id: str, torque_id: str, where: str,
             fname: str) -> FootContact:
    force = _triplet(storage, force_id, where, "force")
    point = _triplet(storage, point_id, where, "point")
    torque = _triplet(storage, torque_id, where, "torque") if torque_id else np.zeros_like(force)
    for arr, what, ident in ((force, "force", force_id), (torque, "torque", torque_id)):
        if not np.all(np.isfinite(arr)):
            raise DataFormatError(f"{where}: ExternalForce {fname!r}: NaN/inf in {what} columns "
                                  f"{ident}* of {storage.path}")
    return FootContact(force, point, torque)


def external_loads_from_storage(storage: Storage,
                                identifiers: dict[str, tuple[str, str, str]]) -> ExternalLoads:
    """Per-foot contacts from a GRF table without an XML: identifiers side -> (force prefix, point
    prefix, torque prefix), e.g. {"r": ("R_ground_force_v", "R_ground_force_p", "R_ground_torque_")}.
    Columns are <prefix>x/y/z or <prefix>_x/y/z, OpenSim ground frame."""
    contacts = {}
    for side, (f_id, p_id, t_id) in identifiers.items():
        if side not in ("l", "r"):
            raise ValueError(f"identifiers: unknown side {side!r}; use 'l' and 'r'")
        contacts[side] = _contact(storage, f_id, p_id, t_id, storage.path, side)
    return ExternalLoads(storage.time_s, contacts, dict.fromkeys(contacts, ""), "opensim")


def read_external_loads(xml_path: str | Path, mot_path: str | Path | None = None) -> ExternalLoads:
    """Read an OpenSim ExternalLoads XML and its data file into per-foot contacts (OpenSim ground).

    Each ExternalForce's `applied_to_body` (calcn_r, talus_l, ...) decides the side. Force and point
    must be expressed in ground. The force acts at the point; the torque columns are the free moment.
    `mot_path` defaults to the XML's <datafile>, relative to the XML's folder.
    """
    xp = str(xml_path)
    try:
        root = ET.parse(xp).getroot()
    except ET.ParseError as exc:
        raise DataFormatError(f"{xp}: line {exc.position[0]}: malformed XML: {exc}") from None
    except OSError as exc:
        raise FileNotFoundError(f"{xp}: cannot read external loads: {exc.strerror}") from None
    el = root if root.tag == "ExternalLoads" else root.find("ExternalLoads")
    if el is None:
        raise DataFormatError(f"{xp}: no <ExternalLoads> element")
    if mot_path is None:
        df = (el.findtext("datafile") or "").strip()
        if not df:
            raise DataFormatError(f"{xp}: <datafile> is empty and no data file was given")
        mot_path = Path(xp).parent / df
    storage = read_storage(mot_path)
    contacts: dict[str, FootContact] = {}
    bodies: dict[str, str] = {}
    for ef in el.iter("ExternalForce"):
        fname = ef.get("name", "?")
        if (ef.findtext("appliesForce") or "true").strip().lower() == "false":
            continue
        body_name = (ef.findtext("applied_to_body") or "").strip()
        try:
            side = side_of_body(body_name)
        except ValueError as exc:
            raise DataFormatError(f"{xp}: ExternalForce {fname!r}: applied_to_body: {exc}") from None
        for tag in ("force_expressed_in_body", "point_expressed_in_body"):
            val = (ef.findtext(tag) or "ground").strip()
            if val != "ground":
                raise DataFormatError(f"{xp}: ExternalForce {fname!r}: {tag}={val!r} is not supported "
                                      "(only 'ground')")
        if side in contacts:
            raise DataFormatError(f"{xp}: ExternalForce {fname!r}: a second force on side {side!r} "
                                  f"({body_name}); one force per foot is supported")
        ids = {k: (ef.findtext(f"{k}_identifier") or "").strip() for k in ("force", "point", "torque")}
        if not ids["force"] or not ids["point"]:
            raise DataFormatError(f"{xp}: ExternalForce {fname!r}: force_identifier and "
                                  "point_identifier are required")
        contacts[side] = _contact(storage, ids["force"], ids["point"], ids["torque"], xp, fname)
        bodies[side] = body_name
    if not contacts:
        raise DataFormatError(f"{xp}: no applied ExternalForce found")
    return ExternalLoads(storage.time_s, contacts, bodies, "opensim")

