"""Read the dependency declarations of setup.cfg (stdlib only: runs with any system Python).

  deps.py min NAME               lower bound of a requirement (e.g. `numpy` -> 1.23.2)
  deps.py lowest [EXTRA,...]     pip constraints pinning the runtime and the given extras' packages
                                 to their lower bounds (the low-bound CI environment)
  deps.py check-ros-numpy VER DISTRO  one line and exit 1 if a sourced ROS distribution's numpy VER is
                                 below the bound (used by scripts/setup_venv.sh)
"""

from __future__ import annotations

import configparser
import re
import sys
from pathlib import Path

SETUP_CFG = Path(__file__).resolve().parents[1] / "setup.cfg"
_REQ = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(.*)$")


def _lines(value: str) -> list[str]:
    return [ln.strip() for ln in value.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def requirements(cfg: Path = SETUP_CFG) -> dict[str, list[str]]:
    """{'': runtime requirements, extra: its requirements} as written in setup.cfg."""
    parser = configparser.ConfigParser()
    parser.read(cfg)
    out = {"": _lines(parser["options"]["install_requires"])}
    for extra, value in parser["options.extras_require"].items():
        out[extra] = _lines(value)
    return out


def split(req: str) -> tuple[str, str | None]:
    """('numpy', '1.23.2') for 'numpy>=1.23.2' (lower bound None when there is none)."""
    m = _REQ.match(req)
    if not m:
        raise ValueError(f"cannot parse requirement {req!r}")
    low = re.search(r">=\s*([0-9][0-9a-zA-Z.]*)", m.group(2))
    return m.group(1).lower(), (low.group(1) if low else None)


def version_tuple(version: str) -> tuple[int, ...]:
    """Release segment as integers ('1.26.4' -> (1, 26, 4); '2.0.0rc1' -> (2, 0, 0))."""
    return tuple(int(re.match(r"\d+", p).group()) for p in version.split(".") if re.match(r"\d+", p))


def lower_bound(name: str) -> str:
    for reqs in requirements().values():
        for req in reqs:
            n, low = split(req)
            if n == name.lower() and low:
                return low
    raise KeyError(f"no lower bound for {name} in {SETUP_CFG}")


def lowest(extras: list[str]) -> list[str]:
    reqs = requirements()
    unknown = sorted(set(extras) - set(reqs) - {""})
    if unknown:
        raise SystemExit(f"deps.py: unknown extra(s) {unknown}; valid: {sorted(k for k in reqs if k)}")
    pins = []
    for key in ["", *extras]:
        for req in reqs[key]:
            name, low = split(req)
            if low:
                pins.append(f"{name}=={low}")
    return pins


def check_ros_numpy(version: str, distro: str) -> int:
    low = lower_bound("numpy")
    if version_tuple(version) >= version_tuple(low):
        return 0
    print(f"setup: error: ROS 2 {distro} provides numpy {version}, older than the tested minimum "
          f"numpy>={low}; run 'make setup VENV_NUMPY=1' to install numpy>={low},<2 into the venv "
          f"(binary-compatible with {distro}'s NumPy 1 message modules)", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "min":
        print(lower_bound(argv[1]))
        return 0
    if argv and argv[0] == "lowest":
        extras = [e for e in (argv[1] if len(argv) > 1 else "").split(",") if e]
        print("\n".join(lowest(extras)))
        return 0
    if len(argv) == 3 and argv[0] == "check-ros-numpy":
        return check_ros_numpy(argv[1], argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
