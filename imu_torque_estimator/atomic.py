"""Atomic file writes: readers see the old file or the complete new one, never a partial one.

Used for dataset shards, caches (features, simulated recordings, real trials) and model bundles,
which parallel workers or interrupted runs may write concurrently. The temporary file name includes
the process id so concurrent writers of the same target never share it; data is fsynced before the
rename so a crash cannot leave a renamed but empty file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def _tmp_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    path = Path(path)
    tmp = _tmp_for(path)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def savez_atomic(path: str | Path, compressed: bool = False, **arrays: Any) -> Path:
    """np.savez (or savez_compressed) to `path` atomically; `path` is used as given (no suffix added)."""
    path = Path(path)
    tmp = _tmp_for(path)
    with open(tmp, "wb") as fh:
        (np.savez_compressed if compressed else np.savez)(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path
