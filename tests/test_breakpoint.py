"""Live breakpoints: ``breakpoint()`` with ``PYTHONBREAKPOINT=pydebug_hook.set_trace`` and
``Debugger.set_trace(ranks)``, rank-aware, through the console (a real pty) and the
rank's socket; ``c`` resumes the program."""

import os
import sys
import textwrap

import internals
import pytest
from helpers import PROMPT, command, finish, header_lines, run, transcript, write_script
from sockets import Program, Raw, gone, records, runtime_dir

# Python 3.13's pdb stops on the breakpoint() line itself, older ones on the next line.
STOPS_ON_CALL_LINE = sys.version_info >= (3, 13)

needs_nc = pytest.mark.skipif(not os.path.exists("/usr/bin/nc"), reason="needs netcat-openbsd (scripts/test.sh installs it)")

TWO_RANKS = """
import os
from pydebug_hook import Debugger

def step(x):
    local = x * 2
    {stop}
    print("rank", os.environ["RANK"], "after", local, flush=True)

step(21)
"""


def _job(procs, python, env, tmp_path, stop, **extra):
    source = TWO_RANKS.format(stop=stop)
    ranks = [
        Program(procs, python, env, tmp_path, source=source, name=f"rank{rank}", RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), **extra)
        for rank in (0, 1)
    ]
    return ranks


def _resume_rank_1(one, tmp_path):
    path = one.socket_path()
    assert path == str(tmp_path / "pdb.sock.1")
    assert "breakpoint in step" in one.waiting_line()
    client = Raw(path)
    seen = client.expect("(Pdb) ")
    assert f"{one.script}(" in seen and "step()" in seen
    if STOPS_ON_CALL_LINE:
        client.send("n")
        seen = client.expect("(Pdb) ")
    assert "-> print(" in seen
    client.send("p local")
    client.expect("42")
    assert one.stdout() == ""  # stopped there
    client.send("c")
    client.expect("continuing; session closed")
    client.read_to_eof()
    assert one.wait() == 0
    assert one.stdout() == "rank 1 after 42\n"
    assert gone(path)


@needs_nc
def test_set_trace_ranks_only_rank_1_stops(procs, python, env, tmp_path):
    zero, one = _job(procs, python, env, tmp_path, "Debugger.set_trace(ranks=[1])")
    assert zero.wait() == 0  # went straight on
    assert zero.stdout() == "rank 0 after 42\n" and zero.stderr() == ""
    _resume_rank_1(one, tmp_path)
    assert not os.path.exists(tmp_path / "pdb.sock.0")
    assert records(runtime_dir(env)) == []


@needs_nc
def test_breakpoint_builtin_with_breakpoint_ranks_from_the_environment(procs, python, env, tmp_path):
    """No code change but `breakpoint()`: PYTHONBREAKPOINT and IPDB_BREAKPOINT_RANKS."""
    zero, one = _job(
        procs, python, env, tmp_path, "breakpoint()", PYTHONBREAKPOINT="pydebug_hook.set_trace", IPDB_BREAKPOINT_RANKS="1"
    )
    assert zero.wait() == 0
    assert zero.stdout() == "rank 0 after 42\n" and zero.stderr() == ""
    # `ls` lists the live breakpoint of rank 1 while it waits
    table = run([python, "-m", "pydebug_hook", "ls"], env, timeout=30)
    assert "breakpoint in step" in table.stdout and "1/2" in table.stdout
    _resume_rank_1(one, tmp_path)


