"""The terminal queue with plain processes (no torch): ranks of Slurm, Open MPI and
PMI jobs sharing one pty take it one at a time, in the order they failed; a rank
waiting for it is served on its socket; a crash or a signal never wedges the queue.

The ranks are started by a non-interactive bash with ``&`` (stdin /dev/null, the pty
as controlling terminal), the way a launcher script starts them, so these tests also
cover finding the terminal through ``/dev/tty`` and the rank variables of each launcher.
"""

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import internals
import pexpect
import pytest
from distributed import PYDEBUG_HOOK, Ranks, mark_output, wait_output
from helpers import PROMPT, command, finish, run, transcript, wait_for, write_script

pytestmark = pytest.mark.slow


def rank_env(env):
    env.update(IPDB_DEBUG="1")  # IPDB_MODE unset: auto, which must find the terminal
    return env


def header(rank, world=4):
    return rf"IndexError on rank {rank}/{world} \(pid (\d+), host [^)]+\) -> console session"


def waiting(rank, holder):
    return (rf"rank {rank} \(pid \d+, IndexError: rank {rank} failed\) waits for the terminal /dev/pts/\d+, "
            rf"which rank {holder} \(pid \d+\) has; meanwhile attach with: pydebug-hook attach {rank}  or  nc -U (\S+)")


def queue_files(env):
    """Tickets, and the records of live sessions (`ls` prunes those of dead processes:
    a SIGKILL leaves its record behind, unlisted)."""
    base = Path(env["XDG_RUNTIME_DIR"]) / "pydebug_hook"
    listed = subprocess.run([PYDEBUG_HOOK, "ls", "--json"], env=env, capture_output=True, text=True, timeout=30).stdout
    return sorted(str(p) for p in base.glob("tty-*/*")) + [r["endpoint"] for r in json.loads(listed)]


@pytest.fixture
def shown():
    """Children whose whole transcript is printed (pytest shows it) if the test fails."""
    children = []
    yield children.append
    for child in children:
        print(f"--- transcript of {child.args}:\n{transcript(child)}")


@pytest.mark.parametrize("launcher", ["slurm", "open mpi", "pmi"])
def test_four_ranks_take_the_terminal_in_failure_order(launcher, procs, env, tmp_path, python, shown):
    ranks = Ranks(tmp_path, python, launcher)
    child = procs.spawn(["bash", "-c", ranks.shell_line(rank_env(env))], env, timeout=60)
    shown(child)
    ranks.fail(0)
    child.expect(header(0))
    child.expect(PROMPT)
    paths = {}
    for rank in (1, 2, 3):  # one after another, each while rank 0 has the terminal
        ranks.fail(rank)
        child.expect(waiting(rank, holder=0))
        paths[rank] = child.match.group(1)
        assert paths[rank] == str(tmp_path / f"pdb.sock.{rank}")

    # Waiting for the terminal, a rank is debugged through its socket meanwhile.
    out = run(["nc", "-N", "-U", paths[1]], env, input="p secret\n", timeout=30).stdout
    assert "(Pdb) 11\n" in out  # detached: rank 1 is still in the queue
    skipped = None
    if launcher == "open mpi":  # a socket client may also finish one: it leaves the queue
        out = run(["nc", "-N", "-U", paths[2]], env, input="p secret\nq\n", timeout=30).stdout
        assert "(Pdb) 22\n" in out and "session ended" in out
        skipped = 2

    order = [r for r in range(4) if r != skipped]
    for position, rank in enumerate(order):
        assert f"\n{rank * 11}\n" in command(child, "p secret")
        start = mark_output(child)
        child.sendline("q")
        expected = [header(order[position + 1]) + "(.|\n)*" + PROMPT] if position + 1 < len(order) else ["ALL RANKS DONE"]
        if position == 0 and launcher != "pmi":  # a job: rank 0 does not exit before the others
            rest = ", ".join(str(r) for r in order[1:])
            expected.append(rf"rank 0: session ended; waiting for the sessions of ranks {rest} before exiting")
        wait_output(child, start, *expected)
    assert finish(child) == 0
    text = transcript(child)
    for rank in order:
        assert len(re.findall(header(rank), text)) == 1
    if skipped is not None:
        assert not re.findall(header(skipped), text)
        assert "IndexError: rank 2 failed" in text  # its traceback, printed when its session ended
    assert queue_files(env) == []


