"""debugpy, driven for one dap session: the only module that knows its internals.

debugpy's own ``listen()`` cannot serve us as it is: it starts an adapter process that
any local user can connect to, it can be called once per process, and it traces every
thread of the program.  So debugpy's debugger (pydevd) is started here in-process, the
way ``listen(in_process_debug_adapter=True)`` does it, with three differences:

* it accepts IDE connections on a socket that we bound (:class:`Listener`), whose
  ``accept`` closes connections of other users before pydevd reads a byte;
* it traces only the thread of the session (a post-mortem needs no tracing at all; a
  live breakpoint steps in its own thread), so the rest of the program runs untraced;
* it is stopped at the end of the session (``pydevd.stoptrace``): port closed, threads
  gone, tracing off, and a later session in the same process starts afresh.

The public API does the rest: ``wait_for_client`` (and its ``cancel``),
``is_client_connected``, ``trigger_exception_handler``.  ``setup.cfg`` pins debugpy to
1.8.x; :func:`load` checks that the internals used here exist, so another version fails
with one line instead of a hang.
"""

import errno
import os
import socket
import sys
import threading
from types import FrameType, TracebackType
from typing import Any, Callable, Iterable, Optional, Tuple

from ...core import pdb_policy
from ...core.session import SessionError

SUPPORTED = "1.8"
# Read by pydevd when it is imported: without it pydevd warns on stderr about frozen
# modules (breakpoints in the standard library), which a post-mortem does not need.
_QUIET_IMPORT = {"PYDEVD_DISABLE_FILE_VALIDATION": "1"}

Check = Callable[[socket.socket], Optional[str]]  # an accepted connection -> why it is refused, or None


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("debugpy")
    except Exception:
        return "?"


def load() -> None:
    """Import debugpy's debugger, undoing what the import does to the process; one
    :class:`SessionError` line when it is missing or not the version we know."""
    if "pydevd" not in sys.modules or "debugpy.server.api" not in sys.modules:
        _import()
    import pydevd

    if pydevd.get_global_debugger() is not None:
        # Started under debugpy (an IDE's launch, debugpy.listen): that debugger already
        # breaks on uncaught exceptions, and taking it over would end its session.
        raise SessionError("this process is already being debugged through debugpy: dap mode leaves it to that debugger")


def _import() -> None:
    """The import, and the check that what we call is there."""
    saved_env = {name: os.environ.get(name) for name in (*_QUIET_IMPORT, "PYDEVD_USE_FRAME_EVAL")}
    saved_hook = sys.breakpointhook
    os.environ.update(_QUIET_IMPORT)
    try:
        import debugpy
        import debugpy.server.api
        import pydevd
    except Exception as error:
        raise SessionError(f"dap mode needs debugpy {SUPPORTED}.x, which could not be imported ({type(error).__name__}: {error})") from None
    finally:
        # debugpy points builtins.breakpoint() at itself and sets variables that every
        # child process would inherit; the program keeps its own.
        sys.breakpointhook = saved_hook
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    missing = [
        name
        for name, owner in (
            ("settrace", pydevd),
            ("get_global_debugger", pydevd),
            ("stoptrace", pydevd),
            ("add_dap_messages_listener", pydevd),
            ("create_server_socket", pydevd),
            ("_wait_for_attach", pydevd),
            ("is_client_connected", debugpy),
            ("trigger_exception_handler", debugpy),
        )
        if not hasattr(owner, name)
    ]
    if missing:
        raise SessionError(
            f"debugpy {_version()} is not the {SUPPORTED}.x this pydebug-hook was built for "
            f"(missing {', '.join(missing)}); pip install 'debugpy>={SUPPORTED}.22,<1.9'"
        )


def bind(host: str, ports: Iterable[int]) -> Tuple[socket.socket, int]:
    """A listening socket on the first port of *ports* that is free on *host*."""
    try:
        infos = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as error:
        raise SessionError(f"dap mode cannot listen on {host!r}: {error}") from None
    family = infos[0][0]
    address = infos[0][4]
    tried = []
    for port in ports:
        tried.append(port)
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free
            sock.bind((address[0], port, *address[2:]))
            sock.listen(4)
            return sock, port
        except OSError as error:
            sock.close()
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                continue
            raise SessionError(f"dap mode cannot listen on {host}:{port}: {error}") from None
    span = f"{tried[0]}-{tried[-1]}" if len(tried) > 1 else str(tried[0]) if tried else "none"
    raise SessionError(f"dap mode found no free port on {host} (tried {span})")


