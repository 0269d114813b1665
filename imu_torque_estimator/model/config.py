"""Network architecture description, torch-free so that loading a bundle and running the NumPy
engine (the real-time node) never imports torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass

CELLS = ("gru", "lstm")


@dataclass(frozen=True)
class NetworkConfig:
    """Architecture of `TorqueRNN` (all that is needed to rebuild it from weights)."""

    n_in: int
    n_out: int = 6
    hidden: int = 64
    layers: int = 2
    cell: str = "gru"

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        for name in ("n_in", "n_out", "hidden", "layers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)
