"""How fast socket mode is where it matters: from the exception to a socket that accepts
connections, and to the ``(Pdb)`` prompt a client gets; ``pydebug-hook ls`` with 64
registered sessions.  In units of S, one ``python -c pass`` measured in the same run.

    python benchmarks/bench_socket.py [--runs 40]

Run it with the interpreter that has pydebug-hook installed (``.venv-test/py3.11/bin/python``
after ``scripts/test.sh``).  Timestamps are CLOCK_MONOTONIC, which is system-wide on Linux:
the crashing program records the moment just before it raises, this process records its
first successful ``connect()`` (polling every 0.2 ms) and the moment the prompt arrives.
Each round runs the session and one ``python -c pass`` in a random order.

Target (issue 15): exception -> socket accepting <= 1.5 S (median).
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scale import CLEAN, interleaved, machine, python_start, report

CRASH = """
import time, os
def inner(n):
    secret = n * 2
    os.write(1, repr(time.monotonic()).encode() + b"\\n")
    return 10 / (n - n)
inner(21)
"""

# The scripts reach the package's modules through the tests' one door to them.
INTERNALS = f"import sys; sys.path.append({str(Path(__file__).resolve().parents[1] / 'tests')!r}); import internals\n"

REGISTER = INTERNALS + """
import time
from internals import RankInfo, Session, registry, settings
for rank in range(int(sys.argv[1])):
    session = Session(exc=ValueError(f"rank {rank}"), tb=None, rank=RankInfo(rank, rank % 8, 64, "bench"),
                      settings=settings.read({}), mode="socket", origin="excepthook")
    session.failed_at = time.time() - rank
    registry.register(session, f"/tmp/pdb.sock.{rank}")
print("ready", flush=True)
sys.stdin.read()
"""

LIST = INTERNALS + """
import time
from internals import registry
times = []
for _ in range(int(sys.argv[1])):
    t = time.perf_counter()
    found = registry.records()
    times.append(time.perf_counter() - t)
assert len(found) == int(sys.argv[2]), len(found)
print(" ".join(repr(t) for t in times))
"""


def environment(base: Path) -> dict:
    env = dict(CLEAN)
    runtime = base / "run"
    runtime.mkdir(mode=0o700)
    env.update(XDG_RUNTIME_DIR=str(runtime), HOME=str(base), IPDB_DEBUG="1", IPDB_MODE="socket",
               IPDB_SOCKET_PATH=str(base / "pdb.sock.{rank}"))
    return env


def one_session(script: Path, path: str, env: dict) -> dict:
    """One crash: seconds from the exception to a connection accepted, and to the prompt."""
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                connected = time.monotonic()
                break
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    raise SystemExit("no socket within 30 s") from None
                time.sleep(0.0002)
        data = b""
        while b"(Pdb) " not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("the session closed before its prompt")
            data += chunk
        prompted = time.monotonic()
        raised = float(proc.stdout.readline())
        sock.sendall(b"q\n")
        while sock.recv(65536):
            pass
        sock.close()
        proc.wait(30)
        return {"accepting": connected - raised, "prompt": prompted - raised}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def listing(runs: int, env: dict, count: int = 64) -> tuple:
    holder = subprocess.Popen([sys.executable, "-c", REGISTER, str(count)], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "ready\n"
        out = subprocess.run([sys.executable, "-c", LIST, str(runs), str(count)], env=env, check=True,
                             capture_output=True, text=True).stdout
        in_process = [float(t) for t in out.split()]
        exe = shutil.which("pydebug-hook", path=os.path.dirname(sys.executable)) or "pydebug-hook"

        def command() -> float:
            t = time.perf_counter()
            done = subprocess.run([exe, "ls"], env=env, capture_output=True, text=True, check=True)
            assert len(done.stdout.splitlines()) == count + 1
            return time.perf_counter() - t

        return in_process, interleaved(runs, {"ls": command, "S": python_start}, warm=1)
    finally:
        holder.stdin.close()
        holder.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pydebug_hook-bench-"))
    try:
        env = environment(base)
        script = base / "crash.py"
        script.write_text(CRASH)
        path = str(base / "pdb.sock.0")
        print(f"bench_socket: {machine()}")
        samples = interleaved(args.runs, {"session": lambda: one_session(script, path, env), "S": python_start})
        report("`python -c pass` (S)", samples["S"])
        report("exception -> socket accepting connections", samples["accepting"], samples["S"], target=1.5)
        report("exception -> a client has the (Pdb) prompt", samples["prompt"], samples["S"])
        in_process, ls = listing(args.runs, env)
        report("registry.records() with 64 sessions", in_process)
        report("`pydebug-hook ls` with 64 sessions (whole command)", ls["ls"], ls["S"])
        print(f"  load at the end: {machine().rsplit('load ', 1)[1]}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
