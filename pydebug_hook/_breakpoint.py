"""Live breakpoints (``breakpoint()`` with ``PYTHONBREAKPOINT=pydebug_hook.set_trace``,
``Debugger.set_trace(ranks)``): which ranks stop, and arming a console debugger.

Which ranks stop: the ``ranks`` argument when given, else ``IPDB_BREAKPOINT_RANKS``
(``1`` or ``0,2``; empty or ``all``: every rank), so that an unmodified ``breakpoint()``
can stop on one rank of a job.  The other ranks go on at once.
"""

import os
from typing import Any, FrozenSet, Iterable, Optional, Union

from .core import notice

Ranks = Union[int, Iterable[int], None]

# A live session never stops in our own frames on its way back to the user's
# (pdb's own `skip`): without it, the first stop is a `--Call--` in the dispatch.
OUR_MODULES = ("pydebug_hook", "pydebug_hook.*")


def ranks_from_env(value: Optional[str] = None) -> Optional[FrozenSet[int]]:
    """``IPDB_BREAKPOINT_RANKS`` parsed: None for every rank."""
    raw = os.environ.get("IPDB_BREAKPOINT_RANKS") if value is None else value
    if raw is None or raw.strip().lower() in ("", "all", "*"):
        return None
    try:
        ranks = frozenset(int(part) for part in raw.split(",") if part.strip())
        if ranks and min(ranks) >= 0:
            return ranks
    except ValueError:
        pass
    notice.warn_once(
        ("IPDB_BREAKPOINT_RANKS", raw),
        f"IPDB_BREAKPOINT_RANKS={raw!r} is not a comma-separated list of ranks; every rank stops",
    )
    return None


def selected(ranks: Ranks) -> bool:
    """Whether this rank stops at a breakpoint given *ranks* (None: the environment's)."""
    if ranks is None:
        wanted = ranks_from_env()
        if wanted is None:
            return True
    else:
        wanted = frozenset([ranks]) if isinstance(ranks, int) else frozenset(ranks)
    from .core.rank import detect

    return detect().rank in wanted


def arm_console(debugger: Any, frame: Any, take_turns: bool = True) -> None:
    """Start tracing so that *debugger* stops next in the user's *frame* (on Python 3.13+,
    on the ``breakpoint()`` line itself, as pdb does there; before, on the next line).

    With *take_turns*, each stop takes the process's session gate while its prompt is
    up: the gate is released once the breakpoint is armed, and a thread failing
    meanwhile must not open a second prompt on the same terminal.  (Not wanted where
    the caller keeps the terminal for the breakpoint until ``c`` or ``q`` by other
    means: a thread holding the gate while it waits for that terminal would keep the
    breakpoint from ever stopping again.)  Must be the caller's last call: from here
    on, calls in this thread are traced.
    """
    skip = set(getattr(debugger, "skip", None) or ())
    debugger.skip = skip | set(OUR_MODULES)
    if take_turns:
        _take_turns(debugger)
    debugger.set_trace(frame)


def _take_turns(debugger: Any) -> None:
    interaction = debugger.interaction

    def interaction_in_turn(*args: Any, **kwargs: Any) -> Any:
        from .core.dispatch import _gate

        gate = _gate()
        entered = gate.enter()  # False in a prompt of this thread: it is our turn already
        try:
            return interaction(*args, **kwargs)
        finally:
            if entered:
                gate.leave()

    debugger.interaction = interaction_in_turn

