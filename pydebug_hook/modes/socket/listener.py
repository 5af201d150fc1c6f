"""A Unix-socket listener that only its owner can use: 0600 from the moment its path
exists, never replacing anything but a stale socket of ours, every peer checked."""

import array
import errno
import os
import socket
import stat

from ...core.files import file_kind, probe
from ...core.values import Value

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Optional, Tuple

MAX_PATH_BYTES = 107
NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)  # a host that restored SIGPIPE must not die of it
# struct ucred: pid, uid, gid, three C ints.  Read with array rather than struct: socket
# imports array already, struct would load one more extension module on a session's way.
_UCRED_SIZE = 3 * array.array("i").itemsize


class PathUnusable(Exception):
    """The wanted path cannot be ours; the message says why, in a few words."""


class Peer(Value):
    """The credentials of the process at the other end of a connection."""

    __slots__ = ("pid", "uid", "gid")  # noqa: RUF023 -- the fields' order

    def __init__(self, pid: int, uid: int, gid: int) -> None:
        self.pid = pid
        self.uid = uid
        self.gid = gid


def peer_of(conn: socket.socket) -> "Optional[Peer]":
    """The credentials of the process at the other end, as of ``connect``."""
    try:
        raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED_SIZE)
    except (OSError, AttributeError):  # not Linux, or the peer is gone
        return None
    return Peer(*array.array("i", raw))


def peer_allowed(peer: "Optional[Peer]") -> bool:
    return peer is not None and peer.uid in (os.getuid(), 0)


def examine(path: str) -> "Tuple[str, str]":
    """What occupies *path*: ``("stale", why)`` for our own dead socket, which may be
    replaced; ``("free", "")`` when nothing is there; ``("taken", why)`` otherwise."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "free", ""
    except OSError as exc:
        return "taken", f"cannot inspect it ({exc.strerror})"
    kind = file_kind(st.st_mode)
    if kind != "socket":
        return "taken", f"it is a {kind} of uid {st.st_uid}, left untouched"
    if st.st_uid != os.getuid():
        return "taken", f"it is a socket of another user (uid {st.st_uid}), left untouched"
    state = probe(path)
    if state == "live":
        return "taken", "another live session (or program) listens on it"
    if state == "unknown":
        return "taken", "it is a socket whose state cannot be told, left untouched"
    return "stale", "a stale socket of ours that nobody answers"


def _remove_stale(path: str) -> None:
    """Unlink *path* if it is still a socket of ours (re-checked just before)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISSOCK(st.st_mode) and st.st_uid == os.getuid():
        os.unlink(path)


def _bind_hidden(directory: str) -> "Tuple[socket.socket, str, str]":
    """A listening socket bound inside a new private directory in *directory*:
    ``(sock, private_dir, name_inside)``, the name already 0600."""
    # What tempfile.mkdtemp does (a new 0700 directory of ours, never an existing one),
    # without importing tempfile on the way to a waiting session.
    while True:
        private = os.path.join(directory, f".pydebug_hook-{os.urandom(6).hex()}")
        try:
            os.mkdir(private, 0o700)
            break
        except FileExistsError:
            continue
    inside = os.path.join(private, "s")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if len(os.fsencode(inside)) <= MAX_PATH_BYTES:
            sock.bind(inside)
        else:
            # The temporary name is longer than the target: bind through the
            # directory's descriptor, whose /proc path is short.
            fd = os.open(private, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
            try:
                sock.bind(f"/proc/self/fd/{fd}/s")
            finally:
                os.close(fd)
        os.chmod(inside, 0o600)
        # Listen before the name is public: a prober must never see a socket that
        # refuses connections and take it for a stale one.
        sock.listen(8)
    except BaseException:
        sock.close()
        _discard(private, inside)
        raise
    return sock, private, inside


def _discard(private: str, inside: str) -> None:
    for remove, target in ((os.unlink, inside), (os.rmdir, private)):
        try:
            remove(target)
        except OSError:
            pass


def bind_private(path: str) -> "Tuple[socket.socket, Optional[str]]":
    """Listen on *path* (mode 0600 from birth).  Returns ``(sock, note)`` where *note*
    says that a stale socket was replaced.  Raises :class:`PathUnusable`."""
    size = len(os.fsencode(path))
    if size > MAX_PATH_BYTES:
        raise PathUnusable(f"it is {size} bytes long, and a Unix socket path holds at most {MAX_PATH_BYTES}")
    directory = os.path.dirname(path) or "."
    note = None
    for _ in range(2):
        try:
            sock, private, inside = _bind_hidden(directory)
        except FileNotFoundError:
            raise PathUnusable(f"its directory {directory} does not exist") from None
        except PermissionError:
            raise PathUnusable(f"its directory {directory} is not writable") from None
        except OSError as exc:
            raise PathUnusable(f"cannot create a socket in {directory} ({exc.strerror or exc})") from None
        try:
            os.link(inside, path)
            return sock, note
        except FileExistsError:
            sock.close()
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.EPERM, errno.EACCES):
                raise PathUnusable(f"cannot create it ({exc.strerror})") from None
            raise PathUnusable(f"cannot create it ({exc.strerror or exc})") from None
        finally:
            _discard(private, inside)
        verdict, why = examine(path)
        if verdict == "taken":
            raise PathUnusable(why)
        if verdict == "stale":
            _remove_stale(path)
            note = f"replaced {why} at {path}"
    raise PathUnusable("another process keeps taking it")


class Listener:
    """A bound, listening, private socket; :meth:`close` unlinks its path only if the
    path still names our socket and we are the process that created it (not a fork)."""

    def __init__(self, sock: socket.socket, path: str) -> None:
        self.sock = sock
        self.path = path
        self.pid = os.getpid()
        try:
            st = os.lstat(path)
            self._identity: Optional[Tuple[int, int]] = (st.st_dev, st.st_ino)
        except OSError:
            self._identity = None
        sock.setblocking(False)  # accept after poll must not hang if the peer gave up

    @classmethod
    def open(cls, path: str) -> "Tuple[Listener, Optional[str]]":
        sock, note = bind_private(path)
        return cls(sock, path), note

    def fileno(self) -> int:
        return self.sock.fileno()

    def accept(self) -> "Optional[Tuple[socket.socket, Optional[Peer]]]":
        try:
            conn, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return None
        conn.settimeout(None)  # blocking, whatever socket.setdefaulttimeout() the host set
        return conn, peer_of(conn)

    def forget(self) -> None:
        """In a forked child: close our copy of the socket, leave the path to the parent."""
        try:
            self.sock.close()
        except OSError:
            pass
        self._identity = None

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        if self._identity is None or os.getpid() != self.pid:
            return
        identity, self._identity = self._identity, None
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == identity:
                os.unlink(self.path)
        except OSError:
            pass