def test_a_killed_holder_does_not_wedge_the_queue(procs, env, tmp_path, python):
    ranks = Ranks(tmp_path, python, "slurm", count=2)
    child = procs.spawn(["bash", "-c", ranks.shell_line(rank_env(env))], env, timeout=60)
    ranks.fail(0)
    child.expect(header(0))
    holder = int(child.match.group(1))
    child.expect(PROMPT)
    ranks.fail(1)
    child.expect(waiting(1, holder=0))
    os.kill(holder, signal.SIGKILL)  # no cleanup at all: its lock goes with it
    child.expect(header(1))
    child.expect(PROMPT)
    child.sendline("q")
    child.expect("ALL RANKS DONE")
    finish(child)
    assert queue_files(env) == []


CONSOLE_CRASH = """
def inner():
    secret = 42
    raise ValueError("boom")
inner()
"""


def test_sigterm_during_a_console_session(procs, env, tmp_path, python):
    """One line on the terminal, the terminal's settings back (ipdb had it in raw mode),
    record and ticket gone, and the process ends by SIGTERM as it would have."""
    script = write_script(tmp_path, CONSOLE_CRASH)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    line = f'{python} {script}; echo "status=$?"; stty -a; echo END'
    child = procs.spawn(["bash", "-c", line], env, timeout=60)
    child.expect(r"ValueError on rank 0/1 \(pid (\d+),")
    pid = int(child.match.group(1))
    child.expect(PROMPT)
    wait_for(lambda: queue_files(env), 10, "the console record and ticket")
    os.kill(pid, signal.SIGTERM)
    child.expect("rank 0: SIGTERM received: the debug session ends with the process")
    child.expect(r"status=(\d+)")
    assert int(child.match.group(1)) == 128 + signal.SIGTERM
    child.expect("END")
    settings = child.before
    assert re.search(r"(?<!-)icanon", settings) and re.search(r"(?<!-)echo\b", settings), settings
    finish(child)
    assert queue_files(env) == []


def test_a_background_job_of_an_interactive_shell_uses_socket(procs, env, tmp_path, python):
    """Reading the terminal would stop it (SIGTTIN): auto picks socket mode."""
    ranks = Ranks(tmp_path, python, "slurm", count=1)
    ranks.fail(0)
    env.update(IPDB_DEBUG="1", PS1="$ ", **ranks.env_of(0))
    shell = procs.spawn(["bash", "--norc", "--noprofile", "-i"], env, timeout=30)
    shell.expect_exact("$ ")
    shell.sendline(" ".join(ranks.command(0)) + " &")
    shell.expect(r"IndexError on rank 0/4 \(pid \d+, host [^)]+\) -> socket session")
    shell.expect("waits for a debugger on")
    path = str(tmp_path / "pdb.sock.0")
    out = run(["nc", "-N", "-U", path], env, input="q\n", timeout=30).stdout
    assert "session ended" in out
    shell.sendline("wait; exit")
    shell.expect(pexpect.EOF)


WHICH_TERMINAL = internals.PRELUDE + """
import multiprocessing as mp, os, signal
from internals import terminal
console_terminal = terminal.console_terminal

def show(where):
    t = console_terminal()
    print(where, "none" if t is None else (t.device, t.name, t.is_stdin), flush=True)

if __name__ == "__main__":
    show("parent")
    for method in ("fork", "spawn"):
        p = mp.get_context(method).Process(target=show, args=(method,))
        p.start(); p.join()
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sys.stdin = open(os.devnull)
    os.dup2(sys.stdin.fileno(), 0)
    show("nohup")
"""


def test_which_terminal_a_console_session_would_use(procs, env, tmp_path, python):
    """A worker whose sys.stdin multiprocessing replaced by /dev/null keeps its
    terminal; a process that ignores SIGHUP on /dev/null (nohup) has none."""
    script = write_script(tmp_path, WHICH_TERMINAL)
    child = procs.spawn([python, str(script)], env, timeout=60)
    child.expect(pexpect.EOF)
    seen = dict(line.split(" ", 1) for line in transcript(child).splitlines() if line.strip())
    device, name, is_stdin = eval(seen["parent"])  # our own output
    assert is_stdin and name.startswith("/dev/pts/")
    for method in ("fork", "spawn"):
        assert eval(seen[method]) == (device, name, False), seen
    assert seen["nohup"] == "none"


def test_stdin_a_pipe_is_no_terminal(env, tmp_path, python):
    script = write_script(tmp_path, "print(internals.terminal.console_terminal())\n", internals=True)
    result = subprocess.run([python, str(script)], input="", capture_output=True, text=True, env=env, timeout=30)
    assert result.stdout == "None\n"
