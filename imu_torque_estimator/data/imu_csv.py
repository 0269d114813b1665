"""A plain CSV format for multi-IMU recordings (used by the driver's `replay` source and for export).

Format (UTF-8, comma-separated, one sample of one sensor per row, `#` lines are comments):

    # imu_torque_estimator imu-csv 1
    stamp_s,segment,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z
    0.000000000,pelvis,0.12,0.03,9.80,0.001,-0.002,0.000
    0.000000000,shank_l,...

- stamp_s: sample time in seconds (float; rows need not be grouped by sensor but each sensor's stamps
  must strictly increase);
- segment: one of body.SEGMENTS;
- acc_*: specific force including gravity, m/s^2, sensor frame; gyr_*: angular rate, rad/s, sensor frame.
Empty cells are not allowed (a replayed sample is either complete or absent). Extra columns after the
eight are ignored, so files can carry annotations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..body import SEGMENTS
from ..motion import ImuSignals
from .errors import DataFormatError

MAGIC = "# imu_torque_estimator imu-csv 1"
COLUMNS: tuple[str, ...] = ("stamp_s", "segment", "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")


def write_imu_csv(path: str | Path, signals: dict[str, ImuSignals]) -> Path:
    """Write IMU signals {segment: ImuSignals} as one CSV, rows ordered by stamp then SEGMENTS order."""
    path = Path(path)
    unknown = [s for s in signals if s not in SEGMENTS]
    if unknown:
        raise ValueError(f"unknown segment(s) {unknown}; known segments are {list(SEGMENTS)}")
    rows: list[tuple[float, int, str]] = []
    for seg, sig in signals.items():
        block = np.column_stack([sig.specific_force_m_s2, sig.angular_rate_rad_s])
        if not np.all(np.isfinite(block)) or not np.all(np.isfinite(sig.time_s)):
            raise ValueError(f"signals[{seg!r}] contains NaN or inf; the CSV format has no missing values")
        order = SEGMENTS.index(seg)
        for t, vals in zip(sig.time_s, block, strict=True):
            rows.append((float(t), order, f"{float(t)!r},{seg}," + ",".join(repr(float(v)) for v in vals)))
    rows.sort(key=lambda r: (r[0], r[1]))
    path.write_text("\n".join([MAGIC, ",".join(COLUMNS), *(r[2] for r in rows)]) + "\n", encoding="utf-8")
    return path


def read_imu_csv(path: str | Path) -> dict[str, ImuSignals]:
    """Read the CSV format above -> {segment: ImuSignals} (segments in body.SEGMENTS order)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read: {exc}") from exc
    k = 0
    while k < len(lines) and (lines[k].startswith("#") or not lines[k].strip()):
        k += 1
    if k >= len(lines):
        raise DataFormatError(f"{path}: line {k + 1}: header row {','.join(COLUMNS)!r} missing")
    head = [c.strip() for c in lines[k].split(",")]
    if tuple(head[: len(COLUMNS)]) != COLUMNS:
        raise DataFormatError(f"{path}: line {k + 1}: header must start with {','.join(COLUMNS)!r}, "
                              f"got {lines[k][:80]!r}")
    per: dict[str, list[list[float]]] = {}
    for lineno, line in enumerate(lines[k + 1:], start=k + 2):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split(",")
        if len(cells) < len(COLUMNS):
            raise DataFormatError(f"{path}: line {lineno}: {len(cells)} fields, need {len(COLUMNS)}")
        seg = cells[1].strip()
        if seg not in SEGMENTS:
            raise DataFormatError(f"{path}: line {lineno}: field 'segment': unknown segment {seg!r}; "
                                  f"known segments are {list(SEGMENTS)}")
        vals = []
        for name, c in zip(COLUMNS[:1] + COLUMNS[2:], cells[:1] + cells[2:len(COLUMNS)], strict=True):
            try:
                v = float(c)
            except ValueError:
                msg = f"{path}: line {lineno}: field {name!r} is not a number: {c!r}"
                raise DataFormatError(msg) from None
            if not np.isfinite(v):
                raise DataFormatError(f"{path}: line {lineno}: field {name!r} is not finite: {c!r}")
            vals.append(v)
        rows = per.setdefault(seg, [])
        if rows and vals[0] <= rows[-1][0]:
            raise DataFormatError(f"{path}: line {lineno}: field 'stamp_s' of segment {seg!r} does not "
                                  f"increase ({rows[-1][0]!r} then {vals[0]!r})")
        rows.append(vals)
    if not per:
        raise DataFormatError(f"{path}: line {len(lines) + 1}: no data rows")
    out: dict[str, ImuSignals] = {}
    for seg in SEGMENTS:
        if seg in per:
            a = np.asarray(per[seg], dtype=float)
            out[seg] = ImuSignals(time_s=a[:, 0], specific_force_m_s2=a[:, 1:4], angular_rate_rad_s=a[:, 4:7])
    return out
