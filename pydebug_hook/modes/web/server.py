"""web-pdb behind our request guard: its debugger and its page server as they are, our
console (port fallback, no logging, no stream swapping) and our debugger subclass."""

import asyncio
import errno
import queue
import threading
import time
from bdb import Bdb
from pdb import Pdb
from typing import Any, Callable, Dict, Iterable, Optional
from urllib.parse import unquote, urlsplit

from ...core import pdb_policy
from ...core.notice import duration
from ...core.session import SessionError
from .guard import Guard, Refusal
from .tcp_owner import stranger

SUPPORTED = "2.0"  # the web-pdb minor version whose private server methods we call
_NEEDED = ("run", "_serve_index", "_serve_frame_data", "_serve_static", "_serve_websocket", "broadcast", "stop")
_MAX_HEADER = 8192
_START_TIMEOUT = 30.0
_REPR_LIMIT = 2000  # one variable's text in the page's Globals/Locals panes
CTRL_C = "Ctrl-C: the session ends, the program goes on"  # why a session ended by Ctrl-C ended


def _web_pdb_version() -> str:
    try:
        from importlib.metadata import version
    except ImportError:  # pragma: no cover - Python < 3.8
        return "?"
    try:
        return version("web-pdb")
    except Exception:
        return "?"


def load() -> None:
    """Import web-pdb and check it is a version we know; SessionError otherwise."""
    try:
        import web_pdb
        from web_pdb.asyncio_server import AsyncioServer
        from web_pdb.buffer import ThreadSafeBuffer  # noqa: F401 - checked here, used by WebConsole
    except Exception as error:
        raise SessionError(f"web mode needs web-pdb {SUPPORTED}.x, which could not be imported ({type(error).__name__}: {error})") from None
    missing = [name for name in _NEEDED if not callable(getattr(AsyncioServer, name, None))]
    if missing or not hasattr(web_pdb.WebPdb, "get_current_frame_data"):
        raise SessionError(
            f"web-pdb {_web_pdb_version()} is not the {SUPPORTED}.x this pydebug-hook was built for "
            f"(missing {', '.join(missing) or 'WebPdb.get_current_frame_data'}); "
            f"pip install 'web-pdb>={SUPPORTED},<2.1'"
        )


