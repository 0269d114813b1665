"""Accuracy metrics per joint: RMSE (Nm/kg), normalised RMSE (% of the true range), Pearson r.

Inputs are (N, J) arrays in Nm/kg, body.JOINTS order; rows where either array is non-finite are
ignored (the streaming engine returns NaN for samples it skipped). `grouped_metrics` evaluates
per condition (e.g. mode/speed/slope) and overall: RMSE and r pool the samples of a group, nRMSE
is averaged over its trials.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np


def _valid(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=float)
    true = np.asarray(true, dtype=float)
    if pred.shape != true.shape or pred.ndim != 2:
        raise ValueError(f"pred and true must have the same (N, J) shape, got {pred.shape} and {true.shape}")
    ok = np.isfinite(pred).all(axis=1) & np.isfinite(true).all(axis=1)
    return pred[ok], true[ok]


def rmse(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Root-mean-square error per column (J,), in the input unit (Nm/kg)."""
    p, t = _valid(pred, true)
    if len(p) == 0:
        return np.full(p.shape[1], np.nan)
    return np.sqrt(np.mean((p - t) ** 2, axis=0))


def nrmse_pct(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """RMSE as % of the true signal's range (max - min) per column (J,)."""
    p, t = _valid(pred, true)
    if len(p) == 0:
        return np.full(p.shape[1], np.nan)
    rng = t.max(axis=0) - t.min(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rng > 0, 100.0 * np.sqrt(np.mean((p - t) ** 2, axis=0)) / rng, np.nan)


def pearson_r(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Pearson correlation per column (J,); NaN for a constant column."""
    p, t = _valid(pred, true)
    if len(p) < 2:
        return np.full(p.shape[1], np.nan)
    pc, tc = p - p.mean(axis=0), t - t.mean(axis=0)
    den = np.sqrt((pc ** 2).sum(axis=0) * (tc ** 2).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (pc * tc).sum(axis=0) / den, np.nan)


def joint_metrics(pred: np.ndarray, true: np.ndarray, joints: Iterable[str]) -> dict[str, dict]:
    """{joint: {rmse_nm_per_kg, nrmse_pct, r}} for the first len(joints) columns, plus n_samples."""
    joints = list(joints)
    pred = np.asarray(pred)[:, :len(joints)]
    true = np.asarray(true)[:, :len(joints)]
    e, ne, r = rmse(pred, true), nrmse_pct(pred, true), pearson_r(pred, true)
    out: dict[str, Any] = {j: {"rmse_nm_per_kg": float(e[i]), "nrmse_pct": float(ne[i]), "r": float(r[i])}
                           for i, j in enumerate(joints)}
    out["n_samples"] = len(_valid(pred, true)[0])
    return out


def grouped_metrics(items: Iterable[tuple[dict, np.ndarray, np.ndarray]], joints: Iterable[str],
                    key: Callable[[dict], str]) -> dict[str, dict]:
    """Metrics per group: items are (meta, pred, true) per trial; `key(meta)` names the group.

    RMSE and r pool the samples of a group; nRMSE is the mean over the group's trials of each
    trial's RMSE / range (the usual per-trial normalisation: a pooled range would be set by the
    most extreme trial). Returns {"all": ..., <group>: ...} with groups sorted by name.
    """
    joints = list(joints)
    groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    pooled: list[tuple[np.ndarray, np.ndarray]] = []
    for meta, pred, true in items:
        pair = (np.asarray(pred)[:, :len(joints)], np.asarray(true)[:, :len(joints)])
        groups.setdefault(key(meta), []).append(pair)
        pooled.append(pair)
    if not pooled:
        raise ValueError("grouped_metrics: no items")

    def _metrics(pairs):
        m = joint_metrics(np.concatenate([p for p, _ in pairs]), np.concatenate([t for _, t in pairs]),
                          joints)
        per_trial = np.array([nrmse_pct(p, t) for p, t in pairs])
        ok = np.isfinite(per_trial)
        mean_n = np.where(ok.any(axis=0), np.where(ok, per_trial, 0.0).sum(axis=0)
                          / np.maximum(ok.sum(axis=0), 1), np.nan)
        for i, j in enumerate(joints):
            m[j]["nrmse_pct"] = float(mean_n[i])
        return m

    out = {"all": _metrics(pooled)}
    for g in sorted(groups):
        out[g] = _metrics(groups[g])
    return out


def condition_key(meta: dict) -> str:
    """Group name of a trial: '<mode> <speed> m/s <slope> %', e.g. 'walk 1.2 m/s 0 %'."""
    mode = meta.get("mode", "?")
    speed = meta.get("speed_m_s")
    slope = meta.get("slope_pct", 0.0)
    if speed is None:
        return str(mode)
    return f"{mode} {float(speed):.1f} m/s {float(slope):+.0f} %"


def format_table(metrics: dict[str, dict], joints: Iterable[str], title: str = "") -> str:
    """Plain-text table: one row per group, RMSE / nRMSE / r per joint."""
    joints = list(joints)
    short = [j.replace("_flexion", "").replace("_dorsiflexion", "") for j in joints]
    lines = [title] if title else []
    head = f"{'group':<24}{'n':>8} | " + " | ".join(f"{s:^20}" for s in short)
    lines += [head, f"{'':<32} | " + " | ".join(f"{'RMSE  nRMSE%    r':^20}" for _ in joints),
              "-" * len(head)]
    for g, m in metrics.items():
        cells = " | ".join(f"{m[j]['rmse_nm_per_kg']:6.3f} {m[j]['nrmse_pct']:6.1f} {m[j]['r']:5.2f}"
                           for j in joints)
        lines.append(f"{g[:24]:<24}{m['n_samples']:>8} | {cells}")
    return "\n".join(lines)
