"""Network architecture and training hyper-parameters, torch-free so that loading a bundle, running
the NumPy engine (the real-time node) and building the CLI never import torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of `TorqueRNN` (all that is needed to rebuild it from weights)."""

    n_in: int
    n_out: int = 6
    hidden: int = 64
    layers: int = 2
    cell: str = "gru"  # the network kind: a key of architectures.ARCHITECTURES

    def __post_init__(self) -> None:
        from .architectures import architecture

        architecture(self.cell)  # UnknownArchitectureError naming the registered kinds
        for name in ("n_in", "n_out", "hidden", "layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainConfig:
    """Hyper-parameters (recorded in the bundle). Steps, not epochs: data is sampled as windows."""

    # LSTM 1x128: chosen by measurement (benchmarks/bench_model_selection.py, 3imu, 600 steps each,
    # results/model_selection.json): held-out mean RMSE 0.167 Nm/kg vs GRU 2x64 0.169, LSTM 2x64 0.169,
    # LSTM 1x64 0.184, training 1.7x faster than the GRU on CPU (PyTorch's fused LSTM kernel; the GRU
    # was 1.7-3x slower per step in every run); engine step ~15 us.
    cell: str = "lstm"
    hidden: int = 128
    layers: int = 1
    window: int = 200          # samples with loss per window
    burn_in: int = 50          # samples run before the loss starts (state warm-up)
    batch: int = 32
    lr: float = 3e-3
    lr_final_frac: float = 0.05  # cosine decay to lr * lr_final_frac at max_steps / time budget
    weight_decay: float = 1e-5
    grad_clip: float = 1.0
    max_steps: int = 3000
    eval_every: int = 100
    patience: int = 8          # evaluations without improvement before stopping
    val_fraction: float = 0.15
    max_val_sequences: int = 64  # cap validation cost (first N validation trials, fixed)
    time_budget_s: float | None = None
    seed: int = 0
    threads: int = 2

    def to_dict(self) -> dict:
        return asdict(self)
