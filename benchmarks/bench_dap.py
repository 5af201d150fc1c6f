"""Time from an uncaught exception to the dap endpoint answering, and to an IDE stopped on
the exception.

Each run starts a program (the installed package, ``IPDB_MODE=dap``) that notes the
wall-clock time just before it raises.  A minimal DAP client (here, not node: its own
start-up would be counted) connects as soon as the port accepts and sends what VS Code
sends: ``initialize`` (answered: the endpoint is serving), ``attach``,
``configurationDone``, then waits for the ``stopped`` event (the IDE shows the raising
frame).  It then sends ``continue``; the program must exit with status 1.

Usage: python benchmarks/bench_dap.py [--runs 20] [--python PATH]
(the interpreter must have pydebug-hook installed: .venv-test/py3.11/bin/python).
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from web_client import free_port_block

PROGRAM = """
import sys, time
def fail(n):
    value = n * 2
    sys.stdout.write(repr(time.time()) + "\\n")
    sys.stdout.flush()
    raise RuntimeError("benchmark failure")
fail(21)
"""


class Dap:
    """Just enough of the protocol for the measurement."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.seq = 0

    def send(self, command: str, arguments: Optional[dict] = None) -> int:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command, "arguments": arguments or {}}).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def read(self) -> dict:
        while b"\r\n\r\n" not in self.buffer:
            self._more()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        length = int(head.split(b":")[1])
        while len(self.buffer) < length:
            self._more()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return json.loads(body)

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the session closed the connection")
        self.buffer += chunk

    def until(self, predicate) -> dict:
        while True:
            message = self.read()
            if predicate(message):
                return message


def connect(port: int, deadline: float) -> socket.socket:
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=30)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.001)


def one_run(python: str, script: str, env: dict) -> Tuple[float, float]:
    port = free_port_block(4)
    env = dict(env, IPDB_DAP_PORT=str(port))
    proc = subprocess.Popen([python, script], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        raised_at = float(proc.stdout.readline())
        dap = Dap(connect(port, time.monotonic() + 30))
        first = dap.send("initialize", {"clientID": "vscode", "adapterID": "python", "linesStartAt1": True, "columnsStartAt1": True, "pathFormat": "path"})
        dap.until(lambda m: m.get("type") == "response" and m.get("request_seq") == first)
        answered_at = time.time()
        dap.send("attach", {"justMyCode": False})
        dap.until(lambda m: m.get("event") == "initialized")
        dap.send("configurationDone")
        stopped = dap.until(lambda m: m.get("event") == "stopped")
        stopped_at = time.time()
        dap.send("continue", {"threadId": stopped["body"]["threadId"]})
        if proc.wait(30) != 1:
            raise RuntimeError(f"exit status {proc.returncode}, expected 1")
        dap.sock.close()
        return answered_at - raised_at, stopped_at - raised_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def summary(name: str, seconds) -> str:
    ms = sorted(t * 1000 for t in seconds)
    return f"{name}: median {statistics.median(ms):.0f} ms, worst {ms[-1]:.0f} ms, best {ms[0]:.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPDB_", "PYTHON"))}
    home = tempfile.mkdtemp(prefix="bench-dap-")
    os.makedirs(os.path.join(home, "run"), mode=0o700)
    env.update(IPDB_DEBUG="1", IPDB_MODE="dap", HOME=home, XDG_RUNTIME_DIR=os.path.join(home, "run"))
    script = os.path.join(home, "fail.py")
    with open(script, "w") as f:
        f.write(PROGRAM)
    one_run(args.python, script, env)  # warm the page cache: the figures are for a warm machine
    runs = [one_run(args.python, script, env) for _ in range(args.runs)]
    version = subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True, check=True).stdout.strip()
    print(f"Python {version}, {args.runs} runs")
    print(summary("exception -> endpoint answering (DAP initialize)", [a for a, _ in runs]))
    print(summary("exception -> IDE stopped on the exception", [s for _, s in runs]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
