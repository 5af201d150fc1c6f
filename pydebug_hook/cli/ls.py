"""``pydebug-hook ls``: the waiting sessions, first failure first (the likely root cause),
this host's and those of the jobs running here on every host; then the dumps of
``IPDB_DUMP_DIR``, newest first."""

import json
import sys
import time
from typing import List, Optional, Sequence

from ..core import notice, settings
from ..core.notice import printable
from ..core.registry import Record
from ..modes.dump import files as dump_files
from ..modes.socket import remove_stale_fallbacks
from . import jobwide

COLUMNS = ("#", "RANK", "PID", "HOST", "MODE", "STATE", "AGE", "ENDPOINT", "EXCEPTION")


def age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def describe(record: Record) -> str:
    text = record.exception
    notes = [note for note in (record.child, record.label) if note]
    if notes:
        text += f" [{'; '.join(notes)}]"
    return text


def rows(found: Sequence[Record], now: Optional[float] = None) -> List[List[str]]:
    """The table's cells; what the records say is printed with control characters
    escaped (a record is text another process wrote)."""
    now = time.time() if now is None else now
    return [
        [printable(cell) for cell in [
            str(index),
            f"{r.rank}/{r.world_size}",
            str(r.pid),
            r.host,
            r.mode,
            r.state,
            age(now - r.failed_at),
            r.endpoint,
            describe(r),
        ]]
        for index, r in enumerate(found, 1)
    ]


def table(found: Sequence[Record], now: Optional[float] = None) -> str:
    body = rows(found, now)
    widths = [max(len(row[i]) for row in [list(COLUMNS), *body]) for i in range(len(COLUMNS))]
    lines = []
    for row in [list(COLUMNS), *body]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def main(as_json: bool = False) -> int:
    remove_stale_fallbacks()
    current = settings.read()
    found = jobwide.records(current)
    where, dumps, notes = dump_files.listing(current)
    for note in notes:
        notice.say(note)
    if as_json:
        # One list: the sessions, then the dumps ("mode": "dump", "endpoint": the file).
        json.dump([r.to_json() for r in found] + [d.to_json() for d in dumps], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not found:
        sys.stdout.write("no debug session is waiting\n")
    else:
        sys.stdout.write(table(found))
    if dumps:
        sys.stdout.write(f"\ndumps in {where}, newest first (open one with: pydebug-hook load FILE)\n")
        sys.stdout.write(dump_files.table(dumps, age))
    return 0
