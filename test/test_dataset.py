"""Dataset builder, shard format and reader: determinism, resume, partial files, bad input."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from imu_torque_estimator.body import JOINTS, SEGMENTS
from imu_torque_estimator.cli import main as cli_main
from imu_torque_estimator.sim.dataset import (
    CARD,
    SHARD_DIR,
    DatasetError,
    build_dataset,
    list_trials,
    load_trial,
    plan_jobs,
    write_shard,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    card = build_dataset("tiny", out, seed=5, workers=2, progress=False)
    return out, card


def test_tiny_build_layout_and_card(tiny):
    out, card = tiny
    shards = list_trials(out)
    assert len(shards) == 4 == card["counts"]["trials"]
    assert card["counts"]["subjects"] == 2 and card["counts"]["strides_per_trial"] == 3
    assert set(card["counts"]["by_condition"]) == {"walk_1.2", "run_3"}
    on_disk = json.loads((out / CARD).read_text())
    assert on_disk["trial_seeds"] == card["trial_seeds"] and on_disk["preset"] == "tiny"
    assert card["quality"]["residual_force_max_pct_bw"]["max"] < 1e-6


def test_shard_contents(tiny):
    out, _ = tiny
    tr = load_trial(list_trials(out)[0])
    n = tr.time_s.shape[0]
    assert tr.imu_specific_force_m_s2.shape == (len(SEGMENTS), n, 3)
    assert tr.rotation.shape == (len(SEGMENTS), n, 3, 3)
    assert tr.moments_nm_per_kg.shape == (n, len(JOINTS))
    assert tr.grf_n.shape == (2, n, 3) and tr.cop_m.shape == (2, n, 3)
    for key in (
        "trial_id",
        "subject_id",
        "sex",
        "mass_kg",
        "height_m",
        "mode",
        "speed_m_s",
        "slope_pct",
        "seed",
        "rate_hz",
        "events",
    ):
        assert key in tr.meta
    assert tr.meta["events"]["heel_strikes_l_s"] and tr.meta["events"]["toe_offs_r_s"]
    # Rotations are proper (float32 storage).
    r = tr.rotation[0].astype(float)
    assert np.abs(np.einsum("nji,njk->nik", r, r) - np.eye(3)).max() < 1e-5


def test_build_is_deterministic(tiny, tmp_path):
    out, card = tiny
    card2 = build_dataset("tiny", tmp_path, seed=5, workers=1, progress=False)
    assert card2["trial_seeds"] == card["trial_seeds"]
    for a in list_trials(out):
        b = tmp_path / SHARD_DIR / a.name
        ta, tb = load_trial(a), load_trial(b)
        assert np.array_equal(ta.imu_specific_force_m_s2, tb.imu_specific_force_m_s2)
        assert np.array_equal(ta.moments_nm_per_kg, tb.moments_nm_per_kg)


def test_resume_skips_complete_and_redoes_partial(tmp_path):
    card = build_dataset("tiny", tmp_path, n_subjects=1, seed=1, workers=1, progress=False)
    shards = list_trials(tmp_path)
    assert len(shards) == 2
    keep_mtime = shards[0].stat().st_mtime_ns
    # Simulate an interrupted build: one shard truncated under its final name, one stale temp file.
    data = shards[1].read_bytes()
    shards[1].write_bytes(data[: len(data) // 2])
    (tmp_path / SHARD_DIR / ".S000_x.123.tmp").write_bytes(b"partial")
    with pytest.raises(DatasetError, match="not a complete shard"):
        load_trial(shards[1])
    card2 = build_dataset("tiny", tmp_path, n_subjects=1, seed=1, workers=1, progress=False)
    assert card2["build"]["resumed_trials"] == 1
    assert shards[0].stat().st_mtime_ns == keep_mtime  # complete shard not rewritten
    load_trial(shards[1])  # rebuilt and valid
    assert not list((tmp_path / SHARD_DIR).glob(".*.tmp"))
    assert card2["trial_seeds"] == card["trial_seeds"]


def test_reader_rejects_missing_field_and_bad_shape(tiny, tmp_path):
    out, _ = tiny
    src = load_trial(list_trials(out)[0])
    arrays = src.arrays()
    del arrays["grf_n"]
    p = tmp_path / "missing.npz"
    np.savez(p, **arrays)
    with pytest.raises(DatasetError, match="'grf_n' missing"):
        load_trial(p)
    arrays = src.arrays()
    arrays["cop_m"] = arrays["cop_m"][:, :-1]
    np.savez(p, **arrays)
    with pytest.raises(DatasetError, match="'cop_m' has shape"):
        load_trial(p)
    p.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="not a complete shard"):
        load_trial(p)
    with pytest.raises(DatasetError, match="not found"):
        load_trial(tmp_path / "nope.npz")
    with pytest.raises(DatasetError, match="not found"):
        list_trials(tmp_path / "no_dir")


def test_write_shard_is_atomic(tiny, tmp_path):
    out, _ = tiny
    tr = load_trial(list_trials(out)[0])
    path = write_shard(tr, tmp_path)
    assert path.exists() and zipfile.is_zipfile(path)
    assert not list((tmp_path / SHARD_DIR).glob(".*"))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(preset="nope"), "unknown preset"),
        (dict(preset="tiny", n_subjects=0), "subjects"),
        (dict(preset="tiny", n_strides=-3), "strides"),
        (dict(preset="tiny", workers=0), "workers"),
        (dict(preset="tiny", rate_hz=5.0), "rate_hz"),
    ],
)
def test_bad_build_arguments_fail_before_any_work(tmp_path, kwargs, match):
    out = tmp_path / "ds"
    with pytest.raises(ValueError, match=match):
        build_dataset(out=out, progress=False, **kwargs)
    assert not out.exists()


def test_plan_is_validated_and_sized():
    jobs = plan_jobs("paper12", None, None, seed=0)
    assert len(jobs) == 100 * 12 and jobs[0].n_strides == 20
    assert len({j.trial_id for j in jobs}) == len(jobs)


def test_cli_bad_preset_is_one_clear_error(tmp_path, capsys):
    code = cli_main(["build-dataset", "--preset", "nope", "--out", str(tmp_path / "x"), "--no-progress"])
    assert code == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


def test_cli_builds_tiny(tmp_path, capsys):
    code = cli_main(
        [
            "build-dataset",
            "--preset",
            "tiny",
            "--out",
            str(tmp_path),
            "--subjects",
            "1",
            "--strides",
            "2",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert code == 0
    assert "2 trials" in capsys.readouterr().out
    assert len(list_trials(tmp_path)) == 2
