"""The public ``Debugger`` class of the seed, and the functions it shares with the package."""

import sys
from types import FrameType, TracebackType
from typing import Any, Iterable, Optional, Tuple, Union

from . import _hooks
from ._decorator import attach_on_error
from .core import dispatch, settings
from .core.rank import selected as rank_selected

TracebackLike = Union[TracebackType, BaseException, None]
Ranks = Union[int, Iterable[int], None]


def _exception_and_traceback(tb: TracebackLike) -> Tuple[Optional[BaseException], Optional[TracebackType]]:
    if isinstance(tb, BaseException):
        return tb, tb.__traceback__
    _, current, current_tb = sys.exc_info()
    if tb is None:
        return current, current_tb
    if current is not None and current.__traceback__ is tb:
        return current, tb
    return None, tb


def post_mortem(tb: TracebackLike = None) -> None:
    """Debug *tb* (a traceback or an exception; default: the one being handled) in the
    configured mode, whether or not ``IPDB_DEBUG`` is set: you asked for it."""
    exc, tb = _exception_and_traceback(tb)
    if exc is None and tb is None:
        raise ValueError("post_mortem() needs a traceback: call it from an except block or pass one")
    dispatch.handle(exc, tb, origin="post_mortem", force=True)


def set_trace(*args: Any, ranks: Ranks = None, frame: Optional[FrameType] = None, **kwargs: Any) -> None:
    """A live breakpoint at the caller, through the configured mode; ``c`` resumes.

    Usable as ``PYTHONBREAKPOINT=pydebug_hook.set_trace`` (``breakpoint()``'s arguments
    are accepted and ignored).  With *ranks*, only those ranks stop; without it, those
    of ``IPDB_BREAKPOINT_RANKS`` (every rank when unset).  In a worker process the
    session gets the worker's own endpoint, as a post-mortem would.
    """
    if not rank_selected(ranks if ranks is not None else settings.breakpoint_ranks()):
        return
    target = frame if frame is not None else sys._getframe(1)
    dispatch.handle(None, None, origin="breakpoint", force=True, frame=target)


class _DebuggerMeta(type):
    """Makes ``Debugger.debug_flag`` / ``debug_mode`` read the effective setting
    (the code override if set, else the environment) and store an override when set."""

    @property
    def debug_flag(cls) -> bool:
        return settings.enabled()

    @debug_flag.setter
    def debug_flag(cls, value: Optional[bool]) -> None:
        settings.override(flag=value)
        if value:
            # As IPDB_DEBUG=1 would have done at start-up: uncaught exceptions anywhere,
            # not only in decorated functions, open a session from now on.
            _hooks.install()

    @property
    def debug_mode(cls) -> str:
        return settings.mode()

    @debug_mode.setter
    def debug_mode(cls, value: Optional[str]) -> None:
        settings.override(mode=value)


class Debugger(metaclass=_DebuggerMeta):
    """The seed's API.  ``Debugger.debug_flag = True`` / ``Debugger.debug_mode = "web"``
    override ``IPDB_DEBUG`` / ``IPDB_MODE``; assign ``None`` to go back to the environment."""

    attach_on_error = staticmethod(attach_on_error)
    post_mortem = staticmethod(post_mortem)

    @staticmethod
    def set_trace(ranks: Ranks = None) -> None:
        """A live breakpoint at the caller on the listed ranks (None: those of
        ``IPDB_BREAKPOINT_RANKS``, every rank when it is unset)."""
        set_trace(ranks=ranks, frame=sys._getframe(1))

    @staticmethod
    def blocking_console_post_mortem(rank: Optional[int] = 0, tb: TracebackLike = None) -> None:
        """A console post-mortem of the exception being handled, on *rank* only
        (every rank, one at a time, when None); other ranks return at once."""
        exc, tb = _exception_and_traceback(tb)
        if exc is None and tb is None:
            raise ValueError("blocking_console_post_mortem() must be called from an except block or given a traceback")
        if not rank_selected(rank):
            return
        dispatch.handle(exc, tb, origin="post_mortem", mode="console", force=True)

    # Instance access mirrors the class-level settings.
    @property
    def debug_flag(self) -> bool:  # type: ignore[override]
        return type(self).debug_flag

    @property
    def debug_mode(self) -> str:  # type: ignore[override]
        return type(self).debug_mode
