"""The installed `imu-torque` command: every sub-command's --help works (issue 13: `imu-torque --help`
crashed on a '%' in a help string), and a command whose optional extra is not installed stops with one
line naming the extra, before doing any work and without writing anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from installed import package_executable

from imu_torque_estimator import extras
from imu_torque_estimator.cli import _command_modules

REPO = Path(__file__).resolve().parents[1]
BLOCKER = Path(__file__).resolve().parent / "extras_blocker"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)  # let the ROS wheels' bootstrapper re-run in the child
    env.update(extra)
    return env


def test_help_of_the_cli_and_every_command():
    exe = package_executable("imu-torque")
    mods = _command_modules()
    runs = {"": subprocess.Popen([str(exe), "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=_env())}
    for mod in mods:
        runs[mod.NAME] = subprocess.Popen([str(exe), mod.NAME, "--help"], stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True, env=_env())
    for name, proc in runs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"`imu-torque {name} --help` exited {proc.returncode}:\n{err}"
        assert out.startswith(f"usage: imu-torque {name}".rstrip()), out[:200]
        assert err == "", err
    top = runs[""]
    assert top.returncode == 0
    listed = subprocess.run([str(exe), "--help"], capture_output=True, text=True, env=_env()).stdout
    for mod in mods:  # every command module is reachable from the top-level help
        assert mod.NAME in listed


def _run_blocked(blocked: str, argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`imu-torque argv` with the top-level module `blocked` made uninstallable (extras_blocker)."""
    exe = package_executable("imu-torque")
    pythonpath = os.pathsep.join(p for p in (str(BLOCKER), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run([str(exe), *argv], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=_env(PYTHONPATH=pythonpath, IMU_TORQUE_TEST_BLOCK=blocked))


@pytest.mark.parametrize("module, argv", [
    ("torch", ["train", "--data", "{tmp}/dataset", "--sensor-set", "3imu", "--out", "{tmp}/bundle"]),
    ("matplotlib", ["kinematics-report", "--out", "{tmp}/report"]),
    ("opensim", ["validate-id", "--json", "{tmp}/id.json", "--png", "{tmp}/id.png"]),
], ids=["train", "kinematics-report", "validate-id"])
def test_command_without_its_extra_is_one_line_naming_the_extra(module, argv, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    before = sorted(tmp_path.rglob("*"))
    out = _run_blocked(module, argv, tmp_path)
    extra = extras.EXTRA_OF_MODULE[module][0]
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 3, out.stderr
    assert len(lines) == 1, out.stderr
    assert f"'{extra}' extra" in lines[0] and module in lines[0], lines[0]
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_blocker_blocks_only_what_it_is_told():
    """Control for the test above: the blocker makes a module look uninstalled, and nothing else."""
    code = "import importlib.util as u; print(u.find_spec('numpy') is not None)"
    env = _env(PYTHONPATH=str(BLOCKER), IMU_TORQUE_TEST_BLOCK="numpy")
    blocked = subprocess.run([sys.executable, "-c", "import numpy"], capture_output=True, text=True, env=env)
    assert blocked.returncode != 0 and "No module named 'numpy'" in blocked.stderr
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(PYTHONPATH=str(BLOCKER), IMU_TORQUE_TEST_BLOCK=""))
    assert free.stdout.strip() == "True", free.stderr


def test_library_import_of_a_missing_extra_names_it(monkeypatch):
    """Library users (not the CLI) get the same message as an ImportError subclass."""
    import importlib

    real = importlib.import_module

    def fake(name, *a, **kw):
        if name.split(".")[0] == "ezc3d":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *a, **kw)

    monkeypatch.setattr(extras.importlib, "import_module", fake)
    with pytest.raises(extras.MissingExtraError, match=r"ezc3d is not installed.*'data' extra.*pip install"):
        extras.require("ezc3d")
    with pytest.raises(KeyError, match="not an optional dependency"):
        extras.require("numpy")


def test_every_optional_module_is_an_extra_of_setup_cfg():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import deps
    finally:
        sys.path.pop(0)
    reqs = deps.requirements()
    for module, (extra, _) in extras.EXTRA_OF_MODULE.items():
        assert extra in reqs, f"extra {extra!r} (for {module}) is not in setup.cfg"
        assert module in [deps.split(r)[0] for r in reqs[extra]], f"{module} is not in extra {extra!r}"
