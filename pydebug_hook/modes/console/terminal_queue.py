"""The terminal queue: processes sharing one terminal debug on it one at a time, first
failure first; one waiting serves its session on its socket meanwhile.  How (tickets held
with ``flock``, no polling, a crash cannot wedge it): docs/architecture.md."""

import fcntl
import json
import os
import threading

from ...core import cleanup, files, locks, notice, registry
from ...core.session import Session, SessionError
from ...core.terminal import Terminal

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Tuple

TERMINAL_LOCK = "terminal.lock"
SUFFIX = ".ticket"


def queue_dir(device: int) -> str:
    return os.path.join(registry.runtime_dir(), f"tty-{os.major(device)}-{os.minor(device)}")


def _tickets(directory: str) -> "List[str]":
    """The paths of the tickets in *directory*, first failure first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [os.path.join(directory, name) for name in sorted(names) if name.endswith(SUFFIX) and not name.startswith(".")]


def read_ticket(path: str) -> dict:
    try:
        return files.read_json(path)
    except (OSError, ValueError):
        return {}


class Ticket(cleanup.Resource):
    """This process's place in the queue of one terminal; :meth:`close` gives it up."""

    def __init__(self, directory: str, path: str, fd: int) -> None:
        super().__init__()
        self.directory = directory
        self.path = path
        self.fd = fd
        self.terminal_fd = -1  # holding terminal.lock: the terminal is ours
        self.hold()

    @classmethod
    def take(cls, session: Session, terminal: Terminal) -> "Ticket":
        directory = queue_dir(terminal.device)
        name = f"{int(session.failed_at * 1e9):020d}-{session.pid}{SUFFIX}"
        content = json.dumps(
            {"rank": session.rank.rank, "pid": session.pid, "exception": session.summary, "label": session.label}
        ).encode()
        fd = locks.create_held(directory, name, content)
        if fd is None:
            raise SessionError(f"the terminal queue {directory} keeps disappearing")
        return cls(directory, os.path.join(directory, name), fd)

    # -- whose turn -------------------------------------------------------------------

    def earlier(self) -> "List[str]":
        """Tickets ahead of ours that are still held (stale ones are removed)."""
        return [p for p in _tickets(self.directory) if p < self.path and not locks.released(p, blocking=False)]

    def holder(self) -> "Optional[dict]":
        """Who has the terminal (rank, pid): what its holder wrote in ``terminal.lock``,
        else what the first ticket ahead of ours says."""
        data = read_ticket(os.path.join(self.directory, TERMINAL_LOCK))
        if data:
            return data
        for path in self.earlier():
            data = read_ticket(path)
            if data:
                return data
        return None

    def _took_terminal(self, fd: int) -> None:
        """Say in ``terminal.lock`` who has the terminal, for the waiting lines."""
        self.terminal_fd = fd
        try:
            content = os.pread(self.fd, 4096, 0)
            os.ftruncate(fd, 0)
            os.pwrite(fd, content, 0)
        except OSError:
            pass

    def try_now(self) -> bool:
        """Take the terminal if nobody is ahead and it is free; never blocks."""
        if self.earlier():
            return False
        fd = _lock_terminal(self.directory, blocking=False)
        if fd < 0:
            return False
        self._took_terminal(fd)
        return True

    def wait_turn(self, stop: "Callable[[], bool]" = lambda: False) -> int:
        """Block until every earlier ticket is released, then until the terminal is
        free; the descriptor holding ``terminal.lock`` (the caller owns it), or -1 once
        *stop()* says the wait is no longer wanted (checked whenever a lock comes)."""
        while not stop():
            ahead = [p for p in _tickets(self.directory) if p < self.path]
            if not ahead:
                return _lock_terminal(self.directory, blocking=True, stop=stop)
            for path in ahead:
                locks.released(path, blocking=True)
                if stop():
                    break
        return -1

    # -- the end ----------------------------------------------------------------------

    def _release(self) -> None:
        """Leave the queue and the terminal."""
        fd, self.fd = self.fd, -1
        terminal_fd, self.terminal_fd = self.terminal_fd, -1
        if fd >= 0:
            locks.let_go(self.path, fd)
        if terminal_fd >= 0:
            give_back(self.directory, terminal_fd)

    def _forget(self) -> None:
        # A forked child shares our open file descriptions, and with them the locks:
        # its copies must go, or the ticket would stay held as long as the child lives.
        files.close_quietly(self.fd)
        files.close_quietly(self.terminal_fd)
        self.fd = self.terminal_fd = -1


def give_back(directory: str, terminal_fd: int) -> None:
    """Let go of the terminal.  The last one out removes the queue, under the terminal
    lock; whoever opened the lock file meanwhile finds it unlinked and opens it again."""
    if not _tickets(directory):
        locks.unlink(os.path.join(directory, TERMINAL_LOCK))
        try:
            os.rmdir(directory)
        except OSError:
            pass
    files.close_quietly(terminal_fd)


