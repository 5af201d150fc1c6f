"""Which terminal a console session would use (stdin's, descriptor 0's, the controlling
one), what using it takes, and what stops a background process that reads it."""

import os
import stat
import sys

from . import files, proc

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Optional

DEV_TTY = "/dev/tty"


def stdin_fd() -> int:
    """The file descriptor behind ``sys.stdin``; -1 when it is missing or closed."""
    stream = sys.stdin
    if stream is None:
        return -1
    try:
        if stream.closed:
            return -1
        return stream.fileno()
    except (AttributeError, ValueError, OSError):
        return -1


def _is_tty(fd: int) -> bool:
    try:
        return fd >= 0 and os.isatty(fd)
    except OSError:
        return False


def stdin_is_terminal() -> bool:
    return _is_tty(stdin_fd())


def stdin_is_devnull() -> bool:
    fd = stdin_fd()
    return fd >= 0 and _is_devnull(fd)


def _is_devnull(fd: int) -> bool:
    try:
        st, null = os.fstat(fd), os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == null.st_rdev


def _name(fd: int) -> str:
    try:
        return os.ttyname(fd)
    except OSError:
        return DEV_TTY


class Terminal:
    """A terminal a console session can use, and a descriptor open on it."""

    __slots__ = ("device", "fd", "is_stdin", "name", "owned")

    def __init__(self, fd: int, device: int, name: str, is_stdin: bool, owned: bool = False) -> None:
        self.fd = fd
        self.device = device  # st_rdev: the same for every process on this terminal
        self.name = name  # /dev/pts/3
        self.is_stdin = is_stdin  # sys.stdin is on it: the session uses sys.stdin / sys.stdout as they are
        self.owned = owned  # fd was opened here: close() closes it

    def __repr__(self) -> str:
        return f"Terminal(fd={self.fd}, name={self.name!r}, is_stdin={self.is_stdin}, owned={self.owned})"

    def background(self) -> bool:
        """Whether reading it would stop this process (SIGTTIN): it is our controlling
        terminal and our process group is not its foreground group."""
        try:
            return os.tcgetpgrp(self.fd) != os.getpgrp()
        except OSError:  # ENOTTY: not our controlling terminal, reading it stops nobody
            return False

    def writing_stops_us(self) -> bool:
        """Whether writing to it would stop this process (SIGTTOU): a background process
        on a terminal that has ``stty tostop`` set."""
        if not self.background():
            return False
        try:
            import termios

            return bool(termios.tcgetattr(self.fd)[3] & termios.TOSTOP)
        except Exception:
            return True  # cannot tell: do not risk being stopped

    def carries(self, fd: int) -> bool:
        """Whether descriptor *fd* is open on this terminal."""
        try:
            return _is_tty(fd) and os.fstat(fd).st_rdev == self.device
        except OSError:
            return False

    def close(self) -> None:
        if self.owned:
            fd, self.fd = self.fd, -1
            files.close_quietly(fd)


def _terminal_on(fd: int, *, is_stdin: bool, owned: bool = False) -> Terminal:
    return Terminal(fd, os.fstat(fd).st_rdev, _name(fd), is_stdin, owned)


def _controlling_device() -> "Optional[int]":
    """The device number of our controlling terminal (``tty_nr`` in ``/proc/self/stat``):
    ``/dev/tty`` itself has a device number of its own (5, 0), the same for every
    terminal, so it cannot be the key that processes on one terminal share."""
    tty_nr = proc.tty_nr()
    if tty_nr == 0:
        return None
    # The kernel's encoding (new_encode_dev): minor's low byte, major, minor's high bits.
    major, minor = (tty_nr >> 8) & 0xFFF, (tty_nr & 0xFF) | ((tty_nr >> 12) & 0xFFF00)
    return os.makedev(major, minor)


def _name_of(device: int) -> str:
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.fstat(fd).st_rdev == device:
                return os.ttyname(fd)
        except OSError:
            continue
    if os.major(device) in range(136, 144):  # Unix98 pseudo-terminals
        return f"/dev/pts/{(os.major(device) - 136) * 256 + os.minor(device)}"
    return DEV_TTY


def _ignores_hangup() -> bool:
    import signal

    try:
        return signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    except (AttributeError, ValueError):
        return False


def controlling_terminal() -> "Optional[Terminal]":
    """Our controlling terminal (``/dev/tty``), unless we ignore SIGHUP (``nohup``: meant
    to outlive the terminal) or have none (a daemon, a batch job, a new session)."""
    if _ignores_hangup():
        return None
    try:
        tty = os.open(DEV_TTY, os.O_RDWR | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError:  # ENXIO: no controlling terminal
        return None
    device = _controlling_device()
    if device is None:
        os.close(tty)
        return None
    return Terminal(tty, device, _name_of(device), is_stdin=False, owned=True)


def console_terminal() -> "Optional[Terminal]":
    """The terminal a console session of this process would use, or None.

    Close the result when done (it may hold a descriptor opened on ``/dev/tty``).
    """
    fd = stdin_fd()
    if _is_tty(fd):
        return _terminal_on(fd, is_stdin=True)
    if fd < 0 or not _is_devnull(fd):
        # Closed on purpose (`<&-`), or a pipe or a file: the user gave the session its
        # input.
        return None
    # stdin is /dev/null: the terminal the process was started from, if it still has
    # one: its descriptor 0 (multiprocessing replaces only sys.stdin in its children),
    # else its controlling terminal (the shell gives `&` jobs /dev/null without job
    # control), unless it ignores SIGHUP (nohup: meant to outlive the terminal).
    if fd != 0 and _is_tty(0):
        return _terminal_on(0, is_stdin=False)
    return controlling_terminal()


def _fd_of(stream: object) -> int:
    try:
        return stream.fileno()  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return -1


class StreamsOn:
    """``sys.stdin`` / ``sys.stdout`` on *terminal* for the duration of a console
    session, each where it is not already on that terminal: a worker whose stdin is
    /dev/null, a process whose output a parent captures or a file receives (the
    debugger must never prompt into a captured stdout).  The program's own streams are
    put back afterwards, untouched."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.saved = None
        self.opened = []

    def __enter__(self) -> "StreamsOn":
        reader = writer = None
        fd = self.terminal.fd
        if not (self.terminal.is_stdin or self.terminal.carries(_fd_of(sys.stdin))):
            reader = open(fd, "r", encoding="utf-8", errors="replace", closefd=False)
        if not self.terminal.carries(_fd_of(sys.stdout)):
            writer = open(fd, "w", encoding="utf-8", errors="replace", closefd=False, buffering=1)
        if reader is None and writer is None:
            return self
        self.saved = (sys.stdin, sys.stdout)
        self.opened = [s for s in (reader, writer) if s is not None]
        if reader is not None:
            sys.stdin = reader
        if writer is not None:
            try:
                sys.stdout.flush()  # what the program printed comes first, where it goes
            except Exception:
                pass
            sys.stdout = writer
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is None:
            return
        sys.stdin, sys.stdout = self.saved
        self.saved = None
        for stream in self.opened:
            try:
                stream.close()
            except Exception:
                pass
        self.opened = []
