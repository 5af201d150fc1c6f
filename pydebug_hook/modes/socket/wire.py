"""The few control messages between the socket server and ``pydebug-hook attach``.

The session is plain text so that ``nc -U`` and ``socat`` work: the server writes pdb's
output and prompt, the client sends lines.  Our own client adds a handful of control
lines on top, each one a NUL byte, a word, an optional payload and a newline.  A person
typing into ``nc`` never sends a NUL, and the server sends control lines only to a client
that said hello first, so plain clients never see them.

client -> server   ``HELLO``                       I am pydebug-hook attach, protocol 1
server -> client   ``OK``                          control lines from now on
server -> client   ``READY <eof>``                 waiting for a line; the text since the
                                                   last newline is the prompt; ``<eof>`` is
                                                   ``detach`` (Ctrl-D leaves the session) or
                                                   ``send`` (Ctrl-D is the program's EOF)
client -> server   ``COMPLETE <json>``             {"text", "line", "begidx", "endidx"}
server -> client   ``COMPLETIONS <json list>``
client -> server   ``EOF``                         end of input for ``interact`` and friends
"""

import json
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


def control(word: str, payload: Any = None) -> str:
    """One control line; a non-string *payload* is sent as JSON."""
    if payload is None:
        return f"{MARK}{word}\n"
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"{MARK}{word} {text}\n"


def hello() -> str:
    return control(HELLO, str(VERSION))


def parse(line: str) -> Optional[Tuple[str, str]]:
    """``(word, payload)`` for a control line (with or without its newline), else None."""
    if not line.startswith(MARK):
        return None
    word, _, payload = line[1:].rstrip("\r\n").partition(" ")
    if not (word.isascii() and word.isidentifier()):
        return None
    return word, payload


def load(payload: str) -> Any:
    """The JSON payload of a control line; None when it is not valid JSON."""
    try:
        return json.loads(payload)
    except ValueError:
        return None
