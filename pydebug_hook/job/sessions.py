"""The sessions of one distributed job: a consequence's label names the root cause, a
consequence after the root cause was debugged opens none, and a rank whose session ended
waits for the job's others before exiting (torchrun would end them).  On this host
through the files of the runtime directory; across hosts through the place the job's
hosts share (job/board.py, loaded only for a job that may span hosts).  The files and
the rules: docs/distributed.md."""

import os
import sys
import time

from ..core import cleanup, files, locks, notice, proc, registry
from ..core.session import Session, SessionError
from .consequence import is_consequence

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import List, Optional

    from .board import Entry as SharedEntry
    from .place import Place

TOMBSTONE_LIFETIME = 3600.0  # seconds an ended session is remembered

ROOT_ENDED = "root cause already debugged; not opening a session"


# -- time: when this process started, on the clock the session files use ---------------

def _boot_clock() -> float:
    return time.clock_gettime(getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC))


def process_started() -> float:
    """When this process started, in seconds on :func:`_boot_clock` (``/proc`` counts
    a process's start in clock ticks since boot); 0 when that cannot be read."""
    ticks = proc.start_ticks()
    return 0.0 if ticks is None else ticks / os.sysconf("SC_CLK_TCK")


# -- the job's files ----------------------------------------------------------------------

class Entry:
    """One session of the job, open (``live``) or ended."""

    __slots__ = ("consequence", "ended_at", "failed_at", "failed_boot", "live", "path", "pid", "rank")

    def __init__(
        self, path: str, live: bool, rank: int, pid: int, failed_at: float, failed_boot: float,
        consequence: bool, ended_at: "Optional[float]" = None,
    ) -> None:
        self.path = path
        self.live = live
        self.rank = rank
        self.pid = pid
        self.failed_at = failed_at
        self.failed_boot = failed_boot
        self.consequence = consequence
        self.ended_at = ended_at

    @property
    def order(self) -> str:
        return os.path.basename(self.path).split("-", 1)[1]  # "<time ns>-<pid>.json": sorts by failure


def jobs_dir() -> str:
    return os.path.join(registry.runtime_dir(), "jobs")


def job_dir(job_id: str) -> str:
    import zlib  # a job's sessions only: an extension module to load

    safe = files.safe_name(job_id)[:60]
    return os.path.join(jobs_dir(), f"{safe}-{zlib.crc32(job_id.encode()):08x}")


def _read(path: str) -> "Optional[dict]":
    try:
        return files.read_json(path)
    except (OSError, ValueError):
        return None


def entries(directory: str, since: float, now: "Optional[float]" = None) -> "List[Entry]":
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
        path = os.path.join(directory, name)
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


def _prune_old_jobs(keep: str) -> None:
    """Tombstones of other jobs expire too; their empty directories go."""
    where = jobs_dir()
    try:
        others = [path for path in (os.path.join(where, name) for name in os.listdir(where)) if path != keep]
    except OSError:
        return
    for directory in others:
        entries(directory, since=0.0)
        try:
            os.rmdir(directory)  # only when empty; a job creating a file retries (create_held)
        except OSError:
            pass


# -- one session of the job ------------------------------------------------------------------

