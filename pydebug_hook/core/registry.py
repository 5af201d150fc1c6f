"""Where waiting sessions can be found: one JSON record per session in a per-user runtime
directory (0700), removed when the session ends, pruned by whoever lists it when its
process is gone."""

import itertools
import math
import os
import socket
import stat
import sys
import time

from . import files, notice, proc
from .session import Session, SessionError

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List, Optional

SCHEMA = 1


def _ensure_private_dir(path: str) -> str:
    try:
        return files.private_dir(path)
    except files.Untrusted as exc:
        raise SessionError(f"registry directory: {exc}; not using it") from None


def _tmp_base() -> str:
    return os.path.join(files.temp_dir(), f"pydebug_hook-{os.getuid()}")


def _ours_next_to(wanted: str) -> "List[str]":
    """Private directories of ours named ``<wanted>.<suffix>``, in name order."""
    parent, name = os.path.split(wanted)
    prefix = name + "."
    found = []
    for name in sorted(os.listdir(parent)):
        if name.startswith(prefix):
            try:
                found.append(files.private_dir(os.path.join(parent, name), create=False))
            except OSError:
                continue  # somebody else's, or not a directory: never ours
    return found


def _instead_of(wanted: str, create: bool) -> str:
    """The directory used when *wanted* cannot be: the first of ours next to it; made
    when there is none, named by the time (the first made sorts first) and a random
    part (nobody can take the name before us).  Two processes making one at once both
    settle on the first, and the other is removed."""
    found = _ours_next_to(wanted)
    if not found and create:
        mine = f"{wanted}.{time.time_ns():020d}-{os.urandom(6).hex()}"
        files.private_dir(mine, create=True)
        found = _ours_next_to(wanted)
        if found and found[0] != mine:
            try:
                os.rmdir(mine)
            except OSError:
                pass
    if not found:
        raise FileNotFoundError(f"no private directory of ours next to {wanted}")
    return found[0]


def _tmp_runtime_dir(create: bool) -> str:
    wanted = _tmp_base()
    try:
        return files.private_dir(wanted, create)
    except FileNotFoundError:
        if create:
            raise
        return wanted  # nothing was ever registered here
    except files.Untrusted as exc:
        why = f"not using {wanted}: it {str(exc).removeprefix(f'{wanted} ')}"
    try:
        instead = _instead_of(wanted, create)
    except FileNotFoundError:
        notice.warn_once(("runtime-dir", str(wanted)), why)
        raise
    notice.warn_once(("runtime-dir", str(wanted)), f"{why}; using {instead} instead")
    return instead


def runtime_dir(create: bool = True) -> str:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        try:
            st = os.stat(xdg)
            usable = stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
        except OSError:
            usable = False
        if usable:
            base = os.path.join(xdg, "pydebug_hook")
            return _ensure_private_dir(base) if create else base
    try:
        return _tmp_runtime_dir(create)
    except OSError as exc:
        raise SessionError(f"no private runtime directory: {notice.describe_error(exc)}") from None


def private_dirs(create: bool = True) -> "Iterator[str]":
    """Private (0700, ours) directories for files of ours, best first: the runtime
    directory, then the one in the temporary directory; made when reached (with
    *create*: a reader such as ``ls`` makes none), skipped when unusable."""
    found: List[str] = []
    for make in (lambda: runtime_dir(create), lambda: _tmp_runtime_dir(create)):
        try:
            path = make()
        except (OSError, SessionError):
            continue
        if path not in found:
            found.append(path)
            yield path


def _is_int(value: "Any") -> bool:
    return type(value) is int


def _is_time(value: "Any") -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _is_text(value: "Any") -> bool:
    return isinstance(value, str)


def _optional(check: "Any") -> "Any":
    return lambda value: value is None or check(value)


_CHECK_OF_KIND = {
    "an integer": _is_int,
    "a time in seconds": _is_time,
    "a string": _is_text,
    "an integer or null": _optional(_is_int),
    "a string or null": _optional(_is_text),
    "an object": lambda value: isinstance(value, dict),
}
# The fields of a record's file, in their order there, and what each must hold.
_FIELD_KINDS = {
    "rank": "an integer", "local_rank": "an integer", "world_size": "an integer", "host": "a string",
    "pid": "an integer", "mode": "a string", "endpoint": "a string", "exception": "a string",
    "failed_at": "a time in seconds", "job_id": "a string or null", "label": "a string or null",
    "child": "a string or null", "kind": "a string", "state": "a string", "started_at": "a time in seconds",
    "pid_start": "an integer or null", "interpreter": "a string or null", "schema": "an integer", "extra": "an object",
}
# Those a file must have (the others have defaults: older records lack some).
_REQUIRED = ("rank", "local_rank", "world_size", "host", "pid", "mode", "endpoint", "exception", "failed_at")
_FIELD_CHECKS = {name: _CHECK_OF_KIND[kind] for name, kind in _FIELD_KINDS.items()}


