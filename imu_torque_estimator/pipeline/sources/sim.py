"""`sim` source: one sensor of a simulated subject (sim/recording.py), with ground-truth torques."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...body import JOINTS
from .base import RecordedSource, SourceConfig

if TYPE_CHECKING:
    from ...sim.recording import SimRecording


class SimSource(RecordedSource):
    """Synthesised subject. Carries true torques (Nm, body.JOINTS) when `with_truth`. The simulator
    is imported only when the recording is not given (it is cached, see sim.recording)."""

    def __init__(self, config: SourceConfig, recording: SimRecording | None = None,
                 with_truth: bool = True) -> None:
        if recording is None:
            from ...sim.recording import simulate_recording

            recording = simulate_recording(config, config.cache_dir)
        rec = recording
        if config.segment not in rec.signals:
            raise ValueError(f"sim source: segment {config.segment!r} was not synthesised "
                             f"(have {list(rec.signals)})")
        sig = rec.signals[config.segment]
        truth = np.asarray(rec.moments_nm_per_kg, float) * rec.mass_kg if with_truth else None
        super().__init__(config.segment, config.rate_hz, sig.time_s, sig.specific_force_m_s2,
                         sig.angular_rate_rad_s, config.loop, config.start_stamp_ns,
                         truth_nm=truth, truth_time_s=rec.time_s, truth_joints=JOINTS,
                         description=f"sim {config.condition} seed {config.seed}")
        self.recording = rec
