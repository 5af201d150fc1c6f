"""The few control lines between a socket session and ``pydebug-hook attach``, on top of
plain text that ``nc`` and ``socat`` read as it is.  The messages: docs/architecture.md."""

import json

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, Optional, Tuple

VERSION = 1
MARK = "\x00"

HELLO = "hello"
OK = "ok"
READY = "ready"
COMPLETE = "complete"
COMPLETIONS = "completions"
EOF = "eof"

EOF_DETACHES = "detach"
EOF_SENT = "send"


def control(word: str, payload: "Any" = None) -> str:
    """One control line; a non-string *payload* is sent as JSON."""
    if payload is None:
        return f"{MARK}{word}\n"
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"{MARK}{word} {text}\n"


def hello() -> str:
    return control(HELLO, str(VERSION))


def parse(line: str) -> "Optional[Tuple[str, str]]":
    """``(word, payload)`` for a control line (with or without its newline), else None."""
    if not line.startswith(MARK):
        return None
    word, _, payload = line[1:].rstrip("\r\n").partition(" ")
    if not (word.isascii() and word.isidentifier()):
        return None
    return word, payload


def load(payload: str) -> "Any":
    """The JSON payload of a control line; None when it is not valid JSON."""
    try:
        return json.loads(payload)
    except ValueError:
        return None
