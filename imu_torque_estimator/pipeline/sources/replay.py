"""`replay` source: a recording file (the package's IMU CSV or an Xsens MT Manager text export)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...motion import ImuSignals
from .base import RecordedSource, SourceConfig


def read_recording(path: str | Path, segment: str, default_rate_hz: float = 100.0) -> ImuSignals:
    """One segment's signals from an IMU CSV (data.imu_csv) or an Xsens text export (.txt)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"replay file {p} does not exist")
    if p.suffix.lower() == ".csv":
        from ...data.imu_csv import read_imu_csv

        signals = read_imu_csv(p)
        if segment not in signals:
            raise ValueError(f"{p}: no samples for segment {segment!r} (has {list(signals)})")
        return signals[segment]
    from ...data.xsens_text import read_xsens_export

    return read_xsens_export(p, default_rate_hz).to_imu_signals()


class ReplaySource(RecordedSource):
    """A recording paced in real time; rows with NaN (missing cells) are published as they are
    (the kinematics node counts and drops them)."""

    def __init__(self, config: SourceConfig, signals: ImuSignals | None = None) -> None:
        if not config.file and signals is None:
            raise ValueError("source 'replay' needs the 'file' parameter (an .csv or Xsens .txt export)")
        sig = read_recording(config.file, config.segment, config.rate_hz) if signals is None else signals
        dt = float(np.median(np.diff(sig.time_s)))
        if abs(1.0 / dt - config.rate_hz) > 0.02 * config.rate_hz:
            raise ValueError(f"{config.file or 'recording'}: sample rate {1.0 / dt:.4g} Hz does not match "
                             f"rate_hz={config.rate_hz:g}")
        super().__init__(config.segment, config.rate_hz, sig.time_s, sig.specific_force_m_s2,
                         sig.angular_rate_rad_s, config.loop, config.start_stamp_ns,
                         orientation_wxyz=sig.orientation_wxyz, description=f"replay {config.file}")
