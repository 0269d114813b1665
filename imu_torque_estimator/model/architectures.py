"""Network architectures by kind (torch-free): the registry behind a bundle's `network.cell`.

Each kind maps to its PyTorch recurrent module (training; imported on use), its weight-shape
contract (checked when a bundle is loaded) and its NumPy streaming engine (the nodes and the offline
pipeline). `make_engine(bundle)` is the one way to get an engine for a bundle. A new architecture =
an engine class (model/engine.py or its own module) + one `Architecture` line in `ARCHITECTURES`
(or `register_architecture`); the train CLI's `--cell` choices and bundle validation follow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .bundle import Bundle
    from .config import NetworkConfig
    from .engine import StreamingEngine


class UnknownArchitectureError(ValueError):
    """A network kind that is not registered; the message names the registered kinds."""


def rnn_weight_shapes(gates: int) -> Callable[[NetworkConfig], dict[str, tuple[int, ...]]]:
    """Weight shapes of a stacked PyTorch RNN (nn.GRU: 3 gates, nn.LSTM: 4) plus the linear head,
    keyed by PyTorch parameter names (rnn.*, head.*)."""

    def shapes(net: NetworkConfig) -> dict[str, tuple[int, ...]]:
        out: dict[str, tuple[int, ...]] = {"head.weight": (net.n_out, net.hidden), "head.bias": (net.n_out,)}
        gh = gates * net.hidden
        for k in range(net.layers):
            n_in = net.n_in if k == 0 else net.hidden
            out |= {f"rnn.weight_ih_l{k}": (gh, n_in), f"rnn.weight_hh_l{k}": (gh, net.hidden),
                    f"rnn.bias_ih_l{k}": (gh,), f"rnn.bias_hh_l{k}": (gh,)}
        return out

    return shapes


def _load(ref: str) -> Any:
    mod, _, attr = ref.partition(":")
    return getattr(importlib.import_module(mod), attr)


@dataclass(frozen=True)
class Architecture:
    """One network kind. `torch_module` and `engine` are 'module:attr' references, imported on use
    (torch only for training; the engine without torch)."""

    kind: str
    weight_shapes: Callable[[NetworkConfig], dict[str, tuple[int, ...]]]
    torch_module: str  # class called as cls(n_in, hidden, layers, batch_first=True), PyTorch RNN API
    engine: str  # StreamingEngine subclass, called as cls(bundle, dtype)

    def torch_class(self) -> Any:
        return _load(self.torch_module)

    def engine_class(self) -> type[StreamingEngine]:
        return _load(self.engine)


_ENGINE = "imu_torque_estimator.model.engine"
ARCHITECTURES: dict[str, Architecture] = {
    "gru": Architecture("gru", rnn_weight_shapes(3), "torch.nn:GRU", f"{_ENGINE}:GruEngine"),
    "lstm": Architecture("lstm", rnn_weight_shapes(4), "torch.nn:LSTM", f"{_ENGINE}:LstmEngine"),
}


def register_architecture(arch: Architecture) -> None:
    """Add (or replace) a network kind."""
    ARCHITECTURES[arch.kind] = arch


def architecture_kinds() -> tuple[str, ...]:
    return tuple(ARCHITECTURES)


def architecture(kind: str) -> Architecture:
    """The registered architecture `kind`; UnknownArchitectureError naming the kinds (the one message)."""
    try:
        return ARCHITECTURES[kind]
    except (KeyError, TypeError):
        raise UnknownArchitectureError(f"unknown architecture kind {kind!r}: cell must be one of the "
                                       f"registered kinds {list(ARCHITECTURES)}") from None


def make_engine(bundle: Bundle, dtype: type = np.float32) -> StreamingEngine:
    """The streaming engine of a loaded bundle (what the nodes and the offline pipeline run)."""
    return architecture(bundle.network.cell).engine_class()(bundle, dtype)
