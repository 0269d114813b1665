"""imu-torque: simulate, record, replay and evaluate the IMU joint-torque pipeline; build datasets, train.

One sub-command per module in `imu_torque_estimator.commands`: each defines `NAME`, `HELP`,
`add_arguments(parser)`, `run(args) -> int` and optionally `REQUIRES` (optional modules, extras.py),
so adding a command never edits this file.
Sub-commands import their heavy dependencies lazily; a missing optional one (extras.py) is one line.
After a colcon install the CLI is `ros2 run imu_torque_estimator imu-torque ...`.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands
from .extras import EXTRA_OF_MODULE, MissingExtraError, missing_extra_message, require


def _command_modules() -> list:
    infos = sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name)
    return [importlib.import_module(f"{commands.__name__}.{i.name}") for i in infos
            if not i.name.startswith("_")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imu-torque", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        # REQUIRES: optional modules the whole command needs, checked before any work is done
        p.set_defaults(_run=mod.run, _requires=getattr(mod, "REQUIRES", ()))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        for module in args._requires:
            require(module)
        return int(args._run(args) or 0)
    except MissingExtraError as exc:
        print(f"imu-torque {args.command}: error: {exc}", file=sys.stderr)
        return 3
    except ModuleNotFoundError as exc:  # an optional import not (yet) behind extras.require()
        top = (exc.name or "").split(".")[0]
        if top not in EXTRA_OF_MODULE:
            raise
        print(f"imu-torque {args.command}: error: {missing_extra_message(top)}", file=sys.stderr)
        return 3
    except (ValueError, FileNotFoundError) as exc:  # user errors: one clear line, no traceback
        print(f"imu-torque {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"imu-torque {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
