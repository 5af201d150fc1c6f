"""32 ranks failing at once: how long until every one can be debugged, in units of S
(one ``python -c pass``, measured in the same run, between the runs).

    python benchmarks/bench_ranks.py [--ranks 32] [--runs 7]

Run it with the interpreter that has pydebug-hook installed (``.venv-test/py3.11/bin/python``
after ``scripts/test.sh``).  Each run starts N plain Python processes that look like the
ranks of one torchrun job (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT set: the job's
session files are used), socket mode, all blocked on one pipe; closing the pipe makes
them raise at the same instant.  Measured from that instant (CLOCK_MONOTONIC):

- every socket accepts connections: a stream socket is bound at its path, asked without
  connecting (a datagram ``connect()`` gets EPROTOTYPE), as ``ls`` asks: a connection
  would be a client, and make that rank load pdb while the others start.  A session's
  path appears only once its socket listens (modes/socket/listener.py), and the next
  step connects to each;
- every socket has greeted a client with the ``(Pdb)`` prompt (accepted, debugger up),
  N clients connecting at once;
- ``pydebug-hook ls --json`` (the whole command) lists all N sessions;

and how long one ``pydebug-hook ls`` takes with N sessions.  The ranks are then ended
with SIGTERM (each removes its socket and record), which is checked.

Target (issue 15): 32 ranks all accepting <= 30 S (median).
"""

import argparse
import errno
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scale import CLEAN, machine, python_start, report

RANK = """
import os, sys
os.write(int(sys.argv[2]), b"r")
os.read(int(sys.argv[1]), 1)  # until the benchmark closes the pipe: every rank at once

def step(rank):
    local = rank * 2
    raise RuntimeError("rank %d: bad batch" % rank)

step(int(os.environ["RANK"]))
"""

PYDEBUG_HOOK = str(Path(sys.executable).with_name("pydebug-hook"))


def environment(base: Path, ranks: int) -> dict:
    env = dict(CLEAN)
    runtime = base / "run"
    runtime.mkdir(mode=0o700)
    env.update(
        XDG_RUNTIME_DIR=str(runtime), HOME=str(base), IPDB_DEBUG="1", IPDB_MODE="socket",
        IPDB_SOCKET_PATH=str(base / "pdb.sock.{rank}"), WORLD_SIZE=str(ranks),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(20000 + os.getpid() % 20000),
    )
    return env


def prompts(paths: list, timeout: float = 30) -> None:
    """Connect to every socket at once (as 32 people would) and wait until each has
    sent its ``(Pdb)`` prompt; then detach from all."""
    clients = {}
    try:
        for path in paths:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            clients[s] = b""
        deadline = time.monotonic() + timeout
        waiting = set(clients)
        while waiting:
            ready, _, _ = select.select(list(waiting), [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise SystemExit(f"{len(waiting)} sessions gave no prompt within {timeout:g} s")
            for s in ready:
                chunk = s.recv(65536)
                if not chunk:
                    raise SystemExit("a session closed before its prompt")
                clients[s] += chunk
                if b"(Pdb) " in clients[s]:
                    waiting.discard(s)
    finally:
        for s in clients:
            s.close()


def listening(path: str) -> bool:
    """A stream socket is bound at *path* (asked without connecting to it)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.connect(path)
        except OSError as exc:
            return exc.errno == errno.EPROTOTYPE
    return False


def listed() -> int:
    out = subprocess.run([PYDEBUG_HOOK, "ls", "--json"], check=False, capture_output=True, text=True, env=ENV).stdout
    return len(json.loads(out or "[]"))


ENV: dict = {}


def one_run(ranks: int) -> dict:
    global ENV
    base = Path(tempfile.mkdtemp(prefix="bench-ranks-"))
    try:
        ENV = environment(base, ranks)
        script = base / "rank.py"
        script.write_text(RANK)
        go_r, go_w = os.pipe()
        ready_r, ready_w = os.pipe()
        procs = []
        for rank in range(ranks):
            env = dict(ENV, RANK=str(rank), LOCAL_RANK=str(rank))
            procs.append(subprocess.Popen(
                [sys.executable, str(script), str(go_r), str(ready_w)], env=env, pass_fds=(go_r, ready_w),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
        os.close(go_r)
        os.close(ready_w)
        got = b""
        while len(got) < ranks:
            got += os.read(ready_r, ranks)
        os.close(ready_r)
        paths = [str(base / f"pdb.sock.{rank}") for rank in range(ranks)]

        t0 = time.monotonic()
        os.close(go_w)  # every rank raises now
        result = {}
        pending = set(paths)
        while pending:
            pending = {p for p in pending if not listening(p)}
            if pending:
                time.sleep(0.005)
        result["connect"] = time.monotonic() - t0
        prompts(paths)
        result["prompt"] = time.monotonic() - t0
        while listed() < ranks:
            pass
        result["ls_all"] = time.monotonic() - t0
        t = time.monotonic()
        assert listed() == ranks
        result["ls_once"] = time.monotonic() - t

        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
        left = [p for p in paths if os.path.exists(p)]
        assert not left, f"sockets left after SIGTERM: {left}"
        assert listed() == 0
        return result
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=32)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"bench_ranks: {args.ranks} ranks failing at once, {args.runs} runs; {machine()}")
    unit = [python_start() for _ in range(3)]  # warm
    one_run(args.ranks)  # warm
    unit, runs = [], []
    for _ in range(args.runs):
        unit += [python_start() for _ in range(5)]
        runs.append(one_run(args.ranks))
    unit += [python_start() for _ in range(5)]
    report("`python -c pass` (S)", unit)
    for key, what, target in (
        ("connect", "every socket accepts connections", 30),
        ("prompt", "every socket has given a client its (Pdb) prompt", None),
        ("ls_all", "pydebug-hook ls lists them all", None),
        ("ls_once", f"one pydebug-hook ls with {args.ranks} sessions", None),
    ):
        report(what, [r[key] for r in runs], unit, target=target)
    print(f"  load at the end: {machine().rsplit('load ', 1)[1]}")


if __name__ == "__main__":
    main()
