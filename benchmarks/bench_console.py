"""A console session against ``python -m ipdb`` on the same crash: how long each takes
to put its post-mortem ``ipdb>`` prompt on a terminal.

    python benchmarks/bench_console.py [--runs 20]

Run it with the interpreter that has pydebug-hook and ipdb installed
(``.venv-test/py3.11/bin/python`` after ``scripts/test.sh``).  Both run on a real
pseudo-terminal (50x200, ``TERM=xterm``), in the same private ``HOME`` and IPython
directory, in a random order in each round:

- ours: ``IPDB_DEBUG=1 IPDB_MODE=console python crash.py``;
- ipdb's: ``python -m ipdb -c continue crash.py`` (its post-mortem on the uncaught
  exception, without a stop at the first line), with ``IPDB_DEBUG`` unset: the target's
  comparison;
- ipdb's as a person uses it: ``python -m ipdb crash.py``, ``c`` typed as soon as its
  first prompt shows (for scale);

timed from the launch of the command to the prompt on the terminal (what the person at
it waits for), and from the exception (the program writes the moment just before it
raises, CLOCK_MONOTONIC) to the prompt.  One ``python -c pass`` per round gives S.

Target (issue 15): ours / ipdb's, launch to prompt, <= 1.0 (medians).
"""

import argparse
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

from scale import CLEAN, interleaved, machine, python_start, report

CRASH = """
import os, time
def inner(n):
    secret = n * 2
    os.write(1, b"raising at %r\\n" % time.monotonic())
    return 10 / (n - n)
inner(21)
"""
PROMPT = b"ipdb>"  # prompt_toolkit draws it with escape codes around it
RAISED = re.compile(rb"raising at ([0-9.]+)")


def until_prompt(argv, env, answers: tuple = ()) -> dict:
    """Run *argv* on a new pseudo-terminal until ``ipdb>`` shows (after each of
    *answers* was typed at a prompt before); then kill it."""
    start = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal is its stdin, stdout and stderr
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        seen = b""
        deadline = start + 60
        for answer in answers:
            while PROMPT not in seen:
                ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    raise SystemExit(f"no first prompt within 60 s from {argv}")
                seen += os.read(fd, 65536)
            os.write(fd, answer)
            seen = b""
        while PROMPT not in seen:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise SystemExit(f"no prompt within 60 s from {argv}:\n{seen.decode(errors='replace')}")
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the program ended
                chunk = b""
            if not chunk:
                raise SystemExit(f"{argv} ended without a prompt:\n{seen.decode(errors='replace')}")
            seen += chunk
        prompted = time.monotonic()
        raised = RAISED.search(seen) if not answers else None
        if answers:  # the line went by before the first prompt was answered
            return {"launch": prompted - start}
        if raised is None:
            raise SystemExit(f"{argv}: no 'raising at' line:\n{seen.decode(errors='replace')}")
        return {"launch": prompted - start, "exception": prompted - float(raised.group(1))}
    finally:
        os.kill(pid, signal.SIGKILL)  # `q` would restart the program under python -m ipdb
        os.waitpid(pid, 0)
        os.close(fd)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-console-"))
    try:
        (home / "run").mkdir(mode=0o700)
        script = home / "crash.py"
        script.write_text(CRASH)
        env = dict(CLEAN, HOME=str(home), IPYTHONDIR=str(home / "ipython"), XDG_RUNTIME_DIR=str(home / "run"),
                   TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1")
        ours = dict(env, IPDB_DEBUG="1", IPDB_MODE="console")
        python = sys.executable
        print(f"bench_console: {machine()}")
        # The first rounds (not kept) make IPython's profile directory and warm the page cache.
        samples = interleaved(args.runs, {
            "ours": lambda: {f"ours {k}": v for k, v in until_prompt([python, str(script)], ours).items()},
            "ipdb": lambda: {f"ipdb {k}": v for k, v in until_prompt([python, "-m", "ipdb", "-c", "continue", str(script)], env).items()},
            "ipdb c": lambda: {"ipdb c launch": until_prompt([python, "-m", "ipdb", str(script)], env, answers=(b"c\n",))["launch"]},
            "S": python_start,
        })
        report("`python -c pass` (S)", samples["S"])
        report("python -m ipdb -c continue: launch -> prompt", samples["ipdb launch"], samples["S"])
        report("python -m ipdb, c at its first prompt: launch -> prompt", samples["ipdb c launch"], samples["S"])
        report("IPDB_DEBUG=1 (console): launch -> prompt", samples["ours launch"], samples["S"])
        report("python -m ipdb: exception -> prompt", samples["ipdb exception"], samples["S"])
        report("IPDB_DEBUG=1 (console): exception -> prompt", samples["ours exception"], samples["S"])
        ratio = statistics.median(samples["ours launch"]) / statistics.median(samples["ipdb launch"])
        print(f"  ours / ipdb's (-c continue), launch -> prompt: {ratio:.3f}  target <= 1.0: {'met' if ratio <= 1.0 else 'NOT met'}")
        typed = statistics.median(samples["ours launch"]) / statistics.median(samples["ipdb c launch"])
        print(f"  ours / ipdb's (c typed at its first prompt), launch -> prompt: {typed:.3f}")
        print(f"  load at the end: {machine().rsplit('load ', 1)[1]}")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
