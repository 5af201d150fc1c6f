"""Web mode: the session served by web-pdb at ``http://IPDB_WEB_HOST:IPDB_WEB_PORT+rank/``
(a worker: its own port), only to this user (guard.py, tcp_owner.py); ``q``/``c`` in the
page end it, a wait without a page that times out saves a dump.  docs/web.md."""

import os
import socket
import traceback
from typing import Any, Callable, List, Optional

from ...core import cleanup, notice, registry, settings
from ...core.session import Session, SessionError
from . import server
from .guard import Guard, is_loopback, is_wildcard, ssh_forward, url_host
from .tcp_owner import have_table

PORT_TRIES = 100


def base_port(session: Session) -> int:
    """``IPDB_WEB_PORT + rank``, with a worker process's offset (:meth:`Session.port`)."""
    return session.port(session.settings.web_port)


def _shown_host(session: Session) -> str:
    """The host as the URL shows it: the machine's name for a wildcard bind."""
    host = session.settings.web_host
    return session.host if is_wildcard(host) else url_host(host)


def token_forced() -> bool:
    """``IPDB_WEB_TOKEN``: on requires the token on loopback too; a value that is neither
    on nor off warns once and requires it (a security setting fails closed)."""
    return settings.parse_switch("IPDB_WEB_TOKEN", os.environ.get("IPDB_WEB_TOKEN"), True, "requiring the token")


def _machine_names(hostname: str) -> List[str]:
    names = [hostname]
    try:
        names.append(socket.getfqdn(hostname))
    except Exception:
        pass
    return names


class _Serving(cleanup.Resource):
    """One web session from the bound port to the removed record."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.console: Any = None
        self.registration: Optional[registry.Registration] = None
        self.url = ""
        self._told: set = set()

    # -- events from the server thread (they must never raise) ---------------------

    def on_event(self, kind: str, value: Any) -> None:
        try:
            if kind == "clients":
                if value <= 1 and self.registration is not None and not self.closed:
                    self.registration.update(state="attached" if value else "waiting")
            elif kind == "refused":
                refusal, peer = value
                if refusal.kind not in self._told:  # one line per kind: a hostile page may retry forever
                    self._told.add(refusal.kind)
                    who = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else "a client"
                    notice.say(f"web session refused a request from {who}: {refusal.reason}")
            elif kind == "error" and "error" not in self._told:
                self._told.add("error")
                notice.say(f"web session server error: {notice.describe_error(value)}")
        except Exception:
            pass

    # -- the end -------------------------------------------------------------------

    def _release(self) -> None:
        signum = cleanup.ending_signal()
        left = signum is None and cleanup.left_behind(self.session.thread)
        if left:
            notice.say(self.session.left_at_exit())
        console = self.console
        if console is not None:
            try:
                if console.clients and not console.closed:
                    if left:
                        console.write(f"*** {self.session.left_at_exit()} ***\n")
                    elif signum is None:
                        console.write("*** the session has ended; the program goes on ***\n")
                    else:
                        console.write(f"*** {cleanup.signal_name(signum)}: the session ends with the process ***\n")
                    console.flush()
            except Exception:
                pass
            console.close()
            if console.end_reason and signum is None:
                notice.say(f"web session at {self.url} ended: {console.end_reason}")
        if self.registration is not None:
            self.registration.remove()


def _line(session: Session, url: str, port: int, first: int, loopback: bool, bound: str) -> str:
    line = f"{session.summary} on {session.where}{session.labelled}: web debugger at {url}"
    if port != first:
        line += f" (port {first} was busy)"
    if loopback:
        line += f"; from another machine: {ssh_forward(port, bound, session.host)} and open that URL there"
    return line


def preflight(session: Session) -> None:
    """What makes a web session impossible, said before a header announces one."""
    session.require_stack()
    first = base_port(session)
    if not 0 < first < 65536:
        raise SessionError(f"web port {first} (IPDB_WEB_PORT {session.settings.web_port} + rank) is out of range")


def where(session: Session) -> str:
    return f"web at http://{_shown_host(session)}:{base_port(session)}/"


def run(session: Session, announce: Callable[[], None]) -> None:
    announce()
    server.load()
    settings = session.settings
    host = settings.web_host
    loopback = is_loopback(host)
    token = None
    if not loopback or token_forced():
        import secrets  # with hmac, hashlib and base64: only when the page needs a token

        token = secrets.token_urlsafe(18)
    names = () if loopback else _machine_names(session.host)
    owner_check = loopback and have_table()

    serving = _Serving(session)
    console = server.WebConsole(owner_check, settings.wait_timeout, serving.on_event)
    serving.console = console
    debugger = server.make_debugger(console, session.is_breakpoint, serving.close)
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
    try:
        port = console.start(host, ports, lambda p: Guard.for_bind(host, p, token, names))
        serving.url = f"http://{_shown_host(session)}:{port}/" + (f"?token={token}" if token else "")
        try:  # listed before the URL is printed: whoever reads the line can find it
            serving.registration = registry.register(session, endpoint=serving.url, port=port, bound=host)
        except (SessionError, OSError) as error:
            notice.say(f"web session not listed by `pydebug-hook ls`: {error}")
        # However the program ends (SIGTERM/SIGHUP, exit), the session ends first; a
        # signal then ends the program as it would have (core/cleanup.py).
        serving.hold()
        if not loopback:
            notice.say(
                f"WARNING: the web debugger listens on {host}:{port}, reachable from other machines; "
                f"whoever opens its URL runs any code as uid {os.geteuid()}. Keep the URL (it carries the token) private."
            )
        notice.say(_line(session, serving.url, port, first, loopback, host))
        if session.is_breakpoint:
            # Live: tracing starts here, the first stop is the user's frame once we have
            # returned; the session ends (serving.close) on c, q, or the thread's end.
            debugger.set_trace(session.frame)
            return
        debugger.interaction(None, session.tb)
    except KeyboardInterrupt:
        # Ctrl-C on the program's terminal, at the prompt or before the page was up:
        # the session ends, said once (as the page's end); a live breakpoint's program
        # gets its KeyboardInterrupt.
        console.end("c\n", server.CTRL_C)
        serving.close()
        if session.is_breakpoint:
            raise
    except BaseException:
        serving.close()
        raise
    else:
        serving.close()  # a post-mortem's end
    if console.timed_out:  # nobody came: the post-mortem goes to a dump
        from ..dump import files as dumps  # not on the way to the page

        dumps.save(session)
