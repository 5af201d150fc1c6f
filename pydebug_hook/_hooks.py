"""``sys.excepthook`` and ``threading.excepthook``, installed idempotently and chained: the
hooks they replace still print the traceback, before the session, and still decide the
exit status."""

import sys

from . import _catch_sites, _postimport

# Start-up path: this module is imported by the bootstrap, so it imports nothing heavy
# at module level (not even typing); the dispatch loads when an exception arrives.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any, Callable, Dict, List, Optional, Type

_previous_excepthook: "Optional[Callable[..., Any]]" = None
_previous_threading_excepthook: "Optional[Callable[..., Any]]" = None
# False after uninstall() while another hook that wrapped ours (torch's) still calls it:
# ours then passes everything straight to the hook it replaced.
_active = False


def _strip_own(tb: "Optional[TracebackType]") -> "Optional[TracebackType]":
    """*tb* without its leading frames of this module: the traceback of an error raised
    by a previous hook, as it is when Python calls that hook itself."""
    while tb is not None and tb.tb_frame.f_globals.get("__name__") == __name__:
        tb = tb.tb_next
    return tb


def _chain(report: "Callable[[], None]", on_error: "Callable[[BaseException], bool]") -> "Callable[[], None]":
    """Run *report* (the previous hook) now.  What it raises is handed to *on_error*,
    which does at once what Python does when that hook raises, so the output comes
    before the session as it would have come without it; when *on_error* declines
    (``SystemExit``), the error is re-raised by :func:`_reraise` after the session."""
    raised: List[BaseException] = []

    def run() -> None:
        try:
            report()
        except BaseException as exc:
            exc.__traceback__ = _strip_own(exc.__traceback__)
            if not on_error(exc):
                raised.append(exc)

    run.raised = raised  # type: ignore[attr-defined]
    return run


def _reraise(run: "Callable[[], None]") -> None:
    raised = run.raised  # type: ignore[attr-defined]
    if raised:
        try:
            raise raised[0]
        finally:
            raised.clear()  # no reference cycle through this frame


def _print_as_python(prev: "Callable[..., Any]", typ: "Type[BaseException]", value: BaseException, tb: "Optional[TracebackType]") -> None:
    # The core loads at an exception, never at start-up (so for every hook here).
    from .core import dispatch

    if prev is sys.__excepthook__ and dispatch.traceback_stream() is not sys.stderr:
        # sys.stderr is a capture (torch's hook wrapper): print where the user looks now.
        dispatch.print_traceback(value, tb)
    else:
        prev(typ, value, tb)


def _sys_hook_failed(typ: "Type[BaseException]", value: BaseException, tb: "Optional[TracebackType]") -> "Callable[[BaseException], bool]":
    def on_error(error: BaseException) -> bool:
        if isinstance(error, SystemExit):
            return False  # Python exits with its code once the hook returns: re-raise it then
        # What Python's PyErr_PrintEx prints when sys.excepthook raises, with the same
        # printer (sys.__excepthook__ is PyErr_Display); the exit status stays 1.
        try:
            sys.stderr.write("Error in sys.excepthook:\n")
            sys.__excepthook__(type(error), error, error.__traceback__)
            sys.stderr.write("\nOriginal exception was:\n")
            sys.__excepthook__(typ, value, tb)
            sys.stderr.flush()
        except Exception:
            pass
        return True

    return on_error


# Never debugged, and passed to the previous hook before anything else happens: after an
# uncaught KeyboardInterrupt, Python ends the process by SIGINT (status 130 in a shell)
# unless code compiled from a string runs first (an import of a module that builds a
# namedtuple or a dataclass does), which clears the flag that says so and makes it 1.
_PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit)


def _excepthook(typ: "Type[BaseException]", value: BaseException, tb: "Optional[TracebackType]") -> None:
    prev = _previous_excepthook or sys.__excepthook__
    if not _active or hasattr(sys, "ps1") or isinstance(value, _PASS_THROUGH):
        # ps1 exists while the interactive prompt runs (not during `python -i script`):
        # a typo at the >>> prompt is reported, not debugged.
        prev(typ, value, tb)
        return
    from .core import dispatch, marks  # at an exception (see _print_as_python)

    marks.SEEN.add(value)  # for _debug_at_exit: this one reached us
    if value in marks.DEBUGGED and prev is sys.__excepthook__:
        return  # its traceback was printed when its session opened
    on_error = _sys_hook_failed(typ, value, tb)
    run = _chain(lambda: _print_as_python(prev, typ, value, tb), on_error)
    if not dispatch.handle(value, tb, origin="excepthook", report=run):
        # Not ours to debug: the previous hook alone, as if we were not there.
        run = _chain(lambda: prev(typ, value, tb), on_error)
        run()
    _reraise(run)


