"""Reader benchmark: read time of every shared recording per reader, and the accuracy of the angular
rate derived from an orientation stream (Xsens exports without a gyroscope column), central versus
forward SO(3) difference, on analytic rotations at 100 Hz.

Writes benchmarks/results/readers.json and prints two tables. Needs ../shared/data for the timings
(skipped with a message when absent).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from imu_torque_estimator.data.c3d import read_c3d
from imu_torque_estimator.data.trc import read_trc
from imu_torque_estimator.data.xsens_text import angular_rate_from_orientation, read_xsens_export

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data").resolve()
OUT = ROOT / "benchmarks" / "results" / "readers.json"


def _time(fn, path: Path, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(path)
        best = min(best, time.perf_counter() - t0)
    return best


def reader_timings() -> list[dict]:
    if not DATA.is_dir():
        print(f"shared data {DATA} absent: reader timings skipped")
        return []
    jobs = [(read_trc, p) for p in sorted(DATA.glob("**/*.trc"))]
    jobs += [(read_c3d, p) for p in sorted(DATA.glob("**/*.c3d")) + sorted(DATA.glob("**/*.c3d.zip"))]
    jobs += [(read_xsens_export, p) for p in sorted(DATA.glob("opensense_xsens_walk/MT_*.txt"))]
    rows = []
    for fn, p in jobs:
        sec = _time(fn, p)
        rows.append({"reader": fn.__name__, "file": str(p.relative_to(DATA)), "bytes": p.stat().st_size,
                     "seconds": round(sec, 4), "mb_per_s": round(p.stat().st_size / sec / 1e6, 2)})
    return rows


def _forward_rate(rot: np.ndarray, t: np.ndarray) -> np.ndarray:
    rel = np.einsum("nji,njk->nik", rot[:-1], rot[1:])
    w = Rotation.from_matrix(rel).as_rotvec() / np.diff(t)[:, None]
    return np.vstack([w, w[-1:]])


def rate_accuracy(fs: float = 100.0) -> list[dict]:
    """Relative RMS error of the derived body rate for rotations about a tilted axis oscillating at f."""
    rows = []
    t = np.arange(0, 10, 1 / fs)
    axis = np.array([0.3, -0.5, 0.81])
    axis /= np.linalg.norm(axis)
    base = Rotation.from_euler("xyz", [0.2, -0.4, 1.1])
    for f in (1.0, 2.0, 5.0, 10.0, 20.0):
        angle = 0.6 * np.sin(2 * np.pi * f * t)
        rot = (base * Rotation.from_rotvec(angle[:, None] * axis)).as_matrix()
        true = (0.6 * 2 * np.pi * f * np.cos(2 * np.pi * f * t))[:, None] * axis
        inner = slice(5, -5)
        for name, est in (("central (used)", angular_rate_from_orientation(rot, t)),
                          ("forward", _forward_rate(rot, t))):
            err = est[inner] - true[inner]
            rel = float(np.sqrt(np.mean(err**2)) / np.sqrt(np.mean(true[inner] ** 2)))
            rows.append({"freq_hz": f, "method": name, "rel_rms_error": round(rel, 4)})
    return rows


def main() -> int:
    timings = reader_timings()
    acc = rate_accuracy()
    if timings:
        print(f"{'reader':<20}{'file':<58}{'s':>8}{'MB/s':>8}")
        for r in timings:
            print(f"{r['reader']:<20}{r['file']:<58}{r['seconds']:>8.3f}{r['mb_per_s']:>8.2f}")
    print(f"\n{'f Hz':>6}  {'central (used)':>16}  {'forward':>10}   relative RMS error, 100 Hz")
    for f in sorted({r["freq_hz"] for r in acc}):
        c = next(r for r in acc if r["freq_hz"] == f and r["method"].startswith("central"))
        w = next(r for r in acc if r["freq_hz"] == f and r["method"] == "forward")
        print(f"{f:>6g}  {c['rel_rms_error']:>16.4f}  {w['rel_rms_error']:>10.4f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"reader_timings": timings, "rate_from_orientation": acc}, indent=1))
    print(f"\nwrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
