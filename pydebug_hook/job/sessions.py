"""The sessions of one distributed job: a consequence's label names the root cause, a
consequence after the root cause was debugged opens none, and a rank whose session ended
waits for the job's others before exiting (torchrun would end them).  On this host
through the files of the runtime directory; across hosts through the place the job's
hosts share (job/board.py), when there is one.  The files and the rules:
docs/distributed.md."""

import json
import os
import re
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from ..core import cleanup, files, locks, notice, proc, registry
from ..core.session import Session, SessionError
from . import board
from .consequence import is_consequence

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


# -- one session of the job ------------------------------------------------------------------

class Job(cleanup.Resource):
    """This process's session in its job: made by :func:`begin`, ended by :meth:`close`."""

    def __init__(self, session: Session, directory: Path, since: float, place: Optional[board.Place] = None) -> None:
        super().__init__()
        self.session = session
        self.directory = directory
        self.since = since
        self.place = place  # what the job's hosts share, or None
        self.entry: Optional[board.Entry] = None
        self.consequence = is_consequence(session.exc)
        self.root_ended = False  # a consequence after the root cause's session ended
        self.path: Optional[Path] = None
        self.fd = -1
        # The failure on the boot clock, for comparison with process start times.
        self.failed_boot = _boot_clock() - max(0.0, time.time() - session.failed_at)

    def _classify(self, earlier: List[Entry]) -> None:
        # The job's first failure, wherever it happened (a root cause claims it).
        root = board.root_cause(self.place, self.session, self.consequence) if self.place is not None else None
        if not self.consequence:
            return
        roots = [e for e in earlier if not e.consequence]
        if root is not None and type(root.get("rank")) is int and isinstance(root.get("host"), str):
            elsewhere = "" if root["host"] == self.session.host else f" on {root['host']}"
            self.session.label = f"consequence of rank {root['rank']}'s failure{elsewhere}"
            self.root_ended = board.root_ended(self.place, root) or any(not e.live for e in roots)
            return
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
        self.hold()
        if self.place is not None:
            self.entry = board.open_entry(self.place, s, self.consequence, counts=True)
            s.shared = self.entry

    def _release(self) -> None:
        """The session is over: leave a tombstone, let go of the live file."""
        if self.path is None:
            return  # never opened (outside a job's files, or a consequence that opens none)
        path, fd = self.path, self.fd
        self.path, self.fd = None, -1
        if self.entry is not None:  # before the local file goes: its waiters ask the place next
            self.entry.end()
        tombstone = path.with_name("ended-" + path.name[len("live-") :])
        data = _read_fd(fd) or {}
        data["ended_at"] = time.time()
        try:
            written = os.open(tombstone, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(written, "w", encoding="utf-8") as f:
                json.dump(data, f)
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
        elsewhere = board.Waiting(self.place) if self.place is not None else None
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
                if not others:
                    time.sleep(board.poll_interval(self.place))
        except KeyboardInterrupt:
            notice.say("interrupted (Ctrl-C): not waiting for the other sessions of the job")
        except OSError:
            pass


    def _say_waiting(self, ranks: List[int]) -> None:
        which = f"rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))}" if ranks else "other ranks"
        ended = "" if self.root_ended else " session ended;"
        notice.say(f"rank {self.session.rank.rank}:{ended} waiting for the sessions of {which} before exiting")


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
    place = board.place_for(session) if session.job_id is not None else None
    if session.is_breakpoint:
        if place is not None:  # listed on the job's other hosts; nobody waits for it
            session.shared = board.open_entry(place, session, consequence=False, counts=False)
        return None
    if session.job_id is None:
        if is_consequence(session.exc) and session.rank.distributed:
            session.label = "consequence of a peer's failure"
        return None
    try:
        locks.mkdir(jobs_dir())
        directory = job_dir(session.job_id)
        job = Job(session, directory, since=process_started(), place=place)
        job._classify(entries(directory, job.since))
        if not job.root_ended:
            job._open()
        return job
    except (OSError, SessionError) as exc:
        notice.say(f"job {session.job_id}: sessions of other ranks not coordinated ({notice.describe_error(exc)})")
        return None
