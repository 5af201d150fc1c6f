"""Where waiting sessions can be found: one JSON record per session in a per-user runtime
directory (0700), removed when the session ends, pruned by whoever lists it when its
process is gone."""

import itertools
import json
import math
import os
import socket
import stat
import sys
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from . import files, notice, proc
from .session import Session, SessionError

SCHEMA = 1


def _ensure_private_dir(path: Path) -> Path:
    try:
        return files.private_dir(path)
    except files.Untrusted as exc:
        raise SessionError(f"registry directory: {exc}; not using it") from None


def _tmp_base() -> Path:
    import tempfile  # only when the runtime directory is unusable: it costs milliseconds

    return Path(tempfile.gettempdir()) / f"pydebug_hook-{os.getuid()}"


def _ours_next_to(wanted: Path) -> List[Path]:
    """Private directories of ours named ``<wanted>.<suffix>``, in name order."""
    prefix = wanted.name + "."
    found = []
    for name in sorted(os.listdir(wanted.parent)):
        if name.startswith(prefix):
            try:
                found.append(files.private_dir(wanted.parent / name, create=False))
            except OSError:
                continue  # somebody else's, or not a directory: never ours
    return found


def _instead_of(wanted: Path, create: bool) -> Path:
    """The directory used when *wanted* cannot be: the first of ours next to it; made
    when there is none, named by the time (the first made sorts first) and a random
    part (nobody can take the name before us).  Two processes making one at once both
    settle on the first, and the other is removed."""
    found = _ours_next_to(wanted)
    if not found and create:
        mine = wanted.parent / f"{wanted.name}.{time.time_ns():020d}-{os.urandom(6).hex()}"
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


def _tmp_runtime_dir(create: bool) -> Path:
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


def runtime_dir(create: bool = True) -> Path:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        try:
            st = os.stat(xdg)
            usable = stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
        except OSError:
            usable = False
        if usable:
            base = Path(xdg) / "pydebug_hook"
            return _ensure_private_dir(base) if create else base
    try:
        return _tmp_runtime_dir(create)
    except OSError as exc:
        raise SessionError(f"no private runtime directory: {notice.describe_error(exc)}") from None


def private_dirs(create: bool = True) -> Iterator[Path]:
    """Private (0700, ours) directories for files of ours, best first: the runtime
    directory, then the one in the temporary directory; made when reached (with
    *create*: a reader such as ``ls`` makes none), skipped when unusable."""
    found: List[Path] = []
    for make in (lambda: runtime_dir(create), lambda: _tmp_runtime_dir(create)):
        try:
            path = make()
        except (OSError, SessionError):
            continue
        if path not in found:
            found.append(path)
            yield path


