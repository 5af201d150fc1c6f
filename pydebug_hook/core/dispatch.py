"""The one dispatch: the excepthooks, the decorator, the API and the worker patches all
call :func:`handle`, which decides whether an exception gets a session and runs it in
its mode.  The contract and one exception's path: docs/architecture.md."""

import io
import sys
from types import FrameType, TracebackType

from .. import modes
from . import marks, notice, rank
from . import settings as settings_
from .session import ChildInfo, Session, SessionError

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Callable, Optional

    Report = Callable[[], None]


def _ignored(exc: BaseException) -> bool:
    if isinstance(exc, (SystemExit, KeyboardInterrupt, GeneratorExit)):
        return True
    bdb = sys.modules.get("bdb")  # if bdb was never imported, nothing raised BdbQuit
    return bdb is not None and isinstance(exc, bdb.BdbQuit)


def already_debugged(exc: "Optional[BaseException]") -> bool:
    return exc in marks.DEBUGGED


def wanted(exc: "Optional[BaseException]") -> bool:
    """A cheap look ahead: whether :func:`handle` may take *exc* now (it checks again).
    Lets the decorator skip its preparation when debugging is off."""
    if exc is None or _ignored(exc) or already_debugged(exc):
        return False
    try:
        return settings_.enabled()
    except Exception:
        return True  # let handle() decide and report


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


def print_traceback(exc: "Optional[BaseException]", tb: "Optional[TracebackType]") -> None:
    stream = traceback_stream()
    if stream is None:
        return
    try:
        import traceback  # when we print it ourselves: with linecache and tokenize, milliseconds

        if exc is not None:
            traceback.print_exception(type(exc), exc, tb, file=stream)
        elif tb is not None:
            traceback.print_tb(tb, file=stream)
        stream.flush()
    except Exception:
        pass


def _echo_traceback(exc: "Optional[BaseException]", tb: "Optional[TracebackType]") -> None:
    """The traceback, as Python prints it, on the terminal that gets a copy of the
    session's lines: stderr, where the program's hooks printed it, reaches nobody."""
    if exc is None and tb is None or not notice.echoing():
        return
    try:
        import traceback  # when stderr reaches nobody (see print_traceback)

        if exc is not None:
            text = "".join(traceback.format_exception(type(exc), exc, tb))
        else:
            text = "".join(traceback.format_tb(tb))
        notice.echo(text)
    except Exception:
        pass


def _session(exc, tb, *, origin, settings, requested, reach, frame=None, child=None) -> Session:
    """The session of *exc* (or of a breakpoint at *frame*), in the mode *requested*
    resolves to where *reach* says the lines go (``auto``'s rule: core/reach.py)."""
    # At an exception (see handle), or from the command.
    from ..children import worker
    from .reach import CONSOLE

    resolved = reach.auto() if requested == modes.AUTO else requested
    return Session(
        exc=exc,
        tb=tb,
        rank=rank.detect(),
        settings=settings,
        mode=resolved,
        origin=origin,
        frame=frame,
        child=child if child is not None else worker.current(),
        job_id=rank.job_id(),
        # auto may have chosen the controlling terminal of a process whose stdin is
        # a pipe: the console must use that one (explicit console reads the pipe).
        terminal=reach.terminal if resolved == CONSOLE and (requested == modes.AUTO or reach.consoles) else None,
        output_captured=reach.stderr_what if reach.captured else None,
    )


def destination() -> str:
    """Where a session of this process would go now, in words (``pydebug-hook doctor``):
    the mode that would be chosen, asked where it would serve, worker offsets included."""
    from .reach import UNATTENDED, survey  # from the command (see handle)

    reach = survey()
    try:
        settings = settings_.current()
        session = _session(None, None, origin="doctor", settings=settings, requested=settings.mode, reach=reach)
        session.pid = "<pid>"  # type: ignore[assignment] -- the program's, not this command's
        if session.mode == UNATTENDED:
            return f"no session: {reach.why_nobody()}"
        return modes.get(session.mode).where(session)
    finally:
        reach.close()


