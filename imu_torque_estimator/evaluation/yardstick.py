"""Real signals as the yardstick: baseline rows beside the models, bootstrap intervals, and a
selection protocol that never looks at the test set.

Selection set (used to choose settings and models): the real-motion trials in a leave-one-trial-out
protocol (a predictor that learns from trials is fitted on the other eight for each trial) and the
simulated held-out subjects (fitted on all nine real trials). Selection score = mean RMSE over
{real walking, real running, simulated} x {hip, knee, ankle} (sides pooled). Test set: the BioMAC
real-IMU cycles, evaluated only for the chosen settings, never fitted on.

Table cells: pooled RMSE (Nm/kg) and Pearson r per joint kind (left and right samples pooled where
both have a reference; BioMAC: right leg only) with percentile-bootstrap 95 % intervals
(evaluation.bootstrap): over trials for the simulated and real-motion columns, over 10 phase blocks
of the one averaged cycle for BioMAC (within-cycle spread only).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ..body import JOINTS
from .baselines import EvalRecording, make_baseline
from .bootstrap import paired_rmse_difference_ci, phase_blocks, rmse_r_ci

KINDS = ("hip", "knee", "ankle")
KIND_COLUMNS = {k: [i for i, j in enumerate(JOINTS) if j.startswith(k)] for k in KINDS}
ROWS: dict[str, str] = {
    "zero": "zero",
    "mean_curve": "gait-phase mean curve, IMU events (causal)",
    "mean_curve_oracle": "gait-phase mean curve, force-plate events (oracle)",
    "imu_id": "IMU-driven ID (measured GRF + CoP)",
    "rnn_3imu": "shipped RNN 3 IMU",
    "rnn_7imu": "shipped RNN 7 IMU",
}
COLUMNS: dict[str, tuple[str, str]] = {
    "sim": ("simulated held-out subjects", "trial"),
    "real_walk": ("real-motion trials, walking", "trial"),
    "real_run": ("real-motion trials, running", "trial"),
    "biomac_walk": ("BioMAC real IMU, walking", "phase_block"),
    "biomac_run": ("BioMAC real IMU, running", "phase_block"),
}
SELECTION_COLUMNS = ("real_walk", "real_run", "sim")
MEAN_CURVE_GRID = {"speed_model": ("swing_peak", "none"), "contralateral": (True, False),
                   "mid_swing": (True, False)}


def predict_all(rec: EvalRecording, bundles: dict | None = None, baselines: dict | None = None,
                from_sample: int = 0) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """Every method on one recording of any source (BioMAC, a user's recording once calibrated):
    zero, the given fitted `baselines` {name: Baseline}, and the shipped RNNs {sensor_set: Bundle}
    through the NumPy streaming engine (model.engine.run_sequence, from a reset state at sample 0).
    Returns ({method: (N - from_sample, 6) Nm/kg}, {method: info})."""
    from ..model.dataset import select_features
    from ..model.engine import run_sequence

    pred: dict[str, np.ndarray] = {}
    info: dict[str, dict] = {}
    for name, b in {"zero": make_baseline("zero"), **(baselines or {})}.items():
        p = b.predict(rec)
        pred[name] = p.moments_nm_per_kg[from_sample:]
        info[name] = p.info
    for set_name, bundle in (bundles or {}).items():
        if abs(bundle.rate_hz - rec.rate_hz) > 1e-6:
            raise ValueError(f"model {set_name} runs at {bundle.rate_hz} Hz, recording {rec.name!r} is at "
                             f"{rec.rate_hz} Hz: resample it first")
        x = select_features(rec.features, rec.feature_names, set_name)
        pred[f"rnn_{set_name}"] = run_sequence(bundle, x)[from_sample:, :len(JOINTS)]
    return pred, info


def _units(cases: Sequence, method: str, kind: str, unit: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Bootstrap units of one cell from cases with .pred, .true (N, 6) and (phase blocks) .phase."""
    cols = KIND_COLUMNS[kind]
    if unit == "trial":
        return [(c.pred[method][:, cols], c.true[:, cols]) for c in cases]
    out = []
    for c in cases:
        out += phase_blocks(c.pred[method][:, cols], c.true[:, cols], c.phase)
    return out


def column_cells(cases: Sequence, unit: str, methods: Sequence[str], n_boot: int = 2000,
                 rmse: bool = True) -> dict[str, dict[str, dict]]:
    """{method: {kind: rmse_r_ci}} for the methods present in every case."""
    out = {}
    for m in methods:
        if not cases or not all(m in c.pred for c in cases):
            continue
        out[m] = {k: rmse_r_ci(_units(cases, m, k, unit), unit, n_boot, rmse=rmse) for k in KINDS}
    return out


def paired_vs(cases: Sequence, unit: str, methods: Sequence[str], reference: str = "mean_curve",
              n_boot: int = 2000) -> dict[str, dict[str, dict]]:
    """{method: {kind: RMSE(method) - RMSE(reference) with a paired bootstrap interval}}."""
    if not cases or not all(reference in c.pred for c in cases):
        return {}
    out = {}
    for m in methods:
        if m == reference or not all(m in c.pred for c in cases):
            continue
        out[m] = {k: paired_rmse_difference_ci(_units(cases, m, k, unit), _units(cases, reference, k, unit),
                                               unit, n_boot) for k in KINDS}
    return out


def _pooled_kind_rmse(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    p = np.concatenate([a for a, _ in pairs])
    t = np.concatenate([b for _, b in pairs])
    out = {}
    for k, cols in KIND_COLUMNS.items():
        e = (p[:, cols] - t[:, cols]).ravel()
        e = e[np.isfinite(e)]
        out[k] = float(np.sqrt(np.mean(e ** 2))) if e.size else float("nan")
    return out


def _eval(rec: EvalRecording, moments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = int(rec.meta.get("eval_from", 0))
    return moments[e:], rec.moments_nm_per_kg[e:]  # type: ignore[index]


def loto_predictions(name: str, settings: dict, real: Sequence[EvalRecording], sim: Sequence[EvalRecording]
                     ) -> tuple[dict[str, object], dict[str, object]]:
    """Predictions of one baseline on the selection set: each real trial by a predictor fitted on the
    other real trials, each simulated trial by one fitted on all real trials.
    Returns ({real name: Prediction}, {sim name: Prediction})."""
    out_real = {}
    for r in real:
        b = make_baseline(name, **settings).fit([x for x in real if x.name != r.name])
        out_real[r.name] = b.predict(r)
    full = make_baseline(name, **settings).fit(list(real))
    return out_real, {r.name: full.predict(r) for r in sim}


def selection_columns(preds_real: dict, preds_sim: dict, real: Sequence[EvalRecording],
                      sim: Sequence[EvalRecording]) -> dict[str, dict[str, float]]:
    """{real_walk|real_run|sim: {kind: pooled RMSE}} of one candidate's selection-set predictions."""
    cols: dict[str, list] = {"real_walk": [], "real_run": [], "sim": []}
    for r in real:
        cols[f"real_{r.mode}"].append(_eval(r, preds_real[r.name].moments_nm_per_kg))
    for r in sim:
        cols["sim"].append(_eval(r, preds_sim[r.name].moments_nm_per_kg))
    return {c: _pooled_kind_rmse(v) for c, v in cols.items() if v}


def selection_score(columns: dict[str, dict[str, float]]) -> float:
    """Mean RMSE over the selection columns x joint kinds (the number candidates are ranked by)."""
    vals = [columns[c][k] for c in SELECTION_COLUMNS if c in columns for k in KINDS]
    return float(np.mean(vals))


def select_mean_curve(real: Sequence[EvalRecording], sim: Sequence[EvalRecording], progress=None) -> dict:
    """Evaluate every setting of MEAN_CURVE_GRID on the selection set; choose the lowest score.
    Returns {"candidates": [...], "chosen": settings, "predictions": (real, sim) of the chosen}."""
    cands = []
    best = None
    keys = list(MEAN_CURVE_GRID)
    for values in itertools.product(*(MEAN_CURVE_GRID[k] for k in keys)):
        settings = dict(zip(keys, values, strict=True))
        pr, ps = loto_predictions("mean_curve", settings, real, sim)
        cols = selection_columns(pr, ps, real, sim)
        score = selection_score(cols)
        cands.append({"settings": settings, "columns": cols, "score": score})
        if progress:
            progress(f"mean-curve candidate {settings}: selection score {score:.3f}")
        if best is None or score < best[0]:
            best = (score, settings, pr, ps)
    assert best is not None
    return {"candidates": cands, "chosen": best[1], "score": best[0], "predictions": (best[2], best[3]),
            "score_definition": "mean RMSE (Nm/kg) over {real walking, real running (leave-one-trial-out), "
                                "simulated held-out subjects} x {hip, knee, ankle}"}


def model_selection_scores(real_cases: Sequence, sim_cases: Sequence, methods: Sequence[str]) -> dict:
    """The same selection score for fixed methods already in the cases' predictions (e.g. the shipped
    RNNs), so candidates and models are ranked on one scale."""
    out = {}
    for m in methods:
        cols: dict[str, list] = {"real_walk": [], "real_run": [], "sim": []}
        for c in real_cases:
            if m in c.pred:
                cols[f"real_{c.meta['mode']}"].append((c.pred[m], c.true))
        for c in sim_cases:
            if m in c.pred:
                cols["sim"].append((c.pred[m], c.true))
        cc = {k: _pooled_kind_rmse(v) for k, v in cols.items() if v}
        if len(cc) == len(SELECTION_COLUMNS):
            out[m] = {"columns": cc, "score": selection_score(cc)}
    return out
