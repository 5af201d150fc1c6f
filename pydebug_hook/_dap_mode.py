"""Dap mode: the session waits for an IDE (VS Code, PyCharm, nvim-dap: any Debug Adapter
Protocol client) at ``IPDB_DAP_HOST:IPDB_DAP_PORT+rank`` and stops it at the raising frame.

The port: ``IPDB_DAP_PORT + rank`` with the worker offsets of web mode
(:meth:`Session.port`); a busy port moves to the next free one of the following 100.
debugpy's debugger runs in this process (:mod:`._debugpy`), on a socket we bound.

Who may use it: on loopback only processes of our own user (or root) may connect, told by
the kernel's socket table (:mod:`._tcp_owner`); a connection of another user is closed
before debugpy reads a byte.  Off loopback (``IPDB_DAP_HOST`` set to another address) the
peer's user cannot be known and DAP has no password: a warning says so.

Lifecycle: an IDE that attaches is stopped on the exception; Continue or Disconnect ends
the session, and the program goes on as without the tool.  An IDE may connect and leave
before it attaches, and another come: the session waits on (``IPDB_WAIT_TIMEOUT`` seconds
at most, then :func:`no_ide_attached` and a dump of the post-mortem).  SIGTERM/SIGHUP (session in the main thread) end
it, remove its record and then act as they would have.
"""

import os
import threading
from typing import Any, Optional

from . import _cleanup, _dumps, _notice, _registry
from ._session import Session, SessionError

PORT_TRIES = 100


def preflight(session: Session) -> None:
    from . import _debugpy

    _debugpy.load()


def endpoint(host: str, port: int, session: Session) -> str:
    from ._web_guard import is_wildcard, url_host

    return f"{session.host if is_wildcard(host) else url_host(host)}:{port}"


