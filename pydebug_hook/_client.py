"""The terminal side of ``pydebug-hook attach``: a local-feeling prompt on a socket session.

Line editing, history and completion happen here, with readline; the server only sees
finished lines (see :mod:`._wire` for the few control lines).  Ctrl-C cancels the line
being typed and never reaches the debugged program, which runs in another session of
processes; Ctrl-C while a command runs asks for a second Ctrl-C to detach.  Ctrl-D at
the debugger's prompt detaches: the session keeps waiting for the next client.
"""

import codecs
import os
import socket
import sys
from typing import Any, List, Optional, Tuple

from . import _wire

HISTORY_FILE = "~/.pydebug_hook_history"
HISTORY_LENGTH = 1000
# pdb's own completer delimiters: '.' is not one, so that attribute chains complete.
COMPLETER_DELIMS = " \t\n`@#%^&*()=+[{]}\\|;:'\",<>?"

Event = Tuple[str, str, str]  # ("text", text, "") | ("control", word, payload) | ("closed", "", "")


def _err(message: str) -> None:
    sys.stderr.write(f"pydebug-hook: {message}\n")
    sys.stderr.flush()


class Client:
    def __init__(self, sock: socket.socket, target: str) -> None:
        self.sock = sock
        self.target = target
        self.welcomed = False  # the server said OK: we are attached
        self.pending = ""  # text after the last newline: the prompt, when READY comes
        self._text = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._matches: List[str] = []
        self._readline: Any = None

    # -- the stream ---------------------------------------------------------------------

    def _next_event(self) -> Event:
        while True:
            mark = self._text.find(_wire.MARK)
            if mark > 0 or (mark < 0 and self._text):
                end = mark if mark > 0 else len(self._text)
                text, self._text = self._text[:end], self._text[end:]
                return ("text", text, "")
            if mark == 0:
                newline = self._text.find("\n")
                if newline >= 0:
                    line, self._text = self._text[: newline + 1], self._text[newline + 1 :]
                    parsed = _wire.parse(line)
                    if parsed is None:
                        return ("text", line.replace(_wire.MARK, ""), "")
                    return ("control", parsed[0], parsed[1])
            data = self._receive()
            if not data:
                rest, self._text = self._text, ""
                if rest:
                    return ("text", rest.replace(_wire.MARK, ""), "")
                return ("closed", "", "")
            self._text += self._decoder.decode(data)

    def _receive(self) -> bytes:
        interrupted = False
        while True:
            try:
                return self.sock.recv(65536)
            except KeyboardInterrupt:
                if interrupted:
                    raise
                interrupted = True
                _err("the program is still running the last command; Ctrl-C again detaches")
            except OSError:
                return b""

    def _show(self, text: str) -> None:
        head, newline, self.pending = (self.pending + text).rpartition("\n")
        if newline:
            sys.stdout.write(head + newline)
            sys.stdout.flush()

    def _send(self, text: str) -> bool:
        try:
            self.sock.sendall(text.encode("utf-8", "replace"))
            return True
        except OSError:
            return False

    def _until_ready(self) -> Optional[str]:
        """Print what the server says until it waits for a line: the EOF mode, or None
        when the session closed the connection."""
        while True:
            kind, first, second = self._next_event()
            if kind == "text":
                self._show(first)
            elif kind == "closed":
                if self.pending:
                    sys.stdout.write(self.pending + "\n")
                    self.pending = ""
                sys.stdout.flush()
                return None
            elif first == _wire.OK:
                self.welcomed = True
            elif first == _wire.READY:
                return second or _wire.EOF_DETACHES

    # -- the terminal -------------------------------------------------------------------

    def _setup_readline(self) -> None:
        try:
            import readline
        except ImportError:  # an interpreter built without it: plain input() still works
            return
        self._readline = readline
        readline.set_completer_delims(COMPLETER_DELIMS)
        readline.set_completer(self._complete)
        if "libedit" in (readline.__doc__ or ""):
            readline.parse_and_bind("bind ^I rl_complete")
        else:
            readline.parse_and_bind("tab: complete")
        readline.set_history_length(HISTORY_LENGTH)
        try:
            readline.read_history_file(os.path.expanduser(HISTORY_FILE))
        except (OSError, ValueError):
            pass

    def _save_history(self) -> None:
        if self._readline is None:
            return
        path = os.path.expanduser(HISTORY_FILE)
        try:
            self._readline.write_history_file(path)
            os.chmod(path, 0o600)  # commands may hold secrets
        except OSError:
            pass

    def _complete(self, text: str, state: int) -> Optional[str]:
        # readline swallows exceptions from a completer, but not from a broken socket write
        try:
            if state == 0:
                self._matches = self._ask_completions(text)
            return self._matches[state] if state < len(self._matches) else None
        except Exception:
            return None

    def _ask_completions(self, text: str) -> List[str]:
        rl = self._readline
        request = {"text": text, "line": rl.get_line_buffer(), "begidx": rl.get_begidx(), "endidx": rl.get_endidx()}
        if not self._send(_wire.control(_wire.COMPLETE, request)):
            return []
        while True:
            kind, first, second = self._next_event()
            if kind == "closed":
                return []
            if kind == "control" and first == _wire.COMPLETIONS:
                found = _wire.load(second)
                return [str(m) for m in found] if isinstance(found, list) else []

    def _input(self, prompt: str) -> str:
        while True:
            try:
                return input(prompt)
            except KeyboardInterrupt:
                sys.stdout.write("\n")  # cancel the line, as a shell does

    def run(self) -> int:
        self._setup_readline()
        try:
            self._send(_wire.hello())
            while True:
                eof = self._until_ready()
                if eof is None:
                    return 0 if self.welcomed else 1
                prompt, self.pending = self.pending, ""
                try:
                    line = self._input(prompt)
                except EOFError:
                    if eof == _wire.EOF_SENT:
                        sys.stdout.write("\n")
                        self._send(_wire.control(_wire.EOF))
                        continue
                    sys.stdout.write("\n")
                    sys.stdout.flush()
                    _err(f"detached; the session keeps waiting (pydebug-hook attach {self.target})")
                    return 0
                if not self._send(line.replace(_wire.MARK, "") + "\n"):
                    _err("the session closed the connection")
                    return 0
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            _err(f"detached; the session keeps waiting (pydebug-hook attach {self.target})")
            return 0
        finally:
            self._save_history()
            try:
                self.sock.close()
            except OSError:
                pass


def connect(path: str) -> Tuple[Optional[socket.socket], str]:
    """A connected socket, or None and why not."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        return sock, ""
    except FileNotFoundError:
        why = f"no socket at {path}"
    except ConnectionRefusedError:
        why = f"nothing listens on {path} any more (the session is over)"
    except PermissionError:
        why = f"permission denied on {path}: it belongs to another user"
    except OSError as exc:
        why = f"cannot connect to {path}: {exc.strerror or exc}"
    sock.close()
    return None, why


def attach(path: str, target: str) -> int:
    sock, why = connect(path)
    if sock is None:
        _err(why)
        return 1
    return Client(sock, target).run()