def handle(
    exc: "Optional[BaseException]",
    tb: "Optional[TracebackType]" = None,
    *,
    origin: str,
    report: "Optional[Report]" = None,
    mode: "Optional[str]" = None,
    force: bool = False,
    frame: "Optional[FrameType]" = None,
    child: "Optional[ChildInfo]" = None,
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
        settings = settings_.current()
        if not (force or settings.enabled):
            return False
        # At an exception only: importing Debugger (or @attach_on_error) stays light.
        from ..children import worker
        from ..job import launchers

        if not force and worker.told_debugged_in_child(exc):
            return False  # the parent's report of a worker's failure debugged in the worker
        if launchers.is_launcher_failure(exc):
            return False
        gate = marks.gate()
        if not gate.enter():
            return False
    except Exception as error:  # the tool must never hide the user's exception
        notice.say(f"could not start a session: {notice.describe_error(error)}")
        return False

    reported = False
    job = None
    reach = None

    def announce(outcome: "Optional[str]" = None) -> None:
        """The header (with *outcome* in place of the mode when no session opens) and
        the traceback, once."""
        nonlocal reported
        if reported:
            return
        notice.write(session.header(outcome))
        reported = True
        if report is not None:
            report()
        elif frame is None:
            print_traceback(exc, tb)
        if frame is None:
            _echo_traceback(exc, tb)

    try:
        marks.DEBUGGED.add(exc)
        from ..job import timeouts  # at an exception only (above)
        from .reach import UNATTENDED, survey

        reach = survey()
        session = _session(exc, tb, origin=origin, settings=settings, requested=mode or settings.mode, reach=reach, frame=frame, child=child)
        # Where stderr reaches nobody but the process runs on a terminal: the lines of
        # the session (header, traceback, waiting line) go there too.
        notice.echo_to(reach.echo_fd)
        if session.mode == UNATTENDED:
            _unattended(session, announce, reach.why_nobody())
        else:
            if session.job_id is not None or session.rank.distributed:
                # A rank of a job only (a lone process has no peers): its modules stay
                # off a lone process's way.
                from ..job import sessions

                job = sessions.begin(session)  # root cause or consequence; the job's session files
            if job is not None and job.root_ended:
                announce(sessions.ROOT_ENDED)
            else:
                chosen = modes.get(session.mode)
                chosen.preflight(session)
                restore_timeouts = timeouts.raise_pg_timeouts()
                try:
                    chosen.run(session, announce)
                finally:
                    if frame is None:  # a live breakpoint keeps them, as torch's own does
                        restore_timeouts()
    except SessionError as error:
        notice.say(str(error))
    except Exception as error:
        notice.say(f"session failed: {notice.describe_error(error)}")
    finally:
        if not reported and frame is None:
            if report is not None:
                report()
            else:
                print_traceback(exc, tb)
        if job is not None:
            job.close()
        gate.leave()
    try:
        if job is not None:
            try:
                job.hold_exit()  # outside the gate: other threads' sessions may go on meanwhile
            except Exception as error:
                notice.say(f"could not wait for the job's other sessions: {notice.describe_error(error)}")
    finally:
        if reach is not None:
            notice.stop_echo(reach.echo_fd)
            reach.close()
    return True


def _unattended(session: Session, announce: "Callable[..., None]", why: str) -> None:
    """No session where nobody would know it waits (docs/auto.md): one line in the
    header's place, the traceback, and the crash site saved as dump mode saves it."""
    if session.is_breakpoint:  # a live stop nobody can see: the program runs on
        announce(f"no session: {why}")
        return
    announce(f"no session: {why}; the post-mortem is saved instead (IPDB_MODE=socket would wait)")
    modes.get("dump").run(session, announce)