class Record:
    """One session as ``ls`` sees it: the fields of its JSON file (:data:`_FIELD_KINDS`),
    and the file's *path*; *origin*, where a record of another host was read (None: this
    host's runtime directory; else the place its job's hosts share, as ``ls`` names it)."""

    __slots__ = (*_FIELD_KINDS, "path", "origin")

    def __init__(
        self,
        rank: int,
        local_rank: int,
        world_size: int,
        host: str,
        pid: int,
        mode: str,
        endpoint: str,
        exception: str,
        failed_at: float,
        job_id: "Optional[str]" = None,
        label: "Optional[str]" = None,  # "consequence of rank 1's failure"
        child: "Optional[str]" = None,  # "dataloader worker 1 of pid 42"
        kind: str = "post-mortem",  # or "breakpoint"
        state: str = "waiting",  # "waiting", "attached", "console"
        started_at: "Optional[float]" = None,  # None: now
        pid_start: "Optional[int]" = None,
        interpreter: "Optional[str]" = None,  # sys.executable: what `attach` runs on the session's host
        schema: int = SCHEMA,
        extra: "Optional[Dict[str, Any]]" = None,
        path: "Optional[str]" = None,
        origin: "Optional[str]" = None,
    ) -> None:
        self.rank = rank
        self.local_rank = local_rank
        self.world_size = world_size
        self.host = host
        self.pid = pid
        self.mode = mode
        self.endpoint = endpoint
        self.exception = exception
        self.failed_at = failed_at
        self.job_id = job_id
        self.label = label
        self.child = child
        self.kind = kind
        self.state = state
        self.started_at = time.time() if started_at is None else started_at
        self.pid_start = pid_start
        self.interpreter = interpreter
        self.schema = schema
        self.extra = {} if extra is None else extra
        self.path = path
        self.origin = origin

    def __repr__(self) -> str:
        return f"Record({self.to_json()!r}, path={self.path!r})"

    @classmethod
    def from_session(cls, session: Session, endpoint: str, **extra: "Any") -> "Record":
        return cls(
            rank=session.rank.rank,
            local_rank=session.rank.local_rank,
            world_size=session.rank.world_size,
            host=session.host,
            pid=session.pid,
            mode=session.mode,
            endpoint=endpoint,
            exception=session.summary,
            failed_at=session.failed_at,
            job_id=session.job_id,
            label=session.label,
            child=session.child.describe() if session.child else None,
            kind="breakpoint" if session.is_breakpoint else "post-mortem",
            pid_start=proc.start_ticks(session.pid),
            interpreter=sys.executable or None,
            extra=dict(extra),
        )

    def to_json(self) -> "Dict[str, Any]":
        """The fields of the file, *path* aside."""
        data = {name: getattr(self, name) for name in _FIELD_KINDS}
        data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_json(cls, data: "Dict[str, Any]", path: "Optional[str]" = None) -> "Record":
        """The record in *data*, checked field by field; ``ValueError`` naming the first
        field that is missing or of the wrong kind (a record is read by every ``ls``
        and session of the user: one bad file must not break them)."""
        values = {}
        for name, kind in _FIELD_KINDS.items():
            if name not in data:
                if name in _REQUIRED:
                    raise ValueError(f"field {name!r} is missing")
                continue
            value = data[name]
            if not _FIELD_CHECKS[name](value):
                raise ValueError(f"field {name!r} is {notice.printable(repr(value)[:40])}, not {kind}")
            values[name] = value
        return cls(**values, path=path)

    def alive(self) -> bool:
        if self.host != socket.gethostname():
            return True  # cannot tell from here
        return proc.alive(self.pid, self.pid_start)


class Registration:
    """A record on disk for as long as the session lasts.

    Only the process that registered touches the file: a forked child that inherits
    this object neither rewrites nor removes its parent's record.
    """

    def __init__(self, record: Record, path: str, shared: "Any" = None) -> None:
        self.record = record
        self.path = path
        self.pid = os.getpid()
        self.removed = False
        self.shared = shared  # the session's job-wide entry (job/board.Entry), told of each change

    def update(self, **changes: "Any") -> None:
        for key, value in changes.items():
            setattr(self.record, key, value)
        if self.removed or os.getpid() != self.pid:
            return
        try:
            _write(self.path, self.record)
        except OSError:
            pass  # a record that cannot be refreshed is not worth failing a session over
        if self.shared is not None:
            self.shared.publish(self.record.to_json())

    def remove(self) -> None:
        if self.removed or os.getpid() != self.pid:
            return
        self.removed = True
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        if self.shared is not None:
            self.shared.withdraw()


