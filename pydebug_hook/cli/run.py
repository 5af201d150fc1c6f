"""``pydebug-hook run``: run a script or module as ``python`` would, hooks installed, in a
``__main__`` of its own and without our frames in its tracebacks."""

import os
import sys
import types
from types import TracebackType
from typing import List, Optional

from .. import _hooks
from ..core import notice

_OWN_MODULES = (__name__, "runpy")


def _strip_own_frames(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    """Drop the runner's (and runpy's) frames from the top: ``python script.py`` shows none."""
    while tb is not None and (
        tb.tb_frame.f_globals.get("__name__") in _OWN_MODULES or tb.tb_frame.f_code.co_filename.startswith("<frozen runpy")
    ):
        tb = tb.tb_next
    return tb


def _main_module(**attrs: object) -> types.ModuleType:
    module = types.ModuleType("__main__")
    module.__dict__.update(attrs)
    module.__builtins__ = __builtins__  # type: ignore[attr-defined]
    sys.modules["__main__"] = module
    return module


def _run_script(path: str) -> None:
    if os.path.isdir(path) or not path.endswith((".py", ".pyw")) and _is_zip(path):
        import runpy  # a directory or zip file with __main__.py: runpy knows those

        runpy.run_path(path, run_name="__main__")
        return
    from importlib.machinery import SourceFileLoader

    with open(path, "rb") as f:  # bytes: compile() honours the coding cookie
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    module = _main_module(
        __file__=path, __cached__=None, __package__=None, __spec__=None, __loader__=SourceFileLoader("__main__", path)
    )
    exec(code, module.__dict__)


def _is_zip(path: str) -> bool:
    import zipfile

    return zipfile.is_zipfile(path)


def _run_module(name: str) -> None:
    import runpy

    # pdb's way (and python -m's messages): runpy finds the module, or pkg.__main__.
    mod_name, spec, code = runpy._get_module_details(name)  # type: ignore[attr-defined]
    sys.argv[0] = spec.origin
    module = _main_module(
        __file__=spec.origin,
        __cached__=spec.cached,
        __package__=mod_name.rpartition(".")[0],
        __spec__=spec,
        __loader__=spec.loader,
    )
    exec(code, module.__dict__)


def run(target: str, args: List[str], *, module: bool = False, mode: Optional[str] = None) -> int:
    # Children started by the program inherit this, so they are debugged too.
    os.environ.setdefault("IPDB_DEBUG", "1")
    if mode:
        os.environ["IPDB_MODE"] = mode
    if not module and not os.path.exists(target):
        notice.say(f"can't open file {os.path.abspath(target)!r}: no such file")
        return 2
    _hooks.install()
    sys.argv = [target, *args]
    try:
        if module:
            sys.path[0] = os.getcwd()
            _run_module(target)
        else:
            sys.path[0] = os.path.dirname(os.path.realpath(target))
            _run_script(target)
    except SystemExit:
        raise
    except BaseException as exc:
        tb = _strip_own_frames(exc.__traceback__)
        if tb is None:
            if isinstance(exc, SyntaxError):  # python prints the source line, no traceback
                import traceback

                traceback.print_exception(type(exc), exc, None)
            else:  # raised by the runner itself: "No module named ...", as python -m says it
                notice.say(notice.describe_error(exc) if not isinstance(exc, ImportError) else str(exc))
            return 1
        exc.__traceback__ = tb
        sys.excepthook(type(exc), exc, tb)
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    return 0