def _thread_hook_failed(caller: "Any") -> "Callable[[BaseException], bool]":
    def on_error(error: BaseException) -> bool:
        if not isinstance(error, Exception):
            return False  # threading lets these propagate: re-raise after the session
        # What threading's invoke_excepthook does when threading.excepthook raises.
        # The traceback starts at its frame, as it would had the error passed through it.
        try:
            from types import (
                TracebackType,  # an error of a previous hook: rare, and types is cheap
            )

            error.__suppress_context__ = True
            if caller is not None:
                error.__traceback__ = TracebackType(error.__traceback__, caller, caller.f_lasti, caller.f_lineno)
            print("Exception in threading.excepthook:", file=sys.stderr, flush=True)
            hook = sys.excepthook
            if hook is _excepthook:  # Python would call the hook that was there before ours
                hook = _previous_excepthook or sys.__excepthook__
            hook(type(error), error, error.__traceback__)
        except Exception:
            pass
        return True

    return on_error


def _threading_excepthook(args: "Any") -> None:
    import threading  # imported by now: threading calls this hook

    default = threading.__excepthook__
    prev = _previous_threading_excepthook or default
    value = args.exc_value
    if not _active:
        prev(args)
        return
    from .core import dispatch  # at an exception (see _print_as_python)

    if dispatch.already_debugged(value) and prev is default:
        return
    caller = sys._getframe(1)
    run = _chain(lambda: prev(args), _thread_hook_failed(caller))
    if value is None or not dispatch.handle(value, args.exc_traceback, origin="thread", report=run):
        run()
    _reraise(run)


def _debug_at_exit() -> None:
    """The fallback for a program that replaced ``sys.excepthook`` after start-up
    (``rich.traceback.install()``, say) with a hook that does not chain ours.

    Python keeps the uncaught exception in ``sys.last_value`` (``sys.last_exc``) after
    calling whatever hook is installed, with its frames alive until the interpreter
    ends, so the session can still open, at exit; the program's hook printed the
    traceback already.  Registered once, with no cost until the interpreter exits.
    """
    if not _active or hasattr(sys, "ps1"):
        return
    value = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if value is None or isinstance(value, _PASS_THROUGH):
        return  # nothing to import on the way (see _PASS_THROUGH)
    try:
        from .core import dispatch, marks, notice  # at exit only (see _print_as_python)

        if value in marks.SEEN or not dispatch.wanted(value):
            return
        tb = value.__traceback__ or getattr(sys, "last_traceback", None)
        notice.say(
            "the program replaced sys.excepthook after start-up; debugging its uncaught "
            f"{type(value).__name__} at exit"
        )
        dispatch.handle(value, tb, origin="exit", report=lambda: None)
    except Exception:
        pass  # at exit there is nobody left to tell


_exit_hook_registered = []  # [True] once atexit knows _debug_at_exit (install may run twice)
_armed: "Dict[str, Callable[[Any], None]]" = {}  # catch site module -> its post-import callback


def _patch_when_imported(name: str) -> "Callable[[Any], None]":
    def patch(module: "Any") -> None:
        # When the program imports the framework: never at start-up.
        from .children import patches

        patches.status[name] = patches.apply(name, module)

    return patch


def _arm_catch_sites() -> None:
    """Patch each framework's catch site when the program imports it (at once for those
    it imported already): nothing is imported here (see pydebug_hook._catch_sites)."""
    if _armed:
        return
    for name in _catch_sites.MODULES:
        _armed[name] = callback = _patch_when_imported(name)
        _postimport.when_imported(name, callback)


def _disarm_catch_sites() -> None:
    """Patch nothing imported from now on; undo the patches applied."""
    for name, callback in _armed.items():
        _postimport.forget(name, callback)
    _armed.clear()
    patches = sys.modules.get("pydebug_hook.children.patches")  # not imported: nothing patched
    if patches is not None:
        patches.restore()


def _install_threading(threading: "Any") -> None:
    global _previous_threading_excepthook
    if threading.excepthook is not _threading_excepthook:
        _previous_threading_excepthook = threading.excepthook
        threading.excepthook = _threading_excepthook


def install() -> None:
    """Install both hooks; calling it again does nothing."""
    global _previous_excepthook, _active
    _active = True
    if sys.excepthook is not _excepthook:
        _previous_excepthook = sys.excepthook
        sys.excepthook = _excepthook
    if not _exit_hook_registered:
        import atexit  # built in: registering the at-exit fallback costs nothing at start-up

        atexit.register(_debug_at_exit)
        _exit_hook_registered.append(True)
    threading = sys.modules.get("threading")
    if threading is not None:
        _install_threading(threading)
    else:
        # threading is not imported by a bare interpreter; importing it here would
        # cost every start-up.  Patch it when the program imports it.
        _postimport.when_imported("threading", _install_threading)
    _arm_catch_sites()


def uninstall() -> None:
    """Restore the hooks that were there before, where ours are still in place."""
    global _previous_excepthook, _previous_threading_excepthook, _active
    _active = False
    if sys.excepthook is _excepthook:
        sys.excepthook = _previous_excepthook or sys.__excepthook__
        _previous_excepthook = None
    threading = sys.modules.get("threading")
    if threading is not None and threading.excepthook is _threading_excepthook:
        threading.excepthook = _previous_threading_excepthook or threading.__excepthook__
        _previous_threading_excepthook = None
    _postimport.forget("threading", _install_threading)
    _disarm_catch_sites()


def installed() -> bool:
    """Whether our hooks are active (possibly wrapped by a later hook)."""
    return _active
