"""``pydebug-hook attach [RANK | PID | PATH]``: join a waiting session (by default the root
cause: the first failure that is not a consequence of another), on this host or, through
ssh, on another host of the job.  A web session's URL is printed (with the ``ssh -L``
line it needs from here); for a dap session, what to enter in the IDE."""

import json
import os
import socket
import sys
from typing import List, Optional, Tuple, Union

from ..core import settings
from ..core.notice import printable, say
from ..core.registry import Record, records
from ..modes.web.guard import is_loopback, ssh_forward
from . import jobwide
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
    """``("socket", path)``, ``("url", url)``, ``("dap", host:port)``, ``("remote",
    path)`` (a socket on another host) or ``("none", why)``."""
    endpoint = record.endpoint or ""
    if record.mode == "web" or endpoint.startswith(("http://", "https://")):
        return "url", endpoint
    if record.mode == "dap":
        return "dap", endpoint
    if on_terminal(record):
        return "none", f"rank {record.rank} (pid {record.pid}) is being debugged on the terminal {endpoint}"
    if os.path.isabs(endpoint):
        return ("socket" if record.host == socket.gethostname() else "remote"), endpoint
    what = endpoint or "no endpoint"
    return "none", f"rank {record.rank} (pid {record.pid}) is a {record.mode} session with nothing to attach to ({what})"


def main(target: Optional[str]) -> int:
    current = settings.read()
    if target is not None and _is_path(target.strip()):
        found = records()  # a path names a socket of this host (ssh runs this there)
    else:
        found = jobwide.records(current)
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
        tunnel = _web_tunnel(chosen, where)
        say(f"rank {chosen.rank} (pid {chosen.pid}) is a web session: {tunnel}open {where}")
        return 0
    if kind == "dap":
        sys.stdout.write(ide_instructions(chosen))
        say(f"rank {chosen.rank} (pid {chosen.pid}) is a dap session: attach your IDE to {where}")
        return 0
    if kind == "none":
        say(where)
        return 1
    if kind == "remote":
        return _attach_remote(chosen, current)
    say(f"attaching to rank {chosen.rank} (pid {chosen.pid}) on {where}")
    if target is None:  # how to come back after a detach: by rank when that is unambiguous
        same_rank = [r for r in found if r.rank == chosen.rank]
        target = str(chosen.rank) if len(same_rank) == 1 else str(chosen.pid)
    return attach(where, target)


def _attach_remote(record: Record, current: settings.Settings) -> int:
    """Replace this process with ssh to the session's host, running that rank's
    interpreter's ``pydebug-hook attach PATH`` there."""
    argv, line = jobwide.remote_attach(record, current)
    say(line)
    if argv is None:
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        say(f"cannot run {argv[0]} (IPDB_SSH): {exc.strerror or exc}")
    return 1


def _web_tunnel(record: Record, url: str) -> str:
    """For a web session on another host, bound on loopback: the tunnel to open first."""
    from urllib.parse import urlsplit  # only for a web session

    try:
        parts = urlsplit(url)
        bound, port = parts.hostname or "", parts.port
    except ValueError:
        return ""
    if record.host == socket.gethostname() or port is None or not is_loopback(bound):
        return ""
    return f"it is on {record.host}: from here, open a tunnel first ({ssh_forward(port, bound, record.host)}), then "


def _split_endpoint(endpoint: str) -> Tuple[str, int]:
    host, _, port = endpoint.rpartition(":")
    return host.strip("[]"), int(port)


def ide_instructions(record: Record) -> str:
    """What to enter in an IDE to attach to a dap session: its address, a VS Code
    ``launch.json`` configuration, and, from another machine, the tunnel to open first."""
    host, port = _split_endpoint(record.endpoint)
    bound = str(record.extra.get("bound") or host)
    here = record.host == socket.gethostname()
    tunnel = is_loopback(bound)
    connect_host = host if here or not tunnel else "localhost"
    launch = {
        "name": f"pydebug-hook rank {record.rank} (pid {record.pid})",
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": connect_host, "port": port},
        "justMyCode": False,
    }
    lines = [
        f"host  {connect_host}",
        f"port  {port}",
        "",
        'VS Code: add to "configurations" in .vscode/launch.json (PyCharm, nvim-dap: the same host and port)',
        json.dumps(launch, indent=4),
    ]
    if tunnel:
        where = "From another machine" if here else f"The session is on {record.host}: from here"
        lines += ["", f"{where}, open a tunnel first, then attach to localhost:{port}:", f"    {ssh_forward(port, bound, record.host)}"]
    # record fields came from a file: printed escaped, line by line (the JSON has several)
    return "".join(printable(line) + "\n" for line in "\n".join(lines).split("\n"))
