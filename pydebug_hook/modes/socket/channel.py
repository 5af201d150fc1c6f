"""pdb's stdin and stdout over the one client attached to a socket session: writes go out
at once, a client gone is end of input, a second client is refused, and the wire's
control lines are served."""

import io
import select
import socket

from . import wire
from .listener import NOSIGNAL

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Set

    Completer = Callable[[str, str, int, int], List[str]]

_TAIL = 200


def _alive(conn: socket.socket) -> bool:
    """False when the client has closed (its end of file is pending behind the data
    we already read)."""
    try:
        return bool(conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return True
    except OSError:
        return False


class Channel(io.TextIOBase):
    def __init__(self, on_listener_ready: "Callable[[], None]", listener_fd: "Callable[[], int]") -> None:
        super().__init__()
        self._on_listener_ready = on_listener_ready
        self._listener_fd = listener_fd
        self.conn: Optional[socket.socket] = None
        self.framed = False  # the client is ours and reads control lines
        self.broken = False  # a write failed: the client is gone
        self.completer: Optional[Completer] = None
        self.detach_prompts: Set[str] = set()  # at these prompts Ctrl-D detaches
        self._inbuf = b""
        self._tail = ""  # what was written since the last newline: the prompt, at a read

    # -- the client -------------------------------------------------------------------

    @property
    def attached(self) -> bool:
        return self.conn is not None

    def attach(self, conn: socket.socket) -> None:
        self.drop()
        self.conn = conn
        self.framed = self.broken = False
        self._inbuf = b""
        self._tail = ""

    def drop(self) -> None:
        """Disconnect the client (it sees end of file)."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            # Unread input at close resets the connection and the client may lose our
            # last words: read what is there (without waiting), then end both ways
            # (even if a forked child holds a copy of the socket).
            conn.setblocking(False)
            for _ in range(16):
                if not conn.recv(65536):
                    break
        except OSError:
            pass
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()

    def forget(self) -> None:
        """In a forked child: close our copy without disturbing the parent's client."""
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()

    # -- io.TextIOBase ------------------------------------------------------------------

    encoding = "utf-8"
    errors = "replace"

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def flush(self) -> None:
        pass  # nothing is buffered

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            self._tail = (self._tail + text).rpartition("\n")[2][-_TAIL:]
            self._send(text)
        return len(text)

    def readline(self, size: "Optional[int]" = -1) -> str:
        """The client's next line; ``""`` when the client is gone (or sent EOF)."""
        ready_sent = False
        while True:
            if self.broken:
                self.drop()
                self._inbuf = b""
            raw = self._take_line()
            if raw is not None:
                line = raw.decode("utf-8", "replace")
                control = wire.parse(line)
                if control is None:
                    self._tail = ""  # the client's terminal is on a new line now
                    return line  # lines sent before a client closed still run (`printf ... | nc`)
                if self._control(*control):
                    return ""
                continue
            if self.conn is None:
                return ""
            if self.framed and not ready_sent:
                eof = wire.EOF_DETACHES if self._tail in self.detach_prompts else wire.EOF_SENT
                self._send(wire.control(wire.READY, eof))
                ready_sent = True
                continue  # the send may have failed
            self._wait_and_receive()

    # -- internals ----------------------------------------------------------------------

    def _send(self, text: str) -> None:
        if self.conn is None or self.broken:
            return
        try:
            self.conn.sendall(text.encode("utf-8", "replace"), NOSIGNAL)
        except OSError:
            self.broken = True

    def _take_line(self) -> "Optional[bytes]":
        line, sep, rest = self._inbuf.partition(b"\n")
        if not sep:
            return None
        self._inbuf = rest
        return line + b"\n"

    def _wait_and_receive(self) -> None:
        conn = self.conn
        assert conn is not None
        poller = select.poll()  # not select(): the host may hold descriptors above 1024
        poller.register(conn.fileno(), select.POLLIN)
        listener = self._listener_fd()
        if listener >= 0:
            poller.register(listener, select.POLLIN)
        events = dict(poller.poll())
        # The client first: if it left just as a newcomer connected, the newcomer is
        # the next client, not a refused one.
        if events.get(conn.fileno()):
            self._receive(conn)
        if listener >= 0 and events.get(listener) and self.conn is conn and not self.broken and _alive(conn):
            self._on_listener_ready()

    def _receive(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            self._inbuf += data
            return
        # The client closed.  A last line without its newline still counts (`printf q | nc`).
        self.drop()
        if self._inbuf.strip():
            self._inbuf += b"\n"
        else:
            self._inbuf = b""

    def _control(self, word: str, payload: str) -> bool:
        """Serve one control line; True when it means end of input."""
        if word == wire.HELLO:
            self.framed = True
            self._send(wire.control(wire.OK, str(wire.VERSION)))
        elif word == wire.COMPLETE:
            request = wire.load(payload)
            matches: List[str] = []
            if isinstance(request, dict) and self.completer is not None:
                try:
                    matches = self.completer(
                        str(request.get("text", "")),
                        str(request.get("line", "")),
                        int(request.get("begidx", 0)),
                        int(request.get("endidx", 0)),
                    )
                except Exception:  # completion is a nicety: never let it break the session
                    matches = []
            self._send(wire.control(wire.COMPLETIONS, matches))
        elif word == wire.EOF:
            return True
        return False
