"""Bootstrap 95 % intervals for RMSE and Pearson r: the one helper behind every results table.

A table cell pools the samples of several *units* (trials, strides, or phase blocks of one averaged
cycle) and reports the pooled RMSE (Nm/kg) and the pooled Pearson r. Its interval is a percentile
bootstrap over those units: resample the units with replacement, recompute the pooled statistics.
Units, not samples, are resampled because samples within a trial or stride are strongly correlated;
the caller names the unit kind and the table states it. With few units (the real-motion trials have
4-5 per mode) the percentile interval is coarse and tends to be too narrow; the unit count is kept
beside every interval so a reader can judge that.

Computation uses per-unit sufficient statistics (n, sum e^2, sums and cross-products of prediction
and truth), so 2000 replicates over hundreds of units take milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

UNIT_KINDS = ("trial", "stride", "phase_block")
DEFAULT_N_BOOT = 2000
DEFAULT_LEVEL = 0.95

Unit = tuple[np.ndarray, np.ndarray]  # (pred, true), same shape, any number of samples


def _unit_stats(units: Sequence[Unit]) -> np.ndarray:
    """(U, 7) per-unit sums over the finite samples: n, e^2, p, t, p^2, t^2, p t."""
    rows = []
    for pred, true in units:
        p = np.asarray(pred, float).ravel()
        t = np.asarray(true, float).ravel()
        if p.shape != t.shape:
            raise ValueError(f"bootstrap unit: prediction and truth differ in size ({p.size} vs {t.size})")
        ok = np.isfinite(p) & np.isfinite(t)
        p, t = p[ok], t[ok]
        rows.append([p.size, ((p - t) ** 2).sum(), p.sum(), t.sum(), (p * p).sum(), (t * t).sum(),
                     (p * t).sum()])
    return np.asarray(rows, float).reshape(-1, 7)


def _rmse_r(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pooled RMSE and Pearson r from summed statistics (..., 7)."""
    n = s[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        rmse = np.sqrt(s[..., 1] / n)
        cov = s[..., 6] - s[..., 2] * s[..., 3] / n
        vp = s[..., 4] - s[..., 2] ** 2 / n
        vt = s[..., 5] - s[..., 3] ** 2 / n
        r = cov / np.sqrt(np.clip(vp, 0.0, None) * np.clip(vt, 0.0, None))
    return rmse, r


def _counts(n_units: int, n_boot: int, seed: int) -> np.ndarray:
    """(B, U) how often each unit is drawn in each replicate."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_units, size=(n_boot, n_units))
    return np.stack([np.bincount(d, minlength=n_units) for d in draws]).astype(float)


def _interval(x: np.ndarray, level: float) -> list[float] | None:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return None
    a = 100 * (1 - level) / 2
    return [float(np.percentile(x, a)), float(np.percentile(x, 100 - a))]


def _check(unit: str, level: float, n_boot: int) -> None:
    if unit not in UNIT_KINDS:
        raise ValueError(f"unknown bootstrap unit {unit!r}; choose one of {list(UNIT_KINDS)}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100, got {n_boot}")


def rmse_r_ci(units: Sequence[Unit], unit: str, n_boot: int = DEFAULT_N_BOOT, level: float = DEFAULT_LEVEL,
              seed: int = 0, rmse: bool = True) -> dict:
    """Pooled RMSE and r with percentile-bootstrap intervals over `units` (kind `unit`).

    Returns {"rmse", "rmse_ci", "r", "r_ci", "n_units", "n_samples", "unit", "level"}; intervals are
    None with fewer than 2 units (nothing to resample). `rmse=False` reports r only (RMSE None), for
    references whose unit does not match the prediction (moments in Nm without a body mass).
    """
    _check(unit, level, n_boot)
    s = _unit_stats(units)
    s = s[s[:, 0] > 0]
    out = {"rmse": None, "rmse_ci": None, "r": None, "r_ci": None, "n_units": int(len(s)),
           "n_samples": int(s[:, 0].sum()) if len(s) else 0, "unit": unit, "level": level}
    if len(s) == 0:
        return out
    e, r = _rmse_r(s.sum(axis=0))
    out["rmse"] = float(e) if rmse else None
    out["r"] = float(r) if np.isfinite(r) else None
    if len(s) >= 2:
        boot = _counts(len(s), n_boot, seed) @ s
        be, br = _rmse_r(boot)
        out["rmse_ci"] = _interval(be, level) if rmse else None
        out["r_ci"] = _interval(br, level)
    return out


def paired_rmse_difference_ci(units_a: Sequence[Unit], units_b: Sequence[Unit], unit: str,
                              n_boot: int = DEFAULT_N_BOOT, level: float = DEFAULT_LEVEL,
                              seed: int = 0) -> dict:
    """RMSE(a) - RMSE(b) on the same units (same samples, e.g. a model vs a baseline), with a paired
    bootstrap interval (the same resampled units for both). Negative = a is better."""
    _check(unit, level, n_boot)
    if len(units_a) != len(units_b):
        raise ValueError(f"paired bootstrap needs the same units: {len(units_a)} vs {len(units_b)}")
    sa, sb = _unit_stats(units_a), _unit_stats(units_b)
    if not np.array_equal(sa[:, 0], sb[:, 0]):
        raise ValueError("paired bootstrap: the two methods have different valid samples per unit")
    keep = sa[:, 0] > 0
    sa, sb = sa[keep], sb[keep]
    if len(sa) == 0:
        return {"diff": None, "diff_ci": None, "n_units": 0, "unit": unit, "level": level}
    d = float(_rmse_r(sa.sum(0))[0] - _rmse_r(sb.sum(0))[0])
    ci = None
    if len(sa) >= 2:
        c = _counts(len(sa), n_boot, seed)
        ci = _interval(_rmse_r(c @ sa)[0] - _rmse_r(c @ sb)[0], level)
    return {"diff": d, "diff_ci": ci, "n_units": int(len(sa)), "unit": unit, "level": level}


def phase_blocks(pred: np.ndarray, true: np.ndarray, phase: np.ndarray, n_blocks: int = 10) -> list[Unit]:
    """Units for data made of ONE averaged cycle (tiled): samples grouped by gait phase (0..1) into
    `n_blocks` equal phase blocks. The interval then reflects the within-cycle spread of the error
    only, not stride-to-stride or between-subject variability (say so where it is reported)."""
    ph = np.asarray(phase, float)
    if ph.shape[0] != np.asarray(pred).shape[0] or np.asarray(pred).shape != np.asarray(true).shape:
        raise ValueError("phase_blocks: pred, true and phase must have the same number of samples")
    if n_blocks < 2:
        raise ValueError(f"n_blocks must be >= 2, got {n_blocks}")
    b = np.clip((np.mod(ph, 1.0) * n_blocks).astype(int), 0, n_blocks - 1)
    return [(np.asarray(pred)[b == i], np.asarray(true)[b == i]) for i in range(n_blocks) if np.any(b == i)]


def format_cell(m: dict, digits: int = 3) -> tuple[str, str]:
    """('0.123 [0.100, 0.150]', '0.91 [0.85, 0.95]') from a `rmse_r_ci` result; '–' where missing."""
    def one(v, ci, d):
        if v is None:
            return "–"
        s = f"{v:.{d}f}"
        return s + (f" [{ci[0]:.{d}f}, {ci[1]:.{d}f}]" if ci else "")
    return one(m.get("rmse"), m.get("rmse_ci"), digits), one(m.get("r"), m.get("r_ci"), 2)
