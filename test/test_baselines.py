"""Baselines for the results tables (issue 16 items 1-2): bootstrap intervals, causal gait events, the
gait-phase mean curve, the BioMAC reader/path and the report blocks. Fast: no shared data needed
(the real-data checks are in test_yardstick_data.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imu_torque_estimator import kinematics as K
from imu_torque_estimator.body import JOINTS, SEGMENTS
from imu_torque_estimator.evaluation import bootstrap as B
from imu_torque_estimator.evaluation import gait_events as G
from imu_torque_estimator.evaluation.baselines import REGISTRY, EvalRecording, make_baseline
from imu_torque_estimator.evaluation.baselines import mean_curve as MC

RATE = 100.0


# --------------------------------------------------------------------------------------- bootstrap
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=6), st.integers(0, 10_000))
def test_pooled_rmse_and_r_match_direct_computation(sizes, seed):
    rng = np.random.default_rng(seed)
    units = []
    for n in sizes:
        t = rng.normal(size=n)
        p = t + rng.normal(scale=0.3, size=n)
        p[rng.random(n) < 0.1] = np.nan  # non-finite samples are ignored
        units.append((p, t))
    p = np.concatenate([u[0] for u in units])
    t = np.concatenate([u[1] for u in units])
    ok = np.isfinite(p)
    res = B.rmse_r_ci(units, "trial", n_boot=200)
    if ok.sum() == 0:
        assert res["rmse"] is None
        return
    assert res["rmse"] == pytest.approx(np.sqrt(np.mean((p[ok] - t[ok]) ** 2)), rel=1e-9)
    assert res["n_samples"] == ok.sum()
    if ok.sum() >= 3 and np.std(p[ok]) > 0:
        assert res["r"] == pytest.approx(np.corrcoef(p[ok], t[ok])[0, 1], abs=1e-9)
    if res["rmse_ci"] is not None:
        lo, hi = res["rmse_ci"]
        assert lo <= hi


def test_interval_covers_the_point_and_narrows_with_more_units():
    rng = np.random.default_rng(0)

    def units(k):
        out = []
        for _ in range(k):
            t = rng.normal(size=50)
            out.append((t + rng.normal(scale=rng.uniform(0.1, 0.5), size=50), t))
        return out

    few, many = B.rmse_r_ci(units(5), "trial"), B.rmse_r_ci(units(200), "trial")
    for r in (few, many):
        assert r["rmse_ci"][0] <= r["rmse"] <= r["rmse_ci"][1]
        assert r["r_ci"][0] <= r["r"] <= r["r_ci"][1]
    assert np.diff(many["rmse_ci"])[0] < np.diff(few["rmse_ci"])[0]


def test_perfect_prediction_and_paired_difference_of_identical_methods():
    t = [np.sin(np.linspace(0, 6, 40) + k) for k in range(6)]
    res = B.rmse_r_ci([(x, x) for x in t], "stride", n_boot=200)
    assert res["rmse"] == 0.0 and res["rmse_ci"] == [0.0, 0.0] and res["r"] == pytest.approx(1.0)
    d = B.paired_rmse_difference_ci([(x + 0.1, x) for x in t], [(x + 0.1, x) for x in t], "trial", n_boot=200)
    assert d["diff"] == pytest.approx(0.0) and d["diff_ci"] == pytest.approx([0.0, 0.0])
    worse = B.paired_rmse_difference_ci([(x + 0.3, x) for x in t], [(x + 0.1, x) for x in t], "trial",
                                        n_boot=200)
    assert worse["diff"] == pytest.approx(0.2) and worse["diff_ci"][0] > 0


def test_single_unit_has_no_interval_and_r_only_mode():
    t = np.linspace(0, 1, 30)
    one = B.rmse_r_ci([(t * 2, t)], "trial")
    assert one["rmse"] is not None and one["rmse_ci"] is None and one["r_ci"] is None
    r_only = B.rmse_r_ci([(t * 2, t), (t[::-1] * 2, t[::-1])], "trial", rmse=False)  # Nm vs Nm/kg: r only
    assert r_only["rmse"] is None and r_only["rmse_ci"] is None
    assert r_only["r"] == pytest.approx(1.0, abs=0.01)


def test_bootstrap_bad_inputs_name_the_choices():
    with pytest.raises(ValueError, match="trial"):
        B.rmse_r_ci([(np.zeros(3), np.zeros(3))], "subjects")
    with pytest.raises(ValueError, match="differ in size"):
        B.rmse_r_ci([(np.zeros(3), np.zeros(4))], "trial")
    with pytest.raises(ValueError, match="same units"):
        B.paired_rmse_difference_ci([(np.zeros(3), np.zeros(3))], [], "trial")


def test_phase_blocks_partition_the_samples():
    n = 500
    ph = np.mod(np.arange(n) / 121.0, 1.0)
    blocks = B.phase_blocks(np.arange(n, dtype=float), np.zeros(n), ph, 10)
    assert len(blocks) == 10
    assert sorted(np.concatenate([b[0] for b in blocks]).tolist()) == list(range(n))


# ------------------------------------------------------------------------------- synthetic gait
def _forward_rate(phase: np.ndarray, peak: float = 5.0) -> np.ndarray:
    """Shank forward rate over the gait cycle (HS at integer phase): negative in stance, a positive
    swing lobe from 0.6 to 1.0 that crosses zero downwards exactly at heel strike."""
    p = np.mod(phase, 1.0)
    stance = -1.0 - 0.8 * np.sin(np.pi * p / 0.6)
    swing = peak * np.sin(np.pi * (p - 0.6) / 0.4)
    return np.where(p < 0.6, stance, swing)


def _pattern(phase: np.ndarray, speed: float) -> np.ndarray:
    """(N, 3) hip/knee/ankle 'moments' with a speed-dependent amplitude."""
    p = 2 * np.pi * np.mod(phase, 1.0)
    a = 0.5 + 0.4 * speed
    return np.column_stack([a * np.sin(p), 0.5 * a * np.cos(p), -a * np.sin(p / 2) ** 2])


def _recording(name: str, speed: float, stride_s: float, n_strides: float = 8.0, peak: float | None = None,
               pelvis_sf_z: float = 9.81, t0_phase: float = 0.3) -> EvalRecording:
    """Both legs (left half a cycle later), truth from `_pattern`, force-plate events exact."""
    n = int(n_strides * stride_s * RATE)
    t = np.arange(n) / RATE
    names = K.feature_names("7imu")
    f = np.zeros((n, len(names)))
    truth = np.zeros((n, len(JOINTS)))
    events = {}
    for side, off in (("r", 0.0), ("l", 0.5)):
        ph = t / stride_s + t0_phase - off
        swing_peak = peak if peak is not None else 3 * speed + 1
        f[:, names.index(f"shank_{side}/omega_y")] = -_forward_rate(ph, swing_peak)
        cols = MC.SIDE_COLUMNS[side]
        truth[:, cols] = _pattern(ph, speed)
        k = np.arange(math.ceil(ph[0]), math.floor(ph[-1]) + 1)
        hs = (k - t0_phase + off) * stride_s * RATE
        events[side] = {"heel_strike": hs, "toe_off": hs + 0.6 * stride_s * RATE}
    f[:, names.index("pelvis/sf_com_z")] = pelvis_sf_z
    return EvalRecording(name, RATE, f, names, 1.75, truth, events, "walk", speed, {"eval_from": 0})


def test_heel_strikes_of_the_analytic_gait_are_found_and_known_causally():
    stride = 1.1
    n = int(6 * stride * RATE)
    ph = np.arange(n) / RATE / stride + 0.3
    ev = G.detect_gait_events(_forward_rate(ph), RATE, "r")
    true_hs = (np.arange(1, 7) - 0.3) * stride * RATE  # phase 0.3 .. 6.29
    assert len(ev.heel_strike) == len(true_hs)
    np.testing.assert_allclose(ev.heel_strike, true_hs, atol=1.0)  # < 10 ms after delay compensation
    assert np.all(ev.heel_strike_known >= ev.heel_strike)
    assert np.all(ev.heel_strike_known - ev.heel_strike < 5)
    assert len(ev.mid_swing_all) >= len(true_hs)
    np.testing.assert_allclose(ev.swing_peak_rad_s, 5.0, atol=0.2)


@settings(max_examples=25, deadline=None)
@given(st.integers(60, 600), st.floats(0.8, 1.4), st.integers(0, 1000))
def test_events_on_a_prefix_are_the_known_events(m, stride, seed):
    """Causality: what the detector says about x[:m] is exactly what it knew by sample m-1 on all of x."""
    rng = np.random.default_rng(seed)
    n = 700
    x = _forward_rate(np.arange(n) / RATE / stride + rng.uniform(0, 1)) + rng.normal(scale=0.15, size=n)
    full = G.detect_gait_events(x, RATE)
    part = G.detect_gait_events(x[:m], RATE)
    for ev, known in (("heel_strike", "heel_strike_known"), ("toe_off", "toe_off_known"),
                      ("mid_swing_all", "mid_swing_known")):
        keep = getattr(full, known) < m
        np.testing.assert_allclose(getattr(part, ev), getattr(full, ev)[keep])


def test_event_detection_bad_inputs_give_clear_messages():
    with pytest.raises(G.GaitEventError, match="too short"):
        G.detect_gait_events(np.zeros(20), RATE, "l")
    with pytest.raises(G.GaitEventError, match="NaN"):
        G.detect_gait_events(np.r_[np.zeros(100), np.nan, np.zeros(100)], RATE, "l")
    with pytest.raises(G.GaitEventError, match="no shank signal"):
        G.detect_gait_events(None, RATE, "r")  # type: ignore[arg-type]
    with pytest.raises(G.GaitEventError, match="sample rate"):
        G.detect_gait_events(np.zeros(200), 0.0)
    with pytest.raises(G.GaitEventError, match="shank_l"):
        G.events_from_segment_rates({"r": np.zeros((200, 3))}, RATE)
    still = G.detect_gait_events(np.zeros(500), RATE)  # standing: no events, no error
    assert still.heel_strike.size == 0 and still.mid_swing_all.size == 0


def test_match_events_counts_misses_and_extras():
    m = G.match_events(np.array([10.0, 52.0, 300.0]), np.array([12.0, 50.0, 90.0]), RATE)
    assert m["missed"] == 1 and m["extra"] == 0 and np.allclose(sorted(m["errors_s"]), [-0.02, 0.02])


def test_cycle_phase_is_piecewise_linear_between_events():
    ph = MC.cycle_phase(200, np.array([20.0, 120.0]), np.array([80.0]), 0.6)
    assert ph[20] == 0.0 and ph[80] == pytest.approx(0.6) and ph[120] == pytest.approx(1.0)
    assert ph[50] == pytest.approx(0.3) and ph[100] == pytest.approx(0.8)
    assert np.isnan(ph[:20]).all() and np.isnan(ph[121:]).all()
    ext = MC.cycle_phase(200, np.array([20.0, 120.0]), np.array([80.0]), 0.6, stride_samples=100.0)
    assert ext[10] == pytest.approx(-0.1) and ext[170] == pytest.approx(1.5)


# ----------------------------------------------------------------------------------- mean curves
@pytest.fixture(scope="module")
def training():
    return [_recording("a", 0.9, 1.25), _recording("b", 1.2, 1.15), _recording("c", 1.5, 1.05)]


def test_curves_reproduce_the_pattern_and_interpolate_speed(training):
    cs = MC.fit_curves(training)
    grid = np.arange(MC.N_PHASE) / MC.N_PHASE
    for v in (0.9, 1.2, 1.35):
        c, clamped = cs.curve("walk", v)
        assert not clamped
        np.testing.assert_allclose(c, _pattern(grid, v), atol=0.02)
    info = cs.info["walk"]
    assert info["speed_range_m_s"] == [0.9, 1.5] and info["phase_bins_uncovered"] == 0
    # the swing-peak speed model is exact on this data (peak = 3 v + 1)
    assert info["speed_from_swing_peak"]["b_m_s_per_rad_s"] == pytest.approx(1 / 3, rel=0.05)


def test_speed_outside_the_curves_range_is_clamped_and_flagged(training):
    cs = MC.fit_curves(training)
    top, clamped_top = cs.curve("walk", 1.5)
    far, clamped_far = cs.curve("walk", 3.0)
    low, clamped_low = cs.curve("walk", 0.2)
    assert not clamped_top and clamped_far and clamped_low
    np.testing.assert_allclose(far, top)  # held at the edge, not extrapolated
    np.testing.assert_allclose(low, cs.curve("walk", 0.9)[0])
    fast = _recording("fast", 2.4, 0.95)  # swing peak 8.2 rad/s -> speed estimate far above 1.5 m/s
    p = make_baseline("mean_curve").fit(training).predict(fast)
    assert p.info["speed_clamped_fraction"] > 0.9
    assert p.info["speed_estimate_m_s"] > 1.5


def test_causal_and_oracle_playback_track_an_unseen_recording(training):
    rec = _recording("new", 1.3, 1.1, n_strides=10)
    truth = rec.moments_nm_per_kg
    causal = make_baseline("mean_curve").fit(training).predict(rec)
    oracle = make_baseline("mean_curve_oracle").fit(training).predict(rec)
    start = int(2 * 1.1 * RATE)  # synchronised after the first heel strikes
    err_c = np.sqrt(np.nanmean((causal.moments_nm_per_kg[start:] - truth[start:]) ** 2))
    err_o = np.sqrt(np.nanmean((oracle.moments_nm_per_kg - truth) ** 2))
    assert np.isfinite(causal.moments_nm_per_kg).all() and np.isfinite(oracle.moments_nm_per_kg).all()
    assert err_o < 0.02
    assert err_c < 0.06  # timing from the detector (filter delay compensated) and speed from swing peaks
    assert causal.info["unsynchronised_fraction"] < 0.1
    assert causal.info["run_fraction"] == 0.0
    # before any event the causal predictor is not synchronised and outputs zero
    first_known = int(G.detect_gait_events(-rec.column("shank_r/omega_y"), RATE).mid_swing_known[0])
    first_known = min(first_known, int(G.detect_gait_events(-rec.column("shank_l/omega_y"), RATE)
                                       .mid_swing_known[0]))
    assert np.all(causal.moments_nm_per_kg[:first_known] == 0.0)


def test_flight_phase_switches_to_running_curves(training):
    run = [_recording("r1", 3.0, 0.7, pelvis_sf_z=9.81), _recording("r2", 4.0, 0.65)]
    for r in run:
        r.mode = "run"
    b = make_baseline("mean_curve").fit(training + run)
    n = 400
    sf = np.full(n, 12.0)
    sf[np.arange(n) % 35 < 8] = 0.5  # flight phases: near free fall
    mode = MC.flight_mode(sf, RATE)
    assert (mode[100:] == "run").all() and (MC.flight_mode(np.full(n, 9.81), RATE) == "walk").all()
    rec = _recording("runner", 3.5, 0.68, pelvis_sf_z=0.0)
    assert b.predict(rec).info["run_fraction"] > 0.9


def test_baseline_contract_bad_inputs(training):
    assert {"zero", "mean_curve", "mean_curve_oracle"} <= set(REGISTRY)
    with pytest.raises(ValueError, match="mean_curve"):
        make_baseline("mean-curve")
    with pytest.raises(ValueError, match="fit"):
        make_baseline("mean_curve").predict(training[0])
    bare = EvalRecording("x", RATE, training[0].features, training[0].feature_names)
    with pytest.raises(ValueError, match="force-plate events"):
        make_baseline("mean_curve_oracle").fit(training).predict(bare)
    with pytest.raises(ValueError, match="missing in"):
        MC.fit_curves([bare])
    names = [n for n in K.feature_names("7imu") if not n.startswith("shank_l")]
    no_shank = EvalRecording("y", RATE, np.zeros((300, len(names))), names)
    with pytest.raises(ValueError, match="shank_l/omega_x"):
        make_baseline("mean_curve").fit(training).predict(no_shank)
    with pytest.raises(ValueError, match="speed model"):
        make_baseline("mean_curve", speed_model="cadence")
    z = make_baseline("zero").predict(training[0]).moments_nm_per_kg
    assert z.shape == (len(training[0]), 6) and not z.any()


# ------------------------------------------------------------------------------------------ BioMAC
def _biomac_file(path, mass: float | None = 70.0, copy_left: bool = False, drop: str | None = None):
    """A converted-BioMAC-format cycle: sensors at rest in OpenSim segment axes (gravity along +y),
    a known right-leg moment pattern in OpenSim signs, a right stance from 0 to 60 %."""
    n = 100
    cols, units = [], []
    data = []
    ph = np.arange(n) / n
    for coord, val in (("hip_flexion_r", np.sin(2 * np.pi * ph)), ("knee_angle_r", 0.5 + 0 * ph),
                       ("ankle_angle_r", -np.sin(np.pi * ph) ** 2)):
        cols.append(f"moment_{coord}")
        units.append("Nm")
        data.append(70.0 * val)
    cols += ["GRF_GRF_x_r", "GRF_GRF_y_r"]
    units += ["BW", "BW"]
    data += [0 * ph, np.where(ph < 0.6, 1.0, 0.0)]
    for src in ("pelvis", "femur_r", "tibia_r", "foot_r", "femur_l", "tibia_l", "foot_l"):
        for a in "xyz":
            cols.append(f"acc_{src}_{a}")
            units.append("m/s^2")
            wobble = 0.3 * np.sin(2 * np.pi * ph) if a == "x" else 0.0
            data.append(np.full(n, 9.81 if a == "y" else 0.0) + wobble)
    if copy_left:
        for seg in ("femur", "tibia", "foot"):
            for a in "xyz":
                data[cols.index(f"acc_{seg}_l_{a}")] = np.roll(data[cols.index(f"acc_{seg}_r_{a}")], n // 2)
    for src in ("pelvis", "femur_r", "tibia_r", "foot_r", "femur_l", "tibia_l", "foot_l"):
        for a in "xyz":
            cols.append(f"gyro_{src}_{a}")
            units.append("rad/s")
            data.append(np.zeros(n))
    if drop:
        i = cols.index(drop)
        del cols[i], units[i], data[i]
    sources = ("pelvis", "femur_r", "tibia_r", "foot_r", "femur_l", "tibia_l", "foot_l")
    meta = {"movementType": ["normwalking"], "events": [["R_HS", 1.0], ["L_HS", 51.0]],
            "imu_position_in_segment_m": {s: [0.0, -0.2, 0.05] for s in sources},
            "scalars": {"speed_speed": {"mean": 1.3}, "dur_dur": {"mean": 1.2}}}
    if mass is not None:
        meta |= {"participantMass": [mass], "participantHeight": [1.75]}
    np.savez(path, mean=np.column_stack(data), var=np.zeros((n, len(cols))), names=np.array(cols),
             units=np.array(units), meta_json=json.dumps(meta))
    return path


def test_biomac_reader_maps_signs_and_units(tmp_path):
    from imu_torque_estimator.data.biomac import read_cycle

    c = read_cycle(_biomac_file(tmp_path / "P_walk.npz"))
    assert c.mode == "walk" and c.mass_kg == 70.0 and c.stride_s == 1.2 and not c.left_acc_is_copy
    assert c.events == [("R_HS", 0), ("L_HS", 50)]
    nkg = c.moments_nm_per_kg()
    np.testing.assert_allclose(nkg["knee_flexion_r"], -0.5)  # OpenSim knee extension -> project flexion < 0
    np.testing.assert_allclose(nkg["hip_flexion_r"], np.sin(2 * np.pi * np.arange(100) / 100))
    assert set(c.specific_force_m_s2) == set(SEGMENTS)


def test_biomac_without_mass_is_correlation_only(tmp_path):
    from imu_torque_estimator.data.biomac import BiomacError, read_cycle
    from imu_torque_estimator.evaluation.biomac import biomac_recording, evaluate_biomac

    c = read_cycle(_biomac_file(tmp_path / "P03.npz", mass=None, copy_left=True))
    assert c.left_acc_is_copy and any("copy" in n for n in c.notes)
    with pytest.raises(BiomacError, match="no participant mass"):
        c.moments_nm_per_kg()
    rec = biomac_recording(c)
    assert rec.meta["reference_unit"] == "Nm"
    res = evaluate_biomac(c)
    m = res.metrics(n_boot=200)
    assert not res.rmse_valid and m["zero"]["knee"]["rmse"] is None


def test_biomac_bad_files_name_the_problem(tmp_path):
    from imu_torque_estimator.data.biomac import BiomacError, read_cycle

    with pytest.raises(BiomacError, match="gyro_tibia_r_z"):
        read_cycle(_biomac_file(tmp_path / "bad.npz", drop="gyro_tibia_r_z"))
    with pytest.raises(BiomacError, match="not found"):
        read_cycle(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(BiomacError, match="junk.npz"):
        read_cycle(tmp_path / "junk.npz")


def test_biomac_recording_axes_tiling_and_reference(tmp_path):
    from imu_torque_estimator.data.biomac import read_cycle
    from imu_torque_estimator.evaluation.biomac import biomac_recording, evaluate_biomac

    c = read_cycle(_biomac_file(tmp_path / "P_walk.npz"))
    rec = biomac_recording(c, n_cycles=5, warmup_cycles=1)
    nc = rec.meta["samples_per_cycle"]
    assert nc == 120 and len(rec) == 5 * nc
    # sensors at rest with gravity along OpenSim +y read +g along the project's segment z (up)
    for seg in SEGMENTS:
        np.testing.assert_allclose(rec.column(f"{seg}/sf_com_z"), 9.81, atol=1e-6)
        np.testing.assert_allclose(rec.column(f"{seg}/sf_com_y"), 0.0, atol=1e-6)
    # periodic resampling keeps the cycle, tiling repeats it; the left leg has no reference
    knee = rec.moments_nm_per_kg[:, JOINTS.index("knee_flexion_r")]
    np.testing.assert_allclose(knee, -0.5, atol=1e-9)
    assert np.isnan(rec.moments_nm_per_kg[:, JOINTS.index("knee_flexion_l")]).all()
    hip = rec.moments_nm_per_kg[:, JOINTS.index("hip_flexion_r")]
    np.testing.assert_allclose(hip[nc:2 * nc], hip[3 * nc:4 * nc])
    # GRF resampled linearly: on from the last sample of the cycle (0 -> 1 between samples 99 and 100)
    assert rec.true_events["r"]["heel_strike"][0] == 119.0
    np.testing.assert_allclose(rec.true_events["r"]["toe_off"][0], 72.0)  # 60 % of 120 samples
    np.testing.assert_allclose(rec.true_events["l"]["toe_off"][0], 12.0)  # half a cycle later
    res = evaluate_biomac(c, n_cycles=5)
    assert res.metrics(n_boot=200)["zero"]["knee"]["rmse"] == pytest.approx(0.5)


# --------------------------------------------------------------------------------------- reports
def test_replace_block_touches_only_marked_files(tmp_path):
    from imu_torque_estimator.evaluation.report import replace_block

    plain = tmp_path / "plain.md"
    plain.write_text("hand-written\n")
    assert not replace_block(plain, "<!--a-->X<!--b-->", "<!--a-->", "<!--b-->")
    assert plain.read_text() == "hand-written\n"
    marked = tmp_path / "marked.md"
    marked.write_text("head\n<!--a-->old<!--b-->\ntail\n")
    assert replace_block(marked, "<!--a-->new<!--b-->", "<!--a-->", "<!--b-->")
    assert marked.read_text() == "head\n<!--a-->new<!--b-->\ntail\n"
    assert replace_block(plain, "<!--a-->X<!--b-->", "<!--a-->", "<!--b-->", append_if_missing=True)
    assert plain.read_text() == "hand-written\n\n<!--a-->X<!--b-->\n"
    assert not replace_block(tmp_path / "absent.md", "x", "<!--a-->", "<!--b-->", append_if_missing=True)


def test_leave_one_trial_out_never_fits_on_the_evaluated_trial(training):
    from imu_torque_estimator.evaluation import yardstick as Y

    sim = [_recording("sim1", 1.1, 1.2)]
    real_preds, sim_preds = Y.loto_predictions("mean_curve", {}, training, sim)
    for r in training:
        used = real_preds[r.name].info["curves_from"]
        assert r.name not in used and len(used) == len(training) - 1
    assert sim_preds["sim1"].info["curves_from"] == sorted(r.name for r in training)
    sel = Y.select_mean_curve(training, sim)
    assert len(sel["candidates"]) == 8 and sel["chosen"] in [c["settings"] for c in sel["candidates"]]
    assert sel["score"] == min(c["score"] for c in sel["candidates"])
