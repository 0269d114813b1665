"""`imu-torque fit-patterns`: fit the gait-pattern model (sim/patterns.json) to the real trials.

The fitting itself (trials, gait events, speeds, Fourier fits): sim/pattern_fit.py.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..sim.pattern_fit import HARMONICS

NAME = "fit-patterns"
HELP = "Fit the gait-pattern model (sim/patterns.json) to the real trials in ../shared/data."

DEFAULT_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder (../shared/data)")
    p.add_argument(
        "--run-coordinates",
        type=Path,
        default=None,
        help="folder with hamner run200.mot..run500.mot IK coordinates (OpenSim .mot)",
    )
    p.add_argument("--out", type=Path, default=None, help="output JSON (default: the packaged patterns.json)")
    p.add_argument("--harmonics", type=int, default=HARMONICS)


def run(args: argparse.Namespace) -> int:
    from ..sim.gait import PATTERNS_PATH
    from ..sim.pattern_fit import collect_trials, fit_mode, fit_trial

    t0 = time.time()
    run_dir = args.run_coordinates
    if run_dir is None:  # the real-trials cache (`imu-torque real-trials`) when it has the running IK
        from ..data.real_trials import default_cache_dir

        cache = default_cache_dir()
        if any(cache.glob("*run200*.mot")):
            run_dir = cache
            print(f"running IK coordinates from the real-trials cache {cache}")
    trials = collect_trials(args.data.resolve(), run_dir)
    fits = [fit_trial(t, args.harmonics) for t in trials]
    modes = {"walk": fit_mode(fits, "walk", args.harmonics)}
    if any(f["mode"] == "run" for f in fits):
        modes["run"] = fit_mode(fits, "run", args.harmonics)
    out = args.out or PATTERNS_PATH
    old = json.loads(Path(out).read_text()) if Path(out).exists() else {}
    if "run" not in modes:
        if "run" not in old.get("modes", {}):
            raise ValueError(
                "no running coordinates given (--run-coordinates) and none in the existing "
                f"{out}; running patterns cannot be fitted"
            )
        modes["run"] = old["modes"]["run"]
        print("running patterns kept from the existing file (no --run-coordinates)")
    doc = {
        "version": 1,
        "meta": {
            "fitted_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": "imu-torque fit-patterns",
            "harmonics": args.harmonics,
            "trials": [f["name"] for f in fits],
        },
        "modes": modes,
    }
    Path(out).write_text(json.dumps(doc, indent=1))
    for f in fits:
        rms = max(f["fit_rms_deg"].values())
        print(
            f"{f['name']:28s} {f['mode']:4s} v={f['speed_m_s']:.2f} m/s  T={f['stride_time_s']:.3f} s  "
            f"duty={f['duty']:.3f}  stances={f['n_stances']}  max fit RMS={rms:.2f} deg"
        )
    print(f"wrote {out} in {time.time() - t0:.1f} s")
    return 0
