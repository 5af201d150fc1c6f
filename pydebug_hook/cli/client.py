"""The terminal side of ``pydebug-hook attach``: line editing, history and completion
here, finished lines to the session, Ctrl-C and Ctrl-D that never hurt the program."""

import codecs
import os
import socket
import stat
import sys
from typing import Any, List, Optional, Tuple

from ..core import notice
from ..core.files import file_kind
from ..modes.socket import wire
from ..modes.socket.listener import peer_allowed, peer_of

HISTORY_FILE = "~/.pydebug_hook_history"
HISTORY_LENGTH = 1000
# pdb's own completer delimiters: '.' is not one, so that attribute chains complete.
COMPLETER_DELIMS = " \t\n`@#%^&*()=+[{]}\\|;:'\",<>?"

Event = Tuple[str, str, str]  # ("text", text, "") | ("control", word, payload) | ("closed", "", "")


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
            mark = self._text.find(wire.MARK)
            if mark > 0 or (mark < 0 and self._text):
                end = mark if mark > 0 else len(self._text)
                text, self._text = self._text[:end], self._text[end:]
                return ("text", text, "")
            if mark == 0:
                newline = self._text.find("\n")
                if newline >= 0:
                    line, self._text = self._text[: newline + 1], self._text[newline + 1 :]
                    parsed = wire.parse(line)
                    if parsed is None:
                        return ("text", line.replace(wire.MARK, ""), "")
                    return ("control", parsed[0], parsed[1])
            data = self._receive()
            if not data:
                rest, self._text = self._text, ""
                if rest:
                    return ("text", rest.replace(wire.MARK, ""), "")
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
                notice.say("the program is still running the last command; Ctrl-C again detaches")
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
            elif first == wire.OK:
                self.welcomed = True
            elif first == wire.READY:
                return second or wire.EOF_DETACHES

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
            # Commands may hold secrets: the file is 0600 before a line is written to it
            # (GNU readline keeps an existing file's mode; libedit creates it with the
            # umask's), and a symbolic link in its place is not followed.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
            self._readline.write_history_file(path)
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
        if not self._send(wire.control(wire.COMPLETE, request)):
            return []
        while True:
            kind, first, second = self._next_event()
            if kind == "closed":
                return []
            if kind == "control" and first == wire.COMPLETIONS:
                found = wire.load(second)
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
            self._send(wire.hello())
            while True:
                eof = self._until_ready()
                if eof is None:
                    return 0 if self.welcomed else 1
                prompt, self.pending = self.pending, ""
                try:
                    line = self._input(prompt)
                except EOFError:
                    if eof == wire.EOF_SENT:
                        sys.stdout.write("\n")
                        self._send(wire.control(wire.EOF))
                        continue
                    sys.stdout.write("\n")
                    sys.stdout.flush()
                    notice.say(f"detached; the session keeps waiting (pydebug-hook attach {self.target})")
                    return 0
                if not self._send(line.replace(wire.MARK, "") + "\n"):
                    notice.say("the session closed the connection")
                    return 0
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            notice.say(f"detached; the session keeps waiting (pydebug-hook attach {self.target})")
            return 0
        finally:
            self._save_history()
            try:
                self.sock.close()
            except OSError:
                pass


def connect(path: str) -> Tuple[Optional[socket.socket], str]:
    """A socket connected to a session of ours, or None and why not.

    Whoever serves the socket is checked before a byte is sent: a socket at a
    well-known path may be another user's, waiting for what we type."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return None, f"no socket at {path}"
    except OSError as exc:
        return None, f"cannot connect to {path}: {exc.strerror or exc}"
    if not stat.S_ISSOCK(mode):
        return None, f"{path} is a {file_kind(mode)}, not a socket: no debug session there"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        if isinstance(exc, FileNotFoundError):
            return None, f"no socket at {path}"
        if isinstance(exc, ConnectionRefusedError):
            return None, f"nothing listens on {path} any more (the session is over)"
        if isinstance(exc, PermissionError):
            return None, f"permission denied on {path}: it belongs to another user"
        return None, f"cannot connect to {path}: {exc.strerror or exc}"
    peer = peer_of(sock)
    if not peer_allowed(peer):
        sock.close()
        who = f"uid {peer.uid} (pid {peer.pid})" if peer else "a process whose credentials cannot be read"
        allowed = "root" if os.getuid() == 0 else f"uid {os.getuid()} or root"
        return None, f"{path} is served by {who}, not by {allowed}: not attaching (nothing was sent)"
    return sock, ""


def attach(path: str, target: str) -> int:
    sock, why = connect(path)
    if sock is None:
        notice.say(why)
        return 1
    return Client(sock, target).run()
