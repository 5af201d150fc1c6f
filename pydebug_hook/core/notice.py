"""Our own messages, on the real stderr file descriptor (and a copy on the terminal when
stderr reaches nobody), with what came from elsewhere escaped."""

import os
import sys

PREFIX = "pydebug_hook: "

_warned = set()  # keys already warned about: a bad setting is reported once per process
_echo = {"fd": -1, "pid": 0}  # a terminal that gets a copy of our lines, in this process


def _flush_python_streams() -> None:
    # Keep ordering with text the program (or the traceback printer) left buffered.
    for stream in (sys.stderr, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            n = os.write(fd, data)
            data = data[n:]
    except OSError:
        pass


def echo_to(fd: int) -> None:
    """From now on, copy what :func:`write` writes to descriptor *fd* too (-1: none).
    The caller owns *fd* and calls :func:`stop_echo` before closing it."""
    _echo["fd"], _echo["pid"] = fd, os.getpid()


def stop_echo(fd: int) -> None:
    """No more copies to *fd* (a later session may have set its own meanwhile)."""
    if _echo["fd"] == fd:
        _echo["fd"] = -1


def echoing() -> bool:
    return _echo_fd() >= 0


def _echo_fd() -> int:
    # A forked child must not write into its parent's session terminal.
    return _echo["fd"] if _echo["pid"] == os.getpid() else -1


def write(text: str) -> None:
    """Write *text* to fd 2 as is (and to the terminal of :func:`echo_to`); never raise."""
    _flush_python_streams()
    data = text.encode("utf-8", "backslashreplace")
    _write_all(2, data)
    echo(text, _encoded=data)


def echo(text: str, _encoded: bytes = b"") -> None:
    """Write *text* only to the terminal of :func:`echo_to`, if any: what stderr already
    got another way (a traceback printed by the program's hooks)."""
    fd = _echo_fd()
    if fd >= 0:
        _write_all(fd, _encoded or text.encode("utf-8", "backslashreplace"))


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


# What a POSIX shell takes as one word without quotes (shlex.quote's rule; shlex itself is
# not imported on a session's way).
_SHELL_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-")


def shell_word(text: str) -> str:
    """*text* as one word of a shell command (a path in a command to copy): quoted only
    when it must be, as ``shlex.quote`` does."""
    if text and all(char in _SHELL_SAFE for char in text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


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
