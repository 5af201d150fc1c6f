"""Opening the files of the runtime directory without trusting them (no link followed, no
pipe waited on, a regular file of ours of a record's size), and removing what a process
that is gone left there."""

import errno
import os
import socket
import stat

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, Dict, Union

    PathLike = Union[str, "os.PathLike[str]"]

# O_NONBLOCK: opening a named pipe must not wait for a writer (it is refused right
# after, by its type); O_NOCTTY: a terminal device must not become ours by being opened.
_SAFE = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
MAX_BYTES = 64 * 1024  # a record or a ticket is a few hundred bytes


class Untrusted(OSError):
    """A path that is not what we would have made; the message says why, in a few words."""


def file_kind(mode: int) -> str:
    """``"socket"``, ``"regular file"``, ``"named pipe"``...: a file type in words."""
    for test, name in (
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISREG, "regular file"),
        (stat.S_ISDIR, "directory"),
        (stat.S_ISLNK, "symbolic link"),
        (stat.S_ISFIFO, "named pipe"),
    ):
        if test(mode):
            return name
    return "device file"


def open_owned(path: "PathLike", flags: int = os.O_RDONLY, mode: int = 0o600) -> int:
    """A descriptor on *path* if it is a regular file of ours; :class:`Untrusted`
    otherwise (a symbolic link gives ``ELOOP``, reported as such)."""
    try:
        fd = os.open(path, flags | _SAFE, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a symbolic link
            raise Untrusted(f"{path} is a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Untrusted(f"{path} is a {file_kind(st.st_mode)}, not a regular file")
        if st.st_uid != os.getuid():
            raise Untrusted(f"{path} belongs to uid {st.st_uid}")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_owned(path: "PathLike", limit: int = MAX_BYTES) -> bytes:
    """The content of *path*, a regular file of ours of at most *limit* bytes."""
    fd = open_owned(path)
    try:
        if os.fstat(fd).st_size > limit:
            raise Untrusted(f"{path} is larger than {limit} bytes")
        chunks = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grew after fstat
            raise Untrusted(f"{path} is larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_json(path: "PathLike", limit: int = MAX_BYTES) -> "Dict[str, Any]":
    """A JSON object read with :func:`read_owned`; ``ValueError`` when it is not one."""
    import json  # readers (ls, attach, a rank's peers) pay for it, not a session's way

    data = json.loads(read_owned(path, limit).decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds no JSON object")  # noqa: TRY004 -- bad content, not a bad argument
    return data


def write_json(path: str, data: "Dict[str, Any]") -> None:
    """*data* as JSON in *path*, written then renamed (a reader, on this host or another,
    never sees half a file), 0600 from the moment it exists.  ``os.open`` rather than
    ``tempfile.mkstemp``: the same ``O_EXCL`` creation without importing tempfile on a
    session's way."""
    tmp = os.path.join(os.path.dirname(path), f".tmp-{os.urandom(6).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json_text(data))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def close_quietly(fd: int) -> None:
    """Close descriptor *fd* unless it is -1, whatever happened to it meanwhile."""
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


def private_dir(path: "PathLike", create: bool = True) -> str:
    """*path* as a directory of ours that nobody else may enter (made 0700 when
    *create* and missing); :class:`Untrusted` when it is anything else, and
    ``FileNotFoundError`` when it is missing and not to be made."""
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not create:
            raise
        try:
            os.mkdir(path, 0o700)
            os.chmod(path, 0o700)  # mkdir's mode passes through the umask
        except FileExistsError:
            pass  # made meanwhile: checked below like any other
        st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise Untrusted(f"{path} is a {file_kind(st.st_mode)}, not a directory")
    if st.st_uid != os.getuid():
        raise Untrusted(f"{path} belongs to uid {st.st_uid}")
    if st.st_mode & 0o077:
        raise Untrusted(f"{path} is open to other users (mode {stat.S_IMODE(st.st_mode):o})")
    return path


def temp_dir() -> str:
    """The directory ``tempfile.gettempdir()`` picks: the first writable one of
    ``TMPDIR``, ``TEMP``, ``TMP``, /tmp, /var/tmp, /usr/tmp and the working directory;
    without importing tempfile (with shutil, random, bz2 and lzma: milliseconds on a
    session's way).  Not cached: the same in every process of the same environment."""
    candidates = [os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")]
    candidates += ["/tmp", "/var/tmp", "/usr/tmp"]
    try:
        candidates.append(os.getcwd())
    except OSError:
        candidates.append(os.curdir)
    effective = os.access in os.supports_effective_ids
    for directory in candidates:
        if not directory:
            continue
        if directory != os.curdir:
            directory = os.path.abspath(directory)
        if os.path.isdir(directory) and os.access(directory, os.W_OK | os.X_OK, effective_ids=effective):
            return directory
    raise FileNotFoundError("no usable temporary directory")


# -- what a process that is gone left behind ------------------------------------------


def probe(path: str) -> str:
    """``"live"`` when a socket is bound at *path*, ``"stale"`` when nothing is bound
    there any more, ``"unknown"`` otherwise.

    Asked without making a connection: a listening session would accept a stream
    connection as its client (and start its wait over).  A datagram socket cannot
    connect to a stream socket: the kernel answers ``EPROTOTYPE`` when one is bound at
    the path, and ``ECONNREFUSED`` when none is."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.connect(path)
        return "live"  # a datagram socket is bound there
    except ConnectionRefusedError:
        return "stale"
    except OSError as exc:
        return "live" if exc.errno == errno.EPROTOTYPE else "unknown"
    finally:
        sock.close()


def remove_if_stale(path: str) -> bool:
    """Unlink *path* when it is a socket of ours that refuses connections, and is still
    the same socket right before the unlink (not one a new session put there meanwhile).
    For the leftovers of a process that is gone (SIGKILL): the caller knows its pid is."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid() or probe(path) != "stale":
        return False
    try:
        again = os.lstat(path)
        if (again.st_dev, again.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISSOCK(again.st_mode):
            return False
        os.unlink(path)
    except OSError:
        return False
    return True


_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def safe_name(text: str) -> str:
    """*text* for a file name: each run of characters other than ASCII letters, digits,
    ``.``, ``_`` and ``-`` becomes one ``_`` (``re.sub(r"[^A-Za-z0-9._-]+", "_", text)``,
    without importing re on a rank's way to its session: a test holds the two equal)."""
    out = []
    in_run = False  # inside a run of characters replaced by one "_"
    for char in text:
        if char in _NAME_CHARS:
            out.append(char)
            in_run = False
        elif not in_run:
            out.append("_")
            in_run = True
    return "".join(out)


try:
    from _json import encode_basestring_ascii as _json_string
except ImportError:  # an interpreter without json's C half
    _json_string = None


_FLOAT_MAX = 1.7976931348623157e308


def json_text(value: "Any") -> str:
    """*value* (dicts with string keys, lists, tuples, strings, numbers, booleans, None)
    as the JSON text ``json.dumps`` makes of it.

    Written here rather than imported: ``json`` brings ``re`` and compiles six patterns,
    about 3 ms (a quarter of one ``python -c pass``) on the way to every waiting session,
    which only writes a record of a dozen plain fields.  Strings are escaped by json's own
    C function; tests/test_cheap_equivalents.py holds it to ``json.dumps``.
    """
    if _json_string is None:
        import json

        return json.dumps(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not -_FLOAT_MAX <= value <= _FLOAT_MAX:  # NaN and the infinities are not JSON
            raise ValueError(f"{value!r} is not JSON")
        return float.__repr__(value)
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"keys must be strings, not {type(key).__name__}")
            items.append(f"{_json_string(key)}: {json_text(item)}")
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(json_text(item) for item in value) + "]"
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
