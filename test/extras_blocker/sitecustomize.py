"""Test helper, on PYTHONPATH of a child process: makes the top-level modules listed (comma-separated)
in $IMU_TORQUE_TEST_BLOCK uninstallable, as on a machine without that extra. A finder that raises
ModuleNotFoundError is what a missing package looks like to importers (no None in sys.modules, which
libraries probing for optional modules, e.g. scipy for torch, would trip over)."""

import importlib.abc
import os
import sys

_BLOCKED = {m for m in os.environ.get("IMU_TORQUE_TEST_BLOCK", "").split(",") if m}


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return


if _BLOCKED:
    sys.meta_path.insert(0, _Blocker())