class _Serving:
    """One dap session from the bound port to the removed record; :meth:`finish` runs
    once, whichever way the session ends."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.debugger: Any = None
        self.registration: Optional[_registry.Registration] = None
        self.endpoint = ""
        self.timed_out = False  # no IDE came within IPDB_WAIT_TIMEOUT: save the dump
        self._lock = threading.RLock()  # finish() may run in a signal handler that interrupted finish()
        self._finished = False
        self._told: set = set()
        self._cleanup_key: Optional[int] = None

    # -- events from pydevd's connection thread (they must never raise) -------------

    def on_refused(self, why: str, peer: Any) -> None:
        try:
            if why not in self._told:  # one line per reason: a hostile user may retry forever
                self._told.add(why)
                who = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "a client"
                _notice.say(f"dap session at {self.endpoint} refused a connection from {who}: {why}")
        except Exception:
            pass

    def on_accepted(self) -> None:
        self.set_state("connected")

    def set_state(self, state: str) -> None:
        try:
            if self.registration is not None and not self._finished:
                self.registration.update(state=state)
        except Exception:
            pass

    def wait(self, debugger: Any) -> bool:
        """Until an IDE attaches (True), or ``IPDB_WAIT_TIMEOUT`` runs out (False)."""
        limit = self.session.settings.wait_timeout
        if debugger.wait_for_client(limit) == "attached":
            self.set_state("attached")
            return True
        if self.session.is_breakpoint:
            _notice.say(f"no IDE attached within {limit or 0:g}s on {self.endpoint}; the breakpoint is passed")
        else:
            no_ide_attached(self.session, self.endpoint, limit or 0.0)
            self.timed_out = True
        return False

    # -- the end -------------------------------------------------------------------

    def finish(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        try:
            if self.debugger is not None:
                if _cleanup.ending_signal() is None:
                    self.debugger.stop()
                else:  # the process is about to end: pydevd's locks may be held right here
                    self.debugger.close_port()
        finally:
            if self.registration is not None:
                self.registration.remove()
            key, self._cleanup_key = self._cleanup_key, None
            if key is not None:
                _cleanup.done(key)

    def remove_at_end(self) -> None:
        forget = self.debugger.listener.sock.close if self.debugger is not None else None
        self._cleanup_key = _cleanup.add(self.finish, forget)


def _owner_check():
    """The check of every accepted connection on loopback: our user or root."""
    from ._tcp_owner import have_table, stranger

    if not have_table():
        return None
    return lambda conn: stranger(conn.getpeername(), conn.getsockname())


def waiting_line(session: Session, where: str, port: int, first: int, loopback: bool, bound: str, target: str) -> str:
    label = f" [{session.label}]" if session.label else ""
    limit = session.settings.wait_timeout
    bound_for = f" for {limit:g}s" if limit is not None else ""
    line = f"{session.summary} on {session.where}{label}: waits{bound_for} for an IDE (DAP) on {where}"
    if port != first:
        line += f" (port {first} was busy)"
    line += f" -- attach your IDE there (pydebug-hook attach {target} prints its launch.json)"
    if loopback:
        from ._web_guard import ssh_forward

        line += f"; from another machine: {ssh_forward(port, bound, session.host)}, then attach to localhost:{port}"
    return line


def no_ide_attached(session: Session, where: str, waited: float) -> None:
    """``IPDB_WAIT_TIMEOUT`` ran out with no IDE attached: one line; once the session
    has let go of its port and of the thread's tracing, :func:`run` saves the dump and
    the program goes on."""
    _notice.say(f"no IDE attached within {_notice.duration(waited)} on {where}; going on")


def run(session: Session) -> None:
    if session.tb is None and not session.is_breakpoint:
        raise SessionError("nothing to debug: the exception has no traceback")
    from . import _debugpy
    from ._web_guard import is_loopback

    _debugpy.load()
    settings = session.settings
    host = settings.dap_host
    loopback = is_loopback(host)
    first = session.port(settings.dap_port)
    if not 0 < first < 65536:
        raise SessionError(f"dap port {first} (IPDB_DAP_PORT {settings.dap_port} + rank) is out of range")
    sock, port = _debugpy.bind(host, range(first, min(first + PORT_TRIES, 65536)))
    serving = _Serving(session)
    serving.endpoint = endpoint(host, port, session)
    check = _owner_check() if loopback else None
    listener = _debugpy.Listener(sock, check, serving.on_refused, serving.on_accepted)
    serving.debugger = debugger = _debugpy.Debugger(listener)
    handed_over = False
    try:
        serving.remove_at_end()
        debugger.start()
        try:  # listed before the endpoint is printed: whoever reads the line can find it
            serving.registration = _registry.register(session, endpoint=serving.endpoint, port=port, bound=host)
        except (SessionError, OSError) as error:
            _notice.say(f"dap session not listed by `pydebug-hook ls`: {error}")
        if not loopback:
            _notice.say(
                f"WARNING: the dap session listens on {serving.endpoint}, reachable from other machines; "
                f"whoever connects to it runs any code as uid {os.geteuid()} (DAP has no password)"
            )
        elif check is None:
            _notice.say("WARNING: this system does not tell who connects over TCP (no /proc/net/tcp): any local user may attach")
        target = _registry.attach_target(session, serving.registration)
        _notice.say(waiting_line(session, serving.endpoint, port, first, loopback, host, target))
        if session.is_breakpoint:
            if serving.wait(debugger):
                handed_over = True  # the session ends in this thread, on Continue or Disconnect
                # Must stay the last call here: from now on calls in this thread are traced.
                debugger.stop_at(session.frame, serving.finish)
            return
        while serving.wait(debugger) and not debugger.stop_on_exception(session.exc, session.tb):
            serving.set_state("waiting")  # the IDE went away: the next one may attach
            _notice.say(f"the IDE left the dap session at {serving.endpoint} without Continue or Disconnect; waiting for the next one")
    except KeyboardInterrupt:
        _notice.say("interrupted (Ctrl-C): the dap session ends, the program goes on")
    finally:
        if not handed_over:
            serving.finish()
    if serving.timed_out:  # nobody came: the post-mortem goes to a dump, as in socket and web mode
        _dumps.save(session)
