"""Who would see a session wait: where the header and the waiting line reach a person, and
what ``auto`` makes of it (console, socket, or no session).  The rule: docs/auto.md."""

import os
import stat

from . import files, proc, settings
from .notice import printable
from .terminal import Terminal, console_terminal, controlling_terminal, stdin_is_devnull

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Optional, Tuple

CONSOLE, SOCKET = "console", "socket"
UNATTENDED = "unattended"  # auto where nobody would know a session waits: no session

# What stderr is, as far as reaching a person goes.
TERMINAL, LOG, RELAYED = "terminal", "log", "relayed"  # these reach one
PIPE, OTHER = "pipe", "other"  # these do not (a parent captures it, /dev/null, closed...)

_ANCESTORS = 16  # how far up the process tree a pipe is followed
_TERMINAL_MAJORS = (4, 5, *range(136, 144))  # virtual consoles, /dev/tty, pseudo-terminals

# Process names (/proc/PID/comm) of the launcher daemons that start a job's ranks on a
# node and send what they write to the launcher command (its terminal, or the batch
# job's log file); the list is in docs/distributed.md.
OUTPUT_RELAYS = frozenset(("slurmstepd", "orted", "prted", "hydra_pmi_proxy", "pmi_proxy"))
# Launcher commands that read their local ranks' output and write it to their own.
OUTPUT_FORWARDERS = frozenset(("mpirun", "mpiexec", "orterun", "prterun", "mpiexec.hydra"))


def _name_of(pid: int) -> str:
    """A process's name, fit to print (any process may set its own to anything)."""
    name = proc.name(pid)
    return "?" if name is None else printable(name)


def _kind(st: os.stat_result, fd: "Optional[int]" = None) -> "Tuple[str, str]":
    """What an open stderr is, from its ``stat``: ``(kind, description)``."""
    mode = st.st_mode
    if stat.S_ISCHR(mode):
        if os.isatty(fd) if fd is not None else os.major(st.st_rdev) in _TERMINAL_MAJORS:
            return TERMINAL, "a terminal"
        if (os.major(st.st_rdev), os.minor(st.st_rdev)) == (1, 3):
            return OTHER, "/dev/null"
        return OTHER, "a device"
    if stat.S_ISREG(mode):
        return LOG, "a file"
    if stat.S_ISSOCK(mode):
        journal = os.environ.get("JOURNAL_STREAM", "")
        if journal == f"{st.st_dev}:{st.st_ino}":  # systemd's documented test
            return LOG, "the systemd journal"
        return PIPE, "a socket"
    if stat.S_ISFIFO(mode):
        return PIPE, "a pipe"
    return OTHER, "something that is not a terminal, a file or a pipe"


def _follow_pipe(st: os.stat_result) -> "Tuple[str, str]":
    """Where a pipe on our stderr leads.  Up the process tree while the ancestors hold
    the same pipe on their stderr (inherited: a worker of a rank, a rank of torchrun);
    the first that does not created it and reads it.  A launcher daemon that relays it
    (``slurmstepd``...) reaches a person (the launcher's terminal or the job's log);
    ``mpirun`` passes it on to its own stderr, which is followed in turn; anything
    else keeps it: a parent that captures our output."""
    pid, pipe = os.getpid(), (st.st_dev, st.st_ino)
    for _ in range(_ANCESTORS):
        parent = proc.parent(pid)
        if parent <= 1:
            break
        try:
            theirs: Optional[os.stat_result] = os.stat(f"/proc/{parent}/fd/2")
        except OSError:  # another user's process (slurmstepd runs as root), or gone
            theirs = None
        if theirs is not None and (theirs.st_dev, theirs.st_ino) == pipe:
            pid = parent
            continue
        name = _name_of(parent)
        if name in OUTPUT_RELAYS:
            return RELAYED, f"a pipe that {name} (pid {parent}) relays to the job's terminal or log"
        if name in OUTPUT_FORWARDERS and theirs is not None:
            kind, what = _kind(theirs)
            if kind != PIPE or not stat.S_ISFIFO(theirs.st_mode):
                return (RELAYED if kind in (TERMINAL, LOG) else kind), f"a pipe that {name} (pid {parent}) passes on to {what}"
            pid, pipe = parent, (theirs.st_dev, theirs.st_ino)
            continue
        return PIPE, f"a pipe opened by {name} (pid {parent})"
    return PIPE, "a pipe"


