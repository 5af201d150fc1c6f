"""What one debugging session is about: the exception, where it happened, how to serve it."""

import os
import socket
import threading
import time
from types import FrameType, TracebackType

from .notice import describe_error, printable
from .rank import RankInfo
from .settings import Settings
from .terminal import Terminal
from .values import Value

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional


class SessionError(Exception):
    """The tool could not hold a session; the message is the one line the user sees."""


class ChildInfo(Value):
    """A worker process whose exception its framework would otherwise only pickle."""

    __slots__ = ("kind", "worker_id", "parent_pid")  # noqa: RUF023 -- the fields' order

    def __init__(self, kind: str, worker_id: "Optional[int]", parent_pid: int) -> None:
        self.kind = kind  # "process", "pool", "executor", "dataloader", "spawn"
        self.worker_id = worker_id
        self.parent_pid = parent_pid

    def describe(self) -> str:
        worker = "" if self.worker_id is None else f" {self.worker_id}"
        return f"{self.kind} worker{worker} of pid {self.parent_pid}"

    @property
    def tag(self) -> str:
        """A short path/port-safe name: ``w2`` for worker 2, ``p<pid>`` otherwise."""
        return f"w{self.worker_id}" if self.worker_id is not None else f"p{os.getpid()}"


class Session(Value):
    __slots__ = (  # noqa: RUF023 -- the fields' order
        "exc", "tb", "rank", "settings", "mode", "origin", "frame", "child", "job_id", "label",
        "terminal", "output_captured", "shared", "failed_at", "pid", "host", "thread_name", "thread",
    )

    def __init__(
        self,
        exc: "Optional[BaseException]",
        tb: "Optional[TracebackType]",
        rank: RankInfo,
        settings: Settings,
        mode: str,  # resolved: "console", "socket", "web", "dump" or "dap"
        origin: str,  # "excepthook", "thread", "decorator", "post_mortem", "breakpoint", "child"
        frame: "Optional[FrameType]" = None,  # set for a live breakpoint instead of a post-mortem
        child: "Optional[ChildInfo]" = None,
        job_id: "Optional[str]" = None,
        label: "Optional[str]" = None,  # e.g. "consequence of rank 1's failure"
        # The terminal a console session uses, when the dispatch chose it (auto); None:
        # the console looks for it itself.
        terminal: "Optional[Terminal]" = None,
        # Where our stderr goes when no person sees it there ("a pipe opened by python
        # (pid 41)"): only the terminal tells, and Ctrl-C at the console prompt ends the
        # session.
        output_captured: "Optional[str]" = None,
    ) -> None:
        self.exc = exc
        self.tb = tb
        self.rank = rank
        self.settings = settings
        self.mode = mode
        self.origin = origin
        self.frame = frame
        self.child = child
        self.job_id = job_id
        self.label = label
        self.terminal = terminal
        self.output_captured = output_captured
        # This session's entry in the place its job's hosts share (job/board.Entry), when
        # there is one: told of the session's record for ``ls`` and ``attach`` elsewhere.
        self.shared: Optional[Any] = None
        self.failed_at = time.time()
        self.pid = os.getpid()
        self.host = socket.gethostname()
        thread = threading.current_thread()
        self.thread_name = thread.name
        self.thread = thread

    @property
    def is_breakpoint(self) -> bool:
        return self.frame is not None

    @property
    def summary(self) -> str:
        """One line naming the exception, short enough for a table cell."""
        if self.is_breakpoint:
            code = self.frame.f_code
            return f"breakpoint in {code.co_name} ({os.path.basename(code.co_filename)}:{self.frame.f_lineno})"
        if self.exc is None:
            return "traceback"
        # The message is the program's text (its __str__ may even fail): one line,
        # control characters escaped, as everything printed that came from elsewhere.
        line = printable(" ".join(describe_error(self.exc).split()))
        return line if len(line) <= 160 else line[:157] + "..."

    @property
    def exc_name(self) -> str:
        return printable(type(self.exc).__name__) if self.exc is not None else "traceback"

    @property
    def where(self) -> str:
        """``rank 1/3 (pid 42, host h)`` plus the child and thread when they matter."""
        r = self.rank
        parts = [f"pid {self.pid}", f"host {self.host}"]
        if self.thread_name != "MainThread":
            parts.append(f"thread {printable(self.thread_name)}")
        if self.child is not None:
            parts.append(self.child.describe())
        return f"rank {r.rank}/{r.world_size} ({', '.join(parts)})"

    @property
    def labelled(self) -> str:
        """`` [consequence of rank 1's failure]``, or nothing: what follows a session's
        description in every line about it."""
        return f" [{self.label}]" if self.label else ""

    @property
    def who(self) -> str:
        """``rank 1 (pid 42, ValueError: bad) [its label]``: how the waiting lines and
        the dump's line start."""
        return f"rank {self.rank.rank} (pid {self.pid}, {self.summary}){self.labelled}"

    def require_stack(self) -> None:
        """A SessionError when there is nothing to debug (a post-mortem without a
        traceback: a SyntaxError of the script itself)."""
        if not self.is_breakpoint and self.tb is None:
            raise SessionError("nothing to debug: the exception has no traceback")

    def left_at_exit(self) -> str:
        """The line said when the program exits while this session (of a daemon thread)
        is still open."""
        return f"the program exits (its main thread ended) while the debug session of {self.where} is open; the session ends with it"

    def port(self, base: int) -> int:
        """The TCP port of this session for a base port setting: ``base + rank``; a worker
        process of rank r adds ``world_size * (worker_id + 1)``, so that parent and
        siblings never collide."""
        port = base + self.rank.rank
        if self.child is not None:
            worker = self.child.worker_id
            port += self.rank.world_size * ((worker if worker is not None else 0) + 1)
        return port

    def header(self, outcome: "Optional[str]" = None) -> str:
        """The header line; *outcome* replaces ``-> MODE session`` when none opens."""
        what = self.summary if self.is_breakpoint else self.exc_name
        end = f"({outcome})" if outcome else f"-> {self.mode} session"
        return f"pydebug_hook: {printable(f'{what} on {self.where}{self.labelled} {end}')}\n"
