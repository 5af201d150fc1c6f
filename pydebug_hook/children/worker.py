"""Which worker process this is (its session takes an endpoint of its own), and the note
an exception debugged in a worker carries to its parent (which then opens no second
session).  How each framework hands failures over: docs/workers.md."""

import os
import sys
from types import FrameType, TracebackType

from .._catch_sites import SITES
from ..core import marks, notice, settings
from ..core.session import ChildInfo

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional

# (module, qualified name) of a Process target -> the kind of worker it makes.
_KIND_OF_TARGET = {(module, target): kind for module, kind, target in SITES if target is not None}

# On an exception object (pickled with it to the parent) or on torch's ExceptionWrapper:
# "<child description> (pid <pid>)": the worker where it was debugged.
FROM_CHILD = "__pydebug_hook_from_child__"


def _kind(process: "Any") -> str:
    target = getattr(process, "_target", None)
    key = (getattr(target, "__module__", None), getattr(target, "__qualname__", None))
    return _KIND_OF_TARGET.get(key, "process")


def _worker_id(process: "Any", kind: str) -> "Optional[int]":
    if kind == "dataloader":
        # torch's own numbering ("in DataLoader worker process 1"); set by the worker
        # loop before it runs any user code.
        worker = sys.modules.get("torch.utils.data._utils.worker")
        info = worker.get_worker_info() if worker is not None else None
        wid = getattr(info, "id", None)
        return wid if isinstance(wid, int) else None
    if kind == "spawn":
        args = getattr(process, "_args", ())  # _wrap(fn, i, args, error_file): i is the index
        return args[1] if len(args) > 1 and isinstance(args[1], int) else None
    # multiprocessing's numbering, as in the process's name (ForkPoolWorker-2, Process-3)
    identity = getattr(process, "_identity", ())
    return identity[-1] if identity and isinstance(identity[-1], int) else None


def of_process(process: "Any") -> "Optional[ChildInfo]":
    """The :class:`ChildInfo` of a ``multiprocessing`` process object, None for the main process."""
    try:
        parent = getattr(process, "_parent_pid", None)
        if not isinstance(parent, int):  # _MainProcess has None
            return None
        kind = _kind(process)
        return ChildInfo(kind, _worker_id(process, kind), parent)
    except Exception:  # a framework's odd process object must not cost the session
        return None


def current() -> "Optional[ChildInfo]":
    """This process as a worker, or None (not started by multiprocessing, or not known).
    Never imports multiprocessing: a process that has not imported it is no worker of it."""
    module = sys.modules.get("multiprocessing.process")
    if module is None:
        return None
    try:
        return of_process(module.current_process())
    except Exception:
        return None


def from_caller(tb: "Optional[TracebackType]", caller: FrameType) -> "Optional[TracebackType]":
    """*tb* with its first entry (a frame of ours) replaced by *caller*: the traceback as
    the framework's own ``except`` sees it, and prints it."""
    if tb is None:
        return None
    return TracebackType(tb.tb_next, caller, caller.f_lasti, caller.f_lineno)


def note(child: ChildInfo) -> str:
    return f"{child.describe()} (pid {os.getpid()})"


def hand_over(exc: BaseException, child: ChildInfo) -> None:
    """After the worker's session: the exception leaves for the parent, pickled with its
    ``__dict__``.  Our "debugged" mark must not go with it (the parent's hook would then
    skip printing it); a note saying where it was debugged goes instead."""
    marks.DEBUGGED.discard(exc)
    try:
        setattr(exc, FROM_CHILD, note(child))
    except BaseException:  # an exception that refuses attributes: the parent debugs it too
        pass


def _deepest_frame(tb: "Optional[TracebackType]") -> "Optional[FrameType]":
    frame = None
    while tb is not None:
        frame, tb = tb.tb_frame, tb.tb_next
    return frame


def debugged_in_child(exc: "Optional[BaseException]") -> "Optional[str]":
    """Where *exc*, raised in this (parent) process, was already debugged, if it reports
    the failure of a worker that had its session: the note :func:`hand_over` left."""
    if exc is None:
        return None
    try:
        found = getattr(exc, FROM_CHILD, None)  # Pool, ProcessPoolExecutor: the object itself came back
        if isinstance(found, str):
            return found
        frame = _deepest_frame(exc.__traceback__)
        if frame is not None and frame.f_code.co_name == "reraise":
            # DataLoader: torch's ExceptionWrapper.reraise() raises a new exception made
            # from the wrapper that came from the worker; the note is on the wrapper.
            found = getattr(frame.f_locals.get("self"), FROM_CHILD, None)
            if isinstance(found, str):
                return found
        cls = type(exc)
        spawned = (cls.__module__, cls.__name__) == ("torch.multiprocessing.spawn", "ProcessRaisedException")
        # Only the text of a spawned child's traceback comes back.  The children inherited
        # the environment: with IPDB_DEBUG on there, the child had its session.
        if spawned and settings.parse_flag(os.environ.get("IPDB_DEBUG")):
            return f"spawn worker {exc.error_index} of pid {os.getpid()} (pid {exc.error_pid})"
    except Exception:
        pass
    return None


def told_debugged_in_child(exc: "Optional[BaseException]") -> bool:
    """For the dispatch in the parent: True when *exc* reports a failure debugged in a
    worker, after saying so once (a decorator and then the excepthook may both ask)."""
    where = debugged_in_child(exc)
    if where is None:
        return False
    if exc not in marks.TOLD:
        notice.say(f"{type(exc).__name__} reports the failure of {where}, debugged there; no second session here")
        marks.TOLD.add(exc)
    return True
