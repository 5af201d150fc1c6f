"""The sessions of one distributed job: which failure is the root cause, keeping the job
alive while any of them is open, and not debugging the aftermath twice.

**Root cause first.**  When a rank stops (it fails, or sits in a debugger), its peers
fail too, later, in a collective: gloo's "Connection closed by peer" or "Timed out
waiting ...", NCCL's watchdog, torch's ``DistBackendError`` and friends.  Those are
*consequences*: their session is labelled "consequence of rank R's failure" (R: the
first earlier failure of the job that is not itself a consequence), in the header, the
waiting line and the registry, so that ``pydebug-hook ls`` shows it and
``pydebug-hook attach`` goes to the root cause.  A consequence that comes after a root
cause of the job was already debugged and ended does not open a session at all: the
user is done, and under Slurm or mpirun, which do not kill the other ranks, the job
would otherwise hang in sessions nobody wants.

**The job's session files.**  Ranks of one job (same :func:`._rank.job_id`) on one host
share ``<runtime dir>/jobs/<job>/``: ``live-<time>-<pid>.json`` for each open session,
``flock``-ed by its process for the session's lifetime (see :mod:`._locks`), and
``ended-<time>-<pid>.json``, a tombstone left when it ends (pruned after an hour).  Only
files written after this process started count: a job id can come back (torchrun's
default ``MASTER_ADDR:MASTER_PORT``, a restarted attempt), its old files must not.

**Holding the exit.**  torchrun SIGTERMs every worker as soon as one exits, so a rank
whose session has ended waits, before going on, for the sessions of the job that are
still open or queued: one line, then blocking ``flock`` on their files (no CPU), again
for sessions that appeared meanwhile.

**Process-group timeouts** (:func:`raise_pg_timeouts`, for any session, in a job or
not).  While a session is open, this rank's own process groups get a long timeout, as
``torch.distributed.breakpoint`` does, and their previous timeout back after a
post-mortem (a live breakpoint keeps the long one, as torch's does); only when
torch.distributed is already imported and initialized (the tool never imports torch).
"""

import json
import os
import re
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional

from ..core import cleanup, files, locks, notice, registry
from ..core.session import Session, SessionError

TOMBSTONE_LIFETIME = 3600.0  # seconds an ended session is remembered
SESSION_PG_TIMEOUT_S = 24 * 3600  # a process group's timeout while its rank is debugged

# torch.distributed's errors for a failed peer, store or transport (DistError's subclasses).
_CONSEQUENCE_TYPES = frozenset(("DistBackendError", "DistNetworkError", "DistStoreError"))
# What gloo, NCCL and the c10d store say when the failure is somebody else's (lowercase).
_CONSEQUENCE_TEXTS = (
    "connection closed by peer",
    "connection reset by peer",
    "broken pipe",
    "timed out waiting",
    "socket timeout",
    "application timeout caused pair closure",
    "watchdog caught collective operation timeout",
    "some nccl operations have failed or timed out",
    "nccl communicator was aborted",
    "ncclremoteerror",
    "remote process exited",
)

ROOT_ENDED = "root cause already debugged; not opening a session"


def is_consequence(exc: Optional[BaseException]) -> bool:
    """Whether *exc* (or what it was raised from) looks like the fallout of a peer's
    failure rather than a failure of its own."""
    seen = 0
    while exc is not None and seen < 8:
        seen += 1
        for cls in type(exc).__mro__:
            if cls.__name__ in _CONSEQUENCE_TYPES and cls.__module__.startswith("torch"):
                return True
        if isinstance(exc, RuntimeError):  # torch reports C++ errors as RuntimeError
            text = notice.exception_text(exc).lower()
            if any(needle in text for needle in _CONSEQUENCE_TEXTS):
                return True
        exc = exc.__cause__ if exc.__suppress_context__ else (exc.__cause__ or exc.__context__)
    return False


# -- time: when this process started, on the clock the session files use ---------------

def _boot_clock() -> float:
    return time.clock_gettime(getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC))


