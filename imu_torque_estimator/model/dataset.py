"""Training sequences, subject-wise splits, normalisation statistics and window batching.

A `Sequence` is one trial: features (N, F) from `kinematics` (the same code the node runs) and
target moments (N, n_out) in Nm/kg, body.JOINTS order, plus its metadata (subject_id, mode,
speed_m_s, slope_pct, ...). Windows for truncated back-propagation are cut from the concatenation
of all sequences with NumPy fancy indexing (no Python loop per window), never across trial borders.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Sequence:
    """One trial: features (N, F), targets (N, n_out) Nm/kg, metadata (JSON-serialisable)."""

    features: np.ndarray
    targets: np.ndarray
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = np.ascontiguousarray(self.features, dtype=np.float32)
        self.targets = np.ascontiguousarray(self.targets, dtype=np.float32)
        name = self.meta.get("trial_id", "sequence")
        if self.features.ndim != 2 or self.targets.ndim != 2:
            raise ValueError(f"{name}: features and targets must be 2-D, got {self.features.shape} "
                             f"and {self.targets.shape}")
        if self.features.shape[0] != self.targets.shape[0]:
            raise ValueError(f"{name}: {self.features.shape[0]} feature rows but "
                             f"{self.targets.shape[0]} target rows")
        if not (np.isfinite(self.features).all() and np.isfinite(self.targets).all()):
            raise ValueError(f"{name}: features or targets contain NaN/inf")

    def __len__(self) -> int:
        return int(self.features.shape[0])

    @property
    def subject(self) -> str:
        return str(self.meta.get("subject_id", self.meta.get("trial_id", "?")))


def split_by_subject(seqs: SequenceABC[Sequence], val_fraction: float, seed: int
                     ) -> tuple[list[Sequence], list[Sequence]]:
    """Split sequences so that no subject is in both parts; about `val_fraction` of subjects go to val."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    subjects = sorted({s.subject for s in seqs})
    if len(subjects) < 2:
        raise ValueError(f"need at least 2 subjects to split by subject, got {subjects}")
    rng = np.random.default_rng(seed)
    n_val = min(len(subjects) - 1, max(1, round(val_fraction * len(subjects))))
    val_subjects = set(rng.permutation(subjects)[:n_val].tolist())
    train = [s for s in seqs if s.subject not in val_subjects]
    val = [s for s in seqs if s.subject in val_subjects]
    return train, val


def normalisation_stats(seqs: SequenceABC[Sequence]) -> dict[str, np.ndarray]:
    """Per-channel mean/std of features and targets over all samples of `seqs` (float64).

    A constant channel gets std 1 (it is then only centred), so normalisation never divides by 0.
    """
    if not seqs:
        raise ValueError("normalisation_stats: no sequences")
    x = np.concatenate([s.features for s in seqs]).astype(np.float64)
    y = np.concatenate([s.targets for s in seqs]).astype(np.float64)
    out = {}
    for name, a in (("in", x), ("out", y)):
        std = a.std(axis=0)
        out[f"{name}_mean"] = a.mean(axis=0)
        out[f"{name}_std"] = np.where(std > 1e-8, std, 1.0)
    return out


class WindowSampler:
    """Random fixed-length windows (burn_in + window samples) from a set of sequences.

    Window starts are drawn uniformly over all valid positions (so long trials weigh more), with
    a seeded generator. Sequences shorter than a window are skipped (reported by `n_skipped`).
    """

    def __init__(self, seqs: SequenceABC[Sequence], length: int, seed: int) -> None:
        if length < 2:
            raise ValueError(f"window length must be >= 2, got {length}")
        usable = [s for s in seqs if len(s) >= length]
        self.n_skipped = len(seqs) - len(usable)
        if not usable:
            raise ValueError(f"no sequence is at least {length} samples long")
        self.length = length
        self.x = np.concatenate([s.features for s in usable])
        self.y = np.concatenate([s.targets for s in usable])
        offsets = np.cumsum([0] + [len(s) for s in usable])
        # every valid start index, concatenated (int64; a few MB for millions of samples)
        self.starts = np.concatenate([np.arange(o, o + len(s) - length + 1)
                                      for o, s in zip(offsets[:-1], usable, strict=True)])
        self.rng = np.random.default_rng(seed)
        self._ramp = np.arange(length)

    def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """-> features (batch, length, F), targets (batch, length, n_out), float32."""
        idx = self.rng.choice(self.starts, size=batch)[:, None] + self._ramp
        return self.x[idx], self.y[idx]


