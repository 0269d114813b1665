"""Causal recurrent network: segment-kinematics features -> sagittal joint moments (Nm/kg).

The network carries its own normalisation as buffers (statistics from the training data only),
so `forward` takes raw features (units of the feature spec: m/s^2, rad/s) and returns moments in
Nm/kg in `body.JOINTS` order (extra outputs, if any, follow the six). Training uses
`forward_normalised`, whose loss is balanced across joints.

Causal by construction: a unidirectional GRU/LSTM stack followed by a per-sample linear head.
"""

from __future__ import annotations

from ..extras import require

require("torch")  # one clear message naming the 'train' extra instead of a bare ModuleNotFoundError
import torch  # noqa: E402
from torch import nn  # noqa: E402

from .architectures import architecture  # noqa: E402
from .config import NetworkConfig  # noqa: E402


class TorqueRNN(nn.Module):
    """Unidirectional recurrent stack (architectures.py: nn.GRU, nn.LSTM) + linear head, with
    input/output normalisation buffers.

    State: GRU -> h (layers, B, hidden); LSTM -> (h, c), the PyTorch conventions.
    """

    in_mean: torch.Tensor  # buffers (register_buffer), typed for the checker
    in_std: torch.Tensor
    out_mean: torch.Tensor
    out_std: torch.Tensor

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        rnn_cls = architecture(cfg.cell).torch_class()
        self.rnn = rnn_cls(cfg.n_in, cfg.hidden, cfg.layers, batch_first=True)
        self.head = nn.Linear(cfg.hidden, cfg.n_out)
        self.register_buffer("in_mean", torch.zeros(cfg.n_in))
        self.register_buffer("in_std", torch.ones(cfg.n_in))
        self.register_buffer("out_mean", torch.zeros(cfg.n_out))
        self.register_buffer("out_std", torch.ones(cfg.n_out))

    def set_normalisation(self, in_mean, in_std, out_mean, out_std) -> None:
        """Store normalisation statistics (array-likes); std values must be > 0."""
        for name, v in (("in_mean", in_mean), ("in_std", in_std), ("out_mean", out_mean),
                        ("out_std", out_std)):
            t = torch.as_tensor(v, dtype=torch.float32)
            buf = getattr(self, name)
            if t.shape != buf.shape:
                raise ValueError(f"{name}: expected shape {tuple(buf.shape)}, got {tuple(t.shape)}")
            if name.endswith("std") and not bool(torch.all(t > 0)):
                raise ValueError(f"{name} must be > 0 everywhere")
            buf.copy_(t)

    def forward_normalised(self, x: torch.Tensor, state=None):
        """x: raw features (B, T, F) -> (normalised outputs (B, T, n_out), new state)."""
        h, state = self.rnn((x - self.in_mean) / self.in_std, state)
        return self.head(h), state

    def forward(self, x: torch.Tensor, state=None):
        """x: raw features (B, T, F) -> (moments Nm/kg (B, T, n_out), new state)."""
        y, state = self.forward_normalised(x, state)
        return y * self.out_std + self.out_mean, state

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def numpy_weights(model: TorqueRNN) -> dict:
    """All parameters and buffers as float32 NumPy arrays keyed by their PyTorch names."""
    return {k: v.detach().cpu().numpy().astype("float32") for k, v in model.state_dict().items()}


def load_numpy_weights(model: TorqueRNN, weights: dict) -> TorqueRNN:
    """Inverse of `numpy_weights` (strict: every key must be present with the right shape)."""
    sd = model.state_dict()
    missing = sorted(set(sd) - set(weights))
    extra = sorted(set(weights) - set(sd))
    if missing or extra:
        raise ValueError(f"weights do not match the network: missing {missing}, unexpected {extra}")
    model.load_state_dict({k: torch.as_tensor(weights[k]) for k in sd})
    return model