@dataclass
class Record:
    rank: int
    local_rank: int
    world_size: int
    host: str
    pid: int
    mode: str
    endpoint: str
    exception: str
    failed_at: float
    job_id: Optional[str] = None
    label: Optional[str] = None  # "consequence of rank 1's failure"
    child: Optional[str] = None  # "dataloader worker 1 of pid 42"
    kind: str = "post-mortem"  # or "breakpoint"
    state: str = "waiting"  # "waiting", "attached", "console"
    started_at: float = field(default_factory=time.time)
    pid_start: Optional[int] = None
    interpreter: Optional[str] = None  # sys.executable: what `attach` runs on the session's host
    schema: int = SCHEMA
    extra: Dict[str, Any] = field(default_factory=dict)
    path: Optional[str] = field(default=None, compare=False)
    # Where the record was read: None for this host's runtime directory, else the place
    # the job's hosts share ("store 10.0.0.1:29500", "directory /home/u/jobs/42").
    origin: Optional[str] = field(default=None, compare=False)

    @classmethod
    def from_session(cls, session: Session, endpoint: str, **extra: Any) -> "Record":
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

    def to_json(self) -> Dict[str, Any]:
        data = asdict(self)
        data.pop("path", None)
        data.pop("origin", None)
        return data

    @classmethod
    def from_json(cls, data: Dict[str, Any], path: Optional[str] = None) -> "Record":
        """The record in *data*, checked field by field; ``ValueError`` naming the first
        field that is missing or of the wrong kind (a record is read by every ``ls``
        and session of the user: one bad file must not break them)."""
        values = {}
        for f in fields(cls):
            if f.name in ("path", "origin"):
                continue
            if f.name not in data:
                if f.default is MISSING and f.default_factory is MISSING:
                    raise ValueError(f"field {f.name!r} is missing")
                continue
            value = data[f.name]
            if not _FIELD_CHECKS[f.name](value):
                raise ValueError(f"field {f.name!r} is {notice.printable(repr(value)[:40])}, not {_FIELD_KINDS[f.name]}")
            values[f.name] = value
        record = cls(**values)
        record.path = path
        return record

    def alive(self) -> bool:
        if self.host != socket.gethostname():
            return True  # cannot tell from here
        return proc.alive(self.pid, self.pid_start)


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_time(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _optional(check: Any) -> Any:
    return lambda value: value is None or check(value)


_CHECK_OF_KIND = {
    "an integer": _is_int,
    "a time in seconds": _is_time,
    "a string": _is_text,
    "an integer or null": _optional(_is_int),
    "a string or null": _optional(_is_text),
    "an object": lambda value: isinstance(value, dict),
}
_FIELD_KINDS = {
    "rank": "an integer", "local_rank": "an integer", "world_size": "an integer", "pid": "an integer",
    "schema": "an integer", "pid_start": "an integer or null", "interpreter": "a string or null",
    "failed_at": "a time in seconds", "started_at": "a time in seconds",
    "host": "a string", "mode": "a string", "endpoint": "a string", "exception": "a string",
    "kind": "a string", "state": "a string",
    "job_id": "a string or null", "label": "a string or null", "child": "a string or null",
    "extra": "an object",
}
_FIELD_CHECKS = {name: _CHECK_OF_KIND[kind] for name, kind in _FIELD_KINDS.items()}


class Registration:
    """A record on disk for as long as the session lasts.

    Only the process that registered touches the file: a forked child that inherits
    this object neither rewrites nor removes its parent's record.
    """

    def __init__(self, record: Record, path: Path, shared: Any = None) -> None:
        self.record = record
        self.path = path
        self.pid = os.getpid()
        self.removed = False
        self.shared = shared  # the session's job-wide entry (job/board.Entry), told of each change

    def update(self, **changes: Any) -> None:
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


def _write(path: Path, record: Record) -> None:
    # write-then-rename: a reader never sees half a record
    # os.open rather than tempfile.mkstemp: the same O_EXCL creation, without the
    # milliseconds of importing tempfile on the way to a waiting session.
    tmp = str(path.parent / f".tmp-{os.urandom(6).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record.to_json(), f)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_serial = itertools.count(1)


def register(session: Session, endpoint: str, **extra: Any) -> Registration:
    record = Record.from_session(session, endpoint, **extra)
    # One file per registration: a process can hold two sessions at once (a live
    # breakpoint left running with breakpoints set, and a thread's post-mortem).
    path = runtime_dir() / f"session-{record.host}-{record.pid}-{next(_serial)}.json"
    record.path = str(path)
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


def read_record(path: Path) -> Record:
    """The record in *path*; ``OSError`` (:class:`pydebug_hook.core.files.Untrusted` for a
    file that is not a regular file of ours) or ``ValueError`` (not a valid record)."""
    record = Record.from_json(files.read_json(path), str(path))
    if not 0 < record.pid < 2**31:
        raise ValueError(f"field 'pid' is {record.pid}, not a process id")
    return record


def records(prune: bool = True) -> List[Record]:
    """Live sessions, first failure first.  A file that is not a valid record of ours
    is skipped, with one line (once per process).  *prune*: remove the records of
    processes that are gone, with their stale sockets."""
    try:
        directory = runtime_dir(create=False)
        names = os.listdir(directory)
    except (OSError, SessionError):
        return []
    found: List[Record] = []
    for name in names:
        if not (name.startswith("session-") and name.endswith(".json")):
            continue
        path = directory / name
        try:
            record = read_record(path)
        except FileNotFoundError:
            continue  # its session ended while we listed
        except (OSError, ValueError) as exc:
            why = str(exc) if isinstance(exc, files.Untrusted) else f"{path}: {exc}"
            notice.warn_once(("record", str(path)), f"skipping session record {why}")
            continue
        if not record.alive():
            if prune:
                try:
                    os.unlink(path)
                except OSError:
                    pass
                _remove_endpoint(record)
            continue
        found.append(record)
    found.sort(key=lambda r: (r.failed_at, r.rank, r.pid))
    return found


def attach_target(session: Session, registration: Optional[Registration]) -> str:
    """What to pass to ``pydebug-hook attach`` for this session: the rank, unless another
    session (a worker process, another job) has the same rank; then the pid."""
    rank = session.rank.rank
    if session.child is not None:
        return str(session.pid)
    own = registration.path if registration is not None else None
    for record in records(prune=False):
        if record.rank == rank and str(record.path) != str(own):
            return str(session.pid)
    return str(rank)
