"""Streaming inference latency, side by side on ONE core: eager PyTorch step vs the NumPy engine
(vs ONNX Runtime when installed), for 3-IMU and 7-IMU sized models, GRU and LSTM.

Per-step wall time of one sample (features (F,) -> moments (6,)), p50/p99 in microseconds over
`--steps` steps after warm-up. The shipped architecture uses models/3imu and models/7imu when present;
the alternatives (GRU 2x64, LSTM 2x64) use random weights. Writes benchmarks/results/engine.json and
a table.
Targets: engine p50 <= 30 us and >= 10x faster than eager PyTorch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imu_torque_estimator import body  # noqa: E402
from imu_torque_estimator.model.architectures import make_engine  # noqa: E402
from imu_torque_estimator.model.bundle import load_bundle, save_bundle  # noqa: E402
from imu_torque_estimator.model.network import NetworkConfig, TorqueRNN  # noqa: E402

# The shipped architecture (model.train.TrainConfig defaults) and the GRU 2x64 alternative.
ARCHITECTURES = (("lstm", 1, 128), ("gru", 2, 64), ("lstm", 2, 64))


def _timeit(fn, x: np.ndarray, steps: int, warmup: int = 300) -> np.ndarray:
    for i in range(warmup):
        fn(x[i % len(x)])
    out = np.empty(steps)
    clock = time.perf_counter_ns
    for i in range(steps):
        xi = x[i % len(x)]
        t = clock()
        fn(xi)
        out[i] = clock() - t
    return out / 1e3


def _bundle_for(sensor_set: str, cell: str, hidden: int, layers: int, tmp: Path):
    shipped = ROOT / "models" / sensor_set
    if shipped.is_dir():
        b = load_bundle(shipped)
        if (b.network.cell, b.network.hidden, b.network.layers) == (cell, hidden, layers):
            return b, "shipped"
    n_in = 6 * len(body.SENSOR_SETS[sensor_set])
    torch.manual_seed(0)
    m = TorqueRNN(NetworkConfig(n_in=n_in, n_out=6, hidden=hidden, layers=layers, cell=cell))
    b = save_bundle(tmp / f"{sensor_set}_{cell}", m, sensor_set=sensor_set, rate_hz=100.0,
                    feature_spec_id="bench", feature_names=[f"f{i}" for i in range(n_in)])
    return b, "random"


def _torch_step(model: TorqueRNN):
    state = [None]

    @torch.inference_mode()
    def step(x: np.ndarray) -> np.ndarray:
        y, state[0] = model(torch.from_numpy(x).view(1, 1, -1), state[0])
        return y.numpy()
    return step


def _ort_step(model: TorqueRNN, tmp: Path):
    """ONNX Runtime, single thread, one step per call with the state fed back (I/O binding)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None, "onnxruntime not installed"
    cfg = model.cfg
    lstm = cfg.cell == "lstm"

    class Step(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x, h, c=None):
            y, s = self.m(x, (h, c) if lstm else h)
            return (y, *s) if lstm else (y, s)

    x = torch.zeros(1, 1, cfg.n_in)
    h = torch.zeros(cfg.layers, 1, cfg.hidden)
    args, names_in = ((x, h, h.clone()), ["x", "h", "c"]) if lstm else ((x, h), ["x", "h"])
    names_out = ["y", "h2", "c2"] if lstm else ["y", "h2"]
    path = tmp / f"{cfg.cell}_{cfg.n_in}.onnx"
    try:
        torch.onnx.export(Step(model), args, str(path), input_names=names_in, output_names=names_out,
                          dynamo=False)
    except Exception as exc:  # exporter availability differs between torch versions
        return None, f"export failed: {exc!r}"[:200]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feeds = {"x": np.zeros((1, 1, cfg.n_in), np.float32),
             "h": np.zeros((cfg.layers, 1, cfg.hidden), np.float32)}
    if lstm:
        feeds["c"] = np.zeros_like(feeds["h"])
    xbuf = feeds["x"].reshape(-1)

    def step(xv: np.ndarray):
        xbuf[:] = xv
        outs = sess.run(None, feeds)
        feeds["h"] = outs[1]
        if lstm:
            feeds["c"] = outs[2]
        return outs[0]
    return step, f"onnxruntime {ort.__version__}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--core", type=int, default=0, help="CPU core to pin to")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "engine.json"))
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")  # exporter chatter (batch size notes, deprecation)
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for sensor_set in ("3imu", "7imu"):
            for cell, layers, hidden in ARCHITECTURES:
                b, origin = _bundle_for(sensor_set, cell, hidden, layers, tmp)
                model = b.to_torch()
                x = rng.normal(size=(512, b.n_in)) * b.normalisation["in_std"] + b.normalisation["in_mean"]
                x32 = x.astype(np.float32)
                eng = make_engine(b)
                impls = {"eager_torch": (_torch_step(model), x32, "torch " + torch.__version__),
                         "numpy_engine": (eng.step, x, "this package")}
                ort_step, ort_note = _ort_step(model, tmp)
                if ort_step is not None:
                    impls["onnxruntime"] = (ort_step, x32, ort_note)
                times = {}
                for name, (fn, data, _note) in impls.items():
                    times[name] = _timeit(fn, data, args.steps)
                ref = np.percentile(times["eager_torch"], 50)
                for name, t in times.items():
                    p50, p99 = np.percentile(t, [50, 99])
                    size = f"{b.network.layers}x{b.network.hidden}"
                    rows.append({"sensor_set": sensor_set, "cell": cell, "model": size, "weights": origin,
                                 "impl": name, "p50_us": round(p50, 2),
                                 "p99_us": round(p99, 2), "min_us": round(float(t.min()), 2),
                                 "speedup_vs_torch_p50": round(ref / p50, 1), "note": impls[name][2]})
                if ort_step is None:
                    rows.append({"sensor_set": sensor_set, "cell": cell, "impl": "onnxruntime",
                                 "note": ort_note})
    result = {"benchmark": "engine", "steps": args.steps, "core": args.core,
              "python": platform.python_version(),
              "numpy": np.__version__, "torch": torch.__version__, "machine": platform.machine(),
              "load_avg_1min_at_end": os.getloadavg()[0],
              "targets": {"engine_p50_us": 30, "speedup_vs_torch": 10}, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"{'set':<5} {'cell':<5} {'model':<6} {'impl':<13} {'p50 us':>8} {'p99 us':>8} {'min us':>8} "
          f"{'x torch':>8}")
    for r in rows:
        if "p50_us" in r:
            print(f"{r['sensor_set']:<5} {r['cell']:<5} {r['model']:<6} {r['impl']:<13} {r['p50_us']:>8.1f} "
                  f"{r['p99_us']:>8.1f} {r['min_us']:>8.1f} {r['speedup_vs_torch_p50']:>8.1f}")
        else:
            print(f"{r['sensor_set']:<5} {r['cell']:<5} {'':<6} {r['impl']:<13} unavailable: {r['note']}")
    print(f"load average (1 min) at end: {result['load_avg_1min_at_end']:.2f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
