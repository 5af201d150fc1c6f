"""Socket mode with real clients: nc -U, socat, detach and re-attach, q/c, timeouts,
live breakpoints, sessions in threads and worker processes, the terminal queue's wake-up."""

import os
import signal
import sys
import textwrap

import internals
import pexpect
import pytest
from helpers import run, strip_ansi, wait_for
from sockets import CRASH, Program, Raw, gone, records, runtime_dir

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/nc"), reason="needs netcat-openbsd (scripts/test.sh installs it)")


def nc(procs, path, env):
    """nc -U on a real pty, as a person would use it."""
    return procs.spawn(["nc", "-U", path], env, timeout=15)


def test_p_local_through_nc(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    line = prog.waiting_line()
    path = prog.socket_path()
    assert f"rank 0 (pid {prog.pid}, ZeroDivisionError: division by zero)" in line
    assert f"nc -U {path}" in line and "pydebug-hook attach 0" in line
    assert prog.stderr().count("Traceback (most recent call last)") == 1

    client = nc(procs, path, env)
    client.expect_exact("(Pdb) ")
    assert "return 10 / (n - n)" in strip_ansi(client.before)
    client.sendline("p secret")
    client.expect_exact("42")
    client.expect_exact("(Pdb) ")
    client.sendline("q")
    client.expect_exact("session ended")
    assert prog.wait() == 1
    assert gone(path)
    assert records(runtime_dir(env)) == []


def test_p_local_through_socat(procs, python, env, tmp_path, has_tool):
    if not has_tool("socat"):
        pytest.skip("needs socat (scripts/test.sh installs it)")
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    client = procs.spawn(["socat", "-", f"UNIX-CONNECT:{path}"], env, timeout=15)
    client.expect_exact("(Pdb) ")
    client.sendline("p secret + 1")
    client.expect_exact("43")
    client.sendline("c")
    client.expect_exact("session ended")
    client.expect(pexpect.EOF)
    assert prog.wait() == 1
    assert gone(path)


def test_commands_piped_into_nc(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    out = run(["nc", "-U", path], env, input="p secret * 3\nq\n", timeout=20)
    assert "126" in out.stdout
    assert "session ended" in out.stdout
    assert prog.wait() == 1


def test_detach_and_reattach_at_same_frame(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    first = nc(procs, path, env)
    first.expect_exact("(Pdb) ")
    first.sendline("up")
    first.expect_exact("-> inner(21)")
    first.expect_exact("(Pdb) ")
    first.close(force=True)  # the client goes away without q/c: a detach

    wait_for(lambda: [r for r in records(runtime_dir(env)) if r["state"] == "waiting"], 10, "the record back to waiting")
    assert prog.proc.poll() is None
    second = nc(procs, path, env)
    second.expect_exact("(Pdb) ")
    # A fresh prompt where the first client left it: the module frame, after `up`.
    assert "<module>()" in strip_ansi(second.before)
    second.sendline("p secret")
    second.expect("NameError")  # `secret` lives one frame down
    second.sendline("down")
    second.expect_exact("(Pdb) ")
    second.sendline("p secret")
    second.expect_exact("42")
    second.sendline("q")
    assert prog.wait() == 1


def test_second_client_refused(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    first = Raw(path)
    first.expect("(Pdb) ")
    refused = run(["nc", "-U", path], env, input="p secret\n", timeout=20)
    assert "refused: another client" in refused.stdout
    # the value alone on a line: the refusal names the attached client's pid, which may contain 42
    assert "42" not in refused.stdout.split()
    assert refused.stdout.count("\n") == 1  # one line
    first.send("p secret")
    first.expect("42")
    first.send("q")
    assert prog.wait() == 1


def test_wait_timeout_keeps_original_exit_status(procs, python, bare_python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path, IPDB_WAIT_TIMEOUT="0.5")
    line = prog.waiting_line()
    assert "waits for 0.5s" in line
    status = prog.wait()
    baseline = run([bare_python, str(prog.script)], env, timeout=20)
    assert status == baseline.returncode == 1
    assert "no debugger attached within 0.5s" in prog.stderr()
    assert prog.stderr().count("Traceback (most recent call last)") == 1
    assert gone(prog.socket_path())
    assert records(runtime_dir(env)) == []


def test_wait_timeout_applies_again_after_detach(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path, IPDB_WAIT_TIMEOUT="2")
    path = prog.socket_path()
    client = Raw(path)
    client.expect("(Pdb) ")
    client.close()
    assert prog.wait() == 1
    assert "no debugger came back within 2s" in prog.stderr()


def test_ctrl_c_on_program_while_waiting(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    os.kill(prog.pid, signal.SIGINT)
    assert prog.wait() == 1
    assert "interrupted (Ctrl-C) while waiting" in prog.stderr()
    assert gone(path)


def test_ctrl_c_on_program_during_session(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    client = Raw(path)
    client.expect("(Pdb) ")
    os.kill(prog.pid, signal.SIGINT)
    client.read_to_eof()
    assert prog.wait() == 1
    assert "interrupted (Ctrl-C): debug session ended" in prog.stderr()
    assert gone(path)


# Python 3.13's pdb stops on the set_trace() line itself, older ones on the next line.
STOPS_ON_CALL_LINE = sys.version_info >= (3, 13)

LIVE = """
import sys
from pydebug_hook import Debugger
def f():
    x = 5
    Debugger.set_trace()
    y = x + 1
    print("after", y, flush=True)
    return y
f()
print("done", flush=True)
"""


def test_live_breakpoint_resumes_with_c(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path, source=LIVE)
    line = prog.waiting_line()
    assert "breakpoint in f" in line
    path = prog.socket_path()
    client = nc(procs, path, env)
    client.expect_exact("(Pdb) ")
    if STOPS_ON_CALL_LINE:
        assert "-> Debugger.set_trace()" in strip_ansi(client.before)
        client.sendline("n")
        client.expect_exact("(Pdb) ")
    assert "-> y = x + 1" in strip_ansi(client.before)
    client.sendline("p x")
    client.expect_exact("5")
    client.sendline("n")
    client.expect_exact("-> print(")
    client.sendline("p y")
    client.expect_exact("6")
    assert prog.stdout() == ""  # stopped: nothing printed yet
    client.sendline("c")
    client.expect_exact("continuing; session closed")
    assert prog.wait() == 0
    assert prog.stdout() == "after 6\ndone\n"
    assert gone(path)
    assert records(runtime_dir(env)) == []


def test_live_breakpoint_detach_mid_step_and_quit(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path, source=LIVE)
    path = prog.socket_path()
    first = Raw(path)
    first.expect("(Pdb) ")
    for _ in range(2 if STOPS_ON_CALL_LINE else 1):
        first.send("n")
        first.expect("(Pdb) ")
    first.close()
    second = Raw(path)
    second.expect("-> print(")  # where the first client left the program
    second.expect("(Pdb) ")
    second.send("p y")
    second.expect("6")
    second.send("q")
    second.expect("quit")
    assert prog.wait() == 1
    assert "BdbQuit" in prog.stderr()
    assert prog.stdout() == ""


def test_live_breakpoint_continue_with_breakpoint_keeps_client(procs, python, env, tmp_path):
    source = """
    from pydebug_hook import Debugger
    def step(i):
        return i * 10
    Debugger.set_trace()
    total = 0
    for i in range(3):
        total += step(i)
    print("total", total, flush=True)
    """
    prog = Program(procs, python, env, tmp_path, source=source)
    path = prog.socket_path()
    client = Raw(path)
    client.expect("(Pdb) ")
    client.send("b step")
    client.expect("Breakpoint 1")
    client.expect("(Pdb) ")
    client.send("c")
    client.expect("stays open")
    client.expect("step()")
    client.expect("(Pdb) ")
    client.send("p i")
    client.expect("0")
    client.send("clear 1")
    client.expect("(Pdb) ")
    client.send("c")
    client.expect("continuing; session closed")
    assert prog.wait() == 0
    assert prog.stdout() == "total 30\n"
    assert gone(path)


THREAD = """
import threading
def work():
    local_in_thread = "abc"
    raise ValueError("in the thread")
t = threading.Thread(target=work, name="worker")
t.start()
t.join()
print("main done", flush=True)
"""


def test_session_in_a_thread(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path, source=THREAD)
    path = prog.socket_path()
    out = run(["nc", "-U", path], env, input="p local_in_thread\nc\n", timeout=20)
    assert "'abc'" in out.stdout
    assert "thread worker" in out.stdout  # the banner says which thread
    assert prog.wait() == 0
    assert prog.stdout() == "main done\n"
    assert gone(path)


CHILD = internals.PRELUDE + """
import os
from internals import ChildInfo, dispatch as _dispatch
try:
    secret = 7
    raise KeyError("in a worker")
except KeyError as exc:
    _dispatch.handle(exc, exc.__traceback__, origin="child", force=True,
                     child=ChildInfo("pool", 2, os.getppid()))
"""


def test_worker_process_socket_path_has_its_tag(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path, source=CHILD)
    path = prog.socket_path()
    assert path == str(tmp_path / "pdb.sock.0.w2")
    line = prog.waiting_line()
    assert f"pydebug-hook attach {prog.pid}" in line  # the rank would name the parent
    [record] = records(runtime_dir(env))
    assert record["child"].startswith("pool worker 2 of pid")
    out = run(["nc", "-U", path], env, input="p secret\nq\n", timeout=20)
    assert "7" in out.stdout
    assert prog.wait() == 0


def test_fork_during_session_leaves_parent_socket(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    client = Raw(path)
    client.expect("(Pdb) ")
    # The child inherits the session; it must neither unlink the socket nor remove the record.
    client.send("!import os; child = os.fork()")
    client.expect("(Pdb) ")
    client.send("!print(os.waitpid(child, 0)[1] >= 0)")
    client.expect("True")
    client.expect("(Pdb) ")
    assert os.path.exists(path)
    assert len(records(runtime_dir(env))) == 1
    client.send("p secret")
    client.expect("42")
    client.send("q")
    assert prog.wait() == 1
    assert gone(path)


WAKE = internals.PRELUDE + """
import os, threading, time
_socket_mode = internals.socket_mode

trigger = sys.argv[0] + ".wake"
r, w = os.pipe()

def waker():
    while not os.path.exists(trigger):
        time.sleep(0.02)
    os.write(w, b"x")

threading.Thread(target=waker, daemon=True).start()

def run(session, announce):  # socket mode's run, serving with a wake descriptor
    announce()
    result = _socket_mode.serve(session, wake_fd=r)
    print("serve returned", result, flush=True)

_socket_mode.run = run
""" + CRASH


def test_wake_fd_without_client_stops_serving(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path, source=WAKE)
    path = prog.socket_path()
    (tmp_path / "prog.py.wake").touch()
    assert prog.wait() == 1
    assert prog.stdout() == "serve returned woken\n"
    assert gone(path)
    assert records(runtime_dir(env)) == []


def test_wake_fd_with_client_attached_keeps_serving(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path, source=WAKE)
    path = prog.socket_path()
    client = Raw(path)
    client.expect("(Pdb) ")
    (tmp_path / "prog.py.wake").touch()
    client.send("p secret")
    client.expect("42")
    client.expect("(Pdb) ")
    assert prog.proc.poll() is None
    client.close()  # detached with the wake-up pending: the terminal gets the session
    assert prog.wait() == 1
    assert prog.stdout() == "serve returned woken\n"
    assert gone(path)


def test_long_socket_path_falls_back(procs, python, env, tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    prog = Program(procs, python, env, tmp_path, IPDB_SOCKET_PATH=str(deep / "pdb.sock.{rank}"))
    path = prog.socket_path()
    assert "a Unix socket path holds at most 107" in prog.stderr()
    assert f"listening on {path} instead" in prog.stderr()
    out = run(["nc", "-U", path], env, input="p secret\nq\n", timeout=20)
    assert "42" in out.stdout
    assert prog.wait() == 1


def test_auto_mode_without_terminal_is_socket(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path, IPDB_MODE="auto")
    assert "-> socket session" in wait_for(lambda: prog.stderr(), 20, "the header")
    path = prog.socket_path()
    out = run(["nc", "-U", path], env, input="q\n", timeout=20)
    assert "session ended" in out.stdout
    assert prog.wait() == 1


def test_decorator_reraises_after_socket_session(procs, python, env, tmp_path):
    source = """
    from pydebug_hook import Debugger
    @Debugger.attach_on_error()
    def f():
        here = "decorated"
        raise RuntimeError("boom")
    try:
        f()
    except RuntimeError as exc:
        print("caught", exc, flush=True)
    """
    prog = Program(procs, python, env, tmp_path, source=textwrap.dedent(source))
    path = prog.socket_path()
    out = run(["nc", "-U", path], env, input="p here\nc\n", timeout=20)
    assert "'decorated'" in out.stdout
    assert prog.wait() == 0
    assert prog.stdout() == "caught boom\n"


def test_no_stdout_from_the_tool(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    run(["nc", "-U", path], env, input="p secret\nq\n", timeout=20)
    assert prog.wait() == 1
    assert prog.stdout() == ""


@pytest.mark.parametrize("command", ["interact"])
def test_interact_over_the_socket(procs, python, env, tmp_path, command):
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    client = Raw(path)
    client.expect("(Pdb) ")
    client.send(command)
    client.expect(">>> ")
    client.send("print(secret * 2)")
    client.expect("84")
    client.expect(">>> ")
    client.sock.sendall(b"\x00eof\n")  # what pydebug-hook attach sends for Ctrl-D here
    client.expect("(Pdb) ")
    client.send("q")
    assert prog.wait() == 1
    assert prog.stdout() == ""  # the console's output went to the client


def test_control_characters_of_the_message_are_escaped_in_our_lines(procs, python, env, tmp_path):
    """An exception message may hold escape sequences or newlines: Python's traceback
    prints it as it is, our one-line summaries (waiting line, greeting, `ls`) escape it."""
    source = "raise type('Odd\\x1b[7mError', (Exception,), {})('\\x1b[31mred\\x1b[0m\\nnext \\u202e line')\n"
    prog = Program(procs, python, env, tmp_path, source=source)
    line = prog.waiting_line()
    assert "\x1b" not in line
    assert "Odd\\x1b[7mError: \\x1b[31mred\\x1b[0m next \\u202e line" in line, line
    header = next(x for x in prog.stderr().splitlines() if "-> socket session" in x)
    assert header.startswith("pydebug_hook: Odd\\x1b[7mError on rank 0/1 ")
    listed = run([os.path.join(os.path.dirname(python), "pydebug-hook"), "ls"], env).stdout
    assert "\x1b" not in listed and "\\x1b[31mred" in listed
    out = run(["nc", "-U", prog.socket_path()], env, input="q\n", timeout=20).stdout
    assert "\x1b" not in out and "\\x1b[31mred" in out
    assert prog.wait() == 1
