"""What the tool remembers about exception objects ("already debugged", "reached our
excepthook"), without asking the exception: its ``__setattr__`` may refuse (a frozen
dataclass), raise anything (``SystemExit`` included), or its class may have no room.

An exception that can be weakly referenced (a class of the program without
``__slots__``) is remembered by identity, with a weak reference that forgets it when it
dies; nothing is written on it.  Built-in exceptions cannot be weakly referenced: they
get an entry in the instance dictionary that every ``BaseException`` has, written
through ``BaseException``'s own descriptor, past any ``__setattr__``.  The entry holds
a token of this process (a forked child, which may be inside the very session that
handles the exception, inherits it), so that a copy pickled to a process started
anew is not taken there for one already seen.  Neither way keeps the exception, its
traceback or its frames alive.
"""

import os
import weakref
from typing import Any, Dict, Optional

_TOKEN = os.urandom(8).hex()
_INSTANCE_DICT = BaseException.__dict__["__dict__"]


def _instance_dict(exc: BaseException) -> Optional[Dict[str, Any]]:
    try:
        return _INSTANCE_DICT.__get__(exc)
    except Exception:
        return None


class Marks:
    """A set of exception objects, by identity."""

    def __init__(self, name: str) -> None:
        self.key = f"__pydebug_hook_{name}__"
        self._refs: Dict[int, Any] = {}

    def add(self, exc: Optional[BaseException]) -> None:
        if exc is None:
            return
        key = id(exc)
        try:
            self._refs[key] = weakref.ref(exc, lambda _, key=key: self._refs.pop(key, None))
            return
        except TypeError:  # not weakly referenceable: a built-in class, or __slots__
            pass
        found = _instance_dict(exc)
        if found is not None:
            found[self.key] = _TOKEN

    def __contains__(self, exc: Optional[BaseException]) -> bool:
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
SEEN = Marks("seen")  # it reached our sys.excepthook (see _hooks._debug_at_exit)
TOLD = Marks("told")  # the parent said it was debugged in a worker (see _children)
