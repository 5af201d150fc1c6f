"""The place a job's hosts share, where each session of the job leaves an entry: the
directory ``IPDB_JOB_DIR`` names (job/shared_dir.py), else, for a torch job, the
launcher's c10d store (job/store.py), else none (each host on its own).  Labels take
the job's first failure from it, the exit hold waits there for the job's open sessions,
``ls`` and ``attach`` read it from any host.  The rules: docs/distributed.md."""

import os
import re
import socket
import sys
import threading
import time

from ..core import notice, proc, rank
from ..core.session import Session
from .place import BEAT_S, LEASE_S, STALE_S, Place, PlaceError

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Tuple

# -- which place, for a session and for `ls` -------------------------------------------------

_places: "Dict[Tuple[str, ...], Optional[Place]]" = {}
_lock = threading.Lock()


def attempt(env: "Optional[Dict[str, str]]" = None) -> str:
    """Which attempt of the job this is: a job restarted by its launcher (torchrun's
    ``--max-restarts``, a requeued Slurm job) starts over with no session of its own."""
    env = os.environ if env is None else env
    for name in ("TORCHELASTIC_RESTART_COUNT", "SLURM_RESTART_COUNT"):
        value = (env.get(name) or "").strip()
        if value.isdigit():
            return value
    return "0"


def store_address(env: "Dict[str, str]") -> "Optional[Tuple[str, int]]":
    """``MASTER_ADDR:MASTER_PORT`` of a torch job, where its launcher serves the store."""
    host, port = (env.get("MASTER_ADDR") or "").strip(), (env.get("MASTER_PORT") or "").strip()
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def _cached(key: "Tuple[str, ...]", make: "Callable[[], Place]") -> "Optional[Place]":
    with _lock:
        if key in _places:
            return _places[key]
    try:
        place: Optional[Place] = make()
    except (PlaceError, OSError) as exc:
        notice.say(f"sessions on the job's other hosts are not coordinated: {exc}")
        place = None
    with _lock:
        return _places.setdefault(key, place)


def _forget_places() -> None:
    _places.clear()  # a forked child opens its own connection when it needs one


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_places)


def place_for(session: Session) -> "Optional[Place]":
    """The place this session's job shares, or None (no job, neither setting nor store,
    or the place cannot be used: said in one line, once).  Never raises."""
    job = session.job_id
    if job is None:
        return None
    key = f"{job}#{attempt()}"
    if session.settings.job_dir:
        from . import shared_dir  # only for a job with IPDB_JOB_DIR

        root = os.path.abspath(os.path.expanduser(session.settings.job_dir))
        return _cached(("dir", root, key), lambda: shared_dir.DirPlace.for_job(root, key))
    address = store_address(dict(os.environ))
    # A torch job: its store is torch's; torch is imported already, or it is not used.
    if address is not None and "torch.distributed" in sys.modules:
        from . import store  # only for a torch job

        return _cached(("store", *map(str, address), key), lambda: store.StorePlace.connect(*address, key))
    return None


def places_here(job_dir: "Optional[str]") -> "List[Place]":
    """The places of the jobs of this user that run on this host (found in the
    environment of its processes: ``/proc/PID/environ``), and of *job_dir* (this
    command's ``IPDB_JOB_DIR``, which works outside the job too), for ``ls``."""
    dirs: Dict[str, None] = {}
    stores: Dict[Tuple[str, int, str], set] = {}
    if job_dir:
        dirs[os.path.abspath(os.path.expanduser(job_dir))] = None
    me = os.getpid()
    for pid in proc.pids():
        if pid == me or not proc.ours(pid):
            continue
        env = proc.environ(pid)
        if not env or rank.job_id(env) is None:
            continue
        named = (env.get("IPDB_JOB_DIR") or "").strip()
        if named:
            base = os.path.expanduser(named)
            if not os.path.isabs(base):
                try:
                    base = os.path.join(os.readlink(f"/proc/{pid}/cwd"), base)
                except OSError:
                    continue
            dirs[os.path.abspath(base)] = None
            continue
        address = store_address(env)
        if address is None or "RANK" not in env:
            continue
        interpreter = proc.argv0(pid)
        found = stores.setdefault((*address, f"{rank.job_id(env)}#{attempt(env)}"), set())
        if interpreter and os.path.isabs(interpreter):
            found.add(interpreter)
    places: List[Place] = []
    if dirs:
        from . import shared_dir  # only when a job uses a directory

        for root in dirs:
            try:
                places.append(shared_dir.DirPlace.for_listing(root))
            except (PlaceError, OSError) as exc:
                notice.say(f"not listing the sessions of {root}: {exc}")
    if stores:
        from . import store  # only when a torch job runs here

        for (host, port, key), interpreters in stores.items():
            try:
                place = store.StorePlace.connect(host, port, key, outsider=True)
            except (PlaceError, OSError) as exc:
                notice.say(f"not listing the sessions of job {key.rsplit('#', 1)[0]} on other hosts: {exc}")
                continue
            place.interpreters = frozenset(interpreters)
            places.append(place)
    return places


