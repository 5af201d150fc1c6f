"""Dap mode: the session waits for an IDE (VS Code, PyCharm, nvim-dap: any Debug Adapter
Protocol client) at ``IPDB_DAP_HOST:IPDB_DAP_PORT+rank`` (a worker: its own port) and stops
it at the raising frame; debugpy's debugger runs in this process on a socket we bound and
guard (debugger.py), only for this user; Continue or Disconnect ends it, a wait without
an IDE that times out saves a dump.  docs/dap.md."""

import os
from typing import Any, Callable, Optional

from ...core import cleanup, notice, registry
from ...core.session import Session, SessionError
from ..web.guard import is_loopback, is_wildcard, ssh_forward, url_host
from ..web.tcp_owner import have_table, stranger

PORT_TRIES = 100


def base_port(session: Session) -> int:
    """``IPDB_DAP_PORT + rank``, with a worker process's offset (:meth:`Session.port`)."""
    return session.port(session.settings.dap_port)


def endpoint(host: str, port: int, session: Session) -> str:
    return f"{session.host if is_wildcard(host) else url_host(host)}:{port}"


class _Serving(cleanup.Resource):
    """One dap session from the bound port to the removed record."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.debugger: Any = None
        self.registration: Optional[registry.Registration] = None
        self.endpoint = ""
        self.timed_out = False  # no IDE came within IPDB_WAIT_TIMEOUT: save the dump
        self._told: set = set()

    # -- events from pydevd's connection thread (they must never raise) -------------

    def on_refused(self, why: str, peer: Any) -> None:
        try:
            if why not in self._told:  # one line per reason: a hostile user may retry forever
                self._told.add(why)
                who = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "a client"
                notice.say(f"dap session at {self.endpoint} refused a connection from {who}: {why}")
        except Exception:
            pass

    def on_accepted(self) -> None:
        self.set_state("connected")

    def set_state(self, state: str) -> None:
        try:
            if self.registration is not None and not self.closed:
                self.registration.update(state=state)
        except Exception:
            pass

    def wait(self, debugger: Any) -> bool:
        """Until an IDE attaches (True), or ``IPDB_WAIT_TIMEOUT`` runs out (False)."""
        limit = self.session.settings.wait_timeout
        if debugger.wait_for_client(limit) == "attached":
            self.set_state("attached")
            return True
        waited = notice.duration(limit or 0.0)
        if self.session.is_breakpoint:
            notice.say(f"no IDE attached within {waited} on {self.endpoint}; the breakpoint is passed")
        else:
            notice.say(f"no IDE attached within {waited} on {self.endpoint}; going on")
            self.timed_out = True
        return False

    # -- the end -------------------------------------------------------------------

    def _release(self) -> None:
        try:
            if self.debugger is not None:
                if cleanup.ending_signal() is None:
                    self.debugger.stop()
                else:  # the process is about to end: pydevd's locks may be held right here
                    self.debugger.close_port()
        finally:
            if self.registration is not None:
                self.registration.remove()

    def _forget(self) -> None:
        if self.debugger is not None:
            self.debugger.listener.sock.close()


def _owner_check() -> Optional[Callable[[Any], Optional[str]]]:
    """The check of every accepted connection on loopback: our user or root."""
    if not have_table():
        return None
    return lambda conn: stranger(conn.getpeername(), conn.getsockname())


def waiting_line(session: Session, where: str, port: int, first: int, loopback: bool, bound: str, target: str) -> str:
    limit = session.settings.wait_timeout
    bound_for = f" for {notice.duration(limit)}" if limit is not None else ""
    line = f"{session.summary} on {session.where}{session.labelled}: waits{bound_for} for an IDE (DAP) on {where}"
    if port != first:
        line += f" (port {first} was busy)"
    line += f" -- attach your IDE there (pydebug-hook attach {target} prints its launch.json)"
    if loopback:
        line += f"; from another machine: {ssh_forward(port, bound, session.host)}, then attach to localhost:{port}"
    return line


def preflight(session: Session) -> None:
    """What makes a dap session impossible, said before a header announces one."""
    session.require_stack()
    first = base_port(session)
    if not 0 < first < 65536:
        raise SessionError(f"dap port {first} (IPDB_DAP_PORT {session.settings.dap_port} + rank) is out of range")
    # debugpy loads here, not at start-up: a session needs it, the program never does.
    from . import debugger

    debugger.load()


def where(session: Session) -> str:
    return f"dap (an IDE attaches) at {endpoint(session.settings.dap_host, base_port(session), session)}"


def run(session: Session, announce: Callable[[], None]) -> None:
    from . import debugger as dap  # loaded by preflight already

    announce()
    settings = session.settings
    host = settings.dap_host
    loopback = is_loopback(host)
    first = base_port(session)
    sock, port = dap.bind(host, range(first, min(first + PORT_TRIES, 65536)))
    serving = _Serving(session)
    serving.endpoint = endpoint(host, port, session)
    check = _owner_check() if loopback else None
    listener = dap.Listener(sock, check, serving.on_refused, serving.on_accepted)
    serving.debugger = debugger = dap.Debugger(listener)
    handed_over = False
    try:
        # However the program ends (SIGTERM/SIGHUP, exit), the session ends first.
        serving.hold()
        debugger.start()
        try:  # listed before the endpoint is printed: whoever reads the line can find it
            serving.registration = registry.register(session, endpoint=serving.endpoint, port=port, bound=host)
        except (SessionError, OSError) as error:
            notice.say(f"dap session not listed by `pydebug-hook ls`: {error}")
        if not loopback:
            notice.say(
                f"WARNING: the dap session listens on {serving.endpoint}, reachable from other machines; "
                f"whoever connects to it runs any code as uid {os.geteuid()} (DAP has no password)"
            )
        elif check is None:
            notice.say("WARNING: this system does not tell who connects over TCP (no /proc/net/tcp): any local user may attach")
        target = registry.attach_target(session, serving.registration)
        notice.say(waiting_line(session, serving.endpoint, port, first, loopback, host, target))
        if session.is_breakpoint:
            if serving.wait(debugger):
                handed_over = True  # the session ends in this thread, on Continue or Disconnect
                # Must stay the last call here: from now on calls in this thread are traced.
                debugger.stop_at(session.frame, serving.close)
            return
        while serving.wait(debugger) and not debugger.stop_on_exception(session.exc, session.tb):
            serving.set_state("waiting")  # the IDE went away: the next one may attach
            notice.say(f"the IDE left the dap session at {serving.endpoint} without Continue or Disconnect; waiting for the next one")
    except KeyboardInterrupt:
        notice.say("interrupted (Ctrl-C): the dap session ends, the program goes on")
    finally:
        if not handed_over:
            serving.close()
    if serving.timed_out:  # nobody came: the post-mortem goes to a dump, as in socket and web mode
        from ..dump import files as dumps  # not on the way to the endpoint

        dumps.save(session)
