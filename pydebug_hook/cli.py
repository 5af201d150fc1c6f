"""``pydebug-hook`` / ``python -m pydebug_hook``: run, doctor, ls, attach."""

import argparse
import os
import sys
from typing import List, Optional

from ._version import __version__


def _cmd_run(args: argparse.Namespace) -> int:
    from . import _runner

    return _runner.run(args.target, args.args, module=args.module, mode=args.mode)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from . import _doctor

    return _doctor.main(as_json=args.json)


def _cmd_ls(args: argparse.Namespace) -> int:
    from . import _listing

    return _listing.main(as_json=args.json)


def _cmd_attach(args: argparse.Namespace) -> int:
    from . import _attach

    return _attach.main(args.target)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pydebug-hook",
        description="Post-mortem debugging for any Python program: set IPDB_DEBUG=1, "
        "and an uncaught exception opens a debugger at the frame that raised.",
    )
    parser.add_argument("--version", action="version", version=f"pydebug-hook {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a script or module with the hooks installed (for interpreters without the .pth)",
        description="Run SCRIPT (or -m MODULE) as `python` would, with the hooks installed. "
        "Debugging is on unless IPDB_DEBUG says otherwise.",
    )
    run.add_argument("-m", dest="module", action="store_true", help="TARGET is a module name, as with python -m")
    run.add_argument("--mode", choices=["console", "web", "socket", "dap", "auto"], help="set IPDB_MODE for the program")
    run.add_argument("target", metavar="SCRIPT | MODULE")
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="arguments for the program")
    run.set_defaults(func=_cmd_run)

    doctor = sub.add_parser("doctor", help="is the start-up hook active, what are the settings, where would a session go")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.set_defaults(func=_cmd_doctor)

    ls = sub.add_parser("ls", help="list waiting debug sessions, first failure first")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_cmd_ls)

    attach = sub.add_parser(
        "attach",
        help="attach to a waiting session (default: the root cause: the first failure that is not a consequence); "
        "for a dap session, print what to enter in the IDE",
    )
    attach.add_argument("target", nargs="?", metavar="RANK | PATH", help="a rank from `ls`, or a socket path")
    attach.set_defaults(func=_cmd_attach)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `pydebug-hook ls | head`
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- open until exit, so the final flush has somewhere to go
        except OSError:
            pass
        return 0
