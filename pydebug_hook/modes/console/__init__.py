"""Console mode: ipdb (pdb when ipdb cannot be used) on the process's own terminal, taken
in turn with the other processes on it (terminal_queue.py)."""

import os
import sys
from typing import Any, Callable, Optional

from ...core import cleanup, notice, pdb_policy, registry
from ...core.session import Session, SessionError
from ...core.terminal import StreamsOn, Terminal, console_terminal, stdin_fd
from . import terminal_queue
from .debugger import make_debugger


def preflight(session: Session) -> None:
    session.require_stack()
    if session.terminal is None and stdin_fd() < 0:
        raise SessionError("console mode needs a terminal, but stdin is closed; set IPDB_MODE=socket or web")


def where(session: Session) -> str:
    # The dispatch gives the session the terminal a console would use (core/reach.py).
    return f"console on {session.terminal.name}" if session.terminal is not None else "console on stdin"


def _nothing() -> None:
    pass


def run(session: Session, announce: Callable[[], None]) -> None:
    terminal = session.terminal or console_terminal()
    if terminal is None:  # commands from a pipe or a file: no terminal to share
        announce()
        _debug(session, _nothing)
        return
    hold: Optional[_Holding] = None
    tracing = False
    try:
        # A process waiting for the terminal prints one line (and serves its socket);
        # the header and the traceback come when the terminal is its own.
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


class _Holding(cleanup.Resource):
    """What a process holds while its session is on the terminal: its place in the
    queue, a record for ``pydebug-hook ls`` (mode console, endpoint the terminal), the
    terminal's settings, and, for a worker whose stdin is /dev/null, streams on the
    terminal.  Closed on SIGTERM/SIGHUP too, with one line on the terminal, which is left
    in the state it was in before the session (the debugger may have made it raw)."""

    def __init__(self, session: Session, terminal: Terminal, ticket: Optional[terminal_queue.Ticket]) -> None:
        super().__init__()
        self.session = session
        self.terminal = terminal
        self.ticket = ticket
        self.streams = StreamsOn(terminal)
        self.registration: Optional[registry.Registration] = None
        self.modes: Any = None

    def start(self) -> None:
        try:
            import termios  # a terminal session only

            self.modes = termios.tcgetattr(self.terminal.fd)
        except Exception:
            self.modes = None
        self.hold()
        try:
            self.registration = registry.register(self.session, self.terminal.name)
            self.registration.update(state="console")
        except (OSError, SessionError):
            pass  # only `ls` misses it
        self.streams.__enter__()

    def _release(self) -> None:
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
            self.ticket.close()
        self.terminal.close()

    def _restore_terminal(self) -> None:
        if self.modes is None:
            return
        try:
            import termios  # imported by start() already

            termios.tcsetattr(self.terminal.fd, termios.TCSANOW, self.modes)
        except Exception:
            pass  # a terminal that hung up

    def _forget(self) -> None:
        if self.ticket is not None:
            self.ticket._forget_in_child()


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
            _release_when_done(pdb_policy.skipping_ours(debugger), release)
            # The terminal stays ours until c/q (released above), so stops need not
            # retake the process gate: a thread holding the gate while it waits for
            # this terminal would otherwise deadlock with the breakpoint.
            live = True  # the breakpoint's stops need the stream too: it stays
            # The last call: from here on, calls in this thread are traced.  The first
            # stop is the user's frame (on 3.13+ the breakpoint() line, as pdb's).
            debugger.set_trace(session.frame)
            return True
        pdb_policy.post_mortem(debugger)
        debugger.reset()
        debugger.interaction(None, session.tb)
        return False
    finally:
        sys.excepthook, sys.displayhook = hooks
        if no_stderr and not live:
            stream, sys.stderr = sys.stderr, None
            if stream is not None:
                stream.close()
