"""Make a venv prefix an ament prefix for this package (what `colcon build` or a wheel's data_files do).

`pip install -e .` (PEP 660) does not install setup.py data_files, so `ros2 launch`, `ros2 run` and
launch_ros `Node(package=..., executable=...)` would not find the package. This links package.xml,
the resource marker, launch/, config/ and models/ into the prefix (symlinks keep edits to launch and
config files live) and writes a lib/<pkg>/ wrapper (scripts/node_wrapper.sh.in) for every console
script of the installed distribution, as setup.py does for wheels.
Usage: PREFIX/bin/python install_ament_files.py PREFIX
"""

import importlib.metadata
import stat
import sys
from pathlib import Path

PKG = "imu_torque_estimator"


def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        if dst.is_symlink() and dst.resolve() == src.resolve():
            return
        if dst.is_dir() and not dst.is_symlink():
            raise SystemExit(f"refusing to replace directory {dst}")
        dst.unlink()
    dst.symlink_to(src.resolve())


def main() -> None:
    prefix = Path(sys.argv[1]).resolve()
    root = Path(__file__).resolve().parents[1]
    link(root / "resource" / PKG, prefix / "share/ament_index/resource_index/packages" / PKG)
    share = prefix / "share" / PKG
    link(root / "package.xml", share / "package.xml")
    # `ros2 launch` finds launch files with os.walk, which does not enter symlinked directories:
    # launch/ and config/ are real directories of linked files; models/ is linked whole.
    for d in ("launch", "config"):
        target = share / d
        if target.is_symlink():
            target.unlink()
        for f in sorted((root / d).glob("*")):
            if f.is_file() and not f.name.startswith("."):
                link(f, target / f.name)
    link(root / "models", share / "models")
    template = (root / "scripts" / "node_wrapper.sh.in").read_text()
    lib = prefix / "lib" / PKG
    lib.mkdir(parents=True, exist_ok=True)
    for ep in importlib.metadata.distribution(PKG).entry_points.select(group="console_scripts"):
        wrapper = lib / ep.name
        if wrapper.is_symlink():  # a link to the old scripts/lib/ wrappers
            wrapper.unlink()
        wrapper.write_text(template.replace("@EXECUTABLE@", ep.name))
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


if __name__ == "__main__":
    main()
