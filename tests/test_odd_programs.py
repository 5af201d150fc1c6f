"""Programs that do unusual but legal things: exceptions whose ``__str__`` fails or that
refuse attributes, Ctrl-C, a thread failing while the main thread is debugged, a
capture of their own stderr, a daemon thread left in a session at exit.  Each run is
compared with the same program under plain Python where that makes sense."""

import os
import signal
import socket
import textwrap

import pytest
from helpers import (
    PROMPT,
    TRACEBACK,
    command,
    finish,
    header_lines,
    run,
    transcript,
    without_tool_lines,
    write_script,
)
from sockets import Program, default_sigint
from web_client import free_port_block

ODD_TEXT = {
    "str-raises": """
        class Odd(Exception):
            def __str__(self):
                raise RuntimeError("bad str")
    """,
    "str-not-a-string": """
        class Odd(Exception):
            def __str__(self):
                return 42
    """,
    "repr-and-str-raise": """
        class Odd(Exception):
            def __str__(self):
                raise RuntimeError("bad str")
            def __repr__(self):
                raise RuntimeError("bad repr")
    """,
}

RAISE_ODD = """
def inner():
    secret = 4242 * 10
    raise Odd("message")
inner()
"""


@pytest.mark.parametrize("kind", sorted(ODD_TEXT))
@pytest.mark.parametrize("mode", ["console", "socket", "web"])
def test_an_exception_whose_str_fails_gets_its_session(procs, python, env, tmp_path, kind, mode):
    script = write_script(tmp_path, textwrap.dedent(ODD_TEXT[kind]) + RAISE_ODD)
    env.update(IPDB_DEBUG="1", IPDB_MODE=mode)
    if mode == "console":  # on a terminal: the session is registered, with its summary
        child = procs.spawn([python, str(script)], env)
        child.expect(PROMPT)
        assert "42420" in command(child, "p secret")
        child.sendline("q")
        status = finish(child)
        text = transcript(child)
    else:
        # No client comes: the session is up (listed, its line printed), then goes on.
        env.update(IPDB_WAIT_TIMEOUT="1", IPDB_WEB_PORT=str(free_port_block()))
        out = run([python, str(script)], env, timeout=30)
        status, text = out.returncode, out.stderr
        assert ("waits for 1s for a debugger" if mode == "socket" else "web debugger at http://") in text
        assert "Odd: <exception str() failed>" in text
    assert "session failed" not in text
    assert len(header_lines(text)) == 1
    assert status == 1


REFUSES_ATTRIBUTES = {
    "frozen-dataclass": """
        from dataclasses import dataclass

        @dataclass(frozen=True)
        class Refuses(Exception):
            key: str
    """,
    "setattr-raises": """
        class Refuses(Exception):
            def __init__(self, key):
                super().__init__(key)
            def __setattr__(self, name, value):
                raise AttributeError(f"read-only: {name}")
    """,
    "setattr-exits-0": """
        class Refuses(Exception):
            def __init__(self, key):
                super().__init__(key)
            def __setattr__(self, name, value):
                raise SystemExit(0)
    """,
    "slots-setattr-raises": """
        class Refuses(Exception):
            __slots__ = ()
            def __setattr__(self, name, value):
                raise TypeError("no")
    """,
}


@pytest.mark.parametrize("decorated", [False, True], ids=["excepthook", "decorator"])
@pytest.mark.parametrize("kind", sorted(REFUSES_ATTRIBUTES))
def test_an_exception_that_refuses_attributes_gets_one_session(python, env, tmp_path, kind, decorated):
    body = """
        try:
            from pydebug_hook import Debugger
            debugged = Debugger.attach_on_error()
        except ImportError:
            debugged = lambda f: f

        @debugged
        def inner():
            secret = 4242 * 10
            raise Refuses("lr")

        @debugged
        def outer():
            inner()

        outer()
    """ if decorated else """
        def inner():
            secret = 4242 * 10
            raise Refuses("lr")
        inner()
    """
    script = write_script(tmp_path, textwrap.dedent(REFUSES_ATTRIBUTES[kind]) + textwrap.dedent(body))
    plain = run([python, str(script)], dict(env, IPDB_DEBUG="0"))  # the decorator's frames, no session
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    ours = run([python, str(script)], env, input="p secret\n")
    assert ours.stdout.count("42420") == 1  # one session, at the raising frame
    assert len(header_lines(ours.stderr)) == 1
    assert ours.stderr.count(TRACEBACK) == 1
    assert "replaced sys.excepthook" not in ours.stderr
    # (Python 3.10's own printer names a class of __main__ "__main__.Refuses"; the traceback
    # module, which prints the decorator's traceback, "Refuses": not this test's concern.)
    same = lambda text: text.replace("__main__.Refuses", "Refuses")
    assert same(without_tool_lines(ours.stderr)) == same(plain.stderr)
    assert ours.returncode == plain.returncode == 1


CTRL_C = """
import sys, time
print("ready", flush=True)
time.sleep(30)
"""


@pytest.mark.parametrize("debug", ["0", "1"])
def test_ctrl_c_ends_the_program_by_sigint_as_without_the_tool(procs, python, env, tmp_path, debug):
    """Python dies of SIGINT after an uncaught KeyboardInterrupt (130 in a shell)."""
    script = write_script(tmp_path, CTRL_C)
    proc = procs.popen([python, str(script)], dict(env, IPDB_DEBUG=debug), preexec_fn=default_sigint)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == -signal.SIGINT
    assert proc.stderr.read().rstrip().endswith("KeyboardInterrupt")


