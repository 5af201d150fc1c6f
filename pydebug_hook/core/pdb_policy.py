"""The one debugger policy of every mode (console's ipdb, the socket's pdb, web-pdb): which
frames a session never stops in, and what ``c`` and ``q`` do after a post-mortem."""

import os

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, TypeVar

    D = TypeVar("D")

# pdb's own `skip` patterns: a live session never stops in our frames on its way back to
# the user's (without it, the first stop is a `--Call--` in the dispatch).
SKIP = ("pydebug_hook", "pydebug_hook.*")
# The same frames for a debugger that takes paths, not module names (debugpy's pydevd):
# the package's directory, with a trailing separator.
PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "")


def skipping_ours(debugger: "D") -> "D":
    """*debugger* with our modules added to the ones it skips."""
    skip: Any = getattr(debugger, "skip", None) or ()
    debugger.skip = set(skip) | set(SKIP)  # type: ignore[attr-defined]
    return debugger


def post_mortem(debugger: "D") -> "D":
    """*debugger* set up for a post-mortem: ``c`` and ``q`` end the session and leave the
    program as it was.

    Stock pdb's ``c`` and ``q`` call ``sys.settrace(None)`` (and ``c`` deletes the
    ``f_trace`` of the frames above it): that switches off the program's own tracer,
    coverage or a profiler, which must go on measuring the program after the session.
    And ``c`` would install pdb's SIGINT handler for good (a later Ctrl-C would start a
    debugger in a program that has none): a post-mortem has nothing to interrupt.
    """
    bdb: Any = debugger

    def set_continue() -> None:
        bdb._set_stopinfo(bdb.botframe, None, -1)

    def set_quit() -> None:
        bdb.stopframe, bdb.returnframe, bdb.quitting = bdb.botframe, None, True

    bdb.set_continue, bdb.set_quit = set_continue, set_quit
    bdb.nosigint = True
    return debugger
