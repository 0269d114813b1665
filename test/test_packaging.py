"""Dependencies are declared where they are used and the same everywhere (issue 13): setup.cfg (pip),
package.xml (rosdep keys, pip-only packages and extras in its comments), the README's pip lines, and
the imports of the package; each optional import goes through extras.require(); `make setup` over a
sourced ROS distribution with a too old numpy stops with one line saying what to do."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from imu_torque_estimator import extras

REPO = Path(__file__).resolve().parents[1]
PKG_DIR = REPO / "imu_torque_estimator"
sys.path.insert(0, str(REPO / "scripts"))
import deps  # noqa: E402

sys.path.pop(0)

# rosdep key -> pip distribution, for the runtime dependencies that have a rosdep key
ROSDEP_KEYS = {"python3-numpy": "numpy", "python3-scipy": "scipy", "python3-yaml": "pyyaml",
               "python3-serial": "pyserial"}
# top-level import name -> pip distribution (where they differ)
DIST_OF_MODULE = {"yaml": "pyyaml", "serial": "pyserial"}
# ROS packages (package.xml exec_depend names) imported by the package
ROS_MODULES = {"rclpy", "rcl_interfaces", "launch", "launch_ros", "ament_index_python", "sensor_msgs",
               "std_msgs", "std_srvs", "geometry_msgs", "diagnostic_msgs", "rosgraph_msgs",
               "builtin_interfaces"}


def _package_xml() -> tuple[dict[str, str | None], str]:
    text = (REPO / "package.xml").read_text()
    root = ET.fromstring(text)
    return {e.text: e.get("version_gte") for e in root.findall("exec_depend")}, text


def _comment_list(text: str, label: str) -> dict[str, str]:
    """{name: lower bound} of the package.xml comment line starting with `label`."""
    m = re.search(rf"<!-- {re.escape(label)}[^:]*:\s*(.*?)\s*-->", text)
    assert m, f"package.xml has no '<!-- {label} ...: ... -->' comment"
    return dict(deps.split(req) for req in m.group(1).split())


def test_runtime_dependencies_and_bounds_are_the_same_in_setup_cfg_and_package_xml():
    runtime = dict(deps.split(r) for r in deps.requirements()[""])
    exec_deps, text = _package_xml()
    from_keys = {ROSDEP_KEYS[k]: v for k, v in exec_deps.items() if k in ROSDEP_KEYS}
    assert all(k in ROSDEP_KEYS or not k.startswith("python3-") for k in exec_deps), exec_deps
    pip_only = _comment_list(text, "pip-only")
    assert not set(from_keys) & set(pip_only)
    assert {**from_keys, **pip_only} == runtime


@pytest.mark.parametrize("extra", ["plot", "train", "data"])
def test_extras_are_the_same_in_setup_cfg_and_package_xml(extra):
    _, text = _package_xml()
    assert _comment_list(text, f"extra {extra}") == dict(deps.split(r) for r in deps.requirements()[extra])


def test_readme_pip_line_lists_the_pip_only_runtime_dependencies():
    _, text = _package_xml()
    pip_only = _comment_list(text, "pip-only")
    readme = (REPO / "README.md").read_text()
    line = next((ln for ln in readme.splitlines() if ln.startswith("pip install") and "vqf" in ln), None)
    assert line, "README has no `pip install ... vqf ...` line for the pip-only runtime dependencies"
    listed = dict(deps.split(tok.strip("'\"")) for tok in line.split("#")[0].split()[2:])
    assert listed == pip_only


def _imports() -> list[tuple[Path, ast.AST, str, list[ast.stmt]]]:
    """(file, import node, top-level module, the statement list it sits in) for the whole package."""
    out = []
    for path in sorted(PKG_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for parent in ast.walk(tree):
            for field in ("body", "orelse", "finalbody", "handlers"):
                block = getattr(parent, field, None)
                if not isinstance(block, list):
                    continue
                for stmt in block:
                    if isinstance(stmt, ast.Import):
                        out += [(path, stmt, a.name.split(".")[0], block) for a in stmt.names]
                    elif isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and stmt.module:
                        out.append((path, stmt, stmt.module.split(".")[0], block))
    return out


def test_every_third_party_import_is_declared():
    runtime = {deps.split(r)[0] for r in deps.requirements()[""]}
    exec_deps, _ = _package_xml()
    undeclared = set()
    for path, _, mod, _ in _imports():
        if mod in sys.stdlib_module_names or mod == "imu_torque_estimator" or mod == "__future__":
            continue
        if mod in ROS_MODULES:
            if mod not in exec_deps:
                undeclared.add(f"{mod} (ROS, {path.relative_to(REPO)})")
        elif mod not in extras.EXTRA_OF_MODULE and DIST_OF_MODULE.get(mod, mod) not in runtime:
            undeclared.add(f"{mod} ({path.relative_to(REPO)})")
    assert not undeclared, f"imported but declared nowhere: {sorted(undeclared)}"


def test_every_optional_import_is_preceded_by_require():
    """`require("torch")` in the same block before `import torch`: the one-line message is guaranteed."""
    def required_before(block: list[ast.stmt], stmt: ast.stmt, mod: str) -> bool:
        for s in block[:block.index(stmt)]:
            if (isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
                    and getattr(s.value.func, "id", None) == "require"
                    and [getattr(a, "value", None) for a in s.value.args] == [mod]):
                return True
        return False

    bare = [f"{p.relative_to(REPO)}:{s.lineno} import {m}" for p, s, m, block in _imports()
            if m in extras.EXTRA_OF_MODULE and not required_before(block, s, m)]
    assert not bare, f"optional imports without extras.require() before them: {bare}"


def _fake_python(tmp_path: Path, numpy_version: str) -> Path:
    """A `python` whose numpy reports `numpy_version` (a sourced ROS distribution's system numpy)."""
    site = tmp_path / "site"
    (site / "numpy").mkdir(parents=True)
    (site / "numpy" / "__init__.py").write_text(f"__version__ = {numpy_version!r}\n")
    exe = tmp_path / "python-ros"
    exe.write_text(f"#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} \"$@\"\n")
    exe.chmod(0o755)
    return exe


def test_make_setup_over_ros_with_too_old_numpy_is_one_line_saying_what_to_do(tmp_path):
    venv = tmp_path / "venv"
    env = {**os.environ, "ROS_DISTRO": "humble"}
    env.pop("VENV_NUMPY", None)
    python = _fake_python(tmp_path, "1.21.5")
    out = subprocess.run(["bash", str(REPO / "scripts" / "setup_venv.sh"), str(python), str(venv),
                          str(tmp_path / "no-wheels"), "test"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1, out.stderr
    assert len(lines) == 1, out.stderr
    low = deps.lower_bound("numpy")
    assert f"numpy 1.21.5, older than the tested minimum numpy>={low}" in lines[0]
    assert "make setup VENV_NUMPY=1" in lines[0]
    assert not venv.exists()  # stopped before creating anything


def test_ros_numpy_at_the_bound_passes_the_check():
    low = deps.lower_bound("numpy")
    assert deps.check_ros_numpy(low, "jazzy") == 0
    assert deps.check_ros_numpy("2.0.0rc1", "rolling") == 0
    assert deps.check_ros_numpy("1.21.5", "humble") == 1


def test_lowest_constraints_pin_runtime_and_requested_extras_only():
    pins = deps.lowest(["plot"])
    names = [p.split("==")[0] for p in pins]
    assert "numpy" in names and "matplotlib" in names and "torch" not in names and "pytest" not in names
    with pytest.raises(SystemExit, match="unknown extra"):
        deps.lowest(["plots"])
