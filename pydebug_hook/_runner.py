"""``pydebug-hook run``: run a script or module as ``python`` would, hooks installed."""

import os
import runpy
import sys
from types import TracebackType
from typing import List, Optional

from . import _hooks, _notice

_OWN_FILES = {os.path.normcase(os.path.abspath(__file__.replace(".pyc", ".py"))), os.path.normcase(os.path.abspath(runpy.__file__))}


def _strip_own_frames(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    """Drop the runner's and runpy's frames from the top, as ``python script.py`` shows none."""
    while tb is not None and os.path.normcase(os.path.abspath(tb.tb_frame.f_code.co_filename)) in _OWN_FILES:
        tb = tb.tb_next
    return tb


def run(target: str, args: List[str], *, module: bool = False, mode: Optional[str] = None) -> int:
    # Children started by the program inherit this, so they are debugged too.
    os.environ.setdefault("IPDB_DEBUG", "1")
    if mode:
        os.environ["IPDB_MODE"] = mode
    if not module and not os.path.exists(target):
        _notice.say(f"can't open file {target!r}: no such file")
        return 2
    _hooks.install()
    sys.argv = [target, *args]
    try:
        if module:
            sys.path[0] = os.getcwd()
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.path[0] = os.path.dirname(os.path.abspath(target))
            runpy.run_path(target, run_name="__main__")
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        tb = _strip_own_frames(exc.__traceback__)
        if tb is None:
            if isinstance(exc, SyntaxError):  # python prints the source line, no traceback
                import traceback

                traceback.print_exception(type(exc), exc, None)
            else:  # raised by runpy itself: "No module named ...", as python -m says it
                _notice.say(_notice.describe_error(exc))
            return 1
        exc.__traceback__ = tb
        sys.excepthook(type(exc), exc, tb)
        return 1
    return 0