# -- this process's entries -----------------------------------------------------------------

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def entry_id(host: str, pid: int, failed_at: float) -> str:
    """An entry's name, unique in the job, safe as a file name and a store key."""
    return f"{_SAFE.sub('_', host)[:64]}.{pid}.{int(failed_at * 1e6)}"


class Entry:
    """This process's entry for one session, in *place*: made by :meth:`open`, told of
    the session's record (``publish``, by core/registry), ended by :meth:`end`.  A
    failure of the place is said once and switches it off for the session; nothing here
    raises.  A forked child never touches its parent's entry."""

    def __init__(self, place: Place, session: Session, consequence: bool, counts: bool) -> None:
        self.place = place
        self.pid = os.getpid()
        self.counts = counts
        self.broken = False
        self.open = False
        self.id = entry_id(session.host, session.pid, session.failed_at)
        self.data: Dict[str, Any] = {
            "id": self.id,
            "rank": session.rank.rank,
            "world_size": session.rank.world_size,
            "host": session.host,
            "pid": session.pid,
            "failed_at": session.failed_at,
            "consequence": consequence,
            "counts": counts,
            "label": session.label,
            "exception": session.summary,
            "ended_at": None,
            "record": None,
        }

    def _do(self, action: "Callable[[], None]") -> None:
        if self.broken or os.getpid() != self.pid:
            return
        try:
            action()
        except Exception as exc:  # the place went away: this session goes on without it
            self.broken = True
            _beater.drop(self)
            notice.say(f"{self.place.describe} stopped answering ({notice.describe_error(exc)}): sessions on the job's other hosts are not coordinated")

    def start(self) -> None:
        self._do(lambda: self.place.opened(dict(self.data)))
        if not self.broken:
            self.open = True
            _beater.add(self)

    def publish(self, record: "Dict[str, Any]") -> None:
        """The session's record (core/registry), for ``ls`` and ``attach`` on other
        hosts.  A live breakpoint's entry is put there with its first record."""
        self.data["record"] = record
        if self.open:
            self._do(lambda: self.place.write(dict(self.data)))
        elif not self.counts and self.data["ended_at"] is None:
            self.start()

    def withdraw(self) -> None:
        """The record is gone (the session's endpoint closed): a live breakpoint's entry
        ends with it; a post-mortem's entry lasts until the session ends."""
        if not self.open:
            return
        if not self.counts:
            self.end()
            return
        self.data["record"] = None
        self._do(lambda: self.place.write(dict(self.data)))

    def end(self) -> None:
        if not self.open or os.getpid() != self.pid:
            return
        self.open = False
        _beater.drop(self)
        self.data["ended_at"] = time.time()
        self.data["record"] = None
        self._do(lambda: self.place.closed(dict(self.data)))

    def forget(self) -> None:
        """In a forked child: the parent's entry is the parent's."""
        self.open = False
        self.broken = True


