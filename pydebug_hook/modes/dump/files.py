"""Dump files: where they go, what they are called, what is in them; :func:`save` writes
one (dump mode, and a session nobody attached to), and the command lists them."""

import errno
import json
import os
import re
import signal
import stat
import struct
import threading
import time
import traceback
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..._version import __version__
from ...core import notice
from ...core.cleanup import SIGNALS, set_outside_python, signal_name
from ...core.session import Session
from ...core.settings import Settings

FORMAT = "pydebug_hook.dump"
FORMAT_VERSION = 1
SUFFIX = ".dump"
HEADER_LIMIT = 64 << 10  # a header (ours is < 4 KiB) is read from this many bytes at most
COMPRESSION = 1  # fastest: tensors (base64 in the JSON) compress little at any level

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_GZIP_MAGIC = b"\x1f\x8b"
_FEXTRA, _FNAME, _FCOMMENT, _FHCRC = 4, 8, 16, 2


class DumpError(Exception):
    """A dump that cannot be written, listed or read; the message is one line."""


# -- the directory ----------------------------------------------------------------------


def directory(settings: Settings) -> str:
    """``IPDB_DUMP_DIR``, absolute (a relative one is in the working directory now)."""
    return os.path.abspath(os.path.expanduser(settings.dump_dir))


def _make_private(path: str) -> None:
    """Create *path* and its missing parents, each 0700 (whatever the umask)."""
    missing = []
    here = path
    while not os.path.lexists(here):
        missing.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    for component in reversed(missing):
        try:
            os.mkdir(component, 0o700)
        except FileExistsError:
            continue  # made meanwhile by someone else: the checks of the last one decide
        except OSError as error:
            raise DumpError(f"cannot create the dump directory {component}: {error.strerror}") from None
        try:
            fd = os.open(component, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _O_CLOEXEC)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != 0o700:
                os.fchmod(fd, 0o700)  # an odd umask (0277, say) would leave it unusable
        finally:
            os.close(fd)


