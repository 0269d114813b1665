"""Model: training machinery on a known linear system, data splits, bundle validation, metrics."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from imu_torque_estimator import body
from imu_torque_estimator.model import metrics
from imu_torque_estimator.model.bundle import BundleError, load_bundle, save_bundle, update_bundle_metrics
from imu_torque_estimator.model.dataset import (
    Sequence,
    WindowSampler,
    linear_system_sequences,
    normalisation_stats,
    split_by_subject,
)
from imu_torque_estimator.model.network import NetworkConfig, TorqueRNN
from imu_torque_estimator.model.train import TrainConfig, evaluate_loss, train

# ------------------------------------------------------------------ training


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    seqs = linear_system_sequences(20, 500, seed=3)
    cfg = TrainConfig(cell="lstm", hidden=32, layers=1, window=100, burn_in=30, batch=16, lr=1e-2,
                      max_steps=400, eval_every=50, patience=20, val_fraction=0.2, seed=0,
                      threads=1)
    log = tmp_path_factory.mktemp("train") / "metrics.jsonl"
    return seqs, cfg, train(seqs, cfg, log_path=log, progress=False), log


def test_training_learns_a_known_linear_system(trained):
    seqs, _cfg, res, _ = trained
    # normalised MSE of always predicting the mean is ~1; the system is exactly learnable
    first, best = res.history[0]["val_loss"], res.best_val_loss
    assert best < 0.1, res.history
    assert best < 0.5 * first
    # validation subjects were never trained on, and statistics come from training subjects only
    assert not set(res.train_subjects) & set(res.val_subjects)
    train_seqs = [s for s in seqs if s.subject in res.train_subjects]
    stats = normalisation_stats(train_seqs)
    np.testing.assert_allclose(res.model.in_mean.numpy(), stats["in_mean"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.model.out_std.numpy(), stats["out_std"], rtol=1e-5)


def test_training_log_is_jsonl_and_model_is_the_best_one(trained):
    seqs, cfg, res, log = trained
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [r["step"] for r in lines] == [r["step"] for r in res.history]
    assert {"step", "train_loss", "val_loss", "val_rmse_nm_per_kg", "elapsed_s"} <= set(lines[0])
    val = [s for s in seqs if s.subject in res.val_subjects]
    loss, _ = evaluate_loss(res.model, val, cfg.burn_in)
    assert loss == pytest.approx(res.best_val_loss, rel=1e-5)
    assert min(r["val_loss"] for r in lines) == pytest.approx(res.best_val_loss)


def test_training_is_deterministic_for_a_seed():
    seqs = linear_system_sequences(6, 200, seed=5)
    cfg = TrainConfig(cell="gru", hidden=8, layers=1, window=40, burn_in=10, batch=4, max_steps=15,
                      eval_every=5, val_fraction=0.34, seed=7, threads=1)
    a = train(seqs, cfg, progress=False)
    b = train(seqs, cfg, progress=False)
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k


def test_early_stopping_stops_on_a_plateau():
    seqs = linear_system_sequences(6, 200, seed=5)
    cfg = TrainConfig(cell="gru", hidden=8, layers=1, window=40, burn_in=10, batch=4, lr=0.0,
                      lr_final_frac=1.0, max_steps=1000, eval_every=5, patience=3, val_fraction=0.34,
                      threads=1)
    res = train(seqs, cfg, progress=False)  # lr 0: never improves after the first evaluation
    assert res.stop_reason == "early_stopping"
    assert len(res.history) == 4 and res.best_step == 5


# ------------------------------------------------------------------ data handling


def test_split_by_subject_never_shares_a_subject():
    seqs = linear_system_sequences(30, 20, seed=0, n_subjects=10)
    tr, va = split_by_subject(seqs, 0.3, seed=1)
    assert len(tr) + len(va) == 30
    assert not {s.subject for s in tr} & {s.subject for s in va}
    assert len({s.subject for s in va}) == 3


@pytest.mark.parametrize("frac", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_bad_fraction(frac):
    with pytest.raises(ValueError, match="val_fraction"):
        split_by_subject(linear_system_sequences(4, 10), frac, 0)


def test_split_needs_two_subjects():
    seqs = linear_system_sequences(4, 10, n_subjects=1)
    with pytest.raises(ValueError, match="at least 2 subjects"):
        split_by_subject(seqs, 0.5, 0)


def test_windows_never_cross_trial_borders():
    seqs = [Sequence(np.full((n, 2), i, float), np.full((n, 6), i, float), {"subject_id": str(i)})
            for i, n in enumerate([50, 13, 80, 9])]
    ws = WindowSampler(seqs, 12, seed=0)
    assert ws.n_skipped == 1  # the 9-sample trial is shorter than a window
    x, y = ws.sample(500)
    assert x.shape == (500, 12, 2) and y.shape == (500, 12, 6)
    assert (x.min(axis=(1, 2)) == x.max(axis=(1, 2))).all()  # each window from one trial
    assert set(np.unique(x[:, 0, 0])) == {0.0, 1.0, 2.0}


def test_sequence_rejects_bad_arrays():
    with pytest.raises(ValueError, match="t7: 5 feature rows but 4 target rows"):
        Sequence(np.zeros((5, 3)), np.zeros((4, 6)), {"trial_id": "t7"})
    with pytest.raises(ValueError, match="NaN/inf"):
        Sequence(np.full((5, 3), np.nan), np.zeros((5, 6)))


def test_constant_feature_channel_gets_unit_std():
    s = Sequence(np.c_[np.ones(10), np.arange(10.0)], np.zeros((10, 6)))
    st_ = normalisation_stats([s])
    assert st_["in_std"][0] == 1.0 and st_["in_std"][1] > 0 and (st_["out_std"] == 1.0).all()


# ------------------------------------------------------------------ bundle


def _model(cell="gru", n_in=18):
    torch.manual_seed(0)
    m = TorqueRNN(NetworkConfig(n_in=n_in, n_out=6, hidden=16, layers=2, cell=cell))
    m.set_normalisation(np.arange(n_in) * 0.1, np.full(n_in, 2.0), np.zeros(6), np.full(6, 0.5))
    return m


def _save(path, cell="gru", sensor_set="3imu", n_in=18):
    return save_bundle(path, _model(cell, n_in), sensor_set=sensor_set, rate_hz=100.0,
                       feature_spec_id="spec/v1", feature_names=[f"f{i}" for i in range(n_in)],
                       training={"data": "test"}, metrics={"rmse": 0.1})


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_bundle_round_trip(tmp_path, cell):
    b = _save(tmp_path / "m", cell)
    b2 = load_bundle(tmp_path / "m", expect_sensor_set="3imu", expect_rate_hz=100,
                     expect_feature_spec="spec/v1")
    assert b2.model_id == b.model_id and len(b.model_id) == 16
    assert b2.output_joints == list(body.JOINTS) and b2.network.cell == cell
    x = torch.randn(1, 30, 18)
    with torch.no_grad():
        torch.testing.assert_close(b2.to_torch()(x)[0], _model(cell)(x)[0])
    assert (tmp_path / "m" / "weights.npz").stat().st_size < 5e6
    # metrics can be updated later without changing the model id
    b3 = update_bundle_metrics(tmp_path / "m", {"rmse": 0.05})
    assert b3.metrics == {"rmse": 0.05} and b3.model_id == b.model_id


@pytest.mark.parametrize("kwargs,match", [
    ({"expect_sensor_set": "7imu"}, "is for sensor set '3imu', but the configuration uses '7imu'"),
    ({"expect_rate_hz": 200}, "trained at 100 Hz, but the configuration runs at 200 Hz"),
    ({"expect_feature_spec": "other/v2"}, "expects feature spec 'spec/v1'"),
])
def test_bundle_mismatch_with_configuration(tmp_path, kwargs, match):
    _save(tmp_path / "m")
    with pytest.raises(BundleError, match=match):
        load_bundle(tmp_path / "m", **kwargs)


def test_bundle_missing_directory(tmp_path):
    with pytest.raises(BundleError, match="directory does not exist"):
        load_bundle(tmp_path / "nope")


def test_bundle_missing_weights(tmp_path):
    _save(tmp_path / "m")
    (tmp_path / "m" / "weights.npz").unlink()
    with pytest.raises(BundleError, match="missing weights file weights.npz"):
        load_bundle(tmp_path / "m")


def test_bundle_missing_config(tmp_path):
    _save(tmp_path / "m")
    (tmp_path / "m" / "config.json").unlink()
    with pytest.raises(BundleError, match="missing config.json"):
        load_bundle(tmp_path / "m")


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_bundle_corrupt_weights(tmp_path, damage):
    _save(tmp_path / "m")
    w = tmp_path / "m" / "weights.npz"
    data = bytearray(w.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 3]
    else:
        data = bytearray(b"not a zip file")
    w.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="weights file weights.npz is corrupt"):
        load_bundle(tmp_path / "m")


def test_bundle_unreadable_weights_with_matching_checksum(tmp_path):
    """A file that passes the checksum but is not an npz (hand-edited config) still fails clearly."""
    import hashlib

    _save(tmp_path / "m")
    (tmp_path / "m" / "weights.npz").write_bytes(b"garbage")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["weights_sha256"] = hashlib.sha256(b"garbage").hexdigest()
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match="cannot read weights file"):
        load_bundle(tmp_path / "m")


@pytest.mark.parametrize("edit,match", [
    (lambda c: c.pop("sensor_set"), "missing or has an invalid field"),
    (lambda c: c.update(format="other/9"), "unsupported format"),
    (lambda c: c.update(sensor_set="5imu"), "unknown sensor_set '5imu'"),
    (lambda c: c["feature_names"].pop(), "17 feature_names but the network has 18 inputs"),
    (lambda c: c["output_joints"].reverse(), "output_joints"),
    (lambda c: c["normalisation"]["in_std"].__setitem__(0, 0.0), "normalisation in_std"),
    (lambda c: c["network"].update(hidden=17), "weights do not match the network"),
    (lambda c: c["normalisation"]["in_mean"].__setitem__(0, 5.0), "does not match its contents"),
])
def test_bundle_bad_config(tmp_path, edit, match):
    _save(tmp_path / "m")
    p = tmp_path / "m" / "config.json"
    cfg = json.loads(p.read_text())
    edit(cfg)
    p.write_text(json.dumps(cfg))
    with pytest.raises(BundleError, match=match):
        load_bundle(tmp_path / "m")


def test_bundle_config_not_json(tmp_path):
    _save(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(tmp_path / "m")


def test_bundle_error_is_a_value_error():
    assert issubclass(BundleError, ValueError)


def test_save_rejects_inconsistent_contract(tmp_path):
    with pytest.raises(ValueError, match="unknown sensor set"):
        save_bundle(tmp_path / "x", _model(), sensor_set="4imu", rate_hz=100, feature_spec_id="s",
                    feature_names=[f"f{i}" for i in range(18)])
    with pytest.raises(ValueError, match="3 feature names for a network with 18 inputs"):
        save_bundle(tmp_path / "x", _model(), sensor_set="3imu", rate_hz=100, feature_spec_id="s",
                    feature_names=["a", "b", "c"])


def test_network_config_validation():
    with pytest.raises(ValueError, match="cell must be one of"):
        NetworkConfig(n_in=3, cell="rnn")
    with pytest.raises(ValueError, match="hidden must be >= 1"):
        NetworkConfig(n_in=3, hidden=0)


# ------------------------------------------------------------------ metrics


def test_metrics_on_known_values():
    t = np.column_stack([np.sin(np.linspace(0, 6, 200))] * 2)
    p = t.copy()
    p[:, 1] += 0.1  # constant offset: RMSE 0.1, r = 1
    m = metrics.joint_metrics(p, t, ["a", "b"])
    assert m["a"]["rmse_nm_per_kg"] == 0.0 and m["b"]["rmse_nm_per_kg"] == pytest.approx(0.1)
    assert m["b"]["r"] == pytest.approx(1.0)
    assert m["b"]["nrmse_pct"] == pytest.approx(100 * 0.1 / (t[:, 1].max() - t[:, 1].min()))
    assert m["n_samples"] == 200


def test_metrics_ignore_non_finite_rows_and_check_shapes():
    t = np.arange(20.0).reshape(10, 2)
    p = t + 1.0
    p[3, 0] = np.nan
    np.testing.assert_allclose(metrics.rmse(p, t), [1.0, 1.0])
    with pytest.raises(ValueError, match="same"):
        metrics.rmse(p[:5], t)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (30, 3), elements=st.floats(-10, 10)), arrays(np.float64, (30, 3),
                                                                         elements=st.floats(-10, 10)))
def test_pearson_matches_numpy_and_is_bounded(p, t):
    r = metrics.pearson_r(p, t)
    for j in range(3):
        if np.ptp(p[:, j]) > 1e-6 and np.ptp(t[:, j]) > 1e-6:
            assert -1 - 1e-9 <= r[j] <= 1 + 1e-9
            assert r[j] == pytest.approx(np.corrcoef(p[:, j], t[:, j])[0, 1], abs=1e-6)
    assert (metrics.rmse(p, t) >= 0).all()


def test_grouped_metrics_pools_per_condition():
    rng = np.random.default_rng(0)
    items = []
    for mode, err in (("walk", 0.1), ("run", 0.3)):
        for _ in range(3):
            t = rng.normal(size=(100, 6))
            items.append(({"mode": mode, "speed_m_s": 1.2 if mode == "walk" else 3.0, "slope_pct": 0},
                          t + err * np.sign(rng.normal(size=t.shape)), t))
    g = metrics.grouped_metrics(items, body.JOINTS, metrics.condition_key)
    assert set(g) == {"all", "walk 1.2 m/s +0 %", "run 3.0 m/s +0 %"}
    assert g["walk 1.2 m/s +0 %"]["knee_flexion_l"]["rmse_nm_per_kg"] == pytest.approx(0.1)
    assert g["run 3.0 m/s +0 %"]["n_samples"] == 300 and g["all"]["n_samples"] == 600
    # nRMSE: mean over the trials of RMSE / that trial's range
    per_trial = [metrics.nrmse_pct(p, t)[0] for _, p, t in items[:3]]
    assert g["walk 1.2 m/s +0 %"]["hip_flexion_l"]["nrmse_pct"] == pytest.approx(np.mean(per_trial))
    assert "walk 1.2" in metrics.format_table(g, body.JOINTS)


# ------------------------------------------------------------------ dataset wiring and CLI


def _fake_trial(subject: int, cond: int, n: int = 500):
    """A dataset-format trial with smooth signals and moments that are a causal filter of them
    (not gait physics: this exercises the data plumbing and CLI, not biomechanics)."""
    from scipy.signal import lfilter

    from imu_torque_estimator.kinematics.placement import default_placements
    from imu_torque_estimator.sim.trial import SimTrial

    placements = default_placements(body.lower_body_model(70.0, 1.75, "male"))
    rng = np.random.default_rng(100 * subject + cond)
    t = np.arange(n) / 100.0
    w = np.sin(2 * np.pi * (1.0 + 0.3 * cond) * t[None, :, None] + rng.uniform(0, 6, (7, 1, 3)))
    f = np.array([0, 0, body.GRAVITY_M_S2]) + 2.0 * np.cos(2 * np.pi * (1.0 + 0.3 * cond) * t[None, :, None]
                                                           + rng.uniform(0, 6, (7, 1, 3)))
    mom = lfilter([0.1], [1, -0.9], np.concatenate([w[:6, :, 1].T, f[:6, :, 0].T], axis=1)[:, :6], axis=0)
    eye = np.broadcast_to(np.eye(3), (7, n, 3, 3))
    meta = {"trial_id": f"S{subject:03d}_c{cond}", "subject_id": f"S{subject:03d}", "sex": "male",
            "mass_kg": 70.0, "height_m": 1.75, "mode": "walk" if cond == 0 else "run",
            "speed_m_s": 1.2 if cond == 0 else 3.0, "slope_pct": 0.0, "seed": subject, "rate_hz": 100.0,
            "events": {}}
    return SimTrial(time_s=t, imu_specific_force_m_s2=f, imu_angular_rate_rad_s=w,
                    imu_stamp_s=np.broadcast_to(t, (7, n)).copy(), rotation=eye.copy(),
                    com_acceleration_m_s2=np.zeros((7, n, 3)), angular_velocity_rad_s=np.zeros((7, n, 3)),
                    sensor_to_segment=np.array([placements[s].sensor_to_segment for s in body.SEGMENTS]),
                    sensor_position_m=np.zeros((7, 3)), moments_nm_per_kg=mom, grf_n=np.zeros((2, n, 3)),
                    cop_m=np.zeros((2, n, 3)), meta=meta)


@pytest.fixture(scope="module")
def fake_dataset(tmp_path_factory):
    from imu_torque_estimator.sim.dataset import write_shard

    d = tmp_path_factory.mktemp("dataset")
    for s in range(5):
        for c in range(2):
            write_shard(_fake_trial(s, c), d)
    return d


def test_load_sequences_uses_the_kinematics_features_and_caches_them(fake_dataset):
    from imu_torque_estimator import kinematics as kin
    from imu_torque_estimator.sim.sequences import load_sequences

    seqs = load_sequences(fake_dataset, ("3imu", "7imu"), workers=1, progress=False)
    assert len(seqs["3imu"]) == len(seqs["7imu"]) == 10
    s3, s7 = seqs["3imu"][0], seqs["7imu"][0]
    assert s3.features.shape == (500, 18) and s7.features.shape == (500, 42) and s3.targets.shape == (500, 6)
    # 3imu columns are the pelvis + shank columns of the 7imu features, by name
    names7 = kin.feature_names("7imu")
    idx = [names7.index(n) for n in kin.feature_names("3imu")]
    np.testing.assert_array_equal(s3.features, s7.features[:, idx])
    cache = list((fake_dataset / "features").glob("*/*.npz"))
    assert len(cache) == 10
    again = load_sequences(fake_dataset, ("3imu",), workers=1, progress=False)["3imu"]
    np.testing.assert_array_equal(again[0].features, s3.features)
    assert again[0].meta == s3.meta and s3.meta["mode"] in ("walk", "run")


def test_load_sequences_bad_inputs(tmp_path):
    from imu_torque_estimator.sim.sequences import load_sequences

    with pytest.raises(ValueError, match="dataset folder not found"):
        load_sequences(tmp_path / "nope", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no trials found"):
        load_sequences(tmp_path / "empty", progress=False)
    with pytest.raises(ValueError, match="unknown calibration mode"):
        load_sequences(tmp_path / "empty", calibration="magic", progress=False)


def test_cli_train_and_evaluate(fake_dataset, tmp_path, capsys):
    from imu_torque_estimator import kinematics as kin
    from imu_torque_estimator.cli import main

    out = tmp_path / "m3"
    rc = main(["train", "--data", str(fake_dataset), "--sensor-set", "3imu", "--out", str(out),
               "--hidden", "8", "--layers", "1", "--window", "60", "--burn-in", "20", "--batch", "8",
               "--max-steps", "20", "--eval-every", "10", "--threads", "1", "--workers", "1",
               "--test-fraction", "0.2", "--no-progress"])
    assert rc == 0
    b = load_bundle(out, expect_sensor_set="3imu", expect_rate_hz=100.0,
                    expect_feature_spec=kin.FEATURE_SPEC_ID)
    assert b.network.cell == "lstm"
    m = b.metrics["held_out_synthetic_subjects"]
    assert m["subjects"] == b.training["test_subjects"] and len(m["subjects"]) == 1
    assert not set(m["subjects"]) & set(b.training["data"]["subjects"])
    assert np.isfinite(m["by_mode"]["all"]["knee_flexion_l"]["rmse_nm_per_kg"])
    assert (out / "train_log.jsonl").read_text().count("\n") == 2
    js = tmp_path / "eval.json"
    rc = main(["evaluate", "--model", str(out), "--data", str(fake_dataset), "--json", str(js),
               "--workers", "1", "--no-progress"])
    assert rc == 0
    ev = json.loads(js.read_text())
    assert ev["subject_selection"] == "test" and not ev["overlaps_training_subjects"]
    assert ev["subjects"] == m["subjects"]
    # same trials, same engine: evaluate reproduces the metrics stored at training time
    assert ev["by_mode"]["all"]["hip_flexion_l"]["rmse_nm_per_kg"] == pytest.approx(
        m["by_mode"]["all"]["hip_flexion_l"]["rmse_nm_per_kg"])
    assert "hip_l" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path, capsys, fake_dataset):
    from imu_torque_estimator.cli import main

    assert main(["train", "--data", str(tmp_path / "none"), "--sensor-set", "3imu", "--out",
                 str(tmp_path / "m")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(tmp_path / "nomodel"), "--data", str(fake_dataset)]) == 2
    assert "directory does not exist" in capsys.readouterr().err


def test_cli_train_defaults_on_an_existing_dataset(fake_dataset, tmp_path):
    from imu_torque_estimator.cli import main

    rc = main(["train-defaults", "--data", str(fake_dataset), "--out", str(tmp_path / "models"),
               "--hidden", "8", "--layers", "1", "--window", "60", "--burn-in", "20", "--batch", "8",
               "--max-steps", "10", "--eval-every", "10", "--workers", "1", "--test-fraction", "0.2",
               "--sequential", "--no-progress"])
    assert rc == 0
    rec = json.loads((tmp_path / "models" / "train_defaults.json").read_text())
    assert {"dataset_s", "features_s", "training_s", "total_s"} <= set(rec["timings"])
    for s in ("3imu", "7imu"):
        b = load_bundle(tmp_path / "models" / s, expect_sensor_set=s)
        card = (tmp_path / "models" / s / "MODEL_CARD.md").read_text()
        assert b.model_id in card and "Limits" in card
        assert rec["config"] == b.training["config"]


# ------------------------------------------------------------------ shipped models

SHIPPED = Path(__file__).resolve().parents[1] / "models"


@pytest.mark.parametrize("sensor_set", ["3imu", "7imu"])
def test_shipped_models_match_the_running_contract(sensor_set):
    """The shipped bundles load against the current feature spec, are small, carry held-out metrics,
    and the engine reproduces the PyTorch network on realistic feature values."""
    from imu_torque_estimator import kinematics as kin
    from imu_torque_estimator.model.architectures import make_engine

    path = SHIPPED / sensor_set
    if not (path / "config.json").is_file():
        pytest.skip(f"{path} not built yet (make train)")
    b = load_bundle(path, expect_sensor_set=sensor_set, expect_rate_hz=100.0,
                    expect_feature_spec=kin.FEATURE_SPEC_ID)
    assert b.feature_names == kin.feature_names(sensor_set)
    assert sum(f.stat().st_size for f in path.iterdir()) < 5e6
    m = b.metrics["held_out_synthetic_subjects"]["by_mode"]["all"]
    assert all(m[j]["rmse_nm_per_kg"] < 0.5 for j in body.JOINTS)  # a trained model, not noise
    assert not set(b.training["test_subjects"]) & set(b.training["data"]["subjects"])
    rng = np.random.default_rng(0)
    x = b.normalisation["in_mean"] + b.normalisation["in_std"] * rng.normal(size=(300, b.n_in))
    eng = make_engine(b)
    stepped = np.array([eng.step(r).copy() for r in x])
    with torch.no_grad():
        ref = b.to_torch()(torch.tensor(x[None], dtype=torch.float32))[0][0].numpy()
    assert np.abs(stepped - ref).max() < 1e-5
