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

from . import _marks, _notice, _rank, _settings
from ._session import ChildInfo, Session, SessionError

Report = Callable[[], None]


def _ignored(exc: BaseException) -> bool:
    if isinstance(exc, (SystemExit, KeyboardInterrupt, GeneratorExit)):
        return True
    bdb = sys.modules.get("bdb")  # if bdb was never imported, nothing raised BdbQuit
    return bdb is not None and isinstance(exc, bdb.BdbQuit)


def already_debugged(exc: Optional[BaseException]) -> bool:
    return exc in _marks.DEBUGGED


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


# torch's init_process_group wraps sys.excepthook in this function, which points
# sys.stderr at a StringIO of its own (its local ``buf``) while it calls our hook, and
# prints the capture with a "[rankN]:" prefix after it returns (DESIGN, trap 1).
_TORCH_WRAPPER = ("torch.distributed.distributed_c10d", "_distributed_excepthook")


def _torch_capture(stream: object) -> bool:
    """Whether *stream* is the capture of torch's excepthook wrapper, running above us."""
    frame = sys._getframe(1)
    for _ in range(64):
        if frame is None:
            return False
        code = frame.f_code
        if (frame.f_globals.get("__name__"), code.co_name) == _TORCH_WRAPPER:
            try:
                return frame.f_locals.get("buf") is stream
            except Exception:
                return False
        frame = frame.f_back
    return False


def traceback_stream():
    """Where a traceback goes: ``sys.stderr``, as Python would print it (a program's own
    capture in a ``StringIO`` gets it; None, as with ``sys.stderr = None``, prints
    nothing).  One exception: torch's excepthook wrapper captures it until the session
    is over, so it goes to the real stderr, where the user looks before the session."""
    stream = sys.stderr
    if stream is not None and isinstance(stream, io.StringIO) and _torch_capture(stream):
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


def _mode_module(session: Session):
    if session.mode == "console":
        from . import _console as mode
    elif session.mode == "socket":
        from . import _socket_mode as mode
    elif session.mode == "web":
        from . import _web_mode as mode
    elif session.mode == "dump":
        from . import _dump_mode as mode
    elif session.mode == "dap":
        from . import _dap_mode as mode
    else:  # _reach.resolve returns the five above, or unattended (handled apart)
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
    reach = None

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
        if frame is None:
            _echo_traceback(exc, tb)

    try:
        _marks.DEBUGGED.add(exc)
        from . import _reach

        reach = _reach.survey()
        requested = mode or settings.mode
        resolved = _reach.resolve(requested, reach)
        session = Session(
            exc=exc,
            tb=tb,
            rank=_rank.detect(),
            settings=settings,
            mode=resolved,
            origin=origin,
            frame=frame,
            child=child if child is not None else _children.current(),
            job_id=_rank.job_id(),
            # auto may have chosen the controlling terminal of a process whose stdin is
            # a pipe: the console must use that one (explicit console reads the pipe).
            terminal=reach.terminal if resolved == _reach.CONSOLE and (requested == "auto" or reach.consoles) else None,
            output_captured=reach.stderr_what if reach.captured else None,
        )
        # Where stderr reaches nobody but the process runs on a terminal: the lines of
        # the session (header, traceback, waiting line) go there too.
        _notice.echo_to(reach.echo_fd)
        if resolved == _reach.UNATTENDED:
            from . import _unattended

            _unattended.run(session, announce, reach.why_nobody())
        else:
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
    try:
        if job is not None:
            try:
                job.hold_exit()  # outside the gate: other threads' sessions may go on meanwhile
            except Exception as error:
                _notice.say(f"could not wait for the job's other sessions: {_notice.describe_error(error)}")
    finally:
        if reach is not None:
            _notice.stop_echo(reach.echo_fd)
            reach.close()
    return True


def _echo_traceback(exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
    """The traceback, as Python prints it, on the terminal that gets a copy of the
    session's lines: stderr, where the program's hooks printed it, reaches nobody."""
    if exc is None and tb is None or not _notice.echoing():
        return
    try:
        if exc is not None:
            text = "".join(traceback.format_exception(type(exc), exc, tb))
        else:
            text = "".join(traceback.format_tb(tb))
        _notice.echo(text)
    except Exception:
        pass