@needs_nc
def test_breakpoint_in_a_pool_worker_gets_the_workers_socket(procs, python, env, tmp_path):
    source = """
    import multiprocessing as mp

    def work(n):
        value = n * 7
        if n == 2:
            breakpoint()
        return value

    if __name__ == "__main__":
        with mp.get_context("spawn").Pool(1) as pool:
            print(pool.map(work, range(4)), flush=True)
    """
    prog = Program(procs, python, env, tmp_path, source=textwrap.dedent(source), PYTHONBREAKPOINT="pydebug_hook.set_trace")
    path = prog.socket_path()
    assert path == str(tmp_path / "pdb.sock.0.w1")
    assert f"pool worker 1 of pid {prog.pid}" in header_lines(prog.stderr())[0]
    client = Raw(path)
    client.expect("(Pdb) ")
    client.send("p value")
    client.expect("14")
    client.send("c")
    client.read_to_eof()
    assert prog.wait() == 0
    assert prog.stdout() == "[0, 7, 14, 21]\n"


def test_breakpoint_ranks_setting(python, env):
    probe = internals.PRELUDE + "r = internals.breakpoint_ranks; print(r('1'), r(' 0, 2 '), r(''), r('all'), r('x'), r('-1'))"
    out = run([python, "-c", probe], env)
    assert out.stdout.split() == ["frozenset({1})", "frozenset({0,", "2})", "None", "None", "None", "None"]
    assert out.stderr.splitlines() == [
        "pydebug_hook: IPDB_BREAKPOINT_RANKS='x' is not a comma-separated list of ranks; every rank stops",
        "pydebug_hook: IPDB_BREAKPOINT_RANKS='-1' is not a comma-separated list of ranks; every rank stops",
    ]


CONSOLE = """
def f():
    x = 5
    breakpoint()
    y = x + 1
    print("after", y, flush=True)

f()
print("done", flush=True)
"""


def test_console_breakpoint_lands_in_the_users_frame(procs, python, env, tmp_path):
    script = write_script(tmp_path, CONSOLE)
    env = dict(env, IPDB_MODE="console", PYTHONBREAKPOINT="pydebug_hook.set_trace")
    child = procs.spawn([python, str(script)], env)
    child.expect(PROMPT)
    first = transcript(child)
    assert "--Call--" not in first and "_dispatch" not in first and "pydebug_hook/" not in first
    assert f"{script}({3 if STOPS_ON_CALL_LINE else 4})f()" in first
    assert header_lines(first)[0].startswith("pydebug_hook: breakpoint in f (prog.py:3) on rank 0/1")
    assert "5" in command(child, "p x")
    assert "y = x + 1" in command(child, "n" if STOPS_ON_CALL_LINE else "l")
    child.sendline("c")
    assert finish(child) == 0
    rest = transcript(child)
    assert "after 6" in rest and "done" in rest


def test_console_breakpoint_keeps_a_failing_thread_waiting_for_its_turn(procs, python, env, tmp_path):
    """The session gate is released once a live breakpoint is armed; each of its stops
    takes it again, so a thread failing while the prompt is up waits, then gets its own
    session on the terminal after `c`."""
    source = """
    import threading

    go = threading.Event()

    def work():
        go.wait()
        tlocal = 3
        raise ValueError("thread fails")

    t = threading.Thread(target=work, name="other")
    t.start()

    def f():
        x = 5
        breakpoint()
        t.join()
        print("after", flush=True)

    f()
    """
    script = write_script(tmp_path, textwrap.dedent(source))
    env = dict(env, IPDB_DEBUG="1", IPDB_MODE="console", PYTHONBREAKPOINT="pydebug_hook.set_trace")
    child = procs.spawn([python, str(script)], env)
    child.expect(PROMPT)
    command(child, "p go.set()")  # the thread raises now, while this prompt is up
    for _ in range(5):  # a few round trips: time enough for a header to show, were it free to
        assert "2" in command(child, "p 1 + 1")
    assert [line for line in header_lines(transcript(child)) if "ValueError" in line] == []
    child.sendline("c")
    child.expect("ValueError on rank")  # the thread's session, now
    child.expect(PROMPT)
    headers = header_lines(transcript(child))
    assert len(headers) == 2 and "ValueError on rank 0/1" in headers[1] and "thread other" in headers[1]
    assert "3" in command(child, "p tlocal")
    child.sendline("q")
    assert finish(child) == 0
    assert "after" in transcript(child)
