"""Offline bag evaluation speed: a 10-minute 7-IMU bag at 200 Hz through `imu-torque bag evaluate`'s
pipeline on one core (target >= 1000x real time), with where the time goes and alternatives side by side.

Stages timed on the same bag:
  write    simulate -> bag (vectorised CDR encoding + rosbags MCAP writer)
  read     own MCAP record scan + vectorised CDR decode   vs  rosbags' reader + deserialize_cdr per message
  pipeline offline.run_pipeline: StreamAligner + calibration + KinematicsEstimator.step + TorqueEstimatorCore
           (+ StreamingEngine.step), i.e. exactly the live nodes' per-sample code
  stages   the same per-sample loop with only the aligner / only kinematics / only the torque stage
  batch    kinematics.estimate_features + model.engine.run_sequence over the aligned arrays: the
           vectorised ceiling (not a substitute: it cannot skip/count bad samples like the nodes);
           and the PyTorch GRU/LSTM over the whole sequence in one call: the RNN floor on one core
Writes benchmarks/results/bags.json and prints a table. Usage: bench_bags.py [--minutes 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from imu_torque_estimator.body import SENSOR_SETS
from imu_torque_estimator.data import bags

RESULTS = Path(__file__).parent / "results" / "bags.json"
# CPU time of this process (single-threaded BLAS, pinned to one core): the machine is shared, so wall
# time would include other processes; wall time of the whole evaluation is reported separately.
_clock = time.process_time
SET = "7imu"
RATE_HZ = 200.0


def one_core() -> None:
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass


def make_bundle(path: Path) -> Path:
    """The shipped 7imu bundle if present, else a seeded untrained 2x64 GRU (same cost per step)."""
    from imu_torque_estimator.paths import REPO_ROOT

    shipped = REPO_ROOT / "models" / SET
    if (shipped / "config.json").is_file():
        return shipped
    import torch

    from imu_torque_estimator.kinematics import FEATURE_SPEC_ID, feature_names
    from imu_torque_estimator.model.bundle import save_bundle
    from imu_torque_estimator.model.network import NetworkConfig, TorqueRNN

    torch.manual_seed(0)
    names = feature_names(SET)
    model = TorqueRNN(NetworkConfig(n_in=len(names), hidden=64, layers=2))
    model.set_normalisation(np.zeros(len(names)), np.full(len(names), 5.0), np.zeros(6), np.full(6, 0.5))
    save_bundle(path, model, sensor_set=SET, rate_hz=RATE_HZ, feature_spec_id=FEATURE_SPEC_ID,
                feature_names=names)
    return path


def simulate(path: Path, minutes: float, sim_minutes: float) -> dict:
    """Simulate `sim_minutes` of walking (what the sim drivers publish; cached across runs) and tile it
    with continuous stamps to `minutes` (the pipeline's cost does not depend on repetition)."""
    from imu_torque_estimator.data.bag_tools import write_recording_bag
    from imu_torque_estimator.motion import ImuSignals
    from imu_torque_estimator.pipeline.sources import SourceConfig
    from imu_torque_estimator.sim.recording import SimRecording, simulate_recording

    strides = int(sim_minutes * 60 / 1.05) + 2  # walk 1.2 m/s: ~1.05 s per stride
    t0 = _clock()
    rec = simulate_recording(SourceConfig(segment="pelvis", rate_hz=RATE_HZ, n_strides=strides, seed=1,
                                          condition="walk_1.2"))
    t_sim = _clock() - t0
    m = len(rec.time_s)
    n = int(minutes * 60 * RATE_HZ)
    reps = -(-n // m)
    period = m / RATE_HZ
    offs = np.repeat(np.arange(reps) * period, m)[:n]
    signals = {s: ImuSignals(np.tile(g.time_s, reps)[:n] + offs,
                             np.tile(g.specific_force_m_s2, (reps, 1))[:n],
                             np.tile(g.angular_rate_rad_s, (reps, 1))[:n]) for s, g in rec.signals.items()}
    tiled = SimRecording(signals, np.tile(rec.time_s, reps)[:n] + offs,
                         np.tile(rec.moments_nm_per_kg, (reps, 1))[:n], rec.mass_kg)
    t0 = _clock()
    write_recording_bag(path, tiled, SENSOR_SETS[SET], extra_meta={"sensor_set": SET})
    return {"simulate_s": t_sim, "simulated_s": m / RATE_HZ, "tiled": reps, "write_s": _clock() - t0,
            "samples_per_sensor": n}


def time_read(path: Path) -> dict:
    t0, w0 = _clock(), time.perf_counter()
    data = bags.read_bag(path, segments=SENSOR_SETS[SET])
    t_read, w_read = _clock() - t0, time.perf_counter() - w0
    # the same read through rosbags' reader instead of the module's own MCAP scan
    scan = bags._scan_mcap
    bags._scan_mcap = lambda *a, **k: None
    try:
        t0 = _clock()
        bags.read_bag(path, segments=SENSOR_SETS[SET])
        t_read_rosbags = _clock() - t0
    finally:
        bags._scan_mcap = scan
    # raw message iteration alone, and rosbags' per-message deserialisation on a subset
    t0 = _clock()
    raws = [raw for topic, _ty, _t, raw in bags.iter_raw(path, topics=[bags.imu_topic("pelvis")])]
    t_raw = (_clock() - t0) / len(raws)
    ts = bags.typestore()
    sub = raws[:20000]
    t0 = _clock()
    for r in sub:
        ts.deserialize_cdr(r, bags.IMU_TYPE)
    t_deser = (_clock() - t0) / len(sub)
    t0 = _clock()
    bags._decode_imu(sub, "kilted")
    t_vec = (_clock() - t0) / len(sub)
    n_msgs = sum(len(t) for t in data.imu.values()) + (len(data.truth) if data.truth else 0)
    return {"read_bag_s": t_read, "read_bag_wall_s": w_read, "read_bag_via_rosbags_reader_s": t_read_rosbags,
            "messages": n_msgs,
            "raw_iteration_us_per_msg": t_raw * 1e6,
            "rosbags_deserialize_us_per_msg": t_deser * 1e6, "vectorised_decode_us_per_msg": t_vec * 1e6,
            "read_bag_us_per_msg": t_read / n_msgs * 1e6}, data


def run_full(data, bundle_path: Path, profile: bool = False) -> tuple[dict, object, str]:
    from imu_torque_estimator.model.architectures import make_engine
    from imu_torque_estimator.model.bundle import load_bundle
    from imu_torque_estimator.pipeline import offline
    from imu_torque_estimator.pipeline.config import KinematicsConfig
    from imu_torque_estimator.pipeline.segment_kinematics import build_frontend

    cfg = offline.OfflineConfig()
    params = offline.node_parameters(SET, cfg, data)
    kp, ep = params["segment_kinematics"], params["torque_estimator"]
    bundle = load_bundle(bundle_path)
    core = offline.build_core(make_engine(bundle), SENSOR_SETS[SET], RATE_HZ, ep["body_mass_kg"],
                              {"max_gap_s": ep["max_gap_s"], "warmup_s": ep["warmup_s"],
                               "output_limit_nm_per_kg": ep["output_limit_nm_per_kg"]})
    fe = build_frontend(KinematicsConfig.from_params(kp, rate_hz=RATE_HZ))
    prof = cProfile.Profile() if profile else None
    t0, w0 = _clock(), time.perf_counter()
    if prof:
        prof.enable()
    res = offline.run_pipeline(data, SENSOR_SETS[SET], fe, core, tuple(bundle.output_joints))
    if prof:
        prof.disable()
    dt, wall = _clock() - t0, time.perf_counter() - w0
    text = ""
    if prof:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(14)
        text = s.getvalue()
    return {"pipeline_s": dt, "pipeline_wall_s": wall, "torques": len(res.stamp_ns), "report": {
        k: v for k, v in res.report.items()
        if k in ("grid_emitted", "grid_dropped_total", "imu_invalid_total", "kinematics_samples",
                 "torques_published")}}, res, text


def time_stages(data, bundle_path: Path, n: int) -> dict:
    """Per-sample cost of each stage alone on the first n grid samples."""
    from imu_torque_estimator import kinematics
    from imu_torque_estimator.model.architectures import make_engine
    from imu_torque_estimator.model.bundle import load_bundle
    from imu_torque_estimator.pipeline.alignment import StreamAligner, StreamConfig
    from imu_torque_estimator.pipeline.config import EstimatorConfig
    from imu_torque_estimator.pipeline.torque_estimator import TorqueEstimatorCore

    segs = SENSOR_SETS[SET]
    seg_idx, rows = data.imu_arrival(segs)
    acc = [data.imu[s].specific_force_m_s2 for s in segs]
    gyr = [data.imu[s].angular_rate_rad_s for s in segs]
    stamp = [data.imu[s].stamp_ns.tolist() for s in segs]
    m = n * len(segs)
    al = StreamAligner(StreamConfig(segs, RATE_HZ))
    out = []
    t0 = _clock()
    for i, r in zip(seg_idx[:m].tolist(), rows[:m].tolist(), strict=True):
        out.extend(al.push(i, stamp[i][r], acc[i][r], gyr[i][r]))
    t_align = (_clock() - t0) / max(len(out), 1)
    a3 = np.stack([s.accel_m_s2 for s in out])
    g3 = np.stack([s.gyro_rad_s for s in out])
    cal = kinematics.calibrate({s: kinematics.Calibration(s, np.eye(3), np.zeros(3)) for s in segs})
    est = kinematics.KinematicsEstimator(SET, RATE_HZ, cal)
    feats = np.empty((len(out), 6 * len(segs)))
    t0 = _clock()
    for k in range(len(out)):
        feats[k] = est.step(a3[k], g3[k])
    t_kin = (_clock() - t0) / len(out)
    est_no_q = kinematics.KinematicsEstimator(SET, RATE_HZ, cal, orientation=False)
    t0 = _clock()
    for k in range(len(out)):
        est_no_q.step(a3[k], g3[k])
    t_kin_noq = (_clock() - t0) / len(out)
    engine = make_engine(load_bundle(bundle_path))
    t0 = _clock()
    for k in range(len(out)):
        engine.step(feats[k])
    t_eng = (_clock() - t0) / len(out)
    core = TorqueEstimatorCore(make_engine(load_bundle(bundle_path)),
                               EstimatorConfig(segs, RATE_HZ, 75.0, warmup_s=0.0))
    st = [s.stamp_ns for s in out]
    t0 = _clock()
    for k in range(len(out)):
        for j, s in enumerate(segs):
            core.push(s, st[k], feats[k, 6 * j:6 * j + 6])
    t_core = (_clock() - t0) / len(out)
    return {"samples": len(out), "aligner_us": t_align * 1e6, "kinematics_step_us": t_kin * 1e6,
            "kinematics_step_no_orientation_us": t_kin_noq * 1e6, "engine_step_us": t_eng * 1e6,
            "core_join_plus_engine_us": t_core * 1e6}, a3, g3, cal


def time_batch(a3: np.ndarray, g3: np.ndarray, cal, bundle_path: Path) -> dict:
    from imu_torque_estimator import kinematics
    from imu_torque_estimator.model.bundle import load_bundle
    from imu_torque_estimator.model.engine import run_sequence

    n = a3.shape[0]
    arrays = (np.ascontiguousarray(a3.transpose(1, 0, 2)), np.ascontiguousarray(g3.transpose(1, 0, 2)))
    t0 = _clock()
    feats = kinematics.estimate_features(arrays, SET, RATE_HZ, cal)
    t_feat = (_clock() - t0) / n
    bundle = load_bundle(bundle_path)
    t0 = _clock()
    ref = run_sequence(bundle, feats)
    t_seq = (_clock() - t0) / n
    out = {"samples": n, "estimate_features_us": t_feat * 1e6, "run_sequence_us": t_seq * 1e6}
    try:  # the RNN floor: PyTorch C++ GRU/LSTM over the whole sequence in one call, one thread
        import torch

        torch.set_num_threads(1)
        model = bundle.to_torch()
        x = torch.as_tensor(feats, dtype=torch.float32)[None]
        with torch.no_grad():
            model(x[:, :100])  # warm-up
            t0 = _clock()
            y, _ = model(x)
            t_torch = (_clock() - t0) / n
        out["torch_rnn_sequence_us"] = t_torch * 1e6
        out["torch_vs_run_sequence_max_abs_nm_per_kg"] = float(np.abs(y[0].numpy() - ref).max())
    except ImportError:
        pass
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--sim-minutes", type=float, default=1.0, help="simulated minutes, tiled to --minutes")
    ap.add_argument("--keep", type=Path, default=None, help="keep the generated bag here")
    args = ap.parse_args()
    one_core()
    with tempfile.TemporaryDirectory() as tmp:
        bag = args.keep or Path(tmp) / "bench_bag"
        if bag.exists():
            import shutil

            shutil.rmtree(bag)
        bundle = make_bundle(Path(tmp) / "bundle")
        model_info = _model_info(bundle)
        gen = simulate(bag, args.minutes, args.sim_minutes)
        size_mb = sum(f.stat().st_size for f in bag.iterdir()) / 1e6
        read, data = time_read(bag)
        full, _res, prof_text = run_full(data, bundle)
        duration_s = data.duration_s
        stages, a3, g3, cal = time_stages(data, bundle, n=min(12000, gen["samples_per_sensor"]))
        batch = time_batch(a3, g3, cal, bundle)
        # profile a 1-minute slice for the breakdown (profiling inflates times; for shares only)
        _, _, prof_text = run_full(_slice(data, int(60 * RATE_HZ)), bundle, profile=True)
    total = read["read_bag_s"] + full["pipeline_s"]
    per_sample_batch = batch["estimate_features_us"] + batch["run_sequence_us"]
    out = {
        "bag": {"sensor_set": SET, "rate_hz": RATE_HZ, "duration_s": duration_s, "size_mb": size_mb, **gen},
        "read": read,
        "pipeline": full,
        "realtime_factor": {
            "evaluate_total": duration_s / total,
            "pipeline_only": duration_s / full["pipeline_s"],
            "read_only": duration_s / read["read_bag_s"],
            "batch_ceiling_compute_only": 1e6 / RATE_HZ / per_sample_batch,
            "rnn_floor_torch_sequence": 1e6 / RATE_HZ / batch.get("torch_rnn_sequence_us", np.inf),
            "target": 1000.0,
        },
        "per_sample_us": {"full_pipeline": full["pipeline_s"] / gen["samples_per_sensor"] * 1e6, **stages},
        "batch": batch,
        "profile_top": prof_text.splitlines()[:40],
        "model": model_info,
        "cpu": os.uname().machine, "one_core": True,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    rt = out["realtime_factor"]
    print(f"bag: {duration_s:.0f} s, 7 IMUs at 200 Hz, {read['messages']} messages, {size_mb:.0f} MB "
          f"(simulate {gen['simulate_s']:.1f} s, write {gen['write_s']:.1f} s)")
    rows = [("read_bag (own MCAP scan + vectorised decode)", read["read_bag_s"], rt["read_only"]),
            ("  same via rosbags' reader", read["read_bag_via_rosbags_reader_s"],
             duration_s / read["read_bag_via_rosbags_reader_s"]),
            ("offline pipeline (node code, per sample)", full["pipeline_s"], rt["pipeline_only"]),
            ("evaluate total (target 1000x)", total, rt["evaluate_total"])]
    print(f"{'stage (CPU time, one core)':46s} {'time':>9s} {'x real time':>12s}")
    for name, t, x in rows:
        print(f"{name:46s} {t:8.2f}s {x:11.0f}x")
    print(f"{'batch ceiling (estimate_features+run_sequence)':46s} {'':9s} "
          f"{rt['batch_ceiling_compute_only']:11.0f}x")
    print(f"{'RNN alone, torch GRU/LSTM over the whole seq':46s} {'':9s} "
          f"{rt['rnn_floor_torch_sequence']:11.0f}x")
    print("per message (us): raw iteration {raw_iteration_us_per_msg:.2f}, rosbags deserialize "
          "{rosbags_deserialize_us_per_msg:.2f}, vectorised decode {vectorised_decode_us_per_msg:.3f}"
          .format(**read))
    print("per grid sample (us): " + ", ".join(f"{k} {v:.1f}" for k, v in out["per_sample_us"].items()
                                               if k != "samples"))
    print("batch per sample (us): " + ", ".join(f"{k} {v:.1f}" for k, v in batch.items() if k != "samples"))
    print(f"-> {RESULTS}")
    return 0


def _model_info(path: Path) -> dict:
    from imu_torque_estimator.model.bundle import load_bundle

    b = load_bundle(path)
    return {"path": str(path), "model_id": b.model_id, "network": b.network.to_dict()}


def _slice(data, n: int):
    """The first n samples per sensor of a decoded bag (for profiling)."""
    import copy

    out = copy.copy(data)
    out.imu = {}
    for s, t in data.imu.items():
        out.imu[s] = bags.ImuTopic(t.topic, t.segment, t.frame_id, t.log_time_ns[:n], t.stamp_ns[:n],
                                   t.specific_force_m_s2[:n], t.angular_rate_rad_s[:n],
                                   t.orientation_xyzw[:n], t.seq[:n])
    return out


if __name__ == "__main__":
    raise SystemExit(main())