def _lock_terminal(directory: str, blocking: bool, stop: "Callable[[], bool]" = lambda: False) -> int:
    """A descriptor holding ``terminal.lock`` exclusively; -1 if busy (non-blocking) or
    no longer wanted (*stop*: then the queue is not made again)."""
    while not stop():
        locks.mkdir(directory)
        try:
            fd = files.open_owned(os.path.join(directory, TERMINAL_LOCK), os.O_RDWR | os.O_CREAT)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return -1
        except BaseException:
            os.close(fd)
            raise
        if locks.same_file(fd, os.path.join(directory, TERMINAL_LOCK)):
            return fd
        os.close(fd)  # removed by the last user while we waited: take the new one
    return -1


class Waker:
    """A thread that waits for the turn of *ticket* and then makes :attr:`fd` readable.

    The thread blocks in ``flock`` (no CPU).  :meth:`cancel` may come first (a socket
    client ended the session): the thread then gives the terminal back when it gets it,
    and touches none of the pipe's descriptors, which may have been reused.
    """

    def __init__(self, ticket: Ticket) -> None:
        self.ticket = ticket
        self.fd, self._write_fd = os.pipe()
        self._lock = threading.Lock()
        self._cancelled = False
        self.failed: Optional[BaseException] = None
        thread = threading.Thread(target=self._run, name="pydebug_hook-terminal-queue", daemon=True)
        thread.start()

    def _run(self) -> None:
        terminal_fd = -1
        try:
            terminal_fd = self.ticket.wait_turn(stop=lambda: self._cancelled)
        except BaseException as exc:  # our thread: never let anything reach threading.excepthook
            self.failed = exc
        with self._lock:
            if self._cancelled:
                if terminal_fd >= 0:
                    give_back(self.ticket.directory, terminal_fd)
                return
            if terminal_fd >= 0:
                self.ticket._took_terminal(terminal_fd)
            try:
                os.write(self._write_fd, b"!")
            except OSError:
                pass

    def cancel(self) -> None:
        """Idempotent: a second call must not close descriptors that have the pipe's
        numbers again by then (the terminal lock's, say)."""
        with self._lock:
            self._cancelled = True
            fds, self.fd, self._write_fd = (self.fd, self._write_fd), -1, -1
            for fd in fds:
                files.close_quietly(fd)


def _who(data: "Optional[dict]") -> str:
    if not data:
        return "another process"
    return f"rank {data.get('rank', '?')} (pid {data.get('pid', '?')})"


def waiting_line(session: Session, terminal: Terminal, holder: "Optional[dict]") -> "Callable[[str, str], str]":
    """The one line a rank prints while it waits for the terminal."""

    def line(path: str, target: str) -> str:
        return (
            f"{session.who} waits for the terminal {terminal.name}, which {_who(holder)} has;"
            f" meanwhile attach with: pydebug-hook attach {target}  or  nc -U {notice.shell_word(path)}"
        )

    return line


def wait_for_turn(session: Session, terminal: Terminal) -> "Tuple[Optional[Ticket], bool]":
    """Queue for *terminal*; ``(ticket, True)`` once the terminal is ours (the ticket
    holds it until released), ``(None, False)`` when a socket client debugged the
    session to its end while it waited.  Without a usable queue: ``(None, True)``, one
    line saying why, and the session goes ahead on the terminal, not queued."""
    try:
        ticket = Ticket.take(session, terminal)
    except (OSError, SessionError) as exc:
        notice.say(f"no terminal queue ({notice.describe_error(exc)}); other processes on {terminal.name} may interleave")
        return None, True
    try:
        if ticket.try_now():
            return ticket, True
        return _serve_until_turn(session, terminal, ticket)
    except BaseException:
        ticket.close()
        raise


def _serve_until_turn(session: Session, terminal: Terminal, ticket: Ticket) -> "Tuple[Optional[Ticket], bool]":
    from .. import socket as socket_mode  # only while another process has the terminal

    # IPDB_WAIT_TIMEOUT bounds a wait for a client; this is a wait for the terminal.
    queued = session.replace(settings=session.settings.replace(wait_timeout=None))
    waker = Waker(ticket)
    try:
        try:
            outcome = socket_mode.serve(queued, wake_fd=waker.fd, line=waiting_line(session, terminal, ticket.holder()))
        except SessionError as exc:
            # No socket to serve meanwhile: wait for the terminal all the same.
            notice.say(f"{exc}; rank {session.rank.rank} waits for the terminal {terminal.name} without it")
            waker.cancel()
            ticket._took_terminal(ticket.wait_turn())
            return ticket, True
    finally:
        waker.cancel()
    if waker.failed is not None and ticket.terminal_fd < 0:
        raise SessionError(f"waiting for the terminal failed: {notice.describe_error(waker.failed)}")
    if outcome == socket_mode.WOKEN:
        return ticket, True
    ticket.close()
    return None, False
