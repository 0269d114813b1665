"""Optional dependencies: which extra provides which module, and one message when one is missing.

The runtime (nodes, streaming engine, bag replay, the CLI's core) needs none of these. Each optional
import goes through `require(module)` first, so a missing package fails with one line naming the extra
(`imu-torque` prints it and exits 3). The extras' contents and bounds are in setup.cfg.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re

PACKAGE = "imu_torque_estimator"

# top-level module -> (setup.cfg extra, what it is used for)
EXTRA_OF_MODULE: dict[str, tuple[str, str]] = {
    "matplotlib": ("plot", "plots"),
    "torch": ("train", "training"),
    "ezc3d": ("data", "reading C3D files"),
    "opensim": ("data", "OpenSim models, IK and ID"),
}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""


def _requirement(module: str, extra: str) -> str:
    """The requirement line of `module` in `extra` from the installed metadata ('torch>=2.13.0')."""
    try:
        for req in importlib.metadata.requires(PACKAGE) or []:
            if re.search(rf"extra\s*==\s*['\"]{extra}['\"]", req) and re.match(rf"{module}\b", req, re.I):
                return req.split(";")[0].replace(" ", "")
    except importlib.metadata.PackageNotFoundError:
        pass
    return module


def missing_extra_message(module: str) -> str:
    extra, purpose = EXTRA_OF_MODULE[module]
    return (f"{module} is not installed; {purpose} need the '{extra}' extra: pip install "
            f"'{_requirement(module, extra)}' (or, in a source tree: pip install -e '.[{extra}]')")


def require(module: str) -> None:
    """Import the optional `module` (a key of EXTRA_OF_MODULE) or raise MissingExtraError."""
    if module not in EXTRA_OF_MODULE:
        raise KeyError(f"{module!r} is not an optional dependency; known: {sorted(EXTRA_OF_MODULE)}")
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != module:
            raise  # the package is there but one of its own imports is missing: show the real error
        raise MissingExtraError(missing_extra_message(module)) from exc
