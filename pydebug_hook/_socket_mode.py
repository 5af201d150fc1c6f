"""Socket mode: the session waits on a private Unix socket for ``nc -U``, ``socat`` or
``pydebug-hook attach``; clients may detach and come back; ``q``/``c`` end it.  When
``IPDB_WAIT_TIMEOUT`` runs out with no client, the post-mortem is saved to a dump.

:func:`run` is what the dispatch calls.  :func:`serve` is the same with a *wake_fd*:
terminal arbitration serves a rank's socket while the rank waits for the terminal, and
writes to that descriptor when the terminal is granted; if no client is attached then,
the socket goes away and ``serve`` returns ``"woken"`` so that the caller can open the
console session instead.
"""

import os
import re
import shlex
from typing import Callable, Optional, Tuple

from . import _dumps, _notice, _registry
from . import _socket_server as states
from ._session import Session, SessionError
from ._settings import expand_socket_path
from ._unix_listener import MAX_PATH_BYTES, Listener, PathUnusable, remove_if_stale

ENDED = "ended"
WOKEN = "woken"


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


_FALLBACK = re.compile(r"pdb\.sock\.\d+\.(\d+)(\.[wp]\d+)?")


def remove_stale_fallbacks() -> None:
    """Fallback sockets are named by their process's pid, so nobody reuses them: those
    of processes that are gone (SIGKILL) are removed, by the next session and by ``ls``."""
    from ._registry import pid_alive

    for directory in _registry.private_dirs(create=False):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            found = _FALLBACK.fullmatch(name)
            if found and not pid_alive(int(found.group(1))):
                remove_if_stale(os.path.join(str(directory), name))


def open_listener(session: Session) -> Tuple[Listener, Optional[str]]:
    """The listener, and a line saying what happened at the configured path: a stale
    socket of ours replaced there, or why the listener is elsewhere (else None)."""
    wanted = socket_path(session)
    try:
        return Listener.open(wanted)
    except PathUnusable as exc:
        why = str(exc)
    tried = []
    for directory in _registry.private_dirs():
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
    quoted = shlex.quote(path)
    limit = session.settings.wait_timeout
    bound = f" for {_notice.duration(limit)}" if limit is not None else ""
    label = f" [{session.label}]" if session.label else ""
    return (
        f"rank {session.rank.rank} (pid {session.pid}, {session.summary}){label} waits{bound} for a debugger on {quoted}"
        f" -- attach with: nc -U {quoted}  or  pydebug-hook attach {target}"
    )


def _say_no_client(server: states.Server, result: str) -> None:
    if result == states.TIMEOUT:
        _notice.say(f"no debugger attached within {_notice.duration(server.timeout)} on {server.path}; going on")
    elif result == states.INTERRUPTED:
        _notice.say("interrupted (Ctrl-C) while waiting for a debugger; going on")


def serve(session: Session, *, wake_fd: Optional[int] = None, announce: Optional[Callable[[str, str], str]] = None) -> str:
    """Serve *session* on its socket until it ends (``"ended"``) or, with no client
    attached, *wake_fd* becomes readable (``"woken"``: socket and record are gone).
    *announce(path, attach_target)* makes the one line printed when the socket is ready
    (default: :func:`waiting_line`).

    A live breakpoint (``session.frame``) returns once its first client is attached and
    the debugger is armed: the session goes on in the program's trace callbacks and
    cleans up after itself on ``c``/``q``.
    """
    if not session.is_breakpoint and session.tb is None:
        raise SessionError("nothing to debug: the exception has no traceback")
    try:
        remove_stale_fallbacks()  # a listdir: microseconds on the way to the socket
    except Exception:
        pass
    listener, note = open_listener(session)
    if note:
        _notice.say(note)
    server = states.Server(session, listener, wake_fd)
    handed_over = False
    try:
        server.start()
        line = announce or (lambda path, target: waiting_line(session, path, target))
        _notice.say(line(server.path, _registry.attach_target(session, server.registration)))
        result = server.wait_for_client()
        if result != states.ATTACHED:
            _say_no_client(server, result)
            if result == states.TIMEOUT and not session.is_breakpoint:
                server.close()  # not listed as waiting while the dump is written
                _dumps.save(session)
            return WOKEN if result == states.WOKEN else ENDED
        from ._remote_pdb import RemotePdb

        debugger = RemotePdb(server)
        server.greet()
        if session.is_breakpoint:
            handed_over = True
            # Must stay the last call here: from now on calls in this thread are traced.
            debugger.set_trace(session.frame)
            return ENDED
        debugger.reset()
        try:
            debugger.interaction(None, session.tb)
        except KeyboardInterrupt:  # Ctrl-C on the program's terminal outside the prompt
            _notice.say("interrupted (Ctrl-C): debug session ended")
        if debugger.outcome == states.TIMEOUT:  # a client left, and none came back in time
            _dumps.save(session)
        return WOKEN if debugger.outcome == states.WOKEN else ENDED
    finally:
        if not handed_over:
            server.close()


def run(session: Session) -> None:
    serve(session)
