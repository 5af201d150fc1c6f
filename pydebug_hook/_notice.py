"""Messages from the tool itself, written to the real stderr file descriptor.

Why fd 2 and not ``sys.stderr``: torch's ``init_process_group`` wraps ``sys.excepthook``
and points ``sys.stderr`` at a ``StringIO`` while our hook runs, so anything written there
would appear only after the session; other hosts redirect ``sys.stderr`` to loggers whose
locks may be held.  A raw ``os.write`` cannot deadlock and is seen at once.
"""

import os
import sys

PREFIX = "pydebug_hook: "

_warned = set()  # keys already warned about: a bad setting is reported once per process


def _flush_python_streams() -> None:
    # Keep ordering with text the program (or the traceback printer) left buffered.
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass


def write(text: str) -> None:
    """Write *text* to fd 2 as is; never raise."""
    _flush_python_streams()
    data = text.encode("utf-8", "backslashreplace")
    try:
        while data:
            n = os.write(2, data)
            data = data[n:]
    except OSError:
        pass


def say(message: str) -> None:
    """One line ``pydebug_hook: <message>``."""
    write(PREFIX + message.rstrip("\n") + "\n")


def warn_once(key: object, message: str) -> None:
    if key in _warned:
        return
    _warned.add(key)
    say(message)


def describe_error(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
