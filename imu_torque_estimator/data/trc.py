"""OpenSim / Motion Analysis `.trc` marker files: read and write.

Layout: line 1 `PathFileType ...`, line 2 header keys (DataRate, CameraRate, NumFrames, NumMarkers,
Units, ...), line 3 their values, line 4 `Frame#  Time  <name>  <tab> <tab> <name> ...`, line 5 the
`X1 Y1 Z1 ...` labels, then (optionally after a blank line) one tab-separated row per frame. Empty
cells or short rows are missing markers (NaN). Coordinates are returned in metres in the file's own
lab frame (OpenSim files: X forward, Y up, Z right); no axis change is applied here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataFormatError

UNIT_TO_M = {"mm": 1e-3, "cm": 1e-2, "m": 1.0, "meters": 1.0, "millimeters": 1e-3}


@dataclass
class MarkerData:
    """Marker trajectories: time_s (N,), markers[name] (N, 3) in metres (NaN = missing), rate_hz."""

    time_s: np.ndarray
    markers: dict[str, np.ndarray]
    rate_hz: float
    source_units: str = "m"

    @property
    def names(self) -> list[str]:
        return list(self.markers)

    def __len__(self) -> int:
        return int(self.time_s.shape[0])


def _float(path: Path, lineno: int, field: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataFormatError(f"{path}: line {lineno}: field {field!r} is not a number: {text!r}") from None


def read_trc(path: str | Path) -> MarkerData:
    """Read a `.trc` file; positions converted to metres from the header's Units (mm, cm, m)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read: {exc}") from exc
    lines = text.splitlines()
    if len(lines) < 5:
        raise DataFormatError(f"{path}: line {len(lines) + 1}: truncated header (a .trc has 5 header lines)")
    if not lines[0].startswith("PathFileType"):
        raise DataFormatError(f"{path}: line 1: expected 'PathFileType', got {lines[0][:40]!r}")
    keys = lines[1].split("\t")
    vals = lines[2].split("\t")
    # Some writers pad with empty cells (double tabs); pair non-empty keys with non-empty values.
    keys = [k.strip() for k in keys if k.strip()]
    vals = [v.strip() for v in vals if v.strip()]
    if len(vals) < len(keys):
        raise DataFormatError(f"{path}: line 3: {len(keys)} header keys but {len(vals)} values")
    header = dict(zip(keys, vals, strict=False))
    for required in ("DataRate", "NumMarkers", "Units"):
        if required not in header:
            raise DataFormatError(f"{path}: line 2: header field {required!r} missing")
    rate_hz = _float(path, 3, "DataRate", header["DataRate"])
    if not np.isfinite(rate_hz) or rate_hz <= 0:
        raise DataFormatError(f"{path}: line 3: field 'DataRate' must be positive, got {rate_hz}")
    units = header["Units"]
    if units.lower() not in UNIT_TO_M:
        raise DataFormatError(f"{path}: line 3: field 'Units' {units!r} unknown; expected one of "
                              f"{sorted(UNIT_TO_M)}")
    scale = UNIT_TO_M[units.lower()]
    try:
        n_markers = int(header["NumMarkers"])
    except ValueError:
        raise DataFormatError(f"{path}: line 3: field 'NumMarkers' is not an integer: "
                              f"{header['NumMarkers']!r}") from None
    names_row = lines[3].split("\t")
    if len(names_row) < 2 or names_row[0].strip() != "Frame#" or names_row[1].strip() != "Time":
        raise DataFormatError(f"{path}: line 4: expected 'Frame#<TAB>Time<TAB>marker names'")
    names = [n.strip() for n in names_row[2:] if n.strip()]
    if len(names) != n_markers:
        raise DataFormatError(f"{path}: line 4: {len(names)} marker names but NumMarkers={n_markers}")
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DataFormatError(f"{path}: line 4: duplicate marker names {dup}")

    n_cols = 2 + 3 * n_markers
    rows: list[np.ndarray] = []
    for i, line in enumerate(lines[5:], start=6):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) > n_cols and any(c.strip() for c in cells[n_cols:]):
            raise DataFormatError(f"{path}: line {i}: {len(cells)} columns, more than the "
                                  f"{n_cols} that {n_markers} markers need")
        row = np.full(n_cols, np.nan)
        for j, c in enumerate(cells[:n_cols]):
            c = c.strip()
            if c:
                field = ("Frame#" if j == 0 else "Time" if j == 1
                         else f"{names[(j - 2) // 3]}.{'XYZ'[(j - 2) % 3]}")
                row[j] = _float(path, i, field, c)
        if not np.isfinite(row[1]):
            raise DataFormatError(f"{path}: line {i}: field 'Time' is empty")
        rows.append(row)
    if not rows:
        raise DataFormatError(f"{path}: line {len(lines) + 1}: no data rows")
    data = np.vstack(rows)
    time_s = data[:, 1]
    bad = np.flatnonzero(np.diff(time_s) <= 0)
    if bad.size:
        raise DataFormatError(f"{path}: data row {bad[0] + 2}: field 'Time' not strictly increasing "
                              f"({time_s[bad[0]]} then {time_s[bad[0] + 1]})")
    markers = {n: data[:, 2 + 3 * k: 5 + 3 * k] * scale for k, n in enumerate(names)}
    return MarkerData(time_s=time_s, markers=markers, rate_hz=rate_hz, source_units=units)


def write_trc(path: str | Path, data: MarkerData, units: str = "mm") -> Path:
    """Write `data` (metres) as a `.trc` in `units` (OpenSim reads it directly). Missing values are
    written as `NaN` (OpenSim's reader drops trailing empty cells and then rejects the row)."""
    path = Path(path)
    if units.lower() not in UNIT_TO_M:
        raise ValueError(f"units must be one of {sorted(UNIT_TO_M)}, got {units!r}")
    scale = 1.0 / UNIT_TO_M[units.lower()]
    names = list(data.markers)
    for name in names:
        if "\t" in name or not name.strip() or name != name.strip():
            raise ValueError(f"marker name {name!r} cannot be written to a .trc (tabs/blank/padded)")
    n = len(data.time_s)
    out = [
        f"PathFileType\t4\t(X/Y/Z)\t{path.name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{data.rate_hz:g}\t{data.rate_hz:g}\t{n}\t{len(names)}\t{units}\t{data.rate_hz:g}\t1\t{n}",
        "Frame#\tTime\t" + "\t".join(f"{m}\t\t" for m in names),
        "\t\t" + "\t".join(f"X{k + 1}\tY{k + 1}\tZ{k + 1}" for k in range(len(names))),
        "",
    ]
    block = np.column_stack([data.markers[m] * scale for m in names]) if names else np.zeros((n, 0))
    for i in range(n):
        cells = ["NaN" if not np.isfinite(v) else repr(float(v)) for v in block[i]]
        out.append(f"{i + 1}\t{float(data.time_s[i])!r}\t" + "\t".join(cells))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path