class Job(cleanup.Resource):
    """This process's session in its job: made by :func:`begin`, ended by :meth:`close`."""

    def __init__(self, session: Session, directory: str, since: float, place: "Optional[Place]" = None) -> None:
        super().__init__()
        self.session = session
        self.directory = directory
        self.since = since
        self.place = place  # what the job's hosts share, or None
        self.entry: Optional[SharedEntry] = None
        self.consequence = is_consequence(session.exc)
        self.root_ended = False  # a consequence after the root cause's session ended
        self.path: Optional[str] = None
        self.fd = -1
        # The failure on the boot clock, for comparison with process start times.
        self.failed_boot = _boot_clock() - max(0.0, time.time() - session.failed_at)

    def _classify(self) -> None:
        """A consequence's label, from the job's earlier failures (a root cause reads none:
        32 ranks failing at once would each read the 31 others' files)."""
        # The job's first failure, wherever it happened (a root cause claims it).
        root = _board().root_cause(self.place, self.session, self.consequence) if self.place is not None else None
        if not self.consequence:
            return
        earlier = entries(self.directory, self.since)
        roots = [e for e in earlier if not e.consequence]
        if root is not None and type(root.get("rank")) is int and isinstance(root.get("host"), str):
            elsewhere = "" if root["host"] == self.session.host else f" on {root['host']}"
            self.session.label = f"consequence of rank {root['rank']}'s failure{elsewhere}"
            self.root_ended = _board().root_ended(self.place, root) or any(not e.live for e in roots)
            return
        first = roots[0] if roots else (earlier[0] if earlier else None)
        self.session.label = f"consequence of rank {first.rank}'s failure" if first else "consequence of a peer's failure"
        self.root_ended = any(not e.live for e in roots)

    def _open(self) -> None:
        s = self.session
        name = f"live-{int(s.failed_at * 1e9):020d}-{s.pid}.json"
        content = files.json_text(
            {
                "rank": s.rank.rank, "pid": s.pid, "host": s.host, "failed_at": s.failed_at,
                "failed_boot": self.failed_boot, "consequence": self.consequence, "label": s.label,
                "exception": s.summary,
            }
        ).encode()
        fd = locks.create_held(self.directory, name, content)
        if fd is None:
            raise SessionError(f"job directory {self.directory} keeps disappearing")
        self.fd, self.path = fd, os.path.join(self.directory, name)
        self.hold()
        if self.place is not None:
            self.entry = _board().open_entry(self.place, s, self.consequence, counts=True)
            s.shared = self.entry

    def _release(self) -> None:
        """The session is over: leave a tombstone, let go of the live file."""
        if self.path is None:
            return  # never opened (outside a job's files, or a consequence that opens none)
        path, fd = self.path, self.fd
        self.path, self.fd = None, -1
        if self.entry is not None:  # before the local file goes: its waiters ask the place next
            self.entry.end()
        directory, name = os.path.split(path)
        tombstone = os.path.join(directory, "ended-" + name[len("live-") :])
        data = _read_fd(fd) or {}
        data["ended_at"] = time.time()
        try:
            written = os.open(tombstone, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(written, "w", encoding="utf-8") as f:
                f.write(files.json_text(data))
        except OSError:
            pass
        locks.let_go(path, fd)

    def _forget(self) -> None:
        files.close_quietly(self.fd)  # a forked child must not keep our lock alive
        self.fd, self.path = -1, None
        if self.entry is not None:
            self.entry.forget()

    def hold_exit(self) -> None:
        """Wait while other sessions of the job are open or queued (see the module doc)."""
        if self.session.child is not None:
            return  # a worker process of a rank: its exit does not end the job
        _prune_old_jobs(keep=self.directory)
        # The job's sessions on other hosts: asked every few seconds, after this host's
        # (waited for without polling) are over.
        elsewhere = _board().Waiting(self.place) if self.place is not None else None
        said = False
        try:
            while True:
                others = [e for e in entries(self.directory, self.since) if e.live]
                if not others and (elsewhere is None or not elsewhere.still_open()):
                    return
                if not said:
                    ranks = {e.rank for e in others} | set(elsewhere.open_ranks() if elsewhere is not None else ())
                    self._say_waiting(sorted(ranks))
                    said = True
                for entry in others:
                    locks.released(entry.path, blocking=True)
                if not others and elsewhere is not None:
                    time.sleep(_board().poll_interval(self.place))
        except KeyboardInterrupt:
            notice.say("interrupted (Ctrl-C): not waiting for the other sessions of the job")
        except OSError:
            pass

    def _say_waiting(self, ranks: "List[int]") -> None:
        which = f"rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))}" if ranks else "other ranks"
        ended = "" if self.root_ended else " session ended;"
        notice.say(f"rank {self.session.rank.rank}:{ended} waiting for the sessions of {which} before exiting")


def _read_fd(fd: int) -> "Optional[dict]":
    import json  # at a session's end: its own file, read back

    try:
        data = os.pread(fd, 1 << 16, 0)
        value = json.loads(data.decode("utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def begin(session: Session) -> "Optional[Job]":
    """Classify *session*, label it, and (in a job, for a post-mortem) open its live
    file.  None outside a job; never raises (a job feature that cannot work is said in
    one line and the session goes on without it)."""
    place = _shared_place(session)
    if session.is_breakpoint:
        if place is not None:  # listed on the job's other hosts; nobody waits for it
            session.shared = _board().open_entry(place, session, consequence=False, counts=False)
        return None
    if session.job_id is None:
        if is_consequence(session.exc) and session.rank.distributed:
            session.label = "consequence of a peer's failure"
        return None
    try:
        locks.mkdir(jobs_dir())
        directory = job_dir(session.job_id)
        job = Job(session, directory, since=process_started(), place=place)
        job._classify()
        if not job.root_ended:
            job._open()
        return job
    except (OSError, SessionError) as exc:
        notice.say(f"job {session.job_id}: sessions of other ranks not coordinated ({notice.describe_error(exc)})")
        return None


# -- the job's other hosts --------------------------------------------------------------

# Variables that say how many hosts a job spans, or how many of its ranks run on this one.
_SINGLE_HOST = (
    ("LOCAL_WORLD_SIZE", "WORLD_SIZE"),  # torchrun
    ("OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_SIZE"),  # Open MPI
    ("MPI_LOCALNRANKS", "PMI_SIZE"),  # MPICH's hydra
)


def spans_hosts(env: "Optional[dict]" = None) -> bool:
    """Whether a job may span hosts: False when its launcher says it runs on this host
    alone (all its ranks local, or one node), True when it says otherwise or nothing."""
    env = os.environ if env is None else env
    nodes = (env.get("SLURM_STEP_NUM_NODES") or env.get("SLURM_NNODES") or "").strip()
    if nodes.isdigit():
        return int(nodes) > 1
    for local, world in _SINGLE_HOST:
        here, everywhere = (env.get(local) or "").strip(), (env.get(world) or "").strip()
        if here.isdigit() and everywhere.isdigit():
            return int(here) < int(everywhere)
    return True


def _shared_place(session: Session) -> "Optional[Place]":
    """The place the job's hosts share (job/board.py), or None: job/board.py and what
    it uses are loaded only in a rank of a job that may span hosts and names a place
    (``IPDB_JOB_DIR``, or a torch job's store where torch.distributed is imported)."""
    if session.job_id is None or not spans_hosts():
        return None
    if not session.settings.job_dir and not (os.environ.get("MASTER_ADDR") and "torch.distributed" in sys.modules):
        return None
    return _board().place_for(session)


def _board():
    # only in a rank of a job that may span hosts (see _shared_place)
    from . import board

    return board
