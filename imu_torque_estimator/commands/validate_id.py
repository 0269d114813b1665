"""`imu-torque validate-id`: the project's inverse dynamics vs OpenSim references on real walking trials.

Prints the RMS table (Nm/kg) of project ID vs reference and of OpenSim's own InverseDynamicsTool vs
reference, writes JSON (benchmarks/results/id_validation.json) and a PNG plot
(benchmarks/results/id_validation.png: hip/knee/ankle, both legs, project vs reference).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..extras import require

NAME = "validate-id"
HELP = "validate the project's inverse dynamics against OpenSim references on the real walking trials"
REQUIRES = ("opensim", "matplotlib")  # extras.py: checked by the CLI before the command starts

_REPO = Path(__file__).resolve().parents[2]
TARGET_NM_PER_KG = 0.05


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=_REPO / ".." / "shared" / "data",
                        help="folder holding the shared recordings (default: ../shared/data)")
    parser.add_argument("--trials", nargs="+", default=None,
                        help="trial names (default: all validation trials)")
    parser.add_argument("--json", type=Path, default=_REPO / "benchmarks" / "results" / "id_validation.json")
    parser.add_argument("--png", type=Path, default=_REPO / "benchmarks" / "results" / "id_validation.png")
    parser.add_argument("--no-opensim-tool", action="store_true",
                        help="skip re-running OpenSim's InverseDynamicsTool")


def _plot(results: list, path: Path) -> None:
    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..body import JOINTS

    fig, axes = plt.subplots(len(results), 6, figsize=(20, 3.2 * len(results)), squeeze=False)
    for row, res in zip(axes, results, strict=True):
        for ax, j in zip(row, JOINTS, strict=True):
            ax.plot(res.time_s, res.reference_nm_per_kg[j], "k-", lw=2.5, label="OpenSim reference")
            ax.plot(res.time_s, res.project_nm_per_kg[j], "C1--", lw=1.5, label="project ID")
            ax.set_title(f"{res.trial}\n{j}: RMS {res.rms_project_nm_per_kg[j]:.4f} Nm/kg", fontsize=8)
            ax.set_xlabel("time (s)", fontsize=8)
            ax.tick_params(labelsize=7)
        row[0].set_ylabel("moment (Nm/kg)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from ..body import JOINTS
    from ..data.opensim_model import VALIDATION_TRIALS, validate_id_trial

    data_dir = args.data_dir.resolve()
    if not data_dir.is_dir():
        raise FileNotFoundError(f"shared data folder not found: {data_dir} (use --data-dir)")
    names = args.trials or list(VALIDATION_TRIALS)
    results = []
    for name in names:
        print(f"validating inverse dynamics on {name} ...", flush=True)
        results.append(validate_id_trial(data_dir, name, run_tool=not args.no_opensim_tool))
    head = (f"{'trial':24s} {'joint':22s} {'project vs ref':>15s} {'OpenSim tool vs ref':>20s} "
            f"{'project vs tool':>16s}")
    print(f"\nRMS difference, Nm/kg (target <= {TARGET_NM_PER_KG:.2f})")
    print(head)
    print("-" * len(head))
    ok = True
    for res in results:
        for j in JOINTS:
            p = res.rms_project_nm_per_kg[j]
            tool = res.rms_opensim_tool_nm_per_kg.get(j)
            ok &= p <= TARGET_NM_PER_KG
            tool_s = f"{tool:20.4f}" if tool is not None else f"{'-':>20s}"
            pt = res.rms_project_vs_opensim_tool_nm_per_kg.get(j)
            pt_s = f"{pt:16.1e}" if pt is not None else f"{'-':>16s}"
            print(f"{res.trial:24s} {j:22s} {p:15.4f} {tool_s} {pt_s}")
        print(f"{res.trial:24s} pelvis residual force RMS {res.pelvis_residual_force_rms_pct_bw:.1f} % BW; "
              f"model mass {res.model_mass_kg:.2f} kg; {res.time_s.size} frames")
        for note in res.notes:
            print(f"{res.trial:24s} note: {note}")
        if res.rms_opensim_tool_raw_nm_per_kg:
            worst = max(res.rms_opensim_tool_raw_nm_per_kg.values())
            print(f"{res.trial:24s} OpenSim tool on the unfixed file: worst RMS {worst:.3f} Nm/kg")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"target_nm_per_kg": TARGET_NM_PER_KG, "within_target": bool(ok),
                                     "trials": [r.summary() for r in results]}, indent=2))
    _plot(results, args.png)
    print(f"\nwrote {args.json} and {args.png}")
    print("all joints within target" if ok else "SOME JOINTS EXCEED THE TARGET")
    return 0 if ok else 1