class Listener:
    """Our bound socket, handed to pydevd in place of the one it would create: the
    methods its connection thread calls, with ``accept`` keeping out refused peers."""

    def __init__(self, sock: socket.socket, check: Optional[Check], on_refused: Callable[[str, Any], None], on_accepted: Callable[[], None]) -> None:
        self.sock = sock
        self.check = check
        self.on_refused = on_refused
        self.on_accepted = on_accepted
        self.on_lost: Callable[[], None] = lambda: None  # the IDE's connection ended
        self.connections: list = []

    def listen(self, backlog: int = 1) -> None:
        pass  # listening since bind(); pydevd calls this before every accept

    def accept(self) -> Tuple[socket.socket, Any]:
        while True:
            conn, peer = self.sock.accept()  # raises once closed: pydevd's thread then ends
            why = None
            if self.check is not None:
                try:
                    why = self.check(conn)
                except Exception as error:
                    why = f"could not check who connected ({type(error).__name__})"
            if why is None:
                self.on_accepted()
                wrapped = _Connection.wrap(conn, lambda: self.on_lost())
                self.connections = [c for c in self.connections if c.fileno() >= 0] + [wrapped]
                return wrapped, peer
            try:
                conn.close()
            finally:
                self.on_refused(why, peer)

    def getsockname(self) -> Any:
        return self.sock.getsockname()

    def settimeout(self, value: Optional[float]) -> None:
        self.sock.settimeout(value)

    def close(self) -> None:
        """Close the port and every IDE connection: the IDE sees the session end even
        where pydevd would leave a connection open."""
        for sock in [self.sock, *self.connections]:
            try:
                # Wakes a thread blocked in accept() or recv() (close alone does not, on Linux).
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class _Connection(socket.socket):
    """An accepted IDE connection that says when it ends: pydevd, told to keep waiting
    for the next IDE, does not (and would keep the thread stopped for an IDE that is gone)."""

    on_end: Callable[[], None]

    @classmethod
    def wrap(cls, conn: socket.socket, on_end: Callable[[], None]) -> "_Connection":
        wrapped = cls(conn.family, conn.type, conn.proto, fileno=conn.detach())
        wrapped.on_end = on_end
        wrapped._ended = False
        return wrapped

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            try:
                self.on_end()
            except Exception:
                pass

    def recv(self, size: int, *flags: int) -> bytes:  # type: ignore[override]
        try:
            data = super().recv(size, *flags)
        except OSError:
            self._end()
            raise
        if not data:
            self._end()
        return data


class _Either:
    """The *cancel* event pydevd's wait takes: set when *gave_up* is; pydevd also sets it
    itself once the IDE is attached (so each wait gets a new one)."""

    def __init__(self, gave_up: threading.Event) -> None:
        self.gave_up = gave_up
        self.done = False

    def is_set(self) -> bool:
        return self.done or self.gave_up.is_set()

    def set(self) -> None:
        self.done = True


class _CtrlCAfterWait:
    """Ctrl-C during pydevd's wait ends the wait, and reaches the caller as
    ``KeyboardInterrupt`` once pydevd has returned: raised inside pydevd's command
    processing, it can leave a lock of pydevd's half released ("release unlocked lock"
    when the session is then stopped).  Only the main thread gets SIGINT, and only there
    can its handler be swapped; a handler of the program's own is left alone."""

    def __init__(self, wake: threading.Event) -> None:
        self.wake = wake
        self.interrupted = False
        self.previous: Any = None

    def __enter__(self) -> "_CtrlCAfterWait":
        import signal

        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def _on_sigint(self, signum: int, frame: Any) -> None:
        self.interrupted = True
        self.wake.set()

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        if self.interrupted:
            raise KeyboardInterrupt


_start_lock = threading.Lock()


