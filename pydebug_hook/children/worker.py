"""Which worker process this is, and what an exception debugged here tells the parent.

A worker is a process started by :mod:`multiprocessing` (directly, or for a ``Pool``, a
``ProcessPoolExecutor``, a DataLoader or ``torch.multiprocessing.spawn``).  Its session
must not take its parent's endpoint, so the dispatch asks :func:`current` for every
session (an exception, a thread's, a breakpoint) and the modes add the child's tag to
the socket path and the web port.

When the framework hands the failure to the parent (``Pool.map`` re-raises it, a
``Future`` holds it, the DataLoader re-raises it), the parent must report it as it
always did and not open a second session for a bug already debugged in the worker:
:func:`hand_over` leaves a note on the exception that travels with it, and
:func:`debugged_in_child` reads it in the parent.
"""

import os
import sys
from types import FrameType, TracebackType
from typing import Any, Optional

from ..core.session import ChildInfo

# (module, qualified name) of a Process target -> the kind of worker it makes.
_TARGETS = {
    ("multiprocessing.pool", "worker"): "pool",
    ("concurrent.futures.process", "_process_worker"): "executor",
    ("torch.utils.data._utils.worker", "_worker_loop"): "dataloader",
    ("torch.multiprocessing.spawn", "_wrap"): "spawn",
}

# On an exception object (pickled with it to the parent) or on torch's ExceptionWrapper:
# "<child description> (pid <pid>)": the worker where it was debugged.
FROM_CHILD = "__pydebug_hook_from_child__"


def _kind(process: Any) -> str:
    target = getattr(process, "_target", None)
    key = (getattr(target, "__module__", None), getattr(target, "__qualname__", None))
    return _TARGETS.get(key, "process")


def _worker_id(process: Any, kind: str) -> Optional[int]:
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


def of_process(process: Any) -> Optional[ChildInfo]:
    """The :class:`ChildInfo` of a ``multiprocessing`` process object, None for the main process."""
    try:
        parent = getattr(process, "_parent_pid", None)
        if not isinstance(parent, int):  # _MainProcess has None
            return None
        kind = _kind(process)
        return ChildInfo(kind, _worker_id(process, kind), parent)
    except Exception:  # a framework's odd process object must not cost the session
        return None


def current() -> Optional[ChildInfo]:
    """This process as a worker, or None (not started by multiprocessing, or not known).
    Never imports multiprocessing: a process that has not imported it is no worker of it."""
    module = sys.modules.get("multiprocessing.process")
    if module is None:
        return None
    try:
        return of_process(module.current_process())
    except Exception:
        return None


def from_caller(tb: Optional[TracebackType], caller: FrameType) -> Optional[TracebackType]:
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
    from ..core.marks import DEBUGGED

    DEBUGGED.discard(exc)
    try:
        setattr(exc, FROM_CHILD, note(child))
    except BaseException:  # an exception that refuses attributes: the parent debugs it too
        pass


def _deepest_frame(tb: Optional[TracebackType]) -> Optional[FrameType]:
    frame = None
    while tb is not None:
        frame, tb = tb.tb_frame, tb.tb_next
    return frame


def debugged_in_child(exc: Optional[BaseException]) -> Optional[str]:
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
        if (cls.__module__, cls.__name__) == ("torch.multiprocessing.spawn", "ProcessRaisedException"):
            # Only the text of the child's traceback comes back.  The children inherited
            # the environment: with IPDB_DEBUG on there, the child had its session.
            from ..core.settings import parse_flag

            if parse_flag(os.environ.get("IPDB_DEBUG")):
                return f"spawn worker {exc.error_index} of pid {os.getpid()} (pid {exc.error_pid})"
    except Exception:
        pass
    return None


def told_debugged_in_child(exc: Optional[BaseException]) -> bool:
    """For the dispatch in the parent: True when *exc* reports a failure debugged in a
    worker, after saying so once (a decorator and then the excepthook may both ask)."""
    where = debugged_in_child(exc)
    if where is None:
        return False
    from ..core import marks

    if exc not in marks.TOLD:
        from ..core import notice

        notice.say(f"{type(exc).__name__} reports the failure of {where}, debugged there; no second session here")
        marks.TOLD.add(exc)
    return True
