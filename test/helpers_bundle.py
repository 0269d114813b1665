"""Shared test helper: a small, untrained but valid model bundle for a sensor set."""

from __future__ import annotations

from pathlib import Path


def make_bundle(path: Path, sensor_set: str = "3imu", rate_hz: float = 100.0, hidden: int = 16,
                frame: str = "segment", seed: int = 0) -> Path:
    """Write a random-weight GRU bundle with the real feature spec of `sensor_set` at `path`."""
    import torch

    from imu_torque_estimator import kinematics
    from imu_torque_estimator.model.bundle import save_bundle
    from imu_torque_estimator.model.network import NetworkConfig, TorqueRNN

    torch.manual_seed(seed)
    names = kinematics.feature_names(sensor_set)
    model = TorqueRNN(NetworkConfig(n_in=len(names), hidden=hidden, layers=1))
    save_bundle(path, model, sensor_set=sensor_set, rate_hz=rate_hz,
                feature_spec_id=kinematics.FEATURE_SPEC_IDS[frame], feature_names=list(names))
    return path