class Debugger:
    """pydevd serving one session on a :class:`Listener`, tracing only the calling thread."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.thread = threading.current_thread()
        self.saved_trace = sys.gettrace()
        self.running = False
        self.resumed_by_ide = threading.Event()  # Continue or Disconnect was asked for
        listener.on_lost = self._connection_lost

    # -- what the IDE does ------------------------------------------------------------

    def before_send(self, message: dict) -> None:
        """pydevd's message listener interface (nothing to do on the way out)."""

    def after_receive(self, message: dict) -> None:
        if message.get("type") == "request" and message.get("command") in ("continue", "disconnect"):
            self.resumed_by_ide.set()

    def _connection_lost(self) -> None:
        """The IDE went away without a Disconnect (killed, network lost): do what pydevd
        does for a Disconnect, so that the stopped thread is released and the session
        waits for the next IDE."""
        try:
            import pydevd
            from _pydevd_bundle.pydevd_api import PyDevdAPI

            py_db = pydevd.get_global_debugger()
            if py_db is not None and self.running:
                PyDevdAPI().request_disconnect(py_db, resume_threads=True)
        except Exception:
            pass

    def start(self) -> None:
        import pydevd
        from _pydevd_bundle import pydevd_constants  # noqa: F401 - vendored by debugpy
        from debugpy.server import api
        from pydevd import SetupHolder

        listener = self.listener
        with _start_lock:
            # pydevd keeps the first session's settings (host, port) for good; each
            # session starts from none.
            SetupHolder.setup = None
            # Frames that are not the program's: never shown in the IDE's stack (the
            # runner's, the decorator's wrapper) nor stopped in or traced.
            hidden = [_package_dir(os.path.join(pdb_policy.PACKAGE_DIR, "__init__.py"))]
            try:
                from debugpy.common.util import hide_debugpy_internals

                if hide_debugpy_internals():
                    import debugpy

                    hidden.append(_package_dir(debugpy.__file__))
            except Exception:
                pass
            # debugpy describes the whole environment (every installed distribution) into
            # a log file when it has one; none is configured: skip tens of milliseconds.
            if getattr(api, "log", None) is not None and api.log.log_dir is None:
                api.ensure_logging.ensured = True
            original = pydevd.create_server_socket
            pydevd.create_server_socket = lambda host, port: listener
            try:
                pydevd.settrace(
                    host=None,
                    port=0,
                    suspend=False,
                    trace_only_current_thread=True,
                    patch_multiprocessing=False,
                    block_until_connected=False,
                    wait_for_ready_to_run=False,
                    notify_stdin=False,
                    dont_trace_start_patterns=tuple(hidden),
                    # and the `pydebug-hook` command's script (`pydebug-hook run` below the program)
                    dont_trace_end_patterns=("debugpy_launcher.py", os.sep + "pydebug-hook"),
                )
                py_db = pydevd.get_global_debugger()
                if py_db is None:
                    raise SessionError("dap mode: debugpy did not start")
                py_db.add_dap_messages_listener(self)
                py_db.wait_for_server_socket_ready()  # our listener is in pydevd's hands
            finally:
                pydevd.create_server_socket = original
        self.running = True

    def wait_for_client(self, timeout: Optional[float]) -> str:
        """Until an IDE has attached (``"attached"``) or *timeout* seconds went by without
        one (``"timeout"``).  Requests the IDE sends meanwhile are answered from here.

        ``debugpy.wait_for_client()`` with its ``cancel()`` from a timer, without its
        race: a cancel that comes between two of its calls is lost, so the wait is made
        on an event of ours (what ``wait_for_client`` does inside)."""
        import debugpy
        import pydevd

        gave_up = threading.Event()
        timer = None
        if timeout is not None:
            timer = threading.Timer(timeout, gave_up.set)
            timer.daemon = True
            timer.name = "pydebug_hook-dap-timeout"
            timer.start()
        try:
            while not debugpy.is_client_connected():
                if gave_up.is_set():
                    return "timeout"
                with _CtrlCAfterWait(gave_up):
                    pydevd._wait_for_attach(cancel=_Either(gave_up))
        finally:
            if timer is not None:
                timer.cancel()
        return "attached"

    def stop_on_exception(self, exc: Optional[BaseException], tb: TracebackType) -> bool:
        """The IDE stops at the deepest frame of *tb*; returns when it resumes: True when
        the IDE asked for it (Continue, Disconnect), False when it went away."""
        import debugpy

        if exc is None:  # a bare traceback (post_mortem(tb)): the IDE needs an exception to show
            exc = Exception("post-mortem of a traceback")
        self.resumed_by_ide.clear()
        debugpy.trigger_exception_handler((type(exc), exc, tb), as_uncaught=False)
        return self.resumed_by_ide.is_set()

    def stop_at(self, frame: FrameType, on_end: Callable[[], None]) -> None:
        """A live breakpoint: the IDE stops at the next line of *frame* once we have
        returned; stepping traces this thread.  Continue, Disconnect or the IDE going
        away ends the session: *on_end* runs in this thread (only it can untrace itself)
        as soon as the thread is released."""
        import pydevd

        py_db = pydevd.get_global_debugger()
        thread = self.thread
        original = py_db.do_wait_suspend
        lost = threading.Event()
        self.listener.on_lost = lambda: (lost.set(), self._connection_lost())

        def do_wait_suspend(suspended: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(suspended, *args, **kwargs)
            if suspended is thread and (self.resumed_by_ide.is_set() and not _stepping(suspended) or lost.is_set()):
                on_end()
            return result

        self.resumed_by_ide.clear()
        py_db.do_wait_suspend = do_wait_suspend
        pydevd.settrace(suspend=True, trace_only_current_thread=True, stop_at_frame=frame, patch_multiprocessing=False, notify_stdin=False)

    def stop(self) -> None:
        """End pydevd: the IDE's connection and our port closed, its threads gone, this
        thread untraced (the program's own tracer, if it had one, put back)."""
        if not self.running:
            self.listener.close()
            return
        self.running = False
        import pydevd

        try:
            pydevd.stoptrace()
        finally:
            self.listener.close()
            if self.saved_trace is not None and threading.current_thread() is self.thread:
                sys.settrace(self.saved_trace)

    def close_port(self) -> None:
        """Only the port (from a signal handler, where pydevd's locks may be held)."""
        self.listener.close()


def _package_dir(module_file: str) -> str:
    from pydevd_file_utils import absolute_path

    return os.path.join(os.path.dirname(absolute_path(module_file)), "")


def _stepping(thread: threading.Thread) -> bool:
    """Whether pydevd resumed *thread* to step (not to run on)."""
    info = getattr(thread, "additional_info", None)
    return info is not None and getattr(info, "pydev_step_cmd", -1) not in (-1, None)
