"""How fast socket mode is where it matters: from the exception to a socket that accepts
connections, and `pydebug-hook ls` with 64 registered sessions.

    python benchmarks/bench_socket.py [--runs 20]

Run it with the interpreter that has pydebug-hook installed (``.venv-test/py3.11/bin/python``
after ``scripts/test.sh``).  Timestamps are CLOCK_MONOTONIC, which is system-wide on Linux:
the crashing program records the moment just before it raises, this process records its
first successful ``connect()`` (polling every 0.2 ms).
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def environment(base: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPDB_", "PYTHON"))}
    runtime = base / "run"
    runtime.mkdir(mode=0o700)
    env.update(XDG_RUNTIME_DIR=str(runtime), HOME=str(base), IPDB_DEBUG="1", IPDB_MODE="socket",
               IPDB_SOCKET_PATH=str(base / "pdb.sock.{rank}"))
    return env


def exception_to_socket(runs: int, base: Path, env: dict) -> list:
    script = base / "crash.py"
    script.write_text(CRASH)
    path = str(base / "pdb.sock.0")
    results = []
    for _ in range(runs):
        proc = subprocess.Popen([sys.executable, str(script)], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
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
                    proc.kill()
                    raise SystemExit("no socket within 30 s") from None
                time.sleep(0.0002)
        raised = float(proc.stdout.readline())
        sock.sendall(b"q\n")
        while sock.recv(65536):
            pass
        sock.close()
        proc.wait(30)
        results.append(connected - raised)
    return results


def listing(runs: int, base: Path, env: dict, count: int = 64) -> tuple:
    holder = subprocess.Popen([sys.executable, "-c", REGISTER, str(count)], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "ready\n"
        out = subprocess.run([sys.executable, "-c", LIST, str(runs), str(count)], env=env, check=True,
                             capture_output=True, text=True).stdout
        in_process = [float(t) for t in out.split()]
        command = []
        exe = shutil.which("pydebug-hook", path=os.path.dirname(sys.executable)) or "pydebug-hook"
        for _ in range(runs):
            t = time.perf_counter()
            done = subprocess.run([exe, "ls"], env=env, capture_output=True, text=True, check=True)
            command.append(time.perf_counter() - t)
            assert len(done.stdout.splitlines()) == count + 1
        baseline = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
            baseline.append(time.perf_counter() - t)
        return in_process, command, baseline
    finally:
        holder.stdin.close()
        holder.wait(10)


def report(name: str, values: list) -> None:
    print(f"  {name:<46} median {ms(statistics.median(values))}   worst {ms(max(values))}   (n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="pydebug_hook-bench-"))
    try:
        env = environment(base)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        report("exception -> socket accepting connections", exception_to_socket(args.runs, base, env))
        in_process, command, baseline = listing(args.runs, base, env)
        report("registry.records() with 64 sessions", in_process)
        report("`pydebug-hook ls` with 64 sessions (whole command)", command)
        report("`python -c pass` (interpreter start, for scale)", baseline)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
