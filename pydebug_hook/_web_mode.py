"""Web mode: the session served by web-pdb at ``http://IPDB_WEB_HOST:IPDB_WEB_PORT+rank/``.

The port: ``IPDB_WEB_PORT + rank`` (a worker process of rank r: ``+ world_size *
(worker_id + 1)`` more, so that parent and siblings never collide); when it is busy, the
next free one of the following 100, said in the session's stderr line.

Who may use it (see :mod:`._web_guard`): requests naming another host and WebSockets
from other pages are refused; on loopback only our own user's processes may connect
(:mod:`._tcp_owner`); off loopback a warning is printed and a random token is required
in the URL.  ``IPDB_WEB_TOKEN=1`` requires the token on loopback too.

Lifecycle: ``q`` or ``c`` in the page ends the session and the program goes on as
without the tool; closing the tab leaves it waiting (``IPDB_WAIT_TIMEOUT`` seconds at
most, counted while no page is connected, then the post-mortem is saved to a dump);
SIGTERM/SIGHUP (when the session runs in the main thread) end it, remove its record and
then act as they would have.  The port is closed when the session ends.
"""

import os
import secrets
import socket
import threading
import traceback
from typing import Any, List, Optional

from . import _cleanup, _dumps, _notice, _registry
from ._session import Session, SessionError

PORT_TRIES = 100


def base_port(session: Session) -> int:
    return session.port(session.settings.web_port)


def token_forced() -> bool:
    """``IPDB_WEB_TOKEN``: on requires the token on loopback too; a value that is neither
    on nor off warns once and requires it (a security setting fails closed)."""
    from ._settings import parse_switch

    return parse_switch("IPDB_WEB_TOKEN", os.environ.get("IPDB_WEB_TOKEN"), True, "requiring the token")


def _machine_names(hostname: str) -> List[str]:
    names = [hostname]
    try:
        names.append(socket.getfqdn(hostname))
    except Exception:
        pass
    return names


