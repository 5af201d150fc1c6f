"""The patch of each catch site (pydebug_hook._catch_sites): the dispatch runs first, in
the worker, on the live traceback, and then the framework goes on as it would have; a
framework of another shape than the patch knows is left untouched (docs/workers.md)."""

import copyreg
import sys
import traceback
from types import TracebackType
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import worker

_OURS = "__pydebug_hook_patch__"


class Mismatch(Exception):
    """The framework's internals are not the shape a patch was written for."""


# (owner, attribute, original, replacement) of each patch in place, for restore()
_applied: List[Tuple[Any, str, Any, Any]] = []
# What happened to each framework this process imported: module -> "patched" or
# "stepped aside: why" (what `pydebug-hook doctor` shows for the frameworks it imports).
status: Dict[str, str] = {}


def _ours(obj: Any) -> bool:
    return bool(getattr(obj, "__dict__", {}).get(_OURS))


def _same_names(replacement: Any, original: Any) -> Any:
    """The replacement answers to the original's names: a spawned child unpickles a
    process target by module and qualified name, and reprs stay the framework's."""
    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        try:
            setattr(replacement, name, getattr(original, name))
        except (AttributeError, TypeError):
            pass
    setattr(replacement, _OURS, True)
    return replacement


def _arguments(function: Any, expected: Tuple[str, ...], what: str) -> None:
    code = getattr(function, "__code__", None)
    if code is None or code.co_varnames[: len(expected)] != expected:
        raise Mismatch(f"{what} does not take ({', '.join(expected)})")


# -- what runs in the worker's except -----------------------------------------------------


def _debug(exc: BaseException, tb: Optional[TracebackType], child: Any, report: Optional[Callable[[], None]] = None) -> bool:
    """The dispatch for a worker's exception; whether it took it.  Never raises."""
    try:
        # At a worker's exception: the patch loads with its framework, the dispatch later.
        from ..core import dispatch

        if not dispatch.wanted(exc):
            return False
        return dispatch.handle(exc, tb, origin="child", report=report, child=child)
    except Exception:
        return False


def _worker_failed(exc: Any, tb: Optional[TracebackType]) -> Optional[str]:
    """Debug an exception that the framework is about to send to the parent; the note
    that goes with it when it was debugged (see :func:`worker.hand_over`)."""
    if not isinstance(exc, BaseException):
        return None
    child = worker.current()
    if not _debug(exc, tb, child) or child is None:
        return None
    try:
        worker.hand_over(exc, child)
        return worker.note(child)
    except Exception:
        return None


# Before 3.11 a bare ``raise`` re-raises the traceback of sys.exc_info(), our frame included.
_OWN_FRAME_STAYS = sys.version_info < (3, 11)


def _drop_own_frame(exc: BaseException, function: Callable[..., Any]) -> None:
    """Before a bare ``raise`` in *function*: its frame leaves the traceback the framework
    prints (Python 3.11+ re-raises ``__traceback__``; 3.10 keeps the frame)."""
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame.f_code is getattr(function, "__code__", None):
        exc.__traceback__ = tb.tb_next


# -- multiprocessing.Process -------------------------------------------------------------


def _find_bootstrap(module: Any) -> Tuple[Any, str, Any]:
    cls = getattr(module, "BaseProcess", None)
    original = vars(cls).get("_bootstrap") if isinstance(cls, type) else None
    if not callable(original) or not callable(getattr(cls, "run", None)):
        raise Mismatch("multiprocessing.process.BaseProcess has no _bootstrap() and run()")
    _arguments(original, ("self",), "BaseProcess._bootstrap")
    return cls, "_bootstrap", original


def _bootstrap_report(process: Any, exc: BaseException, tb: Optional[TracebackType]) -> Callable[[], None]:
    def report() -> None:
        # What _bootstrap prints for an exception out of run(), in the same words.
        try:
            sys.stderr.write(f"Process {process.name}:\n")
            traceback.print_exception(type(exc), exc, tb)
            sys.stderr.flush()
        except Exception:
            pass

    return report


def _watch_run(process: Any) -> bool:
    """Make this process's ``run()`` debug what escapes it; False if it cannot."""
    try:
        if "run" in vars(process):
            return False  # the program set its own: leave it alone
        run = process.run
    except Exception:
        return False

    def run_watched() -> Any:
        try:
            return run()
        except BaseException as exc:
            tb = worker.from_caller(exc.__traceback__, sys._getframe(1))
            report = _bootstrap_report(process, exc, tb)
            if _debug(exc, tb, worker.of_process(process), report):
                # Printed (by the dispatch, before the session) and debugged: _bootstrap
                # must not print it again.  SystemExit(1) makes it exit with the status
                # it gives an exception, silently.
                raise SystemExit(1) from None
            if _OWN_FRAME_STAYS and not isinstance(exc, SystemExit):
                report()  # as _bootstrap would print it, without our frame
                raise SystemExit(1) from None
            _drop_own_frame(exc, run_watched)
            raise

    try:
        process.run = run_watched
    except Exception:
        return False
    return True


def _make_bootstrap(original: Callable[..., Any]) -> Callable[..., Any]:
    def _bootstrap(self: Any, *args: Any, **kwargs: Any) -> Any:
        watched = _watch_run(self)
        try:
            return original(self, *args, **kwargs)
        finally:
            if watched:
                vars(self).pop("run", None)

    return _same_names(_bootstrap, original)


# -- Pool, ProcessPoolExecutor: the exception's carrier to the parent ---------------------


