"""Socket mode: the session waits on a private Unix socket for ``nc -U``, ``socat`` or
``pydebug-hook attach``; clients may detach and come back; ``q``/``c`` end it; a wait
that times out saves a dump.  The files: the listener takes the socket path, the
endpoint holds one session's socket, record and client, the channel carries pdb's
streams (and the wire's control lines) to that client, the debugger is pdb on it."""

import os

from ...core import files, notice, proc, registry
from ...core.session import Session, SessionError
from ...core.settings import expand_socket_path
from .endpoint import ATTACHED, INTERRUPTED, TIMEOUT, WOKEN, Endpoint
from .listener import MAX_PATH_BYTES, Listener, PathUnusable

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Callable, Optional, Tuple

ENDED = "ended"  # what serve() returns, or WOKEN (the terminal queue's wake)


def socket_path(session: Session) -> str:
    """``IPDB_SOCKET_PATH`` expanded for this session; a worker process appends its tag
    (``/tmp/pdb.sock.0.w2``) so that it collides with neither its parent nor a sibling."""
    r = session.rank
    path = expand_socket_path(session.settings.socket_path, r.rank, r.local_rank, session.pid)
    path = os.path.abspath(os.path.expanduser(path))
    if session.child is not None:
        path += f".{session.child.tag}"
    return path


def _fallback_name(session: Session) -> str:
    tag = f".{session.child.tag}" if session.child is not None else ""
    return f"pdb.sock.{session.rank.rank}.{session.pid}{tag}"


# Matched (re imported and the pattern compiled) only when a name may be one: re costs
# about 2 ms on every session's way, and fallback sockets are rare.
_FALLBACK = r"pdb\.sock\.\d+\.(\d+)(\.[wp]\d+)?"


def remove_stale_fallbacks() -> None:
    """Fallback sockets are named by their process's pid, so nobody reuses them: those
    of processes that are gone (SIGKILL) are removed, by the next session and by ``ls``."""
    for directory in registry.private_dirs(create=False):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if not name.startswith("pdb.sock."):
                continue
            import re

            found = re.fullmatch(_FALLBACK, name)
            if found and not proc.alive(int(found.group(1))):
                files.remove_if_stale(os.path.join(str(directory), name))


def open_listener(session: Session) -> "Tuple[Listener, Optional[str]]":
    """The listener, and a line saying what happened at the configured path: a stale
    socket of ours replaced there, or why the listener is elsewhere (else None)."""
    wanted = socket_path(session)
    try:
        return Listener.open(wanted)
    except PathUnusable as exc:
        why = str(exc)
    tried = []
    for directory in registry.private_dirs():
        candidate = os.path.join(str(directory), _fallback_name(session))
        if len(os.fsencode(candidate)) > MAX_PATH_BYTES:
            tried.append(f"{candidate} is too long")
            continue
        try:
            listener, _ = Listener.open(candidate)
        except PathUnusable as exc:
            tried.append(f"{candidate}: {exc}")
            continue
        return listener, f"socket path {wanted} cannot be used ({why}); listening on {candidate} instead"
    alternatives = "; ".join(tried) or "no private directory is usable"
    raise SessionError(f"cannot listen on {wanted} ({why}), nor on a fallback path ({alternatives})")


def waiting_line(session: Session, path: str, target: str) -> str:
    quoted = notice.shell_word(path)
    limit = session.settings.wait_timeout
    bound = f" for {notice.duration(limit)}" if limit is not None else ""
    return (
        f"{session.who} waits{bound} for a debugger on {quoted}"
        f" -- attach with: nc -U {quoted}  or  pydebug-hook attach {target}"
    )


def _say_no_client(endpoint: Endpoint, result: str) -> None:
    if result == TIMEOUT:
        notice.say(f"no debugger attached within {notice.duration(endpoint.timeout)} on {endpoint.path}; going on")
    elif result == INTERRUPTED:
        notice.say("interrupted (Ctrl-C) while waiting for a debugger; going on")


def _save_dump(session: Session) -> None:
    from ..dump import files as dumps  # when nobody came: not on the way to the socket

    dumps.save(session)


def preflight(session: Session) -> None:
    session.require_stack()


def where(session: Session) -> str:
    return f"socket at {socket_path(session)}"


def run(session: Session, announce: "Callable[[], None]") -> None:
    announce()
    serve(session)


def serve(session: Session, *, wake_fd: "Optional[int]" = None, line: "Optional[Callable[[str, str], str]]" = None) -> str:
    """Serve *session* on its socket until it ends (``"ended"``) or, with no client
    attached, *wake_fd* becomes readable (``"woken"``: socket and record are gone; the
    terminal queue wakes a rank so when the terminal is its turn).  *line(path,
    attach_target)* makes the one line printed when the socket is ready (default:
    :func:`waiting_line`).

    A live breakpoint (``session.frame``) returns once its first client is attached and
    the debugger is armed: the session goes on in the program's trace callbacks and
    cleans up after itself on ``c``/``q``.
    """
    try:
        remove_stale_fallbacks()  # a listdir: microseconds on the way to the socket
    except Exception:
        pass
    listener, note = open_listener(session)
    if note:
        notice.say(note)
    endpoint = Endpoint(session, listener, wake_fd)
    handed_over = False
    try:
        endpoint.start()
        make_line = line or (lambda path, target: waiting_line(session, path, target))
        notice.say(make_line(endpoint.path, registry.attach_target(session, endpoint.registration)))
        result = endpoint.wait_for_client()
        if result != ATTACHED:
            _say_no_client(endpoint, result)
            if result == TIMEOUT and not session.is_breakpoint:
                endpoint.close()  # not listed as waiting while the dump is written
                _save_dump(session)
            return WOKEN if result == WOKEN else ENDED
        # pdb loads once a client is there: a session nobody attaches to never needs it.
        from .debugger import SocketPdb

        debugger = SocketPdb(endpoint)
        endpoint.greet()
        if session.is_breakpoint:
            handed_over = True
            # Must stay the last call here: from now on calls in this thread are traced.
            debugger.set_trace(session.frame)
            return ENDED
        debugger.reset()
        try:
            debugger.interaction(None, session.tb)
        except KeyboardInterrupt:  # Ctrl-C on the program's terminal outside the prompt
            notice.say("interrupted (Ctrl-C): debug session ended")
        if debugger.outcome == TIMEOUT:  # a client left, and none came back in time
            _save_dump(session)
        return WOKEN if debugger.outcome == WOKEN else ENDED
    finally:
        if not handed_over:
            endpoint.close()
