"""Plots of pipeline results (matplotlib, imported on use)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..extras import require


def plot_result(path: Path, res: Any) -> None:
    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(res.joints)
    rows = (n + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(12, 2.4 * rows), sharex=True, squeeze=False)
    t = (res.stamp_ns - (res.stamp_ns[0] if len(res.stamp_ns) else 0)) * 1e-9
    for k, j in enumerate(res.joints):
        ax = axes[k // 2][k % 2]
        if res.truth_nm_per_kg is not None:
            ax.plot(t, res.truth_nm_per_kg[:, k], "k-", lw=1.0, label="true")
        ax.plot(t, res.torque_nm_per_kg[:, k], "C3-", lw=0.8, label="estimated")
        title = j
        if res.metrics and j in res.metrics:
            title += f"  RMSE {res.metrics[j]['rmse_nm_per_kg']:.3f} Nm/kg, r {res.metrics[j]['r']:.2f}"
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("Nm/kg")
    axes[0][0].legend(fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
