"""Time from an uncaught exception to the web debugger's page answering HTTP 200, in
units of S (one ``python -c pass`` of the same interpreter, measured in the same run).

Each run starts a program (the installed package, ``IPDB_MODE=web``) that notes the
wall-clock time just before it raises; this script polls the port until ``GET /`` answers
200 and reports the difference.  The program is then quit through the page's WebSocket
and must exit with status 1.  Each round runs the session and one ``python -c pass`` in
a random order.

Usage: python benchmarks/bench_web.py [--runs 20] [--python PATH]
(the interpreter must have pydebug-hook installed: .venv-test/py3.11/bin/python).

Target (issue 15): exception -> page answering <= 4 S (median).
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scale import CLEAN, interleaved, machine, python_start, report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from web_client import WebSocket, free_port_block

PROGRAM = """
import sys, time
def fail(n):
    value = n * 2
    sys.stdout.write(repr(time.time()) + "\\n")
    sys.stdout.flush()
    raise RuntimeError("benchmark failure")
fail(21)
"""


def page_status(port: int) -> int:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
            head = sock.recv(64)
    except OSError:
        return 0
    parts = head.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def one_run(python: str, script: str, env: dict) -> float:
    port = free_port_block(4)
    env = dict(env, IPDB_WEB_PORT=str(port))
    proc = subprocess.Popen([python, script], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=None if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL, text=True)
    try:
        raised_at = float(proc.stdout.readline())
        deadline = time.monotonic() + 30
        while page_status(port) != 200:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the page never answered 200")
            time.sleep(0.001)
        answered_at = time.time()
        WebSocket(port).send("q\n")
        if proc.wait(30) != 1:
            raise RuntimeError(f"exit status {proc.returncode}, expected 1")
        return answered_at - raised_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    env = dict(CLEAN)
    home = tempfile.mkdtemp(prefix="bench-web-")
    os.makedirs(os.path.join(home, "run"), mode=0o700)
    env.update(IPDB_DEBUG="1", IPDB_MODE="web", HOME=home, XDG_RUNTIME_DIR=os.path.join(home, "run"))
    script = os.path.join(home, "fail.py")
    with open(script, "w") as f:
        f.write(PROGRAM)
    print(f"bench_web: {machine()}")
    # The first rounds (not kept) warm the page cache: the figures are for a warm machine.
    samples = interleaved(args.runs, {"page": lambda: one_run(args.python, script, env), "S": lambda: python_start(args.python)})
    report("`python -c pass` (S)", samples["S"])
    report("exception -> page HTTP 200", samples["page"], samples["S"], target=4)
    print(f"  load at the end: {machine().rsplit('load ', 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
