"""A torch job's shared place: the c10d TCPStore its launcher serves at
``MASTER_ADDR:MASTER_PORT`` (torchrun's agent on the first node), through torch's own
client, under keys of ours (``pydebug_hook/<job>#<attempt>/...``).  torch is used only
where it is imported already (a rank) or by ``ls`` and ``attach``.  Every operation is
bounded: a store that does not answer (its host stopped) never holds up a session."""

import json
import socket
import threading
import time

from .place import Place, PlaceError

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterable, List, Optional

CONNECT_S = 2.0  # to reach the store at all
OP_S = 2.0  # one operation; the store answers in microseconds when it answers
PREFIX = "pydebug_hook/"


def bounded(action: "Callable[[], Any]", limit: float, what: str) -> "Any":
    """*action*'s result, or :class:`PlaceError` when it takes longer than *limit*:
    torch's client waits for an answer without a timeout (a stopped server would hold
    the session forever), so it runs in a daemon thread that is abandoned then."""
    box: Dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = action()
        except BaseException as exc:  # handed to the caller, never to threading.excepthook
            box["error"] = exc
        finally:
            done.set()

    try:
        threading.Thread(target=run, name="pydebug_hook store", daemon=True).start()
    except RuntimeError:  # interpreter shutdown: no new thread; unbounded, but the last call
        run()
    if not done.wait(limit):
        raise PlaceError(f"{what}: no answer within {limit:g}s")
    if "error" in box:
        error = box["error"]
        raise PlaceError(f"{what}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".rstrip(": "))
    return box["value"]


class StorePlace(Place):
    """Keys under ``pydebug_hook/<job>#<attempt>/``: ``root`` (the first failure,
    compare-and-set), ``e/<id>`` (an entry), ``b/<id>`` (its last beat), ``x/<id>``
    (set when it ended), ``index`` (the ids, appended), ``open`` (how many counted
    entries are open), ``pulse`` (added to by every beat)."""

    poll_s = 1.0  # the exit hold asks `open` this often: one tiny request

    def __init__(self, client: "Any", host: str, port: int, key: str) -> None:
        self.client = client
        self.host, self.port = host, port
        self.prefix = f"{PREFIX}{key}/"
        self.describe = f"the job's store at {host}:{port}"

    @classmethod
    def connect(cls, host: str, port: int, key: str, outsider: bool = False) -> "StorePlace":
        """A client of the store; :class:`PlaceError` when nothing answers there.  A
        rank uses torch's client (torch is imported there already); an *outsider*
        (``ls``, ``attach``), which only reads, job/store_reader.py, or torch's client
        when the store does not answer that one as torch's does."""
        # A plain connection first: a closed port answers at once, where torch's client
        # would retry until its timeout and print a C++ stack trace for each try.
        try:
            socket.create_connection((host, port), timeout=CONNECT_S).close()
        except OSError as exc:
            raise PlaceError(f"no store at {host}:{port} ({exc.strerror or exc})") from None
        if outsider:
            from .store_reader import Mismatch, StoreReader  # a command that only reads

            try:
                place = cls(StoreReader(host, port, OP_S), host, port, key)
                place.client.settle(place._key("index"))
                return place
            except Mismatch:
                pass  # another torch's format: its own client below
            except OSError as exc:
                raise PlaceError(f"the job's store at {host}:{port}: {exc.strerror or exc}") from None
        try:
            # A rank: imported already (board.place_for checks).  `ls`: the command's cost.
            from datetime import timedelta

            from torch.distributed import TCPStore
        except ImportError as exc:
            raise PlaceError(f"the job's store at {host}:{port} needs torch, which this interpreter cannot import ({exc})") from None
        client = bounded(
            lambda: TCPStore(host, port, is_master=False, timeout=timedelta(seconds=OP_S), wait_for_workers=False),
            CONNECT_S + OP_S, f"the job's store at {host}:{port}",
        )
        return cls(client, host, port, key)

    def _call(self, name: str, *args: "Any") -> "Any":
        method = getattr(self.client, name)
        return bounded(lambda: method(*args), OP_S, f"{self.describe}: {name}")

    def _key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    # -- the root cause --------------------------------------------------------------

    def claim_root(self, info: "Dict[str, Any]") -> "Dict[str, Any]":
        value = json.dumps(info)
        return _json(self._call("compare_set", self._key("root"), "", value)) or info

    def root(self) -> "Optional[Dict[str, Any]]":
        if not self._call("check", [self._key("root")]):
            return None
        return _json(self._call("get", self._key("root")))

    def is_ended(self, entry_id: str) -> bool:
        return bool(self._call("check", [self._key("x", entry_id)]))

    # -- entries -------------------------------------------------------------------------

    def opened(self, entry: "Dict[str, Any]") -> None:
        entry_id = entry["id"]
        # entry and beat before the index: whoever reads the index finds both
        self._call("set", self._key("e", entry_id), json.dumps(entry))
        self._call("set", self._key("b", entry_id), repr(time.time()))
        self._call("append", self._key("index"), entry_id + "\n")
        if entry.get("counts"):
            self._call("add", self._key("open"), 1)

    def write(self, entry: "Dict[str, Any]") -> None:
        self._call("set", self._key("e", entry["id"]), json.dumps(entry))

    def closed(self, entry: "Dict[str, Any]") -> None:
        entry_id = entry["id"]
        self._call("set", self._key("e", entry_id), json.dumps(entry))
        self._call("set", self._key("x", entry_id), "1")
        if entry.get("counts"):
            self._call("add", self._key("open"), -1)

    def beat(self, entry_ids: "Iterable[str]") -> None:
        now = repr(time.time())
        ids = list(entry_ids)
        if not ids:
            return
        keys = [self._key("b", entry_id) for entry_id in ids]
        self._call("multi_set", keys, [now] * len(keys))
        self._call("add", self._key("pulse"), 1)

    def entries(self) -> "List[Dict[str, Any]]":
        index = self._key("index")
        if not self._call("check", [index]):
            return []
        raw = self._call("get", index)
        ids = list(dict.fromkeys(part for part in raw.decode("utf-8", "replace").split("\n") if part))
        if not ids:
            return []
        # one request for the entries, one for their beats (all written before the index)
        values = self._call("multi_get", [self._key("e", i) for i in ids])
        beats = self._call("multi_get", [self._key("b", i) for i in ids])
        found = []
        for value, beat in zip(values, beats):
            entry = _json(value)
            if entry is None:
                continue
            try:
                entry["beat_at"] = float(beat)
            except (TypeError, ValueError):
                entry["beat_at"] = None
            found.append(entry)
        return found

    def open_count(self) -> int:
        return int(self._call("add", self._key("open"), 0))

    def pulse(self) -> "Optional[str]":
        return str(self._call("add", self._key("pulse"), 0))


def _json(value: "Any") -> "Optional[Dict[str, Any]]":
    """A JSON object from the store, or None: anyone who reaches the store's port can
    write there, so what is read is checked before use (and printed escaped)."""
    try:
        data = json.loads(bytes(value).decode("utf-8"))
    except (TypeError, ValueError):
        return None
    return data if isinstance(data, dict) else None