def _find_carrier(module: Any, name: str) -> Tuple[Any, str, Any]:
    original = getattr(module, name, None)
    if not isinstance(original, type) or "__reduce__" not in vars(original):
        # Its own __reduce__ is what keeps our subclass out of the pickle the parent reads.
        raise Mismatch(f"{module.__name__}.{name} is not a class with its own __reduce__")
    _arguments(original.__init__, ("self", "exc", "tb"), f"{module.__name__}.{name}")
    return module, name, original


def _make_carrier(original: type) -> type:
    class Carrier(original):  # type: ignore[valid-type, misc]
        # Pickled through the original's __reduce__: the parent sees no difference.
        def __init__(self, exc: BaseException, tb: Optional[TracebackType]) -> None:
            _worker_failed(exc, tb)  # before the original formats it and drops the traceback
            super().__init__(exc, tb)

    return _same_names(Carrier, original)


# -- DataLoader workers ------------------------------------------------------------------


def _find_exception_wrapper(module: Any) -> Tuple[Any, str, Any]:
    original = getattr(module, "ExceptionWrapper", None)
    if not isinstance(original, type) or not callable(getattr(original, "reraise", None)):
        raise Mismatch("torch.utils.data._utils.worker.ExceptionWrapper is not the class with reraise()")
    _arguments(original.__init__, ("self", "exc_info", "where"), "ExceptionWrapper")
    if not callable(getattr(module, "get_worker_info", None)):
        raise Mismatch("torch.utils.data._utils.worker has no get_worker_info()")
    return module, "ExceptionWrapper", original


def _make_exception_wrapper(original: type) -> type:
    class Wrapper(original):  # type: ignore[valid-type, misc]
        def __init__(self, exc_info: Any = None, where: str = "in background") -> None:
            if exc_info is None:
                exc_info = sys.exc_info()
            found = _worker_failed(exc_info[1], exc_info[2])
            super().__init__(exc_info, where)
            if found:
                setattr(self, worker.FROM_CHILD, found)

        def __reduce_ex__(self, protocol: Any) -> Any:
            # Sent as torch's own class (a parent without the hooks has no use for ours),
            # its attributes (and our note, read by the parent's dispatch) as they are.
            return copyreg._reconstructor, (original, object, None), dict(vars(self))

    return _same_names(Wrapper, original)


# -- torch.multiprocessing.spawn ---------------------------------------------------------


def _find_spawn_wrap(module: Any) -> Tuple[Any, str, Any]:
    original = getattr(module, "_wrap", None)
    if not callable(original):
        raise Mismatch("torch.multiprocessing.spawn has no _wrap()")
    _arguments(original, ("fn", "i", "args", "error_file"), "torch.multiprocessing.spawn._wrap")
    return module, "_wrap", original


def _watched(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # what _wrap reports (it lets KeyboardInterrupt go silently)
            _worker_failed(exc, worker.from_caller(exc.__traceback__, sys._getframe(1)))
            _drop_own_frame(exc, call)
            raise

    return call


def _make_spawn_wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    def _wrap(fn: Callable[..., Any], i: int, args: Any, error_file: str) -> Any:
        return original(_watched(fn), i, args, error_file)

    _wrap.__wrapped__ = original  # type: ignore[attr-defined]
    return _same_names(_wrap, original)


# -- the patch of each catch site (pydebug_hook._catch_sites lists them) -------------------

Finder = Callable[[Any], Tuple[Any, str, Any]]
Maker = Callable[[Any], Any]

PATCHES: Dict[str, Tuple[Finder, Maker]] = {
    "multiprocessing.process": (_find_bootstrap, _make_bootstrap),
    "multiprocessing.pool": (lambda m: _find_carrier(m, "ExceptionWithTraceback"), _make_carrier),
    "concurrent.futures.process": (lambda m: _find_carrier(m, "_ExceptionWithTraceback"), _make_carrier),
    "torch.utils.data._utils.worker": (_find_exception_wrapper, _make_exception_wrapper),
    "torch.multiprocessing.spawn": (_find_spawn_wrap, _make_spawn_wrap),
}


def _current(owner: Any, name: str) -> Any:
    return vars(owner).get(name) if isinstance(owner, type) else getattr(owner, name, None)


def check(name: str, module: Any) -> str:
    """What :func:`apply` would do to *module*, without doing it."""
    try:
        PATCHES[name][0](module)
    except Mismatch as exc:
        return f"steps aside: {exc}"
    except Exception as exc:
        return f"steps aside: {type(exc).__name__}: {exc}"
    return "applies"


def apply(name: str, module: Any) -> str:
    """Patch *module* (one of :data:`PATCHES`); a short word on what happened.  Never raises."""
    try:
        find, make = PATCHES[name]
        owner, attribute, original = find(module)
        if _ours(original):
            return "patched"
        replacement = make(original)
        setattr(owner, attribute, replacement)
        _applied.append((owner, attribute, original, replacement))
    except Mismatch as exc:
        return f"stepped aside: {exc}"
    except Exception as exc:  # a framework we do not understand is left as it is
        return f"stepped aside: {type(exc).__name__}: {exc}"
    return "patched"


def restore() -> None:
    """Put the originals back where our replacements are still in place."""
    status.clear()
    while _applied:
        owner, attribute, original, replacement = _applied.pop()
        try:
            if _current(owner, attribute) is replacement:
                setattr(owner, attribute, original)
        except Exception:
            pass
