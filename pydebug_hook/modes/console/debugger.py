"""The console's debugger: ipdb, in an IPython shell made for it and taken out of the
process again afterwards (what IPython changes there is put back); pdb's when ipdb
cannot be used.  ``pydebug-hook load`` uses it too."""

import os
import sys
import threading
from typing import Any, Callable, Dict

from ...core import notice

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


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except Exception:
        return False


class _PromptThreads:
    """What IPython's debugger asks of its ``thread_executor`` (``submit(fn).result()``:
    it runs each prompt in another thread, away from any event loop of the program),
    with a new thread per prompt instead of a ``ThreadPoolExecutor``.  An executor
    refuses work once the interpreter has begun to shut down, and a thread whose
    exception waited for the main thread's session gets its own session exactly then:
    after ``q`` at the main thread's prompt, while Python joins the other threads."""

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from concurrent.futures import Future

        future: Any = Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # our thread: what the prompt raises goes to the caller
                future.set_exception(exc)

        threading.Thread(target=run, name="pydebug_hook-prompt", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, **kwargs: Any) -> None:
        pass


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
        # No history database (the debugger keeps its own history of commands): not even
        # sqlite3 is imported, milliseconds before the prompt.
        argv = ["--no-term-title", "--HistoryManager.enabled=False"]
        if _isatty(sys.stdin) and _isatty(sys.stdout):
            # IPython falls back to a plain input() prompt unless stdin, stdout *and*
            # stderr were terminals when it was imported; the session's streams are on
            # the terminal even where stderr is captured or a log file.
            argv.append("--TerminalInteractiveShell.simple_prompt=False")
        app.initialize(argv)
        shell = app.shell
    context = os.environ.get("IPDB_CONTEXT_SIZE") or get_context_from_config()
    try:
        debugger = shell.debugger_cls(context=int(context))
    except TypeError:
        debugger = shell.debugger_cls()
    executor = getattr(debugger, "thread_executor", None)
    if executor is not None and callable(getattr(executor, "submit", None)):
        debugger.thread_executor = _PromptThreads()
        try:
            executor.shutdown(wait=False)  # never used: it has started no thread yet
        except Exception:
            pass
    return debugger


def _plain_off_terminal(debugger: Any) -> Any:
    """No colours where the debugger's output is not a terminal (a pipe, a file, a
    socket): escape codes would land there as text."""
    if _isatty(debugger.stdout):
        return debugger
    try:
        if hasattr(debugger, "set_theme_name"):  # IPython 9
            debugger.set_theme_name("nocolor")
        else:  # IPython 8
            debugger.set_colors("NoColor")
    except Exception:
        pass
    return debugger


def make_debugger() -> Any:
    """An ipdb debugger, or pdb's when ipdb is missing or broken (said in one line)."""
    state = _HostState()
    try:
        return _plain_off_terminal(_new_ipdb())
    except ModuleNotFoundError as exc:
        if exc.name not in ("ipdb", "IPython"):
            notice.say(f"ipdb could not be loaded ({notice.describe_error(exc)}); using pdb")
    except Exception as exc:
        notice.say(f"ipdb could not be loaded ({notice.describe_error(exc)}); using pdb")
    finally:
        state.restore()
    import pdb

    return pdb.Pdb()
