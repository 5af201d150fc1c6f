"""A mode for the in-process tests of the dispatch (test_dispatch.py): it follows the mode
protocol (pydebug_hook/modes/__init__.py) and records what it was asked to do instead of
opening a debugger."""

from typing import Callable, List

from internals import SessionError

sessions: List = []  # every session run, in order
fail_preflight = []  # [message]: preflight raises SessionError(message)
fail_run = []  # [exception]: run raises it after announcing
announce_first = [True]  # False: run never calls announce (the dispatch must report anyway)


def reset() -> None:
    sessions.clear()
    fail_preflight.clear()
    fail_run.clear()
    announce_first[:] = [True]


def preflight(session) -> None:
    if fail_preflight:
        raise SessionError(fail_preflight[0])


def run(session, announce: Callable[[], None]) -> None:
    if announce_first[0]:
        announce()
    sessions.append(session)
    if fail_run:
        raise fail_run[0]


def where(session) -> str:
    return "recorded in this test's process"