class _Beater:
    """One daemon thread per process, while it has open entries: every ``BEAT_S`` it
    tells their places that their sessions are alive."""

    def __init__(self) -> None:
        self.entries: List[Entry] = []
        self.lock = threading.Lock()
        self.running = False

    def add(self, entry: Entry) -> None:
        with self.lock:
            self.entries.append(entry)
            if self.running:
                return
            try:
                threading.Thread(target=self._run, name="pydebug_hook job beat", daemon=True).start()
                self.running = True
            except RuntimeError:  # the interpreter is shutting down: the lease tells the others
                pass

    def drop(self, entry: Entry) -> None:
        with self.lock:
            if entry in self.entries:
                self.entries.remove(entry)

    def _run(self) -> None:
        try:
            while True:
                time.sleep(BEAT_S)
                with self.lock:
                    if not self.entries:
                        self.running = False
                        return
                    by_place: Dict[int, Tuple[Place, List[str]]] = {}
                    for entry in self.entries:
                        by_place.setdefault(id(entry.place), (entry.place, []))[1].append(entry.id)
                for place, ids in by_place.values():
                    try:
                        place.beat(ids)
                    except Exception:
                        pass  # the next beat tries again; the session says when its place fails
        except Exception:
            pass  # our thread never raises into the program's threading.excepthook

    def _after_fork(self) -> None:
        self.entries = []
        self.lock = threading.Lock()
        self.running = False


_beater = _Beater()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_beater._after_fork)


def open_entry(place: Place, session: Session, consequence: bool, counts: bool) -> "Optional[Entry]":
    """A new entry for *session* in *place*: a counted one (a post-mortem, which the
    others' exit hold waits for) is put there now, None when the place failed; another
    (a live breakpoint) with its first record, if it ever has one."""
    entry = Entry(place, session, consequence, counts)
    if not counts:
        return entry
    entry.start()
    return entry if entry.open else None


# -- the job's first failure -------------------------------------------------------------------


def root_cause(place: Place, session: Session, consequence: bool) -> "Optional[Dict[str, Any]]":
    """The job's root cause (``id``, ``rank``, ``host``): a failure that is not a
    consequence claims it when nobody did; None when the place fails (said once)."""
    try:
        if consequence:
            return place.root()
        info = {"id": entry_id(session.host, session.pid, session.failed_at), "rank": session.rank.rank, "host": session.host}
        return place.claim_root(info)
    except Exception as exc:
        notice.say(f"{place.describe} did not answer ({notice.describe_error(exc)}): labels name this host's failures only")
        return None


def root_ended(place: Place, root: "Dict[str, Any]") -> bool:
    try:
        return place.is_ended(str(root.get("id")))
    except Exception:
        return False


# -- waiting for the job's open sessions (the exit hold) ------------------------------------------


class Waiting:
    """Whether the job still has open sessions on any host: the count of open entries,
    and the pulse, which stops when every one of them is gone without ending (a process
    killed, a host down): then the wait is over after ``LEASE_S``."""

    def __init__(self, place: Place) -> None:
        self.place = place
        self.pulse: Optional[str] = None
        self.changed = time.monotonic()

    def still_open(self) -> bool:
        try:
            if self.place.open_count() <= 0:
                return False
            pulse = self.place.pulse()
        except Exception as exc:
            notice.say(f"{self.place.describe} stopped answering ({notice.describe_error(exc)}): not waiting for the sessions on other hosts")
            return False
        now = time.monotonic()
        if pulse != self.pulse:
            self.pulse, self.changed = pulse, now
        elif now - self.changed > LEASE_S:
            notice.say(f"the job's open sessions have not been heard from for {LEASE_S:g}s (their processes are gone?): not waiting for them")
            return False
        return True

    def open_ranks(self) -> "List[int]":
        try:
            return sorted({int(e["rank"]) for e in self.place.entries() if e.get("counts") and e.get("ended_at") is None})
        except Exception:
            return []


def poll_interval(place: Place) -> float:
    return getattr(place, "poll_s", 1.0)


# -- for `ls` and `attach` ---------------------------------------------------------------------


def waiting_records(place: Place, now: "Optional[float]" = None) -> "Tuple[List[Dict[str, Any]], int]":
    """The records of the open sessions of *place* (each a record's JSON), and how many
    open ones were left out because they have not been heard from for ``STALE_S``."""
    now = time.time() if now is None else now
    found, silent = [], 0
    here = socket.gethostname()
    for entry in place.entries():
        record = entry.get("record")
        if entry.get("ended_at") is not None or not isinstance(record, dict):
            continue
        beat = entry.get("beat_at")
        if entry.get("host") == here:
            pid = entry.get("pid")
            if type(pid) is int and 0 < pid < 2**31 and not proc.alive(pid):
                continue
        elif not isinstance(beat, (int, float)) or now - beat > STALE_S:
            silent += 1
            continue
        found.append(record)
    return found, silent