def open_directory(path: str, create: bool) -> int:
    """A descriptor on the dump directory *path*, after the checks that make it ours:
    a directory owned by this user; a symbolic link in its place is followed only when
    it is this user's or root's.  Missing: created 0700 (*create*), else FileNotFoundError."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not create:
            raise
        _make_private(path)
        try:
            st = os.lstat(path)
        except OSError as error:
            raise DumpError(f"cannot create the dump directory {path}: {error.strerror}") from None
    except OSError as error:
        raise DumpError(f"cannot use the dump directory {path}: {error.strerror}") from None
    me = os.geteuid()
    flags = os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC
    if stat.S_ISLNK(st.st_mode):
        if st.st_uid not in (me, 0):
            raise DumpError(f"dump directory {path} is a symbolic link of uid {st.st_uid}; not following it")
    else:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except NotADirectoryError:
        raise DumpError(f"dump directory {path} is not a directory") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise DumpError(f"dump directory {path} became a symbolic link; not following it") from None
        raise DumpError(f"cannot open the dump directory {path}: {error.strerror}") from None
    owner = os.fstat(fd).st_uid
    if owner != me:
        os.close(fd)
        raise DumpError(f"dump directory {path} belongs to uid {owner}, not to uid {me} (set IPDB_DUMP_DIR to a directory of your own)")
    return fd


# -- names and metadata -------------------------------------------------------------------


def file_name(session: Session, when: float) -> str:
    """``20261202T030512Z-node17-rank1-pid4242-dataloader-w2-9f3a1c.dump``: UTC time,
    host, rank, pid, worker, and a random part (ranks failing at once never collide)."""
    host = re.sub(r"[^A-Za-z0-9.]+", "_", session.host)[:64] or "host"
    parts = [time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when)), host, f"rank{session.rank.rank}", f"pid{session.pid}"]
    child = session.child
    if child is not None:
        parts.append(child.kind if child.worker_id is None else f"{child.kind}-w{child.worker_id}")
    parts.append(os.urandom(3).hex())
    return "-".join(parts) + SUFFIX


def _kind(session: Session) -> str:
    return "snapshot" if session.is_breakpoint else "post-mortem"


TRACEBACK_LIMIT = 32 << 10  # characters of the traceback kept in the header (its start and its end)


def _shortened(text: str) -> str:
    if len(text) <= TRACEBACK_LIMIT:
        return text
    head, tail = TRACEBACK_LIMIT // 8, TRACEBACK_LIMIT - TRACEBACK_LIMIT // 8
    return f"{text[:head]}\n... [{len(text) - head - tail:,} characters left out]\n{text[-tail:]}"


def metadata(session: Session, saved_at: float, left_out: Dict[str, int], engine: str, description: str) -> Dict[str, Any]:
    import platform  # a dump only: platform costs milliseconds to import

    r = session.rank
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": _kind(session),
        "exception": session.summary,
        "rank": r.rank,
        "local_rank": r.local_rank,
        "world_size": r.world_size,
        "host": session.host,
        "pid": session.pid,
        "thread": session.thread_name,
        "child": session.child.describe() if session.child else None,
        "label": session.label,
        "job_id": session.job_id,
        "failed_at": session.failed_at,
        "saved_at": saved_at,
        "python": platform.python_version(),
        "pydebug_hook": __version__,
        "coredumpy": engine,
        "left_out": left_out,
        "traceback": _shortened(description),
    }


def _description(session: Session) -> str:
    """What coredumpy keeps as the dump's description (``coredumpy peek`` shows it):
    the traceback, as the session printed it."""
    if session.is_breakpoint:
        return f"breakpoint: {session.summary}\n"
    try:
        if session.exc is not None:
            return "".join(traceback.format_exception(type(session.exc), session.exc, session.tb))
        return "".join(traceback.format_tb(session.tb))
    except Exception:
        return session.summary + "\n"


# -- the file format ------------------------------------------------------------------------


def _gzip_header(meta: Dict[str, Any], mtime: float) -> bytes:
    comment = json.dumps(meta, ensure_ascii=True, separators=(",", ":")).encode("ascii")  # no NUL: escaped
    return _GZIP_MAGIC + bytes([8, _FCOMMENT]) + struct.pack("<I", int(mtime) & 0xFFFFFFFF) + b"\x00\x03" + comment + b"\x00"


def _write_gzip(fd: int, meta: Dict[str, Any], text: str) -> None:
    compressor = zlib.compressobj(COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate: our own header
    crc, size = 0, 0
    with os.fdopen(fd, "wb", closefd=False) as out:
        out.write(_gzip_header(meta, meta["saved_at"]))
        step = 1 << 20
        for start in range(0, len(text), step):  # the JSON is ASCII (coredumpy's json.dumps)
            chunk = text[start : start + step].encode("utf-8")
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            out.write(compressor.compress(chunk))
        out.write(compressor.flush())
        out.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    os.fsync(fd)  # a node may go down right after a job's failure: the dump is its record


def parse_header(head: bytes) -> Optional[Dict[str, Any]]:
    """Our metadata from the first bytes of a file: None for a gzip file without it (a
    plain coredumpy dump); DumpError when it is no dump, or one of a newer format."""
    if len(head) < 10 or head[:2] != _GZIP_MAGIC or head[2] != 8:
        raise DumpError("is not a dump (not gzip data)")
    flags = head[3]
    at = 10
    try:
        if flags & _FEXTRA:
            (extra,) = struct.unpack_from("<H", head, at)
            at += 2 + extra
        if flags & _FNAME:
            at = head.index(b"\x00", at) + 1
        comment = b""
        if flags & _FCOMMENT:
            end = head.index(b"\x00", at)
            comment = head[at:end]
    except (ValueError, struct.error):
        raise DumpError("is not a dump (its gzip header is cut or too long)") from None
    if not comment:
        return None
    try:
        meta = json.loads(comment.decode("latin-1"))
    except ValueError:
        return None  # somebody else's comment
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        return None
    version = meta.get("version")
    if not isinstance(version, int) or version < 1:
        raise DumpError(f"has a header of an unknown dump format version ({version!r})")
    if version > FORMAT_VERSION:
        raise DumpError(
            f"was written by a newer pydebug-hook (dump format {version}; this one reads format "
            f"{FORMAT_VERSION}): upgrade pydebug-hook to open it"
        )
    return meta


# -- writing, within a time limit -------------------------------------------------------------


class _Writer:
    """One dump, written in a thread of its own: the caller gives up on it at the time
    limit (an object whose attribute blocks, a hung file system) and goes on; a dump
    given up on is not put in place, whenever it finishes."""

    def __init__(self, session: Session, where: str) -> None:
        self.session = session
        self.where = where
        self.limit = session.settings.dump_timeout
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.given_up = False
        self.path: Optional[str] = None
        self.error: Optional[BaseException] = None

    def run(self) -> str:
        try:
            thread = threading.Thread(target=self._work, name="pydebug_hook-dump", daemon=True)
            thread.start()
        except RuntimeError:  # the interpreter is shutting down: no new threads
            self._work()
        try:
            finished = self.done.wait(self.limit)
        except BaseException:  # Ctrl-C: not waiting any longer
            self._give_up()
            raise
        if not finished and self._give_up():
            raise DumpError(f"not finished within {self.limit:g}s (IPDB_DUMP_TIMEOUT)")
        if self.error is not None:
            raise self.error
        assert self.path is not None
        return self.path

    def _give_up(self) -> bool:
        with self.lock:
            if self.path is not None:
                return False  # finished just now
            self.given_up = True
            return True

    def _work(self) -> None:
        # Our own thread: everything is caught (the host's threading.excepthook is ours).
        try:
            self._write()
        except BaseException as error:
            self.error = error if isinstance(error, (DumpError, OSError)) else DumpError(notice.describe_error(error))
        finally:
            self.done.set()

    def _write(self) -> None:
        # coredumpy loads when a dump is written: never on another session's path.
        from . import bounds

        session = self.session
        innermost = bounds.stack(session.tb, session.frame)
        if innermost is None:
            raise DumpError("the exception has no traceback")
        dfd = open_directory(self.where, create=True)  # a directory that will not do: said before the work
        try:
            description = _description(session)
            text, left_out = bounds.record(innermost, description, self.limit / 2)
            saved_at = time.time()
            meta = metadata(session, saved_at, left_out, bounds.version(), description)
            hidden = f".{os.urandom(8).hex()}.part"
            try:
                fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_CLOEXEC, 0o600, dir_fd=dfd)
            except OSError as error:
                raise DumpError(f"cannot write in the dump directory {self.where}: {error.strerror}") from None
            try:
                try:
                    _write_gzip(fd, meta, text)
                except OSError as error:  # a full disk, a quota
                    raise DumpError(f"cannot write in the dump directory {self.where}: {error.strerror}") from None
                finally:
                    os.close(fd)
                del text
                with self.lock:
                    if not self.given_up:
                        self.path = os.path.join(self.where, self._put_in_place(dfd, hidden, saved_at))
            finally:
                try:
                    os.unlink(hidden, dir_fd=dfd)
                except OSError:
                    pass
        finally:
            os.close(dfd)

    def _put_in_place(self, dfd: int, hidden: str, when: float) -> str:
        """Link the finished file to its name; a name that exists is never replaced."""
        for _ in range(20):
            name = file_name(self.session, when)
            try:
                os.link(hidden, name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
                return name
            except FileExistsError:
                continue
            except OSError as error:
                if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.EXDEV):
                    raise
            # A file system without hard links: a rename, to a name checked to be free
            # (the directory is ours alone).
            try:
                os.stat(name, dir_fd=dfd, follow_symlinks=False)
                continue
            except FileNotFoundError:
                os.rename(hidden, name, src_dir_fd=dfd, dst_dir_fd=dfd)
                return name
        raise DumpError(f"no free file name in {self.where}")


class _SignalsHeld:
    """SIGTERM and SIGHUP wait while a dump is written (in the main thread; a few
    seconds at most: the dump has a time limit), then act as they would have: a
    launcher tearing the job down must not cut the crash site in half."""

    def __init__(self) -> None:
        self.previous: Dict[int, Any] = {}
        self.received: List[int] = []

    def _hold(self, signum: int, frame: Any) -> None:
        self.received.append(signum)

    def __enter__(self) -> "_SignalsHeld":
        if threading.current_thread() is not threading.main_thread():
            return self
        for signum in SIGNALS:
            try:
                current = signal.getsignal(signum)
                if current in (signal.SIG_IGN, None) or set_outside_python(signum):
                    continue  # ignored stays ignored; a C handler could not be put back
                signal.signal(signum, self._hold)
                self.previous[signum] = current
            except (ValueError, OSError):
                continue
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self.previous.items():
            try:
                signal.signal(signum, previous)
            except (ValueError, TypeError, OSError):
                pass
        for signum in dict.fromkeys(self.received):
            notice.say(f"{signal_name(signum)} came while the dump was written; it takes effect now")
            os.kill(os.getpid(), signum)


def saved_line(session: Session, path: str) -> str:
    quoted = notice.shell_word(path)
    return f"{session.who} {_kind(session)} saved to {quoted} -- open it with: pydebug-hook load {quoted}"


def save(session: Session) -> Optional[str]:
    """Write *session*'s dump in ``IPDB_DUMP_DIR`` and say where, in one line (or why
    not); the file's path, or None.  Never raises, never waits longer than
    ``IPDB_DUMP_TIMEOUT``."""
    what = _kind(session)
    with _SignalsHeld():
        try:
            path = _Writer(session, directory(session.settings)).run()
        except KeyboardInterrupt:
            notice.say(f"{session.who}: interrupted (Ctrl-C); {what} not saved")
            return None
        except DumpError as error:
            notice.say(f"{session.who} {what} not saved: {error}")
            return None
        except Exception as error:
            notice.say(f"{session.who} {what} not saved: {notice.describe_error(error)}")
            return None
        notice.say(saved_line(session, path))
        return path


# -- listing ------------------------------------------------------------------------------


@dataclass
class Saved:
    """A dump file of ours, as ``ls`` shows it."""

    path: str
    meta: Optional[Dict[str, Any]]  # None: a gzip file without our header (a coredumpy dump)
    mtime: float
    size: int

    @property
    def when(self) -> float:
        value = (self.meta or {}).get("failed_at")
        return float(value) if isinstance(value, (int, float)) else self.mtime

    def field(self, name: str, default: Any = None) -> Any:
        return (self.meta or {}).get(name, default)

    def to_json(self) -> Dict[str, Any]:
        meta = self.meta or {}
        keys = ("rank", "local_rank", "world_size", "host", "pid", "exception", "failed_at", "job_id", "label", "child", "thread")
        data: Dict[str, Any] = {key: meta.get(key) for key in keys}
        data.update(
            mode="dump", state="saved", endpoint=self.path, kind=meta.get("kind", "coredumpy dump"),
            saved_at=meta.get("saved_at", self.mtime), size=self.size, format_version=meta.get("version"),
        )
        return data


def _entries(dfd: int, where: str) -> Iterator[Tuple[Optional[Saved], Optional[str]]]:
    """(dump, None) for each dump of ours in the directory, (None, why) for each entry
    that looks like one and is skipped."""
    me = os.geteuid()
    for name in sorted(os.listdir(dfd)):
        if not name.endswith(SUFFIX) or name.startswith("."):
            continue
        try:
            st = os.lstat(name, dir_fd=dfd)
        except OSError:
            continue  # gone meanwhile
        if stat.S_ISLNK(st.st_mode):
            yield None, "symbolic link"
            continue
        if not stat.S_ISREG(st.st_mode):
            yield None, "special file"  # a FIFO would hang a reader: never opened
            continue
        if st.st_uid != me:
            yield None, "file of another user"
            continue
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | _O_CLOEXEC, dir_fd=dfd)
        except OSError:
            yield None, "unreadable file"
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != me:
                yield None, "file replaced while listed"
                continue
            head = os.pread(fd, HEADER_LIMIT, 0)
        finally:
            os.close(fd)
        try:
            meta = parse_header(head)
        except DumpError:
            yield None, "file that is not a dump"
            continue
        yield Saved(os.path.join(where, name), meta, st.st_mtime, st.st_size), None


def listing(settings: Settings) -> Tuple[str, List[Saved], List[str]]:
    """The dump directory, its dumps newest first, and lines about what was skipped."""
    where = directory(settings)
    try:
        dfd = open_directory(where, create=False)
    except FileNotFoundError:
        return where, [], []
    except DumpError as error:
        return where, [], [f"dumps not listed: {error}"]
    found: List[Saved] = []
    skipped: Dict[str, int] = {}
    try:
        for saved, why in _entries(dfd, where):
            if saved is not None:
                found.append(saved)
            elif why is not None:
                skipped[why] = skipped.get(why, 0) + 1
    finally:
        os.close(dfd)
    found.sort(key=lambda s: s.when, reverse=True)
    notes = []
    if skipped:
        what = ", ".join(f"{count} {why}{'s' if count > 1 else ''}" for why, count in sorted(skipped.items()))
        notes.append(f"not listed in {where}: {what}")
    return where, found, notes


def table(found: List[Saved], age: Callable[[float], str], now: Optional[float] = None) -> str:
    now = time.time() if now is None else now
    columns = ["#", "AGE", "RANK", "PID", "HOST", "FILE", "EXCEPTION"]
    rows = [columns]
    for index, saved in enumerate(found, 1):
        rank = saved.field("rank")
        world = saved.field("world_size")
        exception = saved.field("exception", "(a coredumpy dump)" if saved.meta is None else "")
        notes = [note for note in (saved.field("child"), saved.field("label")) if note]
        if saved.field("kind") == "snapshot":
            notes.insert(0, "snapshot")
        if notes:
            exception = f"{exception} [{'; '.join(map(str, notes))}]"
        rows.append([
            str(index), age(now - saved.when), "-" if rank is None else f"{rank}/{world}",
            str(saved.field("pid", "-")), notice.printable(saved.field("host", "-")), notice.printable(saved.path), notice.printable(exception),
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join([cell.ljust(width) for cell, width in zip(row[:-1], widths)] + [row[-1]]).rstrip() for row in rows]
    return "\n".join(lines) + "\n"