def _response(status: str, body: bytes = b"", headers: Iterable[str] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(body)}", "Cache-Control: no-store", "Connection: close"]
    lines.extend(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _server_class() -> Any:
    from web_pdb.asyncio_server import AsyncioServer

    class GuardedServer(AsyncioServer):
        """web-pdb's server with :class:`Guard` in front of every request."""

        def __init__(self, host: str, port: int, console: "WebConsole", guard: Guard) -> None:
            super().__init__(host, port, console.frame_data, console.input_queue)
            self.console = console
            self.guard = guard
            self.failure: Optional[BaseException] = None
            self.clients = 0

        async def run(self, is_abort_requested, on_started, on_stopped) -> None:
            # web-pdb lets a bind error escape to a thread that logs it; we want it back.
            try:
                await super().run(is_abort_requested, on_started, on_stopped)
            except Exception as error:
                self.failure = error

        async def _process_request(self, reader, writer) -> None:
            try:
                await self._guarded(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                pass  # a client that went away is a normal event
            except Exception as error:
                self.console.on_server_error(error)

        async def _guarded(self, reader, writer) -> None:
            try:
                raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10.0)
            except asyncio.LimitOverrunError:
                raw = b""
            if not raw or len(raw) > _MAX_HEADER:
                writer.write(_response("431 Request Header Fields Too Large"))
                await writer.drain()
                return
            lines = raw.split(b"\r\n")
            parts = lines[0].decode("latin-1").split()
            if len(parts) != 3:
                writer.write(_response("400 Bad Request"))
                await writer.drain()
                return
            method, target, _version = parts
            headers: Dict[str, str] = {}
            for line in lines[1:]:
                name, sep, value = line.partition(b":")
                if sep:
                    headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
            target_parts = urlsplit(target)
            path, query = unquote(target_parts.path) or "/", target_parts.query

            token_from_url = False
            refusal = self.console.check_owner(writer)
            if refusal is None:
                refusal, token_from_url = self.guard.check(path, query, headers)
            if refusal is not None:
                self.console.on_refused(refusal, writer.get_extra_info("peername"))
                writer.write(_response(refusal.status, f"pydebug_hook: refused: {refusal.reason}\n".encode()))
                await writer.drain()
                return
            if method != "GET":
                writer.write(_response("405 Method Not Allowed"))
                await writer.drain()
                return
            if token_from_url and path == "/":
                # Trade the token in the URL for a cookie, so that the page's own requests
                # (static files, /frame-data, the WebSocket) carry it; the address bar
                # loses it too.
                writer.write(_response("303 See Other", b"", ("Location: /", f"Set-Cookie: {self.guard.set_cookie_header()}")))
                await writer.drain()
                return

            encoding = headers.get("accept-encoding", "")
            if path == "/":
                await self._serve_index(writer, encoding)
            elif path == "/frame-data":
                await self._serve_frame_data(writer, encoding)
            elif path.startswith("/static/"):
                await self._serve_static(writer, path[len("/static/") :], encoding)
            elif path == "/ws":
                self.clients += 1
                self.console.on_clients(self.clients)
                try:
                    await self._serve_websocket(reader, writer, headers)
                finally:
                    self.clients -= 1
                    self.console.on_clients(self.clients)
            else:
                writer.write(_response("404 Not Found"))
                await writer.drain()

    return GuardedServer


def _quiet(loop: asyncio.AbstractEventLoop, context: Dict[str, Any]) -> None:
    """Our loop's exception handler: asyncio's default logs through the host's logging."""


class WebConsole:
    """The file-like object pdb reads commands from and writes output to.

    Commands arrive from the page's WebSocket; output goes to the page's console history,
    published with the current frame's data for the page to fetch.
    """

    encoding = "utf-8"

    def __init__(self, owner_check: bool, wait_timeout: Optional[float], on_event: Callable[[str, Any], None]) -> None:
        from web_pdb.buffer import ThreadSafeBuffer

        self.frame_data = ThreadSafeBuffer()
        self.input_queue: queue.Queue[str] = queue.Queue()
        self.debugger: Optional[Pdb] = None
        self.owner_check = owner_check
        self.wait_timeout = wait_timeout
        self.on_event = on_event  # ("clients", n) / ("refused", (Refusal, peer)) / ("error", exc)
        self.clients = 0
        self._alone_since = time.monotonic()  # when the last page went away (or the start)
        self._history = ""
        self._snapshot: Dict[str, Any] = {
            "dirname": "", "filename": "", "file_listing": "No data available", "current_line": -1,
            "breakpoints": [], "globals": "No data available", "locals": "No data available",
        }
        self._abort = threading.Event()
        self.end_command: Optional[str] = None  # what readline answers once the session must end
        self.end_reason: Optional[str] = None
        self.timed_out = False  # ended by IPDB_WAIT_TIMEOUT, with no page connected
        self._server: Any = None
        self._thread: Optional[threading.Thread] = None
        self._publish()

    # -- serving -----------------------------------------------------------------

    def start(self, host: str, ports: Iterable[int], make_guard: Callable[[int], Guard]) -> int:
        """Serve on the first port of *ports* that can be bound; returns it."""
        server_class = _server_class()
        tried = []
        for port in ports:
            tried.append(port)
            server = server_class(host, port, self, make_guard(port))
            started = threading.Event()
            bound = []

            def on_started(_name: str, real_port: int, started=started, bound=bound) -> None:
                bound.append(real_port)
                started.set()

            thread = threading.Thread(target=self._serve, args=(server, on_started, started), name=f"pydebug_hook-web-{port}", daemon=True)
            thread.start()
            if not started.wait(_START_TIMEOUT):
                # web-pdb resolves the bound address's name before it reports; a resolver
                # that hangs must not hang the program forever.
                self._abort.set()
                server.stop()
                raise SessionError(f"web mode: the server on {host}:{port} did not start within {_START_TIMEOUT:g}s")
            if bound and server.failure is None:
                self._server, self._thread = server, thread
                return bound[0]
            thread.join()
            failure = server.failure
            if isinstance(failure, OSError) and failure.errno in (errno.EADDRINUSE, errno.EACCES):
                continue
            raise SessionError(f"web mode cannot serve on {host}:{port}: {failure}")
        span = f"{tried[0]}-{tried[-1]}" if len(tried) > 1 else str(tried[0]) if tried else "none"
        raise SessionError(f"web mode found no free port on {host} (tried {span})")

    def _serve(self, server: Any, on_started: Callable[[str, int], None], started: threading.Event) -> None:
        # Our own thread: it catches everything, or the host's threading.excepthook (ours) would see it.
        try:
            loop = asyncio.new_event_loop()
            loop.set_exception_handler(_quiet)
            try:
                asyncio.set_event_loop(loop)
                loop.run_until_complete(server.run(self._abort.is_set, on_started, lambda: None))
            finally:
                loop.close()
        except BaseException as error:
            server.failure = server.failure or error
        finally:
            started.set()

    def close(self) -> None:
        """Stop serving and wait until the port is closed."""
        self._abort.set()
        server, thread = self._server, self._thread
        if server is not None:
            server.stop()
        if thread is not None and thread is not threading.current_thread():
            thread.join(10)

    @property
    def closed(self) -> bool:
        return self._abort.is_set()

    # -- events from the server thread --------------------------------------------

    def check_owner(self, writer: Any) -> Optional[Refusal]:
        if not self.owner_check:
            return None
        why = stranger(writer.get_extra_info("peername"), writer.get_extra_info("sockname"))
        return None if why is None else Refusal("403 Forbidden", why, "user")

    def on_clients(self, count: int) -> None:
        self.clients = count
        if count == 0:
            self._alone_since = time.monotonic()
        self.on_event("clients", count)

    def on_refused(self, refusal: Refusal, peer: Any) -> None:
        self.on_event("refused", (refusal, peer))

    def on_server_error(self, error: BaseException) -> None:
        self.on_event("error", error)

    # -- ending --------------------------------------------------------------------

    def end(self, command: str, reason: str) -> None:
        """Make the session end at the next prompt (from any thread or a signal handler)."""
        if self.end_command is None:
            self.end_command, self.end_reason = command, reason

    # -- the file interface pdb uses ------------------------------------------------

    def readline(self) -> str:
        self._refresh()
        while self.end_command is None:
            try:
                line = self.input_queue.get(timeout=0.1)
            except queue.Empty:
                self._check_wait()
                continue
            except KeyboardInterrupt:
                # pdb would swallow it at its prompt; here nobody at the terminal has a
                # prompt, and Ctrl-C there means "stop waiting".
                self.end("c\n", CTRL_C)
                continue
            self.write(line if line.endswith("\n") else line + "\n")
            return line
        self.write(f"*** {self.end_reason} ***\n")
        return self.end_command

    read = readline

    def _check_wait(self) -> None:
        if self.wait_timeout is None or self.clients:
            return
        if time.monotonic() - self._alone_since >= self.wait_timeout:
            self.timed_out = self.end_command is None
            self.end("c\n", f"no browser connected for {duration(self.wait_timeout)}: the program goes on")

    def write(self, data: str) -> int:
        self._history += data
        self._publish()
        return len(data)

    writeline = write

    def flush(self) -> None:
        """Publish the current frame, and give a connected page up to a second to fetch
        it (so that a last message before the session ends is seen)."""
        self._refresh()
        deadline = time.monotonic() + 1.0
        while self.clients and self.frame_data.is_dirty and time.monotonic() < deadline and not self.closed:
            time.sleep(0.02)

    def isatty(self) -> bool:
        return False

    def _refresh(self) -> None:
        debugger = self.debugger
        if debugger is not None and getattr(debugger, "curframe", None) is not None:
            try:
                self._snapshot = debugger.get_current_frame_data()
            except Exception:
                pass  # no source (a frame of ``python -c``), or an object whose repr fails
        self._publish()

    def _publish(self) -> None:
        data = dict(self._snapshot)
        data["console_history"] = self._history
        self.frame_data.contents = data
        server = self._server
        if server is not None:
            server.broadcast("ping")  # the page fetches /frame-data when pinged


def _debugger_class() -> Any:
    from web_pdb import WebPdb

    class WebDebugger(WebPdb):
        """web-pdb's debugger on our console.

        ``WebPdb.__init__`` is not called: it would start web-pdb's own server (no guard,
        no port fallback) and could patch the process's std streams.
        """

        def __init__(self, console: WebConsole, live: bool, on_end: Callable[[], None]) -> None:
            # nosigint: pdb's ``continue`` would install its SIGINT handler in the host for good.
            Pdb.__init__(self, stdin=console, stdout=console, nosigint=True, skip=pdb_policy.SKIP)
            self.console = console
            self._backup = []  # WebPdb.do_quit restores std streams from here: none were patched
            self._live = live
            self._on_end = on_end
            console.debugger = self

        def do_quit(self, arg: str) -> Any:
            # WebPdb's would close the server here and say "Aborting program"; the
            # program does not abort, and the server is closed when the session ends.
            return Pdb.do_quit(self, arg)

        do_q = do_exit = do_quit

        # A live breakpoint's c and q (a post-mortem's are core/pdb_policy's, set on the
        # instance by make_debugger).
        def set_continue(self) -> None:
            # Once the page is gone nobody could answer a later stop: continuing ends it.
            self.clear_all_breaks()
            Bdb.set_continue(self)
            self._on_end()

        def set_quit(self) -> None:
            Bdb.set_quit(self)
            self._on_end()

        def interaction(self, frame: Any, traceback: Any) -> Any:
            try:
                return WebPdb.interaction(self, frame, traceback)
            except KeyboardInterrupt:
                if self._live:  # a post-mortem's run() sees it itself
                    self._on_end()
                raise

        def dispatch_return(self, frame: Any, arg: Any) -> Any:
            result = Bdb.dispatch_return(self, frame, arg)
            if self._live and frame.f_back is None:
                self._on_end()  # the traced thread finished
            return result

        @staticmethod
        def _get_repr(obj: Any, pretty: bool = False, indent: int = 1) -> str:
            try:
                text = WebPdb._get_repr(obj, pretty, indent)
            except Exception as error:  # a user object whose repr raises must not break the page
                return f"<repr failed: {type(error).__name__}: {error}>"
            return text if len(text) <= _REPR_LIMIT else text[: _REPR_LIMIT - 3] + "..."

    return WebDebugger


def make_debugger(console: WebConsole, live: bool, on_end: Callable[[], None]) -> Any:
    debugger = _debugger_class()(console, live, on_end)
    return debugger if live else pdb_policy.post_mortem(debugger)
