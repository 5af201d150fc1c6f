"""``sys.excepthook`` and ``threading.excepthook``, installed idempotently and chained.

The hooks we replace are kept and called: they print the traceback (the default ones
exactly as Python would; rich/IPython ones in their own style) *before* the session, and
whatever they raise (``SystemExit`` from a hook that exits) is re-raised after it, so the
exit status is the one the program would have had.
"""

from __future__ import annotations

import sys

# Start-up path: this module is imported by the bootstrap, so it imports nothing heavy
# at module level (not even typing); the dispatch loads when an exception arrives.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any, Callable, List, Optional, Type

_previous_excepthook: Optional[Callable[..., Any]] = None
_previous_threading_excepthook: Optional[Callable[..., Any]] = None
# False after uninstall() while another hook that wrapped ours (torch's) still calls it:
# ours then passes everything straight to the hook it replaced.
_active = False


def _chain(report: Callable[[], None]) -> Callable[[], None]:
    """Run *report* now, remembering what it raised for :func:`_reraise`."""
    raised: List[BaseException] = []

    def run() -> None:
        try:
            report()
        except BaseException as exc:
            raised.append(exc)

    run.raised = raised  # type: ignore[attr-defined]
    return run


def _reraise(run: Callable[[], None]) -> None:
    raised = run.raised  # type: ignore[attr-defined]
    if raised:
        raise raised[0]


def _print_as_python(prev: Callable[..., Any], typ: Type[BaseException], value: BaseException, tb: Optional[TracebackType]) -> None:
    from . import _dispatch

    if prev is sys.__excepthook__ and _dispatch.traceback_stream() is not sys.stderr:
        # sys.stderr is a capture (torch's hook wrapper): print where the user looks now.
        _dispatch.print_traceback(value, tb)
    else:
        prev(typ, value, tb)


def _excepthook(typ: Type[BaseException], value: BaseException, tb: Optional[TracebackType]) -> None:
    prev = _previous_excepthook or sys.__excepthook__
    if not _active:
        prev(typ, value, tb)
        return
    from . import _dispatch

    if _dispatch.already_debugged(value) and prev is sys.__excepthook__:
        return  # its traceback was printed when its session opened
    run = _chain(lambda: _print_as_python(prev, typ, value, tb))
    if not _dispatch.handle(value, tb, origin="excepthook", report=run):
        prev(typ, value, tb)
        return
    _reraise(run)


def _threading_excepthook(args: Any) -> None:
    import threading

    prev = _previous_threading_excepthook or threading.__excepthook__
    value = args.exc_value
    if not _active:
        prev(args)
        return
    from . import _dispatch

    if _dispatch.already_debugged(value) and prev is threading.__excepthook__:
        return
    run = _chain(lambda: prev(args))
    if value is None or not _dispatch.handle(value, args.exc_traceback, origin="thread", report=run):
        prev(args)
        return
    _reraise(run)


def _install_threading(threading: Any) -> None:
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
    threading = sys.modules.get("threading")
    if threading is not None:
        _install_threading(threading)
    else:
        # threading is not imported by a bare interpreter; importing it here would
        # cost every start-up.  Patch it when the program imports it.
        from . import _postimport

        _postimport.when_imported("threading", _install_threading)
    from . import _patches

    _patches.register()


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
    from . import _patches, _postimport

    _postimport.forget("threading", _install_threading)
    _patches.unregister()


def installed() -> bool:
    """Whether our hooks are active (possibly wrapped by a later hook)."""
    return _active
