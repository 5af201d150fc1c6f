"""The socket endpoint of one session: its listener, its record for ``ls``, its client's
channel, the wait for a client, and their removal however the session or the program
ends."""

import os
import select
import socket
import time

from ...core import cleanup, notice, registry
from ...core.session import Session, SessionError
from .listener import NOSIGNAL, Listener, Peer, peer_allowed

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Optional, Tuple

    from .channel import Channel

# What a wait for a client ends with.
ATTACHED = "attached"
TIMEOUT = "timeout"
WOKEN = "woken"  # the wake descriptor became readable (the terminal was granted)
INTERRUPTED = "interrupted"  # Ctrl-C on the program's terminal
CLOSED = "closed"  # the server was closed under us (a signal, interpreter exit)

# The longest single poll: poll() takes an int of milliseconds (about 24.8 days at most),
# and IPDB_WAIT_TIMEOUT may be any number of seconds; a longer wait is several polls.
POLL_SLICE_S = 3600.0


def _send_and_close(conn: socket.socket, text: str) -> None:
    """Send a refusal and close so that the client reads it.  Closing a Unix socket
    with unread input resets the connection, and a client like nc then drops what it
    had received: so end our side, discard what the client sent until it closes, and
    give up after half a second (a refused client must not stall the session)."""
    try:
        conn.settimeout(0.5)
        conn.sendall(text.encode("utf-8", "replace"), NOSIGNAL)
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline and conn.recv(4096):
            pass
    except OSError:
        pass
    finally:
        conn.close()


class Endpoint(cleanup.Resource):
    def __init__(self, session: Session, listener: Listener, wake_fd: "Optional[int]" = None) -> None:
        super().__init__()
        self.session = session
        self.listener = listener
        self.wake_fd = wake_fd
        self.timeout = session.settings.wait_timeout
        # The client's channel: made when the first client attaches (like pdb, its module
        # loads once a client is there).
        self.channel: Optional[Channel] = None
        self.registration: Optional[registry.Registration] = None
        self.peer: Optional[Peer] = None

    @property
    def path(self) -> str:
        return self.listener.path

    def start(self) -> None:
        """Register the session and arrange for the cleanup; call once, right after bind."""
        self.hold()
        try:
            self.registration = registry.register(self.session, self.path)
        except (OSError, SessionError) as exc:
            # The session still works through its socket; only `ls`/`attach RANK` miss it.
            notice.say(f"session not listed for `pydebug-hook ls`: {notice.describe_error(exc)}")

    # -- waiting ------------------------------------------------------------------------

    def _listener_fd(self) -> int:
        return -1 if self.closed else self.listener.fileno()

    def _accept(self) -> "Optional[Tuple[socket.socket, Optional[Peer]]]":
        """The next connection from an allowed peer; refused ones get a line and go."""
        got = self.listener.accept()
        if got is None:
            return None
        conn, peer = got
        if not peer_allowed(peer):
            who = f"uid {peer.uid} (pid {peer.pid})" if peer else "a peer whose credentials cannot be read"
            allowed = "root" if os.getuid() == 0 else f"uid {os.getuid()} and root"
            notice.say(f"refused a connection to {self.path} from {who}: only {allowed} may attach")
            _send_and_close(conn, "pydebug_hook: refused: this debug session belongs to another user\n")
            return None
        return conn, peer

    def _refuse_newcomer(self) -> None:
        """A client is attached: a second one gets one line and is closed."""
        if self.closed:
            return
        got = self._accept()
        if got is not None:
            who = f" (pid {self.peer.pid})" if self.peer else ""
            text = f"pydebug_hook: refused: another client{who} is attached to this session; only one at a time\n"
            _send_and_close(got[0], text)

    def wait_for_client(self) -> str:
        """Block until a client attaches, the wait times out, the wake descriptor is
        readable, or Ctrl-C; IPDB_WAIT_TIMEOUT bounds each wait (the first and the one
        after every detach)."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            while True:
                if self.closed:
                    return CLOSED
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return TIMEOUT
                poller = select.poll()
                poller.register(self.listener.fileno(), select.POLLIN)
                if self.wake_fd is not None:
                    poller.register(self.wake_fd, select.POLLIN)
                slice_ms = None if remaining is None else max(1, int(min(remaining, POLL_SLICE_S) * 1000 + 0.999))
                try:
                    events = dict(poller.poll(slice_ms))
                except (OSError, ValueError):
                    if self.closed:
                        return CLOSED
                    raise
                if self.closed:
                    return CLOSED
                if self.wake_fd is not None and events.get(self.wake_fd):
                    return WOKEN
                if events.get(self.listener.fileno()):
                    got = self._accept()
                    if got is not None:
                        conn, self.peer = got
                        if self.channel is None:
                            from .channel import Channel  # a client is there

                            self.channel = Channel(self._refuse_newcomer, self._listener_fd)
                        self.channel.attach(conn)
                        self._set_state("attached")
                        return ATTACHED
        except KeyboardInterrupt:
            return INTERRUPTED

    @property
    def attached(self) -> bool:
        return self.channel is not None and self.channel.attached

    def detached(self) -> None:
        if self.channel is not None:
            self.channel.drop()
        self._set_state("waiting")

    def _set_state(self, state: str) -> None:
        if self.registration is not None and not self.closed:
            self.registration.update(state=state)

    # -- talking ------------------------------------------------------------------------

    def greet(self) -> None:
        s = self.session
        if s.is_breakpoint:
            how = "c continues the program, q quits it"
        else:
            how = "q or c ends the session and the program goes on"
        self.channel.write(f"pydebug_hook: {s.summary} on {s.where}\n")
        self.channel.write(f"pydebug_hook: {how}; disconnecting detaches (Ctrl-D in pydebug-hook attach)\n")

    # -- ending -------------------------------------------------------------------------

    def finish(self, farewell: "Optional[str]" = None) -> None:
        """Say *farewell* to the client, then close everything."""
        if farewell and not self.closed and self.channel is not None:
            self.channel.write(f"pydebug_hook: {farewell}\n")
        self.close()

    def _release(self) -> None:
        """Disconnect the client, remove socket and record."""
        signum = cleanup.ending_signal()
        if signum is not None and self.attached:  # the launcher tears the job down
            self.channel.write(f"\npydebug_hook: {cleanup.signal_name(signum)}: the process is being ended; the debug session is over\n")
        elif cleanup.left_behind(self.session.thread):
            line = self.session.left_at_exit()
            notice.say(line)
            if self.attached:
                self.channel.write(f"\npydebug_hook: {line}\n")
        if self.channel is not None:
            self.channel.drop()
        self.listener.close()
        if self.registration is not None:
            self.registration.remove()

    def _forget(self) -> None:
        if self.channel is not None:
            self.channel.forget()
        self.listener.forget()
