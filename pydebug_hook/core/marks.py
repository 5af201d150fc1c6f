"""What this process remembers between sessions: which exceptions were debugged (or
reached our excepthook), without writing on them, and the gate its sessions pass one at a
time."""

import os
import threading

# weakref.ref itself: the weakref module (WeakValueDictionary, finalize...) costs a
# fraction of a millisecond to import on every session's way, and only ref is used.
from _weakref import ref as weak_ref

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

_TOKEN = os.urandom(8).hex()
_INSTANCE_DICT = BaseException.__dict__["__dict__"]


def _instance_dict(exc: BaseException) -> "Optional[Dict[str, Any]]":
    try:
        return _INSTANCE_DICT.__get__(exc)
    except Exception:
        return None


class Marks:
    """A set of exception objects, by identity."""

    def __init__(self, name: str) -> None:
        self.key = f"__pydebug_hook_{name}__"
        self._refs: Dict[int, Any] = {}

    def add(self, exc: "Optional[BaseException]") -> None:
        if exc is None:
            return
        key = id(exc)
        try:
            self._refs[key] = weak_ref(exc, lambda _, key=key: self._refs.pop(key, None))
            return
        except TypeError:  # not weakly referenceable: a built-in class, or __slots__
            pass
        found = _instance_dict(exc)
        if found is not None:
            found[self.key] = _TOKEN

    def __contains__(self, exc: "Optional[BaseException]") -> bool:
        if exc is None:
            return False
        ref = self._refs.get(id(exc))
        if ref is not None and ref() is exc:
            return True
        found = _instance_dict(exc)
        return found is not None and found.get(self.key) == _TOKEN

    def discard(self, exc: BaseException) -> None:
        """Forget *exc* (a worker's exception about to be sent to its parent: the
        parent must not see our entry in its dictionary)."""
        self._refs.pop(id(exc), None)
        found = _instance_dict(exc)
        if found is not None:
            found.pop(self.key, None)


DEBUGGED = Marks("debugged")  # a session was opened for it (or is open)
SEEN = Marks("seen")  # it reached our sys.excepthook (see pydebug_hook._hooks._debug_at_exit)
TOLD = Marks("told")  # the parent said it was debugged in a worker (see pydebug_hook.children.worker)


class Gate:
    """Serializes sessions across the threads of one process.

    A thread already in a session (code run from the debugger prompt raising through
    a decorated function) does not open a nested one.  After ``fork`` the child gets a
    fresh lock: the parent's may be held by a thread that does not exist in the child.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.owner: Optional[int] = None

    def enter(self) -> bool:
        """Wait for the gate; False (at once) in a thread that holds it already."""
        me = threading.get_ident()
        if self.owner == me:
            return False
        self.lock.acquire()
        self.owner = me
        return True

    def leave(self) -> None:
        self.owner = None
        self.lock.release()


_gate_holder = []  # [Gate]; replaced in a forked child


def gate() -> Gate:
    """This process's session gate."""
    if not _gate_holder or _gate_holder[0].pid != os.getpid():
        _gate_holder[:] = [Gate()]
    return _gate_holder[0]