class _Serving:
    """One web session from the bound port to the removed record; :meth:`finish` runs
    once, whichever way the session ends."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.console: Any = None
        self.registration: Optional[_registry.Registration] = None
        self.url = ""
        self._lock = threading.RLock()  # finish() may run in a signal handler that interrupted finish()
        self._finished = False
        self._told: set = set()
        self._cleanup_key: Optional[int] = None

    # -- events from the server thread (they must never raise) ---------------------

    def on_event(self, kind: str, value: Any) -> None:
        try:
            if kind == "clients":
                if value <= 1 and self.registration is not None and not self._finished:
                    self.registration.update(state="attached" if value else "waiting")
            elif kind == "refused":
                refusal, peer = value
                if refusal.kind not in self._told:  # one line per kind: a hostile page may retry forever
                    self._told.add(refusal.kind)
                    who = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "a client"
                    _notice.say(f"web session refused a request from {who}: {refusal.reason}")
            elif kind == "error" and "error" not in self._told:
                self._told.add("error")
                _notice.say(f"web session server error: {_notice.describe_error(value)}")
        except Exception:
            pass

    # -- the end -------------------------------------------------------------------

    def finish(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        signum = _cleanup.ending_signal()
        left = signum is None and _cleanup.left_behind(self.session.thread)
        if left:
            _notice.say(self.session.left_at_exit())
        console = self.console
        if console is not None:
            try:
                if console.clients and not console.closed:
                    if left:
                        console.write(f"*** {self.session.left_at_exit()} ***\n")
                    elif signum is None:
                        console.write("*** the session has ended; the program goes on ***\n")
                    else:
                        console.write(f"*** {_cleanup.signal_name(signum)}: the session ends with the process ***\n")
                    console.flush()
            except Exception:
                pass
            console.close()
            if console.end_reason and signum is None:
                _notice.say(f"web session at {self.url} ended: {console.end_reason}")
        if self.registration is not None:
            self.registration.remove()
        key, self._cleanup_key = self._cleanup_key, None
        if key is not None:
            _cleanup.done(key)  # forgets it (finish is done) and puts the signal handlers back

    def remove_at_end(self) -> None:
        """However the program ends (SIGTERM/SIGHUP, exit), :meth:`finish` runs first; a
        signal then ends the program as it would have (see :mod:`._cleanup`)."""
        self._cleanup_key = _cleanup.add(self.finish)


def _line(session: Session, url: str, port: int, first: int, loopback: bool, bound: str) -> str:
    label = f" [{session.label}]" if session.label else ""
    line = f"{session.summary} on {session.where}{label}: web debugger at {url}"
    if port != first:
        line += f" (port {first} was busy)"
    if loopback:
        from ._web_guard import ssh_forward

        line += f"; from another machine: {ssh_forward(port, bound, session.host)} and open that URL there"
    return line


def preflight(session: Session) -> None:
    """What makes a web session impossible, said before a header announces one."""
    if session.tb is None and not session.is_breakpoint:
        raise SessionError("nothing to debug: the exception has no traceback")
    first = base_port(session)
    if not 0 < first < 65536:
        raise SessionError(f"web port {first} (IPDB_WEB_PORT {session.settings.web_port} + rank) is out of range")


def run(session: Session) -> None:
    preflight(session)
    from . import _web_server
    from ._web_guard import Guard, is_loopback, is_wildcard, url_host

    _web_server.load()
    settings = session.settings
    host = settings.web_host
    loopback = is_loopback(host)
    token = secrets.token_urlsafe(18) if (not loopback or token_forced()) else None
    names = () if loopback else _machine_names(session.host)
    owner_check = loopback and _owner_check_possible()

    serving = _Serving(session)
    console = _web_server.WebConsole(owner_check, settings.wait_timeout, serving.on_event)
    serving.console = console
    debugger = _web_server.make_debugger(console, session.is_breakpoint, serving.finish)
    if not session.is_breakpoint:
        # The page is complete from the moment its URL is printed: traceback, frame, locals.
        console.write("*** pydebug_hook post-mortem ***\n")
        if session.exc is not None:
            console.write("".join(traceback.format_exception(type(session.exc), session.exc, session.tb)))
        debugger.reset()
        debugger.setup(None, session.tb)
        console.flush()
    first = base_port(session)
    ports = range(first, min(first + PORT_TRIES, 65536))
    port = console.start(host, ports, lambda p: Guard.for_bind(host, p, token, names))
    try:
        shown = session.host if is_wildcard(host) else url_host(host)
        serving.url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
        try:  # listed before the URL is printed: whoever reads the line can find it
            serving.registration = _registry.register(session, endpoint=serving.url, port=port, bound=host)
        except (SessionError, OSError) as error:
            _notice.say(f"web session not listed by `pydebug-hook ls`: {error}")
        if not loopback:
            _notice.say(
                f"WARNING: the web debugger listens on {host}:{port}, reachable from other machines; "
                f"whoever opens its URL runs any code as uid {os.geteuid()}. Keep the URL (it carries the token) private."
            )
        _notice.say(_line(session, serving.url, port, first, loopback, host))
        serving.remove_at_end()
    except BaseException:
        serving.finish()
        raise

    if session.is_breakpoint:
        # Live: tracing starts here, the first stop is the user's frame once we have
        # returned; the session ends (serving.finish) on c, q, or the thread's end.
        try:
            debugger.set_trace(session.frame)
        except BaseException:
            serving.finish()
            raise
        return

    try:
        debugger.interaction(None, session.tb)
    except KeyboardInterrupt:
        _notice.say("interrupted (Ctrl-C): the web session ends")
    finally:
        serving.finish()
    if console.timed_out:  # nobody came: the post-mortem goes to a dump
        _dumps.save(session)


def _owner_check_possible() -> bool:
    from ._tcp_owner import have_table

    return have_table()