def _write(path: str, record: Record) -> None:
    files.write_json(path, record.to_json())


_serial = itertools.count(1)


def register(session: Session, endpoint: str, **extra: "Any") -> Registration:
    record = Record.from_session(session, endpoint, **extra)
    # One file per registration: a process can hold two sessions at once (a live
    # breakpoint left running with breakpoints set, and a thread's post-mortem).
    # The rank ends the name: a session choosing its attach target reads only the records
    # of its own rank (32 ranks failing at once would each parse the 31 others').
    path = os.path.join(runtime_dir(), f"session-{record.host}-{record.pid}-{next(_serial)}{_rank_suffix(record.rank)}")
    record.path = path
    _write(path, record)
    if session.shared is not None:  # the job's other hosts list it too (never raises)
        session.shared.publish(record.to_json())
    return Registration(record, path, session.shared)


def _remove_endpoint(record: Record) -> None:
    """The socket of a session whose process is gone (SIGKILL leaves it): removed when it
    is still a socket of ours that nobody answers."""
    if record.host != socket.gethostname() or not isinstance(record.endpoint, str) or not os.path.isabs(record.endpoint):
        return
    files.remove_if_stale(record.endpoint)


def read_record(path: str) -> Record:
    """The record in *path*; ``OSError`` (:class:`pydebug_hook.core.files.Untrusted` for a
    file that is not a regular file of ours) or ``ValueError`` (not a valid record)."""
    record = Record.from_json(files.read_json(path), path)
    if not 0 < record.pid < 2**31:
        raise ValueError(f"field 'pid' is {record.pid}, not a process id")
    return record


def _rank_suffix(rank: int) -> str:
    return f"-r{rank}.json"


def _of_another_rank(name: str, rank: int) -> bool:
    """Whether the file *name* says its record is of a rank other than *rank* (a name
    without the rank, of an earlier version, says nothing: its record is read)."""
    stem = name[: -len(".json")]
    head, _, tail = stem.rpartition("-r")
    return bool(head) and tail.isdigit() and tail.isascii() and int(tail) != rank


def _stored(skip: "Optional[str]" = None, rank: "Optional[int]" = None) -> "Iterator[Record]":
    """Every record in the runtime directory but *skip* (and, given *rank*, but those
    whose name says another rank), of live processes or not.  A file that is not a valid
    record of ours is skipped, with one line (once per process)."""
    try:
        directory = runtime_dir(create=False)
        names = os.listdir(directory)
    except (OSError, SessionError):
        return
    for name in names:
        if not (name.startswith("session-") and name.endswith(".json")):
            continue
        path = os.path.join(directory, name)
        if path == skip or (rank is not None and _of_another_rank(name, rank)):
            continue
        try:
            yield read_record(path)
        except FileNotFoundError:
            continue  # its session ended while we listed
        except (OSError, ValueError) as exc:
            why = str(exc) if isinstance(exc, files.Untrusted) else f"{path}: {exc}"
            notice.warn_once(("record", str(path)), f"skipping session record {why}")


def records(prune: bool = True) -> "List[Record]":
    """Live sessions, first failure first.  *prune*: remove the records of processes
    that are gone, with their stale sockets."""
    found: List[Record] = []
    for record in _stored():
        if not record.alive():
            if prune:
                try:
                    os.unlink(record.path)
                except OSError:
                    pass
                _remove_endpoint(record)
            continue
        found.append(record)
    found.sort(key=lambda r: (r.failed_at, r.rank, r.pid))
    return found


def attach_target(session: Session, registration: "Optional[Registration]") -> str:
    """What to pass to ``pydebug-hook attach`` for this session: the rank, unless another
    session (a worker process, another job) has the same rank; then the pid."""
    rank = session.rank.rank
    if session.child is not None:
        return str(session.pid)
    own = str(registration.path) if registration is not None else None
    # Neither its own record nor other ranks' are read: alone, or as one of many ranks
    # failing at once, a session parses no JSON (json brings re).
    for record in _stored(skip=own, rank=rank):
        # The rank first: whether a process is alive is a /proc read, and 32 ranks of one
        # job failing at once each look at the 31 others' records.
        if record.rank == rank and record.alive():
            return str(session.pid)
    return str(rank)
