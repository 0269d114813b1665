"""`bag` source: one sensor's IMU topic of a rosbag2 file (data/bags.py reads it, no ROS needed)."""

from __future__ import annotations

import numpy as np

from ...data.bags import BagError, read_bag
from .base import RecordedSource, SourceConfig


def bag_source(config: SourceConfig) -> RecordedSource:
    """One sensor's IMU topic of the bag `config.file` (namespace `config.extra["ns"]`, default the
    bag's only one), paced and re-stamped like the other recorded sources (RecordedSource). The bag's
    ground truth torques come along when present. For bags with bad samples (out-of-order stamps...)
    use the bag_replay node, which plays the recorded messages unchanged."""
    if not config.file:
        raise BagError("source 'bag' needs the 'file' parameter (a rosbag2 directory or .mcap/.db3 file)")
    data = read_bag(config.file, ns=config.extra.get("ns"), segments=(config.segment,))
    imu = data.imu[config.segment]
    t_s = (imu.stamp_ns - imu.stamp_ns[0]) * 1e-9
    if len(t_s) < 2 or not np.all(np.diff(t_s) > 0):
        raise BagError(f"{config.file}: {imu.topic} stamps are not strictly increasing; play this bag with "
                       "the bag_replay node instead")
    rate = 1.0 / float(np.median(np.diff(t_s)))
    if abs(rate - config.rate_hz) > 0.02 * config.rate_hz:
        raise BagError(f"{config.file}: {imu.topic} sample rate {rate:.4g} Hz does not match "
                       f"rate_hz={config.rate_hz:g}")
    truth = truth_t = None
    joints: tuple[str, ...] = ()
    if data.truth is not None:
        pos = np.searchsorted(data.truth.stamp_ns, imu.stamp_ns)
        pos = np.clip(pos, 0, len(data.truth) - 1)
        hit = data.truth.stamp_ns[pos] == imu.stamp_ns
        if hit.all():
            truth, joints = data.truth.effort_nm[pos], data.truth.names
            truth_t = t_s
    return RecordedSource(config.segment, config.rate_hz, t_s, imu.specific_force_m_s2,
                          imu.angular_rate_rad_s, config.loop, config.start_stamp_ns, truth_nm=truth,
                          truth_time_s=truth_t,
                          truth_joints=joints, description=f"bag {config.file} {imu.topic}")
