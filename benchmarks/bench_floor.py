"""Where a session's time goes, and the part no code of ours can save: processes that
only import what a session needs, against ``python -c pass`` (S), in the same run.

    python benchmarks/bench_floor.py [--runs 30] [--ranks 32]

Run it with the interpreter that has pydebug-hook installed (``.venv-test/py3.11/bin/python``
after ``scripts/test.sh``).  Each case is one ``python -c`` that imports, and exits:

- Python's modules any socket session needs (socket, select, signal, threading: with
  them enum, collections, functools...), the floor of bench_socket's figure;
- the same and the tool's modules on a socket session's way (what the session adds
  before it does any work);
- web-pdb (web mode's engine, with asyncio), on top of the floor;
- ipdb and IPython's terminal application (the console's engine).

Reported: each case's median over S and minus S (what its imports cost); and for the
first two, N processes doing it at once (bench_ranks' situation), from the moment they
are released to the moment the last has imported.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

from scale import CLEAN, interleaved, machine, python_start, report

FLOOR = "import socket, select, signal, threading"
# The modules a socket session imports first; theirs follow (tests/test_session_imports.py
# holds the exact list).
OURS = (
    "import pydebug_hook.core.dispatch, pydebug_hook.core.reach, pydebug_hook.children.worker, "
    "pydebug_hook.job.launchers, pydebug_hook.job.timeouts, pydebug_hook.modes.socket"
)
CASES = {
    "socket session's Python modules (floor)": FLOOR,
    "floor + the tool's modules on the way": f"{FLOOR}; {OURS}",
    "floor + web-pdb (web mode's engine)": f"{FLOOR}; import web_pdb, web_pdb.asyncio_server",
    "ipdb + IPython's terminal app (console's engine)": "import ipdb.__main__, IPython.terminal.ipapp",
}

RANK = """
import os, sys
os.write(int(sys.argv[2]), b"r")
os.read(int(sys.argv[1]), 1)
{code}
os.write(int(sys.argv[3]), b"d")
"""


def run(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=CLEAN, check=True)
    return time.perf_counter() - start


def at_once(code: str, count: int) -> float:
    """Seconds from releasing *count* processes at once to the last one done with *code*."""
    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    script = RANK.format(code=code)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(go_r), str(ready_w), str(done_w)], env=CLEAN,
                         pass_fds=(go_r, ready_w, done_w))
        for _ in range(count)
    ]
    for fd in (go_r, ready_w, done_w):
        os.close(fd)
    try:
        got = b""
        while len(got) < count:
            got += os.read(ready_r, count)
        start = time.monotonic()
        os.close(go_w)
        go_w = -1
        got = b""
        while len(got) < count:
            got += os.read(done_r, count)
        return time.monotonic() - start
    finally:
        if go_w >= 0:
            os.close(go_w)
        for proc in procs:
            proc.wait(60)
        os.close(ready_r)
        os.close(done_r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--ranks", type=int, default=32)
    args = parser.parse_args()
    print(f"bench_floor: {machine()}")
    measures = {name: (lambda code=code: run(code)) for name, code in CASES.items()}
    samples = interleaved(args.runs, {**measures, "S": python_start})
    unit = samples["S"]
    base = statistics.median(unit)
    report("`python -c pass` (S)", unit)
    for name in CASES:
        report(f"{name} (process)", samples[name], unit)
        cost = statistics.median(samples[name]) - base
        print(f"    {'its imports (median minus S)':<50} {cost * 1e3:7.1f} ms  = {cost / base:5.2f} S")
    print(f"\n  {args.ranks} processes at once, from their release to the last one done ({max(3, args.runs // 6)} runs):")
    runs = max(3, args.runs // 6)
    crowd = interleaved(runs, {
        "nothing": lambda: at_once("pass", args.ranks),
        "floor": lambda: at_once(FLOOR, args.ranks),
        "floor + ours": lambda: at_once(f"{FLOOR}; {OURS}", args.ranks),
        "S": python_start,
    }, warm=1)
    report("release only (pass)", crowd["nothing"], unit)
    report("the floor's imports", crowd["floor"], unit)
    report("the floor's and the tool's imports", crowd["floor + ours"], unit)
    print(f"  load at the end: {machine().rsplit('load ', 1)[1]}")


if __name__ == "__main__":
    main()
