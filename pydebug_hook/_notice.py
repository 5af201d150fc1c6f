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


# Control characters (C0, DEL, C1) and the bidirectional overrides that can disguise
# text: what a one-line message must never pass to a terminal as is.
_UNPRINTABLE = [*range(0x20), *range(0x7F, 0xA0), 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _UNPRINTABLE}


def printable(text: object) -> str:
    """*text* on one line with its control characters escaped (``\\x1b``, a newline as ``\\x0a``):
    for anything printed that came from elsewhere -- exception messages, session
    records, what another process wrote -- so that it cannot move the cursor, retitle
    the terminal or fake a line of ours."""
    return str(text).translate(_ESCAPES)


def say(message: str) -> None:
    """One line ``pydebug_hook: <message>``, control characters escaped."""
    write(PREFIX + printable(message.rstrip("\n")) + "\n")


def warn_once(key: object, message: str) -> None:
    if key in _warned:
        return
    _warned.add(key)
    say(message)


def exception_text(exc: BaseException) -> str:
    """``str(exc)``, or what Python's own traceback printer shows when that fails: an
    exception's ``__str__`` is the program's code, and may raise or return a non-string."""
    try:
        return str(exc)
    except BaseException:  # PyErr_Display swallows whatever it raises, SystemExit included
        return "<exception str() failed>"


def describe_error(exc: BaseException) -> str:
    text = exception_text(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def duration(seconds: float) -> str:
    """A wait in units a person reads at a glance: ``0.5s``, ``90s``, ``45 min``,
    ``2 h``, ``30 days``, ``31,710 years``."""
    if seconds < 120:
        return f"{seconds:g}s"
    for unit, size in (("years", 365 * 86400.0), ("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * size or unit == "min":
            value = seconds / size
            text = f"{value:.1f}".rstrip("0").rstrip(".") if value < 10 else f"{round(value):,}"
            return f"{text} {unit}"
    raise AssertionError("unreachable")