def stderr_destination() -> "Tuple[str, str]":
    """Where fd 2 goes: ``(kind, description)``, kind one of TERMINAL, LOG, RELAYED
    (these reach a person), PIPE, OTHER."""
    try:
        st = os.fstat(2)
    except OSError:
        return OTHER, "closed"
    kind, what = _kind(st, 2)
    if kind == PIPE and stat.S_ISFIFO(st.st_mode):
        return _follow_pipe(st)
    return kind, what


def under_ci() -> bool:
    """``CI`` set (GitHub Actions, GitLab CI, Travis, CircleCI, Buildkite... do): nobody
    attends the job, whatever its output goes to."""
    return settings.parse_switch_word(os.environ.get("CI")) is not False


class Reach:
    """Where the lines of a session reach a person; :meth:`close` when done."""

    def __init__(self, stderr: str, stderr_what: str, terminal: "Optional[Terminal]", consoles: bool = False, ci: bool = False) -> None:
        self.stderr = stderr
        self.stderr_what = stderr_what
        self.terminal = terminal  # a terminal a person is at, if any
        # True when it is the terminal a console session would use anyway (stdin's, or
        # /dev/tty for a process started on /dev/null); False when it is the controlling
        # terminal of a process whose stdin a parent or a pipeline gave it.
        self.consoles = consoles
        self.ci = ci
        self.echo_fd = -1  # a copy of the terminal's descriptor for the lines, when stderr is elsewhere
        self._closed = False

    @property
    def stderr_reaches_person(self) -> bool:
        return self.stderr in (TERMINAL, LOG, RELAYED)

    @property
    def console_ok(self) -> bool:
        """A console session could read the terminal without being stopped."""
        return self.terminal is not None and not self.terminal.background()

    @property
    def captured(self) -> bool:
        """Our output goes where no person sees it (a parent captures it); only the
        terminal tells."""
        return not self.stderr_reaches_person

    def auto(self) -> str:
        """What ``auto`` picks: console, socket, or UNATTENDED (no session)."""
        if self.ci:
            return UNATTENDED
        if self.console_ok and (self.consoles or not self.stderr_reaches_person):
            return CONSOLE
        if self.stderr_reaches_person or self.echo_fd >= 0:
            return SOCKET
        return UNATTENDED

    def why_nobody(self) -> str:
        """Why ``auto`` opens no session, in a few words."""
        if self.ci:
            what = "CI is set: nobody attends a CI job"
        elif self.terminal is not None:
            what = f"stderr is {self.stderr_what}, and the terminal {self.terminal.name} would stop this background process"
        else:
            what = f"stderr is {self.stderr_what} and there is no terminal: nobody would know it waits"
        return what

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        fd, self.echo_fd = self.echo_fd, -1
        files.close_quietly(fd)
        if self.terminal is not None:
            self.terminal.close()


def survey() -> Reach:
    """Look, now, at where a session's lines would reach a person."""
    kind, what = stderr_destination()
    ci = under_ci()
    terminal = console_terminal()
    consoles = terminal is not None
    if terminal is None and kind != TERMINAL and not stdin_is_devnull():
        # stdin is a pipe, a file or closed (console_terminal() already looked for the
        # controlling terminal of a process on /dev/null): a build tool or a parent that
        # captures our output still runs on a terminal (pip, subprocess.run(...,
        # capture_output=True)), and a person is there.
        terminal = controlling_terminal()
    reach = Reach(kind, what, terminal, consoles, ci)
    if terminal is not None and kind != TERMINAL and not ci and not terminal.writing_stops_us():
        try:
            reach.echo_fd = os.dup(terminal.fd)
        except OSError:
            pass
    return reach