def test_ctrl_c_with_threading_and_a_session_before(procs, python, env, tmp_path):
    """The same once the tool is loaded (a thread's session came first): nothing it does
    on the way to Python's own handling clears the flag that says "died of SIGINT"."""
    source = textwrap.dedent("""
        import threading, time
        def work():
            raise ValueError("thread")
        t = threading.Thread(target=work)
        t.start()
        t.join()
    """) + CTRL_C
    script = write_script(tmp_path, source)
    proc = procs.popen([python, str(script)], dict(env, IPDB_DEBUG="1", IPDB_MODE="socket", IPDB_WAIT_TIMEOUT="0"), preexec_fn=default_sigint)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == -signal.SIGINT


THREAD_WHILE_MAIN_IS_DEBUGGED = """
import os, sys, threading, time

def worker():
    while not os.path.exists(sys.argv[1]):  # the main thread's session is up
        time.sleep(0.02)
    thread_local = "in-thread"
    raise RuntimeError("thread failed")

threading.Thread(target=worker, name="worker-1").start()
main_local = "in-main"
raise ValueError("main failed")
"""


def test_console_a_thread_failing_during_the_main_threads_session_gets_its_own(procs, python, env, tmp_path):
    """After `q` at the main thread's prompt, Python joins the other threads: the
    thread's session runs then, while the interpreter shuts down."""
    go = tmp_path / "go"
    script = write_script(tmp_path, THREAD_WHILE_MAIN_IS_DEBUGGED)
    child = procs.spawn([python, str(script), str(go)], dict(env, IPDB_DEBUG="1", IPDB_MODE="console"))
    child.expect(PROMPT)
    go.write_text("")
    assert "in-main" in command(child, "p main_local")
    child.sendline("q")
    child.expect("thread worker-1")
    child.expect(PROMPT)
    assert "in-thread" in command(child, "p thread_local")
    child.sendline("q")
    assert finish(child) == 1
    text = transcript(child)
    assert "session failed" not in text
    assert len(header_lines(text)) == 2


CAPTURE = """
import atexit, io, sys
captured = sys.stderr = io.StringIO()
atexit.register(lambda: open(sys.argv[1], "w").write(captured.getvalue()))

def inner():
    raise ValueError("into the capture")
inner()
"""


@pytest.mark.parametrize("mode", ["socket", "console"])
def test_a_programs_own_stderr_capture_gets_the_traceback(python, bare_python, env, tmp_path, mode):
    script = write_script(tmp_path, CAPTURE)
    plain_file, ours_file = tmp_path / "plain.txt", tmp_path / "ours.txt"
    plain = run([bare_python, str(script), str(plain_file)], env)
    ours = run([python, str(script), str(ours_file)], dict(env, IPDB_DEBUG="1", IPDB_MODE=mode, IPDB_WAIT_TIMEOUT="0"), input="q\n")
    assert plain_file.read_text().startswith(TRACEBACK)
    assert ours_file.read_text() == plain_file.read_text()
    assert TRACEBACK not in ours.stderr  # not also on the real stderr
    assert len(header_lines(ours.stderr)) == 1
    assert ours.returncode == plain.returncode == 1


NO_STDERR = """
import sys
sys.stderr = None

def inner():
    secret = 42
    raise ValueError("nowhere")
inner()
"""


def test_stderr_none_prints_no_traceback_as_without_the_tool(python, bare_python, env, tmp_path):
    script = write_script(tmp_path, NO_STDERR)
    plain = run([bare_python, str(script)], env)
    ours = run([python, str(script)], dict(env, IPDB_DEBUG="1", IPDB_MODE="console"), input="p secret\n")
    assert plain.stderr == ""
    assert "42" in ours.stdout  # the session happened
    assert without_tool_lines(ours.stderr) == ""  # our own lines only: no traceback
    assert ours.returncode == plain.returncode == 1


DAEMON = """
import os, sys, threading, time

def worker():
    secret = 42
    raise ValueError("in a daemon thread")

threading.Thread(target=worker, name="daemon-1", daemon=True).start()
while not os.path.exists(sys.argv[1]):  # the thread's session waits for a client
    time.sleep(0.02)
print("main thread done", flush=True)
"""


def test_a_daemon_threads_session_cut_short_by_the_exit_says_so(procs, python, env, tmp_path):
    sock = tmp_path / "pdb.sock.0"
    prog = Program(procs, python, env, tmp_path, source=DAEMON.replace("sys.argv[1]", repr(str(sock))))
    assert prog.wait() == 0  # as without the tool: a daemon thread's failure is not the program's
    assert prog.stdout() == "main thread done\n"
    ours = [line for line in prog.stderr().splitlines() if line.startswith("pydebug_hook: ")]
    # (the thread's waiting line races the main thread's exit: it may come before or after)
    assert (
        f"pydebug_hook: the program exits (its main thread ended) while the debug session of "
        f"rank 0/1 (pid {prog.pid}, host {socket.gethostname()}, thread daemon-1) is open; the session ends with it"
    ) in ours[1:]
    assert not os.path.exists(sock)
