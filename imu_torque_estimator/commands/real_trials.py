"""`imu-torque real-trials`: build the real-motion evaluation trials into a cache and print their quality."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

NAME = "real-trials"
HELP = "build the real-motion evaluation trials (IK/ID from ../shared/data) and print the quality table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache folder (default $IMU_TORQUE_CACHE/real_trials or ~/.cache/...)")
    parser.add_argument("--trials", nargs="*", default=None, help="trial names (default: all)")
    parser.add_argument("--rebuild", action="store_true", help="ignore cached trials")
    parser.add_argument("--json", type=Path, default=None, help="also write the quality table as JSON here")
    parser.add_argument("--list", action="store_true", help="list the trials and exit")
    parser.add_argument("--jobs", type=int, default=1, help="build trials in this many processes")


def _row(t) -> dict:
    q = t.quality
    peaks = q.get("peak_abs_moment_nm_per_kg", {})

    def both(j: str) -> float:
        return max(peaks.get(f"{j}_l", float("nan")), peaks.get(f"{j}_r", float("nan")))

    def mm(key: str) -> float | None:
        return None if q.get(key) is None else round(1000 * q[key], 1)

    return {"trial": t.name, "mode": t.mode, "speed_m_s": round(t.speed_m_s, 2),
            "mass_kg": round(t.mass_kg, 2),
            "frames": q.get("frames"), "rate_hz": q.get("rate_hz"),
            "ik_rms_mm": mm("ik_marker_rms_m"), "ik_low_mm": mm("ik_lower_body_rms_m"),
            "ik_max_mm": mm("ik_marker_max_m"),
            "res_force_pct_bw": q.get("residual_force_rms_pct_bw"),
            "res_moment_pct_bwh": q.get("residual_moment_rms_pct_bw_h"),
            "peak_hip": both("hip_flexion"), "peak_knee": both("knee_flexion"),
            "peak_ankle": both("ankle_dorsiflexion"), "build_s": q.get("build_seconds")}


def _print_table(rows: list[dict]) -> None:
    cols = ["trial", "mode", "speed_m_s", "mass_kg", "frames", "ik_rms_mm", "ik_low_mm", "ik_max_mm",
            "res_force_pct_bw",
            "res_moment_pct_bwh", "peak_hip", "peak_knee", "peak_ankle", "build_s"]
    heads = ["trial", "mode", "m/s", "kg", "frames", "IK rms mm", "IK legs mm", "IK max mm", "resF %BW",
             "resM %BWh",
             "hip Nm/kg", "knee Nm/kg", "ankle Nm/kg", "build s"]
    cells = [[("-" if r[c] is None else str(r[c])) for c in cols] for r in rows]
    widths = [max(len(h), *(len(c[k]) for c in cells)) for k, h in enumerate(heads)]
    print("  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)))
    for c in cells:
        print("  ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)))
    print("peaks: max over both legs of |moment|; residuals: RMS whole-body residual force (% body weight) "
          "and moment (% BW x height, or BW x 1 m when the height is unknown)")


def run(args: argparse.Namespace) -> int:
    from ..data import real_trials as rt

    names = rt.list_real_trials()
    if args.list:
        for n in names:
            print(n)
        for what, why in rt.NOT_BUILT.items():
            print(f"(not built) {what}: {why}")
        return 0
    chosen = args.trials or names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise ValueError(f"unknown trial(s) {unknown}; known trials are {names}")
    data = args.data or rt.DEFAULT_DATA_DIR.resolve()
    if not Path(data).is_dir():
        raise FileNotFoundError(f"shared data folder {data} not found (use --data)")
    t0 = time.perf_counter()

    def progress(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", flush=True)

    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    progress(f"building {len(chosen)} trial(s) with {args.jobs} process(es); cache "
             f"{args.cache or rt.default_cache_dir()}")
    trials = rt.build_all(chosen, data, args.cache, rebuild=args.rebuild, progress=progress, jobs=args.jobs)
    progress("done")
    rows = [_row(t) for t in trials]
    _print_table(rows)
    for what, why in rt.NOT_BUILT.items():
        print(f"not built: {what}: {why}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"trials": rows, "quality": {t.name: t.quality for t in trials},
                                         "not_built": rt.NOT_BUILT}, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
