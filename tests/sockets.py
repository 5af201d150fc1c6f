"""Helpers for the socket-mode tests: programs that crash into a socket session, and a
small raw client for the checks that nc/socat cannot express."""

import json
import os
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Optional

from helpers import wait_for

# The program most tests debug: a local `secret` in the raising frame.
CRASH = """
def inner(n):
    secret = n * 2
    return 10 / (n - n)
inner(21)
"""

WAITING = "waits"


def default_sigint() -> None:
    """preexec_fn: Ctrl-C tests must not depend on how pytest was started (a shell's
    background job ignores SIGINT, and children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # in the one waiting line: "... waits for a debugger on PATH ..."


class Program:
    """A program run with IPDB_MODE=socket, its stderr in a file we can poll."""

    def __init__(
        self, procs, python: str, env: Dict[str, str], tmp_path: Path, source: str = CRASH, name: str = "prog", **extra: str
    ) -> None:
        self.dir = tmp_path
        self.script = tmp_path / f"{name}.py"
        self.script.write_text(textwrap.dedent(source))
        self.stderr_path = tmp_path / f"{name}.stderr"
        self.stdout_path = tmp_path / f"{name}.stdout"
        self.env = dict(env, **{"IPDB_DEBUG": "1", "IPDB_MODE": "socket", **extra})
        self._err = open(self.stderr_path, "w")
        self._out = open(self.stdout_path, "w")
        self.proc: subprocess.Popen = procs.popen(
            [python, str(self.script)],
            self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            cwd=str(tmp_path),
            preexec_fn=default_sigint,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def waiting_line(self, timeout: float = 20) -> str:
        def find() -> Optional[str]:
            for line in self.stderr().splitlines():
                if f" {WAITING}" in line and "for a debugger on" in line:
                    return line
            if self.proc.poll() is not None:
                raise AssertionError(f"program exited ({self.proc.returncode}) before waiting:\n{self.stderr()}")
            return None

        return wait_for(find, timeout, "the waiting line")

    def socket_path(self, timeout: float = 20) -> str:
        line = self.waiting_line(timeout)
        path = line.split("for a debugger on ", 1)[1].split(" -- ", 1)[0]
        return path.strip("'")

    def wait(self, timeout: float = 20) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"program did not exit in {timeout}s; stderr:\n{self.stderr()}") from None
        finally:
            self._err.close()
            self._out.close()


class Raw:
    """A bare socket client: send lines, wait for text."""

    def __init__(self, path: str, timeout: float = 10) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.data = ""
        self.timeout = timeout

    def expect(self, text: str, timeout: Optional[float] = None) -> str:
        deadline = time.monotonic() + (timeout or self.timeout)
        while text not in self.data:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {text!r}; got {self.data!r}")
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise AssertionError(f"connection closed while waiting for {text!r}; got {self.data!r}")
            self.data += chunk.decode("utf-8", "replace")
        seen, _, self.data = self.data.partition(text)
        return seen + text

    def read_to_eof(self, timeout: Optional[float] = None) -> str:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"connection not closed; got {self.data!r}")
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                rest, self.data = self.data, ""
                return rest
            self.data += chunk.decode("utf-8", "replace")

    def send(self, line: str) -> None:
        self.sock.sendall((line + "\n").encode())

    def close(self) -> None:
        self.sock.close()


def records(runtime: Path) -> List[dict]:
    directory = runtime / "pydebug_hook"
    if not directory.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(directory.glob("session-*.json"))]


def runtime_dir(env: Dict[str, str]) -> Path:
    return Path(env["XDG_RUNTIME_DIR"])


def gone(path: str) -> bool:
    return not os.path.lexists(path)
