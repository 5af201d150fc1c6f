"""Console mode: ipdb (pdb when ipdb cannot be used) on the process's own terminal."""

import os
import sys
from typing import Any, Dict

from . import _notice
from ._session import Session, SessionError
from ._terminal import stdin_fd

_MISSING = object()


class _HostState:
    """What building an IPython shell changes in the process, put back afterwards.

    IPython's shell is made for an interactive interpreter: it replaces
    ``sys.modules['__main__']`` with its own namespace, puts ``''`` on ``sys.path``, sets
    ``sys.ps1`` (programs read that as "interactive"), adds ``__IPYTHON__`` and
    ``display`` to builtins (libraries read that as "inside IPython"), adds a warnings
    filter and swaps the display and except hooks.  The program being debugged keeps
    running after a session in a thread or a decorated call, so none of that may stay.
    """

    def __init__(self) -> None:
        import builtins

        self.builtins = builtins
        self.main = sys.modules.get("__main__", _MISSING)
        self.path = list(sys.path)
        self.ps: Dict[str, Any] = {name: getattr(sys, name, _MISSING) for name in ("ps1", "ps2")}
        self.builtin_names = set(vars(builtins))
        self.hooks = sys.excepthook, sys.displayhook
        warnings = sys.modules.get("warnings")
        self.filters = list(warnings.filters) if warnings is not None else None

    def restore(self) -> None:
        if self.main is not _MISSING:
            sys.modules["__main__"] = self.main
        if sys.path != self.path:
            sys.path[:] = self.path
        for name, value in self.ps.items():
            if value is _MISSING:
                if hasattr(sys, name):
                    delattr(sys, name)
            else:
                setattr(sys, name, value)
        for name in ("__IPYTHON__", "display"):
            if name not in self.builtin_names:
                vars(self.builtins).pop(name, None)
        sys.excepthook, sys.displayhook = self.hooks
        warnings = sys.modules.get("warnings")
        if warnings is not None and self.filters is not None and warnings.filters != self.filters:
            warnings.filters[:] = self.filters
            mutated = getattr(warnings, "_filters_mutated", None)  # its cache key; private
            if mutated is not None:
                mutated()


def _new_ipdb() -> Any:
    # What ipdb.post_mortem() does to get its debugger (ipdb.__main__._get_debugger_cls
    # and _init_pdb), minus what it should not do to a program that goes on running:
    # wrap sys.excepthook for good, and keep an IPython history database and its thread.
    from ipdb.__main__ import get_context_from_config
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        from IPython.terminal.ipapp import TerminalIPythonApp

        app = TerminalIPythonApp()
        app.interact = False  # no banner, no prompt: the app only loads the configuration
        app.initialize(["--no-term-title", "--HistoryManager.hist_file=:memory:"])
        shell = app.shell
    context = os.environ.get("IPDB_CONTEXT_SIZE") or get_context_from_config()
    try:
        return shell.debugger_cls(context=int(context))
    except TypeError:
        return shell.debugger_cls()


def make_debugger() -> Any:
    """An ipdb debugger, or pdb's when ipdb is missing or broken (said in one line)."""
    state = _HostState()
    try:
        return _new_ipdb()
    except ModuleNotFoundError as exc:
        if exc.name not in ("ipdb", "IPython"):
            _notice.say(f"ipdb could not be loaded ({_notice.describe_error(exc)}); using pdb")
    except Exception as exc:
        _notice.say(f"ipdb could not be loaded ({_notice.describe_error(exc)}); using pdb")
    finally:
        state.restore()
    import pdb

    return pdb.Pdb()


def preflight(session: Session) -> None:
    if stdin_fd() < 0:
        raise SessionError("console mode needs a terminal, but stdin is closed; set IPDB_MODE=socket or web")


def run(session: Session) -> None:
    preflight(session)
    debugger = make_debugger()
    hooks = sys.excepthook, sys.displayhook
    try:
        if session.is_breakpoint:
            from ._breakpoint import arm_console

            arm_console(debugger, session.frame)  # the last call: from here on, calls are traced
            return
        if session.tb is None:
            raise SessionError("nothing to debug: the exception has no traceback")
        debugger.reset()
        debugger.interaction(None, session.tb)
    finally:
        sys.excepthook, sys.displayhook = hooks