def pad_batch(seqs: SequenceABC[Sequence]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole sequences zero-padded to the longest: features (B,T,F), targets (B,T,n), mask (B,T) bool."""
    t = max(len(s) for s in seqs)
    f, n = seqs[0].features.shape[1], seqs[0].targets.shape[1]
    x = np.zeros((len(seqs), t, f), np.float32)
    y = np.zeros((len(seqs), t, n), np.float32)
    m = np.zeros((len(seqs), t), bool)
    for i, s in enumerate(seqs):
        x[i, :len(s)], y[i, :len(s)], m[i, :len(s)] = s.features, s.targets, True
    return x, y, m


def linear_system_sequences(n_seq: int, n_samples: int, n_in: int = 6, n_out: int = 6, seed: int = 0,
                            n_subjects: int | None = None) -> list[Sequence]:
    """Synthetic test data: outputs of a known stable linear dynamical system driven by the inputs.

    x_{k+1} = A x_k + B u_k, y_k = C x_k + D u_k with random smooth inputs u (sum of sinusoids plus
    noise). A causal RNN can learn it exactly, which makes it a check of the training machinery
    independent of biomechanics. One sequence per subject unless `n_subjects` is given.
    """
    rng = np.random.default_rng(seed)
    n_state = 8
    q, _ = np.linalg.qr(rng.normal(size=(n_state, n_state)))
    a = q @ np.diag(rng.uniform(0.80, 0.97, n_state)) @ q.T  # stable, memory of ~5-30 samples
    b = rng.normal(size=(n_state, n_in)) * 0.3
    c = rng.normal(size=(n_out, n_state)) * 0.5
    d = rng.normal(size=(n_out, n_in)) * 0.2
    t = np.arange(n_samples)
    seqs = []
    for i in range(n_seq):
        freqs = rng.uniform(0.005, 0.08, size=(3, n_in))
        phases = rng.uniform(0, 2 * np.pi, size=(3, n_in))
        u = np.sin(2 * np.pi * freqs[:, None, :] * t[None, :, None] + phases[:, None, :]).sum(0)
        u += 0.1 * rng.normal(size=u.shape)
        x = np.zeros(n_state)
        y = np.empty((n_samples, n_out))
        for k in range(n_samples):
            y[k] = c @ x + d @ u[k]
            x = a @ x + b @ u[k]
        subj = i if n_subjects is None else i % n_subjects
        seqs.append(Sequence(u, y, {"trial_id": f"lin{i:03d}", "subject_id": f"s{subj:03d}",
                                    "mode": "walk" if i % 2 == 0 else "run"}))
    return seqs


# ---------------------------------------------------------------------------------------------------
# Real training data: synthesised trials (sim/dataset.py) -> features with the node's own library code.

CALIBRATION_MODES = ("static", "true", "nominal")


def trial_calibration(trial, mode: str = "static") -> dict:
    """Sensor-to-segment calibration for a synthesised trial, for all seven segments.

    - "static" (default, what the segment_kinematics node does): nominal mountings of the subject's
      body model (kinematics.placement.default_placements) corrected by a still-standing calibration
      (kinematics.calibrate with static=...); the standing window is the specific force the
      trial's TRUE mounting reads in neutral standing (segment frames = ground, so +g along segment z),
      noise- and bias-free. Residual errors: heading about the vertical and lever-arm offsets, as live.
    - "true": the trial's true mounting (perfect calibration; an upper bound).
    - "nominal": nominal mountings only (no calibration at all).
    """
    from .. import kinematics as kin
    from ..body import GRAVITY_M_S2, SEGMENTS, lower_body_model
    from ..kinematics.placement import default_placements

    if mode not in CALIBRATION_MODES:
        raise ValueError(f"unknown calibration mode {mode!r}; choose one of {list(CALIBRATION_MODES)}")
    if mode == "true":
        return {s: kin.Calibration(s, trial.sensor_to_segment[i], trial.sensor_position_m[i], method="true")
                for i, s in enumerate(SEGMENTS)}
    m = trial.meta
    nominal = default_placements(lower_body_model(float(m["mass_kg"]), float(m["height_m"]), m["sex"]))
    if mode == "nominal":
        return kin.calibrate(nominal)
    up = np.array([0.0, 0.0, GRAVITY_M_S2])
    static = {s: (np.tile(trial.sensor_to_segment[i].T @ up, (20, 1)), np.zeros((20, 3)))
              for i, s in enumerate(SEGMENTS)}
    return kin.calibrate(nominal, static=static)


def trial_features(trial, calibration: str = "static") -> tuple[np.ndarray, list[str]]:
    """7-IMU feature matrix (N, 42) of a trial and its names, from `kinematics.estimate_features`
    (the batch twin of the node's streaming estimator). Other sensor sets are column subsets."""
    from .. import kinematics as kin

    rate = float(trial.meta["rate_hz"])
    cal = trial_calibration(trial, calibration)
    imu = (trial.imu_specific_force_m_s2, trial.imu_angular_rate_rad_s)
    f = kin.estimate_features(imu, "7imu", rate, cal)
    return f, kin.feature_names("7imu")


def select_features(features: np.ndarray, names: list[str], sensor_set: str) -> np.ndarray:
    """Columns of `features` (named `names`) that make up `sensor_set`'s feature vector, in order."""
    from .. import kinematics as kin

    want = kin.feature_names(sensor_set)
    index = {n: i for i, n in enumerate(names)}
    missing = [n for n in want if n not in index]
    if missing:
        raise ValueError(f"features lack {missing[:3]}... needed by sensor set {sensor_set!r}")
    return features[:, [index[n] for n in want]]


def trial_meta(trial) -> dict:
    """JSON-friendly subset of a trial's metadata used for grouping and data cards."""
    keys = ("trial_id", "subject_id", "sex", "mass_kg", "height_m", "mode", "speed_m_s", "slope_pct",
            "condition", "rate_hz", "seed")
    return {k: trial.meta[k] for k in keys if k in trial.meta}
