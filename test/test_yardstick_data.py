"""Real-data checks of the baselines' inputs (needs ../shared/data; skipped cleanly without it):
BioMAC reader conventions against biomechanics, shank-IMU heel strikes against the real force plates,
and the one-call BioMAC evaluation with the shipped models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
BIOMAC = (ROOT / ".." / "shared" / "data" / "biomac_dorschky2019_imu" / "converted").resolve()
pytestmark = [pytest.mark.data,
              pytest.mark.skipif(not BIOMAC.is_dir(), reason=f"shared data folder {BIOMAC} absent")]


def test_biomac_files_read_with_the_documented_quirks():
    from imu_torque_estimator.data.biomac import list_cycles, read_cycle

    cycles = {p.stem: read_cycle(p) for p in list_cycles(BIOMAC)}
    assert set(cycles) == {"P01_normwalking", "P01_normrunning", "IMU_walking_P03"}
    assert cycles["P01_normwalking"].mass_kg == 73.0 and cycles["P01_normrunning"].mode == "run"
    p03 = cycles["IMU_walking_P03"]
    assert p03.mass_kg is None and p03.left_acc_is_copy
    assert not cycles["P01_normwalking"].left_acc_is_copy


def test_biomac_moments_have_the_project_signs():
    """Project convention: weight acceptance is an internal knee EXTENSION moment (negative), push-off
    an ankle PLANTARFLEXION moment (negative); in running both are large."""
    from imu_torque_estimator.data.biomac import read_cycle

    for name, knee_min, ankle_min in (("P01_normwalking", -0.3, -1.2), ("P01_normrunning", -2.0, -2.0)):
        m = read_cycle(BIOMAC / f"{name}.npz").moments_nm_per_kg()
        assert m["knee_flexion_r"].min() < knee_min, name
        assert m["ankle_dorsiflexion_r"].min() < ankle_min, name
        assert m["ankle_dorsiflexion_r"].max() < 0.4, name  # no large dorsiflexion moment anywhere


def test_shank_heel_strikes_match_the_real_force_plate_within_40_ms():
    from imu_torque_estimator.data.biomac import list_cycles, read_cycle
    from imu_torque_estimator.evaluation.biomac import biomac_recording
    from imu_torque_estimator.evaluation.gait_events import (
        detect_gait_events,
        match_events,
        shank_forward_rate,
    )

    for p in list_cycles(BIOMAC):
        rec = biomac_recording(read_cycle(p))
        w = np.column_stack([rec.column(f"shank_r/omega_{a}") for a in "xyz"])
        ev = detect_gait_events(shank_forward_rate(w), rec.rate_hz, "r")
        m = match_events(ev.heel_strike, rec.true_events["r"]["heel_strike"][1:], rec.rate_hz)
        assert m["missed"] == 0 and m["extra"] == 0, p.name
        assert np.max(np.abs(m["errors_s"])) < 0.04, (p.name, m["errors_s"])


def test_one_call_biomac_evaluation_with_the_shipped_models():
    from imu_torque_estimator.evaluation.biomac import evaluate_biomac_file
    from imu_torque_estimator.model.bundle import load_bundle

    bundles = {s: load_bundle(ROOT / "models" / s) for s in ("3imu", "7imu")}
    out = evaluate_biomac_file(BIOMAC / "P01_normwalking.npz", bundles)
    assert set(out["metrics"]) == {"zero", "rnn_3imu", "rnn_7imu"}
    for meth, kinds in out["metrics"].items():
        for k in ("hip", "knee", "ankle"):
            assert np.isfinite(kinds[k]["rmse"]) and kinds[k]["n_units"] == 10, (meth, k)
    assert out["meta"]["leg"] == "right" and out["meta"]["reference_unit"] == "Nm/kg"
    p03 = evaluate_biomac_file(BIOMAC / "IMU_walking_P03.npz", bundles)
    assert p03["plain"] is None and p03["metrics"]["rnn_7imu"]["knee"]["rmse"] is None
    assert p03["metrics"]["rnn_7imu"]["knee"]["r"] is not None
