"""Console mode: ipdb (pdb when ipdb cannot be used) on the process's own terminal.

Processes that share the terminal (the ranks of torchrun or mpirun, jobs started with
``&``) take it one at a time, first failure first (:mod:`._arbiter`); one waiting for it
serves its session on its socket meanwhile.
"""

import os
import sys
import threading
from typing import Any, Callable, Dict, Optional

from ...core import cleanup, notice, registry
from ...core.session import Session, SessionError
from ...core.terminal import StreamsOn, Terminal, console_terminal, stdin_fd
from . import terminal_queue

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
        argv = ["--no-term-title", "--HistoryManager.hist_file=:memory:"]
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


def preflight(session: Session) -> None:
    if session.terminal is None and stdin_fd() < 0:
        raise SessionError("console mode needs a terminal, but stdin is closed; set IPDB_MODE=socket or web")


# The dispatch lets run() print the header and the traceback: a process waiting for the
# terminal prints one line instead, and the rest when the terminal is its own.
ANNOUNCES = True


def _nothing() -> None:
    pass


def run(session: Session, announce: Callable[[], None] = _nothing) -> None:
    preflight(session)
    terminal = session.terminal or console_terminal()
    if terminal is None:  # commands from a pipe or a file: no terminal to share
        announce()
        _debug(session, _nothing)
        return
    hold: Optional[_Holding] = None
    tracing = False
    try:
        ticket, go = terminal_queue.wait_for_turn(session, terminal)
        if not go:
            return  # a socket client debugged it to the end while it waited
        hold = _Holding(session, terminal, ticket)
        announce()
        if session.output_captured:
            # The program's parent reads its output and knows nothing of a session (or
            # the output goes to /dev/null): say so where the person is, and let Ctrl-C
            # give the program back.
            notice.echo(f"{notice.PREFIX}this process's stderr is {session.output_captured}, where nobody sees it; "
                         "the session is on this terminal: q, c or Ctrl-C end it and the program goes on\n")
        hold.start()
        tracing = _debug(session, hold.close)
    finally:
        if hold is None:
            terminal.close()
        elif not tracing:
            hold.close()


class _Holding:
    """What a process holds while its session is on the terminal: its place in the
    queue, a record for ``pydebug-hook ls`` (mode console, endpoint the terminal), the
    terminal's settings, and, for a worker whose stdin is /dev/null, streams on the
    terminal.  :meth:`close` gives everything back, at the end of the session or on
    SIGTERM/SIGHUP (then with one line on the terminal, which is left in the state it
    was in before the session: the debugger may have switched it to raw mode)."""

    def __init__(self, session: Session, terminal: Terminal, ticket: Optional[terminal_queue.Ticket]) -> None:
        self.session = session
        self.terminal = terminal
        self.ticket = ticket
        self.streams = StreamsOn(terminal)
        self.registration: Optional[registry.Registration] = None
        self.modes: Any = None
        self.closed = False
        self.pid = os.getpid()
        self._key: Optional[int] = None

    def start(self) -> None:
        try:
            import termios

            self.modes = termios.tcgetattr(self.terminal.fd)
        except Exception:
            self.modes = None
        self._key = cleanup.add(self.close, forget=self._forget)
        try:
            self.registration = registry.register(self.session, self.terminal.name)
            self.registration.update(state="console")
        except (OSError, SessionError):
            pass  # only `ls` misses it
        self.streams.__enter__()

    def close(self) -> None:
        if self.closed or os.getpid() != self.pid:
            return
        self.closed = True
        signum = cleanup.ending_signal()
        if signum is not None:
            self._restore_terminal()
            notice.write("\n")
            notice.say(f"rank {self.session.rank.rank}: {cleanup.signal_name(signum)} received: the debug session ends with the process")
        elif cleanup.left_behind(self.session.thread):
            self._restore_terminal()
            notice.write("\n")
            notice.say(self.session.left_at_exit())
        self.streams.__exit__(None, None, None)
        if self.registration is not None:
            self.registration.remove()
        if self.ticket is not None:
            self.ticket.release()
        self.terminal.close()
        key, self._key = self._key, None
        if key is not None:
            cleanup.done(key)

    def _restore_terminal(self) -> None:
        if self.modes is None:
            return
        try:
            import termios

            termios.tcsetattr(self.terminal.fd, termios.TCSANOW, self.modes)
        except Exception:
            pass  # a terminal that hung up

    def _forget(self) -> None:
        self.closed = True
        if self.ticket is not None:
            self.ticket._forget()


def _release_when_done(debugger: Any, release: Callable[[], None]) -> None:
    """A live breakpoint's session ends when its debugger stops tracing: ``c`` with no
    breakpoint left, or ``q``; that is when the terminal goes to the next in line."""
    set_continue, set_quit = debugger.set_continue, debugger.set_quit

    def continue_() -> None:
        set_continue()
        if not debugger.breaks:
            release()

    def quit_() -> None:
        set_quit()
        release()

    debugger.set_continue, debugger.set_quit = continue_, quit_


def _end_on_ctrl_c(debugger: Any) -> None:
    """Ctrl-C at ipdb's prompt ends the session, as end of input does.  ipdb reads the
    terminal in raw mode, where Ctrl-C is a key and no SIGINT reaches the parent that
    captures our output; the person pressing it wants the program back.  (pdb reads in
    cooked mode: there Ctrl-C is SIGINT for the whole foreground group, parent included.)"""
    session = getattr(debugger, "pt_app", None)
    if session is None:
        return
    try:
        from prompt_toolkit.key_binding import KeyBindings, merge_key_bindings

        bindings = KeyBindings()

        @bindings.add("c-c")
        def _end(event: Any) -> None:
            event.app.exit(exception=EOFError())

        # The last binding for a key wins over IPython's own (which clears the line).
        session.key_bindings = merge_key_bindings([session.key_bindings, bindings])
    except Exception:  # another prompt_toolkit: Ctrl-C clears the line, q still ends it
        pass


def _debug(session: Session, release: Callable[[], None]) -> bool:
    """The session; True when it goes on as a live breakpoint in the program's tracing
    (*release* is then called when it ends)."""
    # A program may set sys.stderr = None (Python then prints nothing there), but the
    # prompt's input() fails without one ("lost sys.stderr"), and so does IPython: the
    # session gets a stream to nowhere, and the program its None back afterwards.
    no_stderr = sys.stderr is None
    if no_stderr:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 -- closed below, or kept by a live breakpoint
    live = False
    debugger = None
    hooks = sys.excepthook, sys.displayhook
    try:
        debugger = make_debugger()
        if session.output_captured:
            _end_on_ctrl_c(debugger)
        if session.is_breakpoint:
            from ..._breakpoint import arm_console

            _release_when_done(debugger, release)
            # The terminal stays ours until c/q (released above), so stops need not
            # retake the process gate: a thread holding the gate while it waits for
            # this terminal would otherwise deadlock with the breakpoint.
            live = True  # the breakpoint's stops need the stream too: it stays
            arm_console(debugger, session.frame, take_turns=False)  # the last call: from here on, calls are traced
            return True
        if session.tb is None:
            raise SessionError("nothing to debug: the exception has no traceback")
        debugger.reset()
        debugger.interaction(None, session.tb)
        return False
    finally:
        sys.excepthook, sys.displayhook = hooks
        if no_stderr and not live:
            stream, sys.stderr = sys.stderr, None
            if stream is not None:
                stream.close()
