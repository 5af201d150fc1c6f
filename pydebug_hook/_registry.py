"""Where waiting sessions can be found: one JSON record per session in a per-user
runtime directory (mode 0700), removed when the session ends.

``$XDG_RUNTIME_DIR/pydebug_hook`` when the runtime directory is set and ours, else
``/tmp/pydebug_hook-<uid>``.  A directory that is not ours or is open to others is never
used.  Records of processes that are gone are pruned by whoever lists them.
"""

import itertools
import json
import os
import socket
import stat
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from ._session import Session, SessionError

SCHEMA = 1


def _ensure_private_dir(path: Path) -> Path:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise SessionError(f"registry directory {path} is not a directory owned by uid {os.getuid()}; not using it")
    if st.st_mode & 0o077:
        raise SessionError(f"registry directory {path} is open to other users (mode {stat.S_IMODE(st.st_mode):o}); not using it")
    return path


def _tmp_base() -> Path:
    import tempfile  # only when the runtime directory is unusable: it costs milliseconds

    return Path(tempfile.gettempdir()) / f"pydebug_hook-{os.getuid()}"


def runtime_dir(create: bool = True) -> Path:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    base: Optional[Path] = None
    if xdg and os.path.isabs(xdg):
        try:
            st = os.stat(xdg)
            if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid():
                base = Path(xdg) / "pydebug_hook"
        except OSError:
            pass
    if base is None:
        base = _tmp_base()
    return _ensure_private_dir(base) if create else base


def private_dirs() -> Iterator[Path]:
    """Private (0700, ours) directories for files of ours, best first: the runtime
    directory, then ``/tmp/pydebug_hook-<uid>``; made when reached, skipped when unusable."""
    found: List[Path] = []
    for make in (runtime_dir, lambda: _ensure_private_dir(_tmp_base())):
        try:
            path = make()
        except (OSError, SessionError):
            continue
        if path not in found:
            found.append(path)
            yield path


def process_start_time(pid: int) -> Optional[int]:
    """Start time of *pid* in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # the command name (field 2) may contain spaces and parentheses: split after the last ')'
    rest = data[data.rfind(b")") + 2 :].split()
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int, start_time: Optional[int] = None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start_time is not None:
        now = process_start_time(pid)
        if now is not None and now != start_time:
            return False
    return True


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
    schema: int = SCHEMA
    extra: Dict[str, Any] = field(default_factory=dict)
    path: Optional[str] = field(default=None, compare=False)

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
            pid_start=process_start_time(session.pid),
            extra=dict(extra),
        )

    def to_json(self) -> Dict[str, Any]:
        data = asdict(self)
        data.pop("path", None)
        return data

    @classmethod
    def from_json(cls, data: Dict[str, Any], path: Optional[str] = None) -> "Record":
        known = {f.name for f in fields(cls)}
        record = cls(**{k: v for k, v in data.items() if k in known and k != "path"})
        record.path = path
        return record

    def alive(self) -> bool:
        if self.host != socket.gethostname():
            return True  # cannot tell from here
        return pid_alive(self.pid, self.pid_start)


class Registration:
    """A record on disk for as long as the session lasts.

    Only the process that registered touches the file: a forked child that inherits
    this object neither rewrites nor removes its parent's record.
    """

    def __init__(self, record: Record, path: Path) -> None:
        self.record = record
        self.path = path
        self.pid = os.getpid()
        self.removed = False

    def update(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.record, key, value)
        if self.removed or os.getpid() != self.pid:
            return
        try:
            _write(self.path, self.record)
        except OSError:
            pass  # a record that cannot be refreshed is not worth failing a session over

    def remove(self) -> None:
        if self.removed or os.getpid() != self.pid:
            return
        self.removed = True
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


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
    return Registration(record, path)


def records(prune: bool = True) -> List[Record]:
    """Live sessions, first failure first."""
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
            with open(path, encoding="utf-8") as f:
                record = Record.from_json(json.load(f), str(path))
        except (OSError, ValueError, TypeError):
            continue
        if not record.alive():
            if prune:
                try:
                    os.unlink(path)
                except OSError:
                    pass
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