def process_started() -> float:
    """When this process started, in seconds on :func:`_boot_clock` (``/proc`` counts
    a process's start in clock ticks since boot); 0 when that cannot be read."""
    try:
        with open("/proc/self/stat", "rb") as f:
            data = f.read()
        ticks = int(data[data.rfind(b")") + 2 :].split()[19])
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


# -- the job's files ----------------------------------------------------------------------

@dataclass
class Entry:
    """One session of the job, open (``live``) or ended."""

    path: Path
    live: bool
    rank: int
    pid: int
    failed_at: float
    failed_boot: float
    consequence: bool
    ended_at: Optional[float] = None

    @property
    def order(self) -> str:
        return self.path.name.split("-", 1)[1]  # "<time ns>-<pid>.json": sorts by failure


def jobs_dir() -> Path:
    return registry.runtime_dir() / "jobs"


def job_dir(job_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", job_id)[:60]
    return jobs_dir() / f"{safe}-{zlib.crc32(job_id.encode()):08x}"


def _read(path: Path) -> Optional[dict]:
    try:
        return files.read_json(path)
    except (OSError, ValueError):
        return None


def entries(directory: Path, since: float, now: Optional[float] = None) -> List[Entry]:
    """The job's sessions that failed after *since* (boot clock), first failure first;
    leftovers of dead processes and tombstones older than an hour are removed."""
    now = time.time() if now is None else now
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found: List[Entry] = []
    for name in names:
        live = name.startswith("live-")
        if not (live or name.startswith("ended-")) or not name.endswith(".json"):
            continue
        path = directory / name
        if live and locks.released(path, blocking=False):
            continue  # its process died during the session
        data = _read(path)
        if data is None:
            continue
        try:
            ended_at = None if live else float(data.get("ended_at", 0))
            entry = Entry(
                path, live, int(data["rank"]), int(data["pid"]), float(data["failed_at"]),
                float(data["failed_boot"]), bool(data.get("consequence")), ended_at,
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            continue  # not a file of ours (a session writes them all valid)
        if ended_at is not None and not now - ended_at <= TOMBSTONE_LIFETIME:
            locks.unlink(path)
            continue
        if entry.failed_boot >= since:
            found.append(entry)
    found.sort(key=lambda e: e.order)
    return found


def _prune_old_jobs(keep: Path) -> None:
    """Tombstones of other jobs expire too; their empty directories go."""
    try:
        others = [d for d in jobs_dir().iterdir() if d != keep]
    except OSError:
        return
    for directory in others:
        entries(directory, since=0.0)
        try:
            directory.rmdir()  # only when empty; a job creating a file retries (create_held)
        except OSError:
            pass


# -- process-group timeouts ----------------------------------------------------------------

def raise_pg_timeouts() -> Callable[[], None]:
    """Give this rank's process groups a long timeout; a callable that puts the previous
    ones back.  Nothing unless torch.distributed is imported and initialized."""
    dist = sys.modules.get("torch.distributed")
    c10d = sys.modules.get("torch.distributed.distributed_c10d")
    if dist is None or c10d is None:
        return lambda: None
    previous: List[Any] = []
    try:
        if not (dist.is_available() and dist.is_initialized()):
            return lambda: None
        import warnings
        from datetime import timedelta

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Set timeout is now only supported for nccl or gloo"
            for group in list(c10d._pg_map):
                before = _timeout_of(group)
                c10d._set_pg_timeout(timedelta(seconds=SESSION_PG_TIMEOUT_S), group)
                if before is not None:
                    previous.append((group, before))
    except Exception as exc:  # a private torch API: it may change under us
        notice.warn_once("pg-timeout", f"could not raise the process group timeouts during the session ({notice.describe_error(exc)})")

    def restore() -> None:
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for group, before in previous:
                    c10d._set_pg_timeout(before, group)
        except Exception:
            pass  # the group may be gone (destroyed during the session)

    return restore


def _timeout_of(group: Any) -> Any:
    for device in getattr(group, "_device_types", ()):
        try:
            return group._get_backend(device).options._timeout
        except Exception:  # a device without a backend: try the next
            pass
    return None


# -- one session of the job ------------------------------------------------------------------

class Job:
    """This process's session in its job: made by :func:`begin`, ended by :meth:`end`."""

    def __init__(self, session: Session, directory: Path, since: float) -> None:
        self.session = session
        self.directory = directory
        self.since = since
        self.consequence = is_consequence(session.exc)
        self.root_ended = False  # a consequence after the root cause's session ended
        self.path: Optional[Path] = None
        self.fd = -1
        self.pid = os.getpid()
        # The failure on the boot clock, for comparison with process start times.
        self.failed_boot = _boot_clock() - max(0.0, time.time() - session.failed_at)
        self._cleanup_key: Optional[int] = None

    def _classify(self, earlier: List[Entry]) -> None:
        if not self.consequence:
            return
        roots = [e for e in earlier if not e.consequence]
        first = roots[0] if roots else (earlier[0] if earlier else None)
        self.session.label = f"consequence of rank {first.rank}'s failure" if first else "consequence of a peer's failure"
        self.root_ended = any(not e.live for e in roots)

    def _open(self) -> None:
        s = self.session
        name = f"live-{int(s.failed_at * 1e9):020d}-{s.pid}.json"
        content = json.dumps(
            {
                "rank": s.rank.rank, "pid": s.pid, "host": s.host, "failed_at": s.failed_at,
                "failed_boot": self.failed_boot, "consequence": self.consequence, "label": s.label,
                "exception": s.summary,
            }
        ).encode()
        fd = locks.create_held(self.directory, name, content)
        if fd is None:
            raise SessionError(f"job directory {self.directory} keeps disappearing")
        self.fd, self.path = fd, self.directory / name
        self._cleanup_key = cleanup.add(self.end, forget=self._forget)

    def end(self) -> None:
        """The session is over: leave a tombstone, let go of the live file.  Idempotent;
        safe in a signal handler."""
        if os.getpid() != self.pid or self.path is None:
            return
        path, fd = self.path, self.fd
        self.path, self.fd = None, -1
        tombstone = path.with_name("ended-" + path.name[len("live-") :])
        data = _read_fd(fd) or {}
        data["ended_at"] = time.time()
        try:
            fd = os.open(tombstone, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
        except OSError:
            pass
        locks.let_go(path, fd)
        key, self._cleanup_key = self._cleanup_key, None
        if key is not None:
            cleanup.done(key)

    def _forget(self) -> None:
        locks.close_quietly(self.fd)  # a forked child must not keep our lock alive
        self.fd, self.path = -1, None

    def hold_exit(self) -> None:
        """Wait while other sessions of the job are open or queued (see the module doc)."""
        if self.session.child is not None:
            return  # a worker process of a rank: its exit does not end the job
        _prune_old_jobs(keep=self.directory)
        said = False
        try:
            while True:
                others = [e for e in entries(self.directory, self.since) if e.live]
                if not others:
                    return
                if not said:
                    ranks = sorted({e.rank for e in others})
                    which = f"rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))}"
                    ended = "" if self.root_ended else " session ended;"
                    notice.say(f"rank {self.session.rank.rank}:{ended} waiting for the sessions of {which} before exiting")
                    said = True
                for entry in others:
                    locks.released(entry.path, blocking=True)
        except KeyboardInterrupt:
            notice.say("interrupted (Ctrl-C): not waiting for the other sessions of the job")
        except OSError:
            pass


def _read_fd(fd: int) -> Optional[dict]:
    try:
        data = os.pread(fd, 1 << 16, 0)
        value = json.loads(data.decode("utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def begin(session: Session) -> Optional[Job]:
    """Classify *session*, label it, and (in a job, for a post-mortem) open its live
    file.  None outside a job; never raises (a job feature that cannot work is said in
    one line and the session goes on without it)."""
    if session.is_breakpoint:
        return None
    if session.job_id is None:
        if is_consequence(session.exc) and session.rank.distributed:
            session.label = "consequence of a peer's failure"
        return None
    try:
        locks.mkdir(jobs_dir())
        directory = job_dir(session.job_id)
        job = Job(session, directory, since=process_started())
        job._classify(entries(directory, job.since))
        if not job.root_ended:
            job._open()
        return job
    except (OSError, SessionError) as exc:
        notice.say(f"job {session.job_id}: sessions of other ranks not coordinated ({notice.describe_error(exc)})")
        return None

