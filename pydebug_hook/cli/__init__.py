"""``pydebug-hook`` / ``python -m pydebug_hook``: run, doctor, ls, attach, load."""

import argparse
import os
import sys
from typing import List, Optional

from .. import modes
from .._version import __version__
from . import interpreter


def _elsewhere(args: argparse.Namespace, argv: List[str]) -> None:
    """Hand the command over to the user's interpreter when it is not this one (a
    pipx / uv tool install, another activated environment, ``--python``)."""
    python = args.python or interpreter.active_python()
    if python and not interpreter.handed_over:
        interpreter.hand_over(python, argv)


def _cmd_run(args: argparse.Namespace) -> int:
    from . import run as runner  # each command's module loads when it runs

    _elsewhere(args, ["run", *(["-m"] if args.module else []), *(["--mode", args.mode] if args.mode else []), args.target, *args.args])
    return runner.run(args.target, args.args, module=args.module, mode=args.mode)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from . import doctor  # each command's module loads when it runs

    _elsewhere(args, ["doctor", *(["--json"] if args.json else [])])
    return doctor.main(as_json=args.json)


def _cmd_sitecustomize(args: argparse.Namespace) -> int:
    from . import startup  # each command's module loads when it runs

    return startup.write_sitecustomize(args.directory, force=args.force)


def _cmd_ls(args: argparse.Namespace) -> int:
    from . import ls  # each command's module loads when it runs

    return ls.main(as_json=args.json)


def _cmd_attach(args: argparse.Namespace) -> int:
    from . import attach  # each command's module loads when it runs

    return attach.main(args.target)


def _cmd_load(args: argparse.Namespace) -> int:
    from . import load  # each command's module loads when it runs

    return load.main(args.path)


_PYTHON_HELP = (
    "the interpreter to use (default: the active environment's when it is another one: "
    "VIRTUAL_ENV's, else, from a pipx or uv tool install, the first python on PATH)"
)


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
    run.add_argument("--python", metavar="PYTHON", help=_PYTHON_HELP)
    run.add_argument("--mode", choices=list(modes.names()), help="set IPDB_MODE for the program")
    run.add_argument("target", metavar="SCRIPT | MODULE")
    rest = run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="arguments for the program")
    rest.required = False  # argparse counts a REMAINDER positional as required: "required: ..., ARGS"
    run.set_defaults(func=_cmd_run)

    doctor = sub.add_parser("doctor", help="is the start-up hook active, what are the settings, where would a session go")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument("--python", metavar="PYTHON", help=_PYTHON_HELP)
    doctor.set_defaults(func=_cmd_doctor)

    custom = sub.add_parser(
        "sitecustomize",
        help="write a sitecustomize.py that starts pydebug_hook, for installs whose .pth is not read (--target, PYTHONPATH, zipapps)",
        description="Write DIR/sitecustomize.py: with DIR on PYTHONPATH, interpreters start pydebug_hook "
        "(when IPDB_DEBUG is set) and then run the sitecustomize it shadows.",
    )
    custom.add_argument("directory", metavar="DIR", help="a directory on PYTHONPATH (a pip install --target directory will do)")
    custom.add_argument("--force", action="store_true", help="replace a sitecustomize.py that is not pydebug_hook's")
    custom.set_defaults(func=_cmd_sitecustomize)

    ls = sub.add_parser("ls", help="list waiting debug sessions, first failure first, then the dumps of IPDB_DUMP_DIR, newest first")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_cmd_ls)

    attach = sub.add_parser(
        "attach",
        help="attach to a waiting session (default: the root cause: the first failure that is not a consequence); "
        "for a dap session, print what to enter in the IDE",
    )
    attach.add_argument("target", nargs="?", metavar="RANK | PATH", help="a rank from `ls`, or a socket path")
    attach.set_defaults(func=_cmd_attach)

    load = sub.add_parser("load", help="open a dump (dump mode, or a session nobody attached to) in ipdb at the raising frame")
    load.add_argument("path", metavar="PATH", help="a dump file, as `ls` lists them")
    load.set_defaults(func=_cmd_load)
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
