"""What Linux's ``/proc`` says about a process: its parent, name, start time, terminal, and
whether it is still the process a record names."""

import os

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Union

    Pid = Union[int, str]  # a pid, or "self"


def stat_fields(pid: "Pid" = "self") -> "Optional[List[bytes]]":
    """The fields of ``/proc/PID/stat`` after the command name, so that ``[0]`` is the
    state (field 3 of proc(5)); None when it cannot be read.  The name (field 2) may hold
    spaces and parentheses: the fields start after its last ``)``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2 :].split()


def _field(pid: "Pid", index: int) -> "Optional[int]":
    fields = stat_fields(pid)
    try:
        return int(fields[index]) if fields is not None else None
    except (IndexError, ValueError):
        return None


def parent(pid: "Pid") -> int:
    """The parent's pid (0 when unknown)."""
    return _field(pid, 1) or 0


def tty_nr(pid: "Pid" = "self") -> int:
    """The controlling terminal's device number, as the kernel encodes it (0: none)."""
    return _field(pid, 4) or 0


def start_ticks(pid: "Pid" = "self") -> "Optional[int]":
    """When the process started, in clock ticks since boot: with the pid, what tells a
    process apart from a later one that reuses its pid."""
    return _field(pid, 19)


def name(pid: "Pid") -> "Optional[str]":
    """The process's name (``comm``), as it set it: anything, control characters
    included (print it escaped); None when unknown."""
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            return f.read().rstrip(b"\n").decode("utf-8", "replace")
    except OSError:
        return None


def alive(pid: int, start: "Optional[int]" = None) -> bool:
    """Whether *pid* runs, and, given its *start* (:func:`start_ticks`), is still the
    same process and not a later one with its pid."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if start is not None:
        now = start_ticks(pid)
        if now is not None and now != start:
            return False
    return True


def ours(pid: "Pid") -> bool:
    """Whether process *pid* runs as our uid (its ``/proc`` entry is ours)."""
    try:
        return os.stat(f"/proc/{pid}").st_uid == os.getuid()
    except OSError:
        return False


def environ(pid: "Pid", limit: int = 1 << 20) -> "Optional[Dict[str, str]]":
    """The environment process *pid* started with (``/proc/PID/environ``), None when it
    cannot be read (another user's, gone)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read(limit)
    except OSError:
        return None
    found = {}
    for item in data.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key:
            found[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return found


def argv0(pid: "Pid") -> "Optional[str]":
    """The first word of the process's command line (how it was started: the path of
    its interpreter, for a torchrun worker), None when unknown."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            first = f.read(4096).split(b"\0", 1)[0]
    except OSError:
        return None
    return first.decode("utf-8", "replace") or None


def pids() -> "List[int]":
    """The processes this ``/proc`` shows."""
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
