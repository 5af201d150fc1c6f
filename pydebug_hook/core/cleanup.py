"""Giving back what a session holds however the program ends: at the session's end, at
exit, on SIGTERM/SIGHUP (then the signal acts as it would have), never in a forked child."""

import atexit
import itertools
import os
import signal
import threading

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Tuple

    Action = Callable[[], None]

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))

_actions: "Dict[int, Tuple[Action, Optional[Action]]]" = {}
_previous: "Dict[int, object]" = {}  # signal -> the disposition before ours
_ids = itertools.count(1)
_state = {"atexit": False, "fork": False, "pid": os.getpid(), "exiting": False}
_ending: "List[int]" = []  # the signal being handled, while the actions run


def ending_signal() -> "Optional[int]":
    """The signal that is ending the process, while the actions run because of it: an
    action may then tell its client or terminal why the session ends."""
    return _ending[-1] if _ending else None


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _safely(action: "Optional[Action]") -> None:
    if action is None:
        return
    try:
        action()
    except Exception:  # cleanup must never turn an ending program into a crashing one
        pass


def run_all() -> None:
    while _actions:
        try:
            _, (action, _) = _actions.popitem()
        except KeyError:
            break
        _safely(action)


def _at_exit() -> None:
    if os.getpid() == _state["pid"]:
        _state["exiting"] = True
        run_all()


def left_behind(thread: threading.Thread) -> bool:
    """Whether the interpreter is exiting while *thread*, in a session, still runs: a
    daemon thread, which Python does not wait for (its session ends unfinished)."""
    return bool(_state["exiting"]) and thread is not threading.current_thread() and thread.is_alive()


def _after_fork_in_child() -> None:
    actions = list(_actions.values())
    _actions.clear()
    _previous.clear()
    _state["pid"] = os.getpid()
    for _, forget in actions:
        _safely(forget)


def _on_signal(signum: int, frame: object) -> None:
    previous = _previous.get(signum, signal.SIG_DFL)  # before the actions: they may restore it
    _ending.append(signum)
    try:
        run_all()
    finally:
        _ending.pop()
    _restore_signals()
    try:
        signal.signal(signum, previous)  # type: ignore[arg-type]
    except (ValueError, TypeError, OSError):
        previous = signal.SIG_DFL
        signal.signal(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        os.kill(os.getpid(), signum)


def set_outside_python(signum: int) -> bool:
    """Whether C code changed the disposition of *signum* after Python started.

    ``signal.getsignal()`` reports what Python last set, not what is in place: torch's
    DataLoader workers install a C handler for SIGTERM (it ends a worker quietly when
    its parent terminates it at exit), and Python still says SIG_DFL.  Such a handler
    could not be put back from Python, so it is left alone.  The kernel's view:
    ``SigCgt`` / ``SigIgn`` in ``/proc/self/status`` (Linux).
    """
    if signal.getsignal(signum) is not signal.SIG_DFL:
        return False  # Python's own (or None: set before Python started)
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith((b"SigCgt:", b"SigIgn:")) and int(line.split()[1], 16) >> (signum - 1) & 1:
                    return True
    except (OSError, ValueError, IndexError):
        pass
    return False


def _hook_signals() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in SIGNALS:
        if signum in _previous:
            continue
        try:
            current = signal.getsignal(signum)
            # Ignored stays ignored; a handler installed outside Python (None, or set
            # after Python started) could not be put back, so it is left in place.
            if current in (signal.SIG_IGN, None) or set_outside_python(signum):
                continue
            signal.signal(signum, _on_signal)
        except (ValueError, OSError):
            continue
        _previous[signum] = current


def _restore_signals() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # the handlers stay; they find nothing to do and re-deliver
    for signum, previous in list(_previous.items()):
        try:
            if signal.getsignal(signum) is _on_signal:  # the program replaced ours: keep its own
                signal.signal(signum, previous)  # type: ignore[arg-type]
        except (ValueError, TypeError, OSError):
            pass
        _previous.pop(signum, None)


def add(action: "Action", forget: "Optional[Action]" = None) -> int:
    """Run *action* once at the end, whatever the end is; *forget* runs instead in a
    forked child.  Returns a key for :func:`done`."""
    if not _state["atexit"]:
        atexit.register(_at_exit)
        _state["atexit"] = True
    if not _state["fork"] and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _state["fork"] = True
    key = next(_ids)
    _actions[key] = (action, forget)
    _hook_signals()
    return key


def done(key: int) -> None:
    """Run the action of *key* now (if it has not run) and forget it."""
    entry = _actions.pop(key, None)
    if entry is not None:
        _safely(entry[0])
    if not _actions:
        _restore_signals()


class Resource:
    """What a session holds (a socket, a record, a place in a queue, a terminal): given
    back once, however the session or the program ends.

    :meth:`close` gives it back: at the session's end, at exit, or on SIGTERM/SIGHUP once
    :meth:`hold` was called; only in the process that took it (a forked child calls
    :meth:`_forget` instead, and its :meth:`close` does nothing); once, whichever comes
    first, also when a signal handler interrupts a close.  A subclass writes
    :meth:`_release` (give everything back) and, when it holds descriptors, :meth:`_forget`
    (close this process's copies without touching what the parent still uses).
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.closed = False
        self._once = threading.RLock()  # a signal handler may close what its thread was closing
        self._key: Optional[int] = None

    def hold(self) -> None:
        """From now on, :meth:`close` runs however the program ends."""
        if self._key is None and not self.closed:
            self._key = add(self.close, forget=self._forget_in_child)

    def close(self) -> None:
        """Give everything back; idempotent, safe in a signal handler and from any thread."""
        if os.getpid() != self.pid:
            return
        with self._once:
            if self.closed:
                return
            self.closed = True
        try:
            self._release()
        finally:
            key, self._key = self._key, None
            if key is not None:
                done(key)  # forgets the action (it ran) and puts the signal handlers back

    def _forget_in_child(self) -> None:
        self.closed = True
        self._forget()

    def _release(self) -> None:
        raise NotImplementedError

    def _forget(self) -> None:
        """In a forked child: close this process's copies of descriptors, nothing else."""
