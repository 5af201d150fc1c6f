"""``pydebug-hook attach [RANK | PID | PATH]``: join a waiting session (by default the root
cause: the first failure that is not a consequence of another)."""

import os
import socket
import sys
from typing import List, Optional, Tuple, Union

from ..core.notice import printable, say
from ..core.registry import Record, records
from .client import attach


class NotFound(Exception):
    """Nothing to attach to; the message says why, in one line."""


def _waiting_ranks(found: List[Record]) -> str:
    if not found:
        return "no debug session is waiting"
    ranks = sorted({r.rank for r in found})
    return f"waiting: rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))} (see pydebug-hook ls)"


def _is_path(target: str) -> bool:
    return "/" in target or (not target.isdigit() and os.path.exists(target))


def resolve(target: Optional[str], found: List[Record]) -> Union[Record, str]:
    """The record (or, for a path, the path) that *target* names."""
    if target is None:
        if not found:
            raise NotFound("no debug session is waiting (nothing to attach to; see pydebug-hook ls)")
        return first_to_attach(found)
    target = target.strip()
    if _is_path(target):
        path = os.path.abspath(os.path.expanduser(target))
        for record in found:
            if record.endpoint == path:
                return record
        if not os.path.exists(path):
            raise NotFound(f"no socket at {path}")
        return path
    if not target.isdigit():
        raise NotFound(f"{target!r} is not a rank, a pid or a socket path")
    number = int(target)
    for match in ([r for r in found if r.rank == number], [r for r in found if r.pid == number]):
        if match:
            return match[0]  # first failure first
    raise NotFound(f"no session with rank or pid {number}; {_waiting_ranks(found)}")


def is_consequence(record: Record) -> bool:
    return bool(record.label) and str(record.label).startswith("consequence")


def on_terminal(record: Record) -> bool:
    return record.mode == "console" and record.state == "console"


def first_to_attach(found: List[Record]) -> Record:
    """The root cause: the first failure that is not a consequence of another (a
    peer's timeout...), preferring sessions one can attach to from here (not the one
    already on the terminal); else the first failure."""
    for candidates in (
        [r for r in found if not is_consequence(r) and not on_terminal(r)],
        [r for r in found if not on_terminal(r)],
        [r for r in found if not is_consequence(r)],
    ):
        if candidates:
            return candidates[0]
    return found[0]


def endpoint_of(record: Record) -> Tuple[str, str]:
    """``("socket", path)``, ``("url", url)``, or ``("none", why)``."""
    endpoint = record.endpoint or ""
    if record.mode == "web" or endpoint.startswith(("http://", "https://")):
        return "url", endpoint
    if on_terminal(record):
        return "none", f"rank {record.rank} (pid {record.pid}) is being debugged on the terminal {endpoint}"
    if record.host != socket.gethostname():
        return "none", f"rank {record.rank} (pid {record.pid}) waits on host {record.host}: run pydebug-hook attach there"
    if os.path.isabs(endpoint):
        return "socket", endpoint
    what = endpoint or "no endpoint"
    return "none", f"rank {record.rank} (pid {record.pid}) is a {record.mode} session with nothing to attach to ({what})"


def main(target: Optional[str]) -> int:
    found = records()
    try:
        chosen = resolve(target, found)
    except NotFound as exc:
        say(str(exc))
        return 1
    if isinstance(chosen, str):
        return attach(chosen, chosen)
    kind, where = endpoint_of(chosen)
    if kind == "url":
        # A web session is opened in a browser; print its address (alone on stdout, for scripts).
        sys.stdout.write(printable(where) + "\n")
        say(f"rank {chosen.rank} (pid {chosen.pid}) is a web session: open {where}")
        return 0
    if kind == "none":
        say(where)
        return 1
    say(f"attaching to rank {chosen.rank} (pid {chosen.pid}) on {where}")
    if target is None:  # how to come back after a detach: by rank when that is unambiguous
        same_rank = [r for r in found if r.rank == chosen.rank]
        target = str(chosen.rank) if len(same_rank) == 1 else str(chosen.pid)
    return attach(where, target)
