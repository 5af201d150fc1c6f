"""The waiting sessions ``ls`` and ``attach`` know of: this host's (its runtime directory)
and those of the jobs running on it, on every host (the place each job's hosts share:
job/board.py); and how ``attach`` reaches a session on another host (``ssh``)."""

import os
import re
import shlex
import sys

from ..core import notice, registry
from ..core.registry import Record
from ..core.settings import DEFAULT_SSH, Settings
from ..job import board

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

_places: "Dict[str, board.Place]" = {}  # a record's origin -> the place it was read from


def records(settings: Settings) -> "List[Record]":
    """Every waiting session: this host's, then the other hosts' of the jobs running
    here (and of ``IPDB_JOB_DIR``), one record each, first failure first."""
    found = registry.records()
    seen = {_identity(r) for r in found}
    for place in board.places_here(settings.job_dir):
        try:
            entries, silent = board.waiting_records(place)
        except Exception as exc:
            notice.say(f"not listing the sessions of {place.describe}: {notice.describe_error(exc)}")
            continue
        if silent:
            notice.say(f"{place.describe}: {silent} session{'s' if silent > 1 else ''} on other hosts not heard from for over a minute (gone?): not listed")
        _places[place.describe] = place
        for data in entries:
            try:
                record = Record.from_json(data)
            except (TypeError, ValueError) as exc:
                notice.warn_once(("shared record", place.describe, str(exc)), f"skipping a session record of {place.describe}: {exc}")
                continue
            if not 0 < record.pid < 2**31:
                continue
            record.origin = place.describe
            key = _identity(record)
            if key not in seen:
                seen.add(key)
                found.append(record)
    found.sort(key=lambda r: (r.failed_at, r.rank, r.pid))
    return found


def _identity(record: Record) -> "Tuple[str, int, int, float]":
    return record.host, record.pid, record.rank, round(record.failed_at, 3)


# -- attach on another host --------------------------------------------------------------

_HOSTNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}")


def ssh_command(settings: Settings) -> "List[str]":
    """``IPDB_SSH`` split as a shell would split it (never run by one); the default when
    it is not a command line."""
    try:
        words = shlex.split(settings.ssh)
    except ValueError as exc:
        notice.warn_once(("IPDB_SSH", settings.ssh), f"IPDB_SSH={settings.ssh!r} is not a command line ({exc}); using {DEFAULT_SSH}")
        words = []
    return words or shlex.split(DEFAULT_SSH)


def _printable_path(value: "Optional[str]") -> bool:
    return bool(value) and os.path.isabs(str(value)) and notice.printable(value) == value


def remote_attach(record: Record, settings: Settings) -> "Tuple[Optional[List[str]], str]":
    """The command that attaches to *record*'s session from here, through ssh to its
    host with that rank's interpreter (the remote ``PATH`` does not matter), and the
    line that says it; ``(None, why)`` when the record cannot be trusted with that.

    A record read from the job's store may have been written by anyone who reaches the
    store's port: its host must be a host name, its paths plain absolute paths, and its
    interpreter one that this host's ranks of the job run (or this command's own)."""
    host, interpreter, endpoint = record.host, record.interpreter, record.endpoint
    if not _HOSTNAME.fullmatch(host or ""):
        return None, f"rank {record.rank} (pid {record.pid}) names the host {host!r}, which is not a host name: not connecting"
    if not _printable_path(interpreter) or not _printable_path(endpoint):
        return None, f"rank {record.rank} (pid {record.pid}) on {host} names no interpreter and socket to run there (its record is older, or not ours)"
    remote = shlex.join([str(interpreter), "-m", "pydebug_hook", "attach", endpoint])
    argv = [*ssh_command(settings), host, remote]
    place = _places.get(record.origin or "")
    if place is not None and not place.trusted and interpreter not in place.interpreters | {sys.executable}:
        shown = " ".join(shlex.quote(word) for word in argv)
        return None, (
            f"rank {record.rank} (pid {record.pid}) on {host}: its interpreter {interpreter} is not one this host's ranks of the job run; "
            f"not running it (anyone who reaches {place.describe} could have written it). If it is yours: {shown}"
        )
    return argv, f"attaching to rank {record.rank} (pid {record.pid}) on {host}: {' '.join(shlex.quote(word) for word in argv)}"
