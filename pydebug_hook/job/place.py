"""What a job's shared place does (job/board.py chooses one): the store of a torch job
(job/store.py) or a directory (job/shared_dir.py)."""

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional


BEAT_S = 5.0  # an open session says it is alive this often
LEASE_S = 30.0  # the job's open sessions silent this long are gone (SIGKILL, a host down)
STALE_S = 60.0  # `ls` leaves out a session not heard from for this long
EXPIRES_S = 3600.0  # ended or silent entries are forgotten after this long


class PlaceError(Exception):
    """The shared place did not do what was asked; the message says why, in a few words."""


class Place:
    """Where the sessions of one job (or, for ``ls``, of the jobs of one directory) meet.

    An entry is a JSON object: ``id``, ``rank``, ``world_size``, ``host``, ``pid``,
    ``failed_at``, ``consequence``, ``counts`` (whether the others' exit hold waits for
    it), ``label``, ``exception``, ``ended_at`` (null while open), ``record`` (the
    session's record for ``ls``, null until it has one).  Backends raise
    :class:`PlaceError` (or ``OSError``) and never hang: every operation is bounded.
    """

    describe = "the job's shared place"
    # The interpreters of this host's processes of the job: a record read from a place
    # others can write names one of them, or `attach` does not run it (cli/remote.py).
    interpreters: frozenset = frozenset()
    trusted = False  # whether only our uid can write there (a private directory)

    def claim_root(self, info: "Dict[str, Any]") -> "Dict[str, Any]":
        """Make *info* the job's root cause unless one was claimed first; the root cause."""
        raise NotImplementedError

    def root(self) -> "Optional[Dict[str, Any]]":
        raise NotImplementedError

    def is_ended(self, entry_id: str) -> bool:
        raise NotImplementedError

    def opened(self, entry: "Dict[str, Any]") -> None:
        """Put a new entry (counted among the open sessions when ``counts``)."""
        raise NotImplementedError

    def write(self, entry: "Dict[str, Any]") -> None:
        """Replace an entry put before."""
        raise NotImplementedError

    def closed(self, entry: "Dict[str, Any]") -> None:
        """The entry's session ended (``ended_at`` is set): no longer open."""
        raise NotImplementedError

    def beat(self, entry_ids: "Iterable[str]") -> None:
        """These entries' sessions are alive now (and so the job's pulse moves)."""
        raise NotImplementedError

    def entries(self) -> "List[Dict[str, Any]]":
        """Every entry, each with ``beat_at`` (the last beat's time, or None)."""
        raise NotImplementedError

    def open_count(self) -> int:
        """How many counted entries are open (ended ones and dead ones excluded only by
        their own end: a dead one is told by the pulse)."""
        raise NotImplementedError

    def pulse(self) -> "Optional[str]":
        """A value that changes whenever an open session of the job beats."""
        raise NotImplementedError
