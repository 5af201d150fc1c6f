"""The one dispatch: the excepthooks, the decorator, the API and the CLI all call
:func:`handle`, which decides whether an exception gets a session and runs it.

Contract (DESIGN, "What happens on an uncaught exception"): header line, then the
traceback once, then the session at the deepest frame; one session per exception;
``SystemExit``/``KeyboardInterrupt``/``GeneratorExit``/``BdbQuit`` pass; sessions of one
process run one at a time; a failure of the tool is one ``pydebug_hook:`` line and never
hides the user's error; nothing on stdout.
"""

import io
import os
import sys
import threading
import traceback
from types import FrameType, TracebackType
from typing import Callable, Optional

from . import _notice, _rank, _settings
from ._session import ChildInfo, Session, SessionError

_DEBUGGED = "__pydebug_hook_debugged__"

Report = Callable[[], None]


def _ignored(exc: BaseException) -> bool:
    if isinstance(exc, (SystemExit, KeyboardInterrupt, GeneratorExit)):
        return True
    bdb = sys.modules.get("bdb")  # if bdb was never imported, nothing raised BdbQuit
    return bdb is not None and isinstance(exc, bdb.BdbQuit)


def already_debugged(exc: Optional[BaseException]) -> bool:
    return exc is not None and bool(getattr(exc, _DEBUGGED, False))


def _mark(exc: Optional[BaseException]) -> None:
    if exc is None:
        return
    try:
        setattr(exc, _DEBUGGED, True)
    except Exception:  # an exception type with __slots__ and no __dict__: nothing to do
        pass


def wanted(exc: Optional[BaseException]) -> bool:
    """A cheap look ahead: whether :func:`handle` may take *exc* now (it checks again).
    Lets the decorator skip its preparation when debugging is off."""
    if exc is None or _ignored(exc) or already_debugged(exc):
        return False
    try:
        return _settings.current().enabled
    except Exception:
        return True  # let handle() decide and report


class _Gate:
    """Serializes sessions across the threads of one process.

    A thread already in a session (code run from the debugger prompt raising through
    a decorated function) does not open a nested one.  After ``fork`` the child gets a
    fresh lock: the parent's may be held by a thread that does not exist in the child.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.owner: Optional[int] = None

    def enter(self) -> bool:
        me = threading.get_ident()
        if self.owner == me:
            return False
        self.lock.acquire()
        self.owner = me
        return True

    def leave(self) -> None:
        self.owner = None
        self.lock.release()


_gate_holder = []  # [ _Gate ]; replaced in a forked child


def _gate() -> _Gate:
    if not _gate_holder or _gate_holder[0].pid != os.getpid():
        _gate_holder[:] = [_Gate()]
    return _gate_holder[0]


def traceback_stream():
    """Where a traceback goes: ``sys.stderr``, unless a wrapping hook swapped in a
    ``StringIO`` to capture it (torch's), in which case the real stderr: the user
    must see it before the session, not after."""
    stream = sys.stderr
    if stream is None or isinstance(stream, io.StringIO):
        stream = sys.__stderr__
    return stream


def print_traceback(exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
    stream = traceback_stream()
    if stream is None:
        return
    try:
        if exc is not None:
            traceback.print_exception(type(exc), exc, tb, file=stream)
        elif tb is not None:
            traceback.print_tb(tb, file=stream)
        stream.flush()
    except Exception:
        pass


def resolve_mode(mode: str) -> str:
    """``auto``: console when the process has a terminal it can read without being
    stopped (a background job of an interactive shell cannot: socket), else socket."""
    if mode != "auto":
        return mode
    from ._terminal import console_possible

    return "console" if console_possible() else "socket"


def _mode_module(session: Session):
    if session.mode == "console":
        from . import _console as mode
    elif session.mode == "socket":
        from . import _socket_mode as mode
    elif session.mode == "web":
        from . import _web_mode as mode
    elif session.mode == "dap":
        from . import _dap_mode as mode
    else:  # resolve_mode only returns the four above
        raise SessionError(f"unknown mode {session.mode!r}")
    return mode


def _preflight(session: Session) -> None:
    """A mode may define ``preflight(session)`` raising :class:`SessionError` when it
    cannot work at all (console without stdin): the user then gets that one line and the
    traceback, without a header announcing a session that never opens."""
    check = getattr(_mode_module(session), "preflight", None)
    if check is not None:
        check(session)


def _run(session: Session, announce: Callable[[], None]) -> None:
    """*announce* prints the header and the traceback: before the session, or, for a
    mode that waits for its turn on a shared terminal, when the turn comes."""
    mode = _mode_module(session)
    if getattr(mode, "ANNOUNCES", False):
        mode.run(session, announce)
    else:
        announce()
        mode.run(session)


def handle(
    exc: Optional[BaseException],
    tb: Optional[TracebackType] = None,
    *,
    origin: str,
    report: Optional[Report] = None,
    mode: Optional[str] = None,
    force: bool = False,
    frame: Optional[FrameType] = None,
    child: Optional[ChildInfo] = None,
) -> bool:
    """Debug *exc* (or, with *frame*, stop live at that frame) if the settings say so.

    Returns True when the exception was taken (header, traceback via *report*, session
    attempted); False when it was left alone, in which case *report* was not called and
    the caller reports the exception as it would have without the tool.
    """
    try:
        if frame is None:
            if exc is None and tb is None:
                return False
            if exc is not None and not force and _ignored(exc):
                return False
            if already_debugged(exc):
                return False
            if tb is None and exc is not None:
                tb = exc.__traceback__
        settings = _settings.current()
        if not (force or settings.enabled):
            return False
        from . import _children

        if not force and _children.told_debugged_in_child(exc):
            return False  # the parent's report of a worker's failure debugged in the worker
        from . import _launcher

        if _launcher.is_launcher_failure(exc):
            return False
        gate = _gate()
        if not gate.enter():
            return False
    except Exception as error:  # the tool must never hide the user's exception
        _notice.say(f"could not start a session: {_notice.describe_error(error)}")
        return False

    reported = False
    job = None

    def announce(outcome: Optional[str] = None) -> None:
        nonlocal reported
        if reported:
            return
        _notice.write(session.header(outcome))
        reported = True
        if report is not None:
            report()
        elif frame is None:
            print_traceback(exc, tb)

    try:
        _mark(exc)
        session = Session(
            exc=exc,
            tb=tb,
            rank=_rank.detect(),
            settings=settings,
            mode=resolve_mode(mode or settings.mode),
            origin=origin,
            frame=frame,
            child=child if child is not None else _children.current(),
            job_id=_rank.job_id(),
        )
        from . import _job

        job = _job.begin(session)  # root cause or consequence; the job's session files
        if job is not None and job.root_ended:
            announce(_job.ROOT_ENDED)
        else:
            _preflight(session)
            restore_timeouts = _job.raise_pg_timeouts()
            try:
                _run(session, announce)
            finally:
                if frame is None:  # a live breakpoint keeps them, as torch's own does
                    restore_timeouts()
    except SessionError as error:
        _notice.say(str(error))
    except Exception as error:
        _notice.say(f"session failed: {_notice.describe_error(error)}")
    finally:
        if not reported and frame is None:
            if report is not None:
                report()
            else:
                print_traceback(exc, tb)
        if job is not None:
            job.end()
        gate.leave()
    if job is not None:
        try:
            job.hold_exit()  # outside the gate: other threads' sessions may go on meanwhile
        except Exception as error:
            _notice.say(f"could not wait for the job's other sessions: {_notice.describe_error(error)}")
    return True
