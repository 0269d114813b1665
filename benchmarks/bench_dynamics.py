"""Inverse-dynamics throughput of the 7-segment chain on ONE core, alternatives side by side.

Frames per second of `dynamics.inverse_dynamics` + `sagittal_moments` on batches of random (but
well-formed) kinematics and ground reaction forces, against:
- the same code with numpy's `np.cross` instead of the hand-written row-wise cross product,
- the Euler term with the ground-frame inertia I_g = R I R^T formed per frame (einsum),
- a per-frame Python loop over the same equations (what "vectorised" saves),
- one-frame calls (the latency a streaming caller would pay per sample).
Target: >= 100 000 frames/s for the batched 7-segment chain. Writes benchmarks/results/dynamics.json.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from imu_torque_estimator import body, dynamics  # noqa: E402
from imu_torque_estimator.motion import JOINT_CENTRES, FootContact, SegmentKinematics  # noqa: E402

TARGET_FRAMES_PER_S = 100_000


def random_inputs(n: int, seed: int = 0) -> tuple[SegmentKinematics, dict[str, FootContact]]:
    rng = np.random.default_rng(seed)

    def rotations() -> np.ndarray:
        q = rng.normal(size=(n, 4))
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        w, x, y, z = q.T
        return np.stack([
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], 1)

    segs = body.SEGMENTS
    kin = SegmentKinematics(
        time_s=np.arange(n) / 100.0,
        rotation={s: rotations() for s in segs},
        com_position_m={s: rng.normal(size=(n, 3)) for s in segs},
        com_acceleration_m_s2={s: rng.normal(size=(n, 3)) for s in segs},
        angular_velocity_rad_s={s: rng.normal(size=(n, 3)) for s in segs},
        angular_acceleration_rad_s2={s: rng.normal(size=(n, 3)) for s in segs},
        joint_position_m={j: rng.normal(size=(n, 3)) for j in JOINT_CENTRES},
    )
    contacts = {s: FootContact(rng.normal(size=(n, 3)) * 300, rng.normal(size=(n, 3)),
                               rng.normal(size=(n, 3))) for s in body.SIDES}
    return kin, contacts


INERTIALS = dynamics.SegmentInertials.from_model(body.lower_body_model(75.0, 1.75))


def run_id(kin: SegmentKinematics, contacts: dict[str, FootContact]) -> dict[str, np.ndarray]:
    loads = dynamics.inverse_dynamics(kin, INERTIALS, contacts)
    return dynamics.sagittal_moments(kin, loads)


def _angular_momentum_rate_ig(rotation, inertia, omega, alpha):
    ig = np.einsum("nij,jk,nlk->nil", rotation, inertia, rotation)
    return np.einsum("nij,nj->ni", ig, alpha) + np.cross(omega, np.einsum("nij,nj->ni", ig, omega))


def per_frame_loop(kin: SegmentKinematics, contacts: dict[str, FootContact]) -> np.ndarray:
    """The same bottom-up recursion, one frame at a time (baseline)."""
    g = body.GRAVITY_VECTOR_M_S2
    n = len(kin)
    out = np.zeros((n, 6))
    for k in range(n):
        col = 0
        for side in body.SIDES:
            c = contacts[side]
            f_d, p_d, m_d = c.force_n[k], c.cop_m[k], c.free_moment_nm[k]
            for seg_kind, joint_kind in (("foot", "ankle"), ("shank", "knee"), ("thigh", "hip")):
                seg, joint = f"{seg_kind}_{side}", f"{joint_kind}_{side}"
                r = kin.rotation[seg][k]
                ig = r @ INERTIALS.inertia_kg_m2[seg] @ r.T
                w, a = kin.angular_velocity_rad_s[seg][k], kin.angular_acceleration_rad_s2[seg][k]
                hdot = ig @ a + np.cross(w, ig @ w)
                com, p = kin.com_position_m[seg][k], kin.joint_position_m[joint][k]
                f_p = INERTIALS.mass_kg[seg] * (kin.com_acceleration_m_s2[seg][k] - g) - f_d
                m_p = hdot - np.cross(p - com, f_p) - np.cross(p_d - com, f_d) - m_d
                out[k, col] = m_p[1]
                col += 1
                f_d, p_d, m_d = -f_p, p, -m_p
    return out


def frames_per_s(fn, kin, contacts, n: int, min_time_s: float) -> float:
    fn(kin, contacts)  # warm-up
    reps, t0 = 0, time.perf_counter()
    while True:
        fn(kin, contacts)
        reps += 1
        el = time.perf_counter() - t0
        if el >= min_time_s:
            return reps * n / el


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000, 100_000])
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "dynamics.json")
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass

    rows = []
    orig_cross, orig_amr = dynamics._cross, dynamics.angular_momentum_rate
    variants = {
        "vectorised (shipped)": (run_id, None),
        "vectorised, np.cross": (run_id, ("cross", np.cross)),
        "vectorised, I_g = R I R^T per frame": (run_id, ("amr", _angular_momentum_rate_ig)),
    }
    for n in args.sizes:
        kin, contacts = random_inputs(n)
        for name, (fn, patch) in variants.items():
            try:
                if patch and patch[0] == "cross":
                    dynamics._cross = patch[1]
                if patch and patch[0] == "amr":
                    dynamics.angular_momentum_rate = patch[1]
                fps = frames_per_s(fn, kin, contacts, n, args.min_time)
            finally:
                dynamics._cross, dynamics.angular_momentum_rate = orig_cross, orig_amr
            rows.append({"variant": name, "batch_frames": n, "frames_per_s": fps})
    kin, contacts = random_inputs(200)
    rows.append({"variant": "per-frame python loop", "batch_frames": 200,
                 "frames_per_s": frames_per_s(per_frame_loop, kin, contacts, 200, args.min_time)})
    kin1, c1 = random_inputs(1)
    fps1 = frames_per_s(run_id, kin1, c1, 1, args.min_time)
    rows.append({"variant": "one-frame call (streaming)", "batch_frames": 1, "frames_per_s": fps1})

    # consistency: the loop and the vectorised code give the same sagittal y-moments
    kin, contacts = random_inputs(50, seed=3)
    loads = dynamics.inverse_dynamics(kin, INERTIALS, contacts)
    ref = np.column_stack([loads.moment_nm[f"{j}_{s}"][:, 1] for s in body.SIDES
                           for j in ("ankle", "knee", "hip")])
    max_diff = float(np.abs(per_frame_loop(kin, contacts) - ref).max())

    best = max(r["frames_per_s"] for r in rows if r["variant"] == "vectorised (shipped)")
    print(f"{'variant':38s} {'batch':>8s} {'frames/s':>14s}")
    for r in rows:
        print(f"{r['variant']:38s} {r['batch_frames']:8d} {r['frames_per_s']:14,.0f}")
    print(f"\nshipped, best batch: {best:,.0f} frames/s (target >= {TARGET_FRAMES_PER_S:,}); "
          f"one-frame call: {1e6 / fps1:.0f} us; loop vs vectorised max |diff| {max_diff:.2e} N m")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "inverse dynamics, 7-segment chain + sagittal projection, one core",
        "target_frames_per_s": TARGET_FRAMES_PER_S, "best_frames_per_s": best,
        "meets_target": bool(best >= TARGET_FRAMES_PER_S), "one_frame_call_us": 1e6 / fps1,
        "loop_vs_vectorised_max_abs_diff_nm": max_diff, "rows": rows,
        "python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
    }, indent=2))
    print(f"wrote {args.out}")
    return 0 if best >= TARGET_FRAMES_PER_S else 1


if __name__ == "__main__":
    sys.exit(main())
