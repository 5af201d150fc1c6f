"""32 ranks failing at once: how long until every one can be debugged.

    python benchmarks/bench_ranks.py [--ranks 32] [--runs 5]

Run it with the interpreter that has pydebug-hook installed (``.venv-test/py3.11/bin/python``
after ``scripts/test.sh``).  Each run starts N plain Python processes that look like the
ranks of one torchrun job (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT set: the job's
session files are used), socket mode, all blocked on one pipe; closing the pipe makes
them raise at the same instant.  Measured from that instant (CLOCK_MONOTONIC):

- every socket accepts a connection (``connect()`` succeeds),
- every socket has greeted a client with the ``(Pdb)`` prompt (accepted, debugger up),
- ``pydebug-hook ls --json`` (the whole command) lists all N sessions;

and how long one ``pydebug-hook ls`` takes with N sessions.  The ranks are then ended
with SIGTERM (each removes its socket and record), which is checked.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPDB_", "PYTHON"))}
    runtime = base / "run"
    runtime.mkdir(mode=0o700)
    env.update(
        XDG_RUNTIME_DIR=str(runtime), HOME=str(base), IPDB_DEBUG="1", IPDB_MODE="socket",
        IPDB_SOCKET_PATH=str(base / "pdb.sock.{rank}"), WORLD_SIZE=str(ranks),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(20000 + os.getpid() % 20000),
    )
    return env


def prompt(path: str) -> bool:
    """Connect, wait for the prompt, detach; False when not there yet."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(path)
            data = b""
            while b"(Pdb) " not in data:
                chunk = s.recv(65536)
                if not chunk:
                    return False
                data += chunk
        return True
    except OSError:
        return False


def connectable(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
        return True
    except OSError:
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
            pending = {p for p in pending if not connectable(p)}
            if pending:
                time.sleep(0.005)
        result["connect"] = time.monotonic() - t0
        pending = set(paths)
        while pending:
            pending = {p for p in pending if not prompt(p)}
            if pending:
                time.sleep(0.005)
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
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = [one_run(args.ranks) for _ in range(args.runs)]
    print(f"{args.ranks} ranks failing at once, {args.runs} runs, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    for key, what in (
        ("connect", "every socket accepts connections"),
        ("prompt", "every socket has given a client its (Pdb) prompt"),
        ("ls_all", "pydebug-hook ls lists them all"),
        ("ls_once", f"one pydebug-hook ls with {args.ranks} sessions"),
    ):
        values = [r[key] * 1000 for r in runs]
        print(f"  {what:55s} median {statistics.median(values):7.0f} ms   worst {max(values):7.0f} ms")


if __name__ == "__main__":
    main()
