"""Whether this process has a terminal a console session can use."""

import os
import sys


def stdin_fd() -> int:
    """The file descriptor behind ``sys.stdin``; -1 when it is missing or closed."""
    stream = sys.stdin
    if stream is None:
        return -1
    try:
        if stream.closed:
            return -1
        return stream.fileno()
    except (AttributeError, ValueError, OSError):
        return -1


def stdin_is_terminal() -> bool:
    fd = stdin_fd()
    try:
        return fd >= 0 and os.isatty(fd)
    except OSError:
        return False
