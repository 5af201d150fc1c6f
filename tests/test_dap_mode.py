"""Dap mode against the installed package: real programs crash into debugpy, and a real
DAP client (DebugClient of @vscode/debugadapter-testsupport on node, tests/dap_client.js)
attaches as VS Code does: stack, variables, evaluate, continue, disconnect."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dap_client import step
from helpers import run, wait_for
from web_client import Watched, free_port_block, refused

CRASH = """
    import sys
    GLOBAL_MARK = "global-mark"

    def outer(k):
        outer_local = k + 1
        return inner(k)

    def inner(n):
        secret = n * 2
        return 10 / (n - n)

    print("started", flush=True)
    outer(21)
"""

ATTACH = [{"op": "attach"}, {"op": "stackTrace"}]
CONTINUE = [{"op": "continue"}, {"op": "wait_closed"}]

PYDEBUG_HOOK = str(Path(sys.executable).with_name("pydebug-hook"))


def write(tmp_path: Path, text: str, name: str = "prog.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def dap_env(env):
    env.update(IPDB_DEBUG="1", IPDB_MODE="dap", IPDB_DAP_PORT=str(free_port_block()))
    return env


class Prog(Watched):
    def endpoint(self, timeout: float = 30.0) -> int:
        """The port of the waiting line ``... waits for an IDE (DAP) on HOST:PORT ...``."""
        line = self.wait_err("for an IDE (DAP) on ", timeout)
        return int(re.search(r"for an IDE \(DAP\) on \S+:(\d+)", line).group(1))


def start(procs, python, env, script, *args, **kw) -> Prog:
    return Prog(procs.popen([python, str(script), *args], env, **kw))


def records(env):
    directory = Path(env["XDG_RUNTIME_DIR"]) / "pydebug_hook"
    found = []
    for path in directory.glob("session-*.json") if directory.is_dir() else []:
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            pass
    return found


def children(pid: int):
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += (task / "children").read_text().split()
        except OSError:
            pass
    return found


def test_ide_stops_on_the_exception_with_stack_locals_and_evaluate_then_continue_exits_1(tmp_path, python, bare_python, dap_env, procs, dap):
    script = write(tmp_path, CRASH)
    prog = start(procs, python, dap_env, script)
    port = prog.endpoint()
    assert port == int(dap_env["IPDB_DAP_PORT"])
    line = prog.wait_err("for an IDE (DAP) on")
    assert "ZeroDivisionError: division by zero on rank 0/1" in line and f"pid {prog.proc.pid}" in line
    assert f"on 127.0.0.1:{port} " in line and "pydebug-hook attach 0" in line
    assert f"ssh -L {port}:127.0.0.1:{port} {socket.gethostname()}" in line
    [record] = wait_for(lambda: records(dap_env), 10, "the session's record")
    assert (record["mode"], record["endpoint"], record["state"]) == ("dap", f"127.0.0.1:{port}", "waiting")
    assert children(prog.proc.pid) == []  # debugpy's adapter runs in the process: nothing to leave behind

    result = dap.run(port, [
        *ATTACH,
        {"op": "variables", "frame": 0},
        {"op": "variables", "frame": 1},
        {"op": "evaluate", "expression": "secret + 1", "frame": 0},
        {"op": "evaluate", "expression": "outer_local * 2", "frame": 1},
        {"op": "evaluate", "expression": "GLOBAL_MARK", "frame": 0},
        {"op": "exceptionInfo"},
        *CONTINUE,
    ])
    assert result["error"] is None, result
    stopped = step(result, "attach")["stopped"]
    assert stopped["reason"] == "exception" and stopped["description"] == "division by zero"
    frames = step(result, "stackTrace")["frames"]
    # The raising frame first, its callers below.
    assert [f["name"].split(" (")[0] for f in frames] == ["inner", "outer", "<module>"]
    assert frames[0]["line"] == 11 and frames[0]["path"] == str(script)
    assert step(result, "variables", 0)["variables"]["secret"] == "42"
    assert step(result, "variables", 0)["variables"]["n"] == "21"
    assert step(result, "variables", 1)["variables"]["outer_local"] == "22"
    assert [s["result"] for s in result["steps"] if s["op"] == "evaluate"] == ["43", "44", "'global-mark'"]
    info = step(result, "exceptionInfo")
    assert info["exceptionId"].startswith("ZeroDivisionError") and "return 10 / (n - n)" in info["stackTrace"]
    assert result["closed"]  # Continue ended the session: the connection is closed

    assert prog.finish() == 1
    assert refused(port)
    assert records(dap_env) == []
    plain = subprocess.run([bare_python, str(script)], capture_output=True, text=True, timeout=60)
    assert prog.stdout == plain.stdout == "started\n"  # the tool writes nothing to stdout
    assert plain.stderr in prog.stderr and prog.stderr.count("Traceback (most recent call last)") == 1
    assert "Debugger warning" not in prog.stderr and "pydevd" not in prog.stderr  # debugpy stays quiet


DECORATED = """
    import socket, sys, threading
    from pydebug_hook import Debugger

    class Boom(Exception):
        pass

    raised = []

    @Debugger.attach_on_error()
    def work(n):
        payload = {"n": n}
        exc = Boom("decorated failure")
        raised.append(exc)
        raise exc

    def tracer(frame, event, arg):  # the program's own (coverage, a profiler)
        return None

    hook = sys.breakpointhook
    sys.settrace(tracer)
    try:
        work(7)
    except Boom as caught:
        print("reraised-same:", caught is raised[0], flush=True)
    print("tracer kept:", sys.gettrace() is tracer, flush=True)
    sys.settrace(None)
    print("threads:", sorted(t.name for t in threading.enumerate()), flush=True)
    print("breakpointhook kept:", sys.breakpointhook is hook, flush=True)
    print("env:", sorted(k for k in __import__("os").environ if k.startswith("PYDEVD")), flush=True)
    port = int(sys.argv[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        print("port: open", flush=True)
    except ConnectionRefusedError:
        print("port: closed", flush=True)
    sys.stdin.readline()  # stay alive until the test is done
"""


def test_disconnect_ends_the_session_the_decorator_reraises_and_debugpy_is_gone(tmp_path, python, dap_env, procs, dap):
    port = int(dap_env["IPDB_DAP_PORT"])
    prog = start(procs, python, dap_env, write(tmp_path, DECORATED), str(port), stdin=subprocess.PIPE)
    assert prog.endpoint() == port
    result = dap.run(port, [*ATTACH, {"op": "variables", "frame": 0}, {"op": "disconnect"}, {"op": "wait_closed"}])
    assert result["error"] is None, result
    # The program's frames only: the decorator's wrapper is not one of them.
    assert [f["name"].split(" (")[0] for f in step(result, "stackTrace")["frames"]] == ["work", "<module>"]
    assert step(result, "variables")["variables"]["payload"] == "{'n': 7}"
    prog.wait_out("reraised-same: True")
    prog.wait_out("port: closed")  # checked by the program itself, still running
    # The program goes on as without the tool: its own tracer, no debugger thread, its
    # own breakpoint hook, no variable of debugpy's left for its children.
    assert "tracer kept: True" in prog.stdout
    assert "threads: ['MainThread']" in prog.stdout
    assert "breakpointhook kept: True" in prog.stdout and "env: []" in prog.stdout
    assert records(dap_env) == []
    prog.proc.stdin.write("\n")
    prog.proc.stdin.flush()
    assert prog.finish() == 0


def test_ides_may_come_and_go_while_the_session_waits(tmp_path, python, dap_env, procs, dap):
    prog = start(procs, python, dap_env, write(tmp_path, CRASH))
    port = prog.endpoint()
    # A port probe, then an IDE that leaves after `initialize`.
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    assert dap.run(port, [{"op": "initialize"}, {"op": "drop"}])["error"] is None
    # An IDE that attaches, sees the stop, and is killed (no Disconnect).
    first = dap.run(port, [*ATTACH, {"op": "drop"}])
    assert first["error"] is None and step(first, "attach")["stopped"]["reason"] == "exception"
    prog.wait_err("without Continue or Disconnect; waiting for the next one")
    wait_for(lambda: [r for r in records(dap_env) if r["state"] == "waiting"], 10, "the record back to waiting")
    assert prog.proc.poll() is None
    # The next IDE finds the same stop.
    second = dap.run(port, [*ATTACH, {"op": "variables", "frame": 0}, *CONTINUE])
    assert second["error"] is None, second
    assert step(second, "variables")["variables"]["secret"] == "42"
    assert prog.finish() == 1
    assert prog.stderr.count("Traceback (most recent call last)") == 1


def test_wait_timeout_without_an_ide_goes_on(tmp_path, python, dap_env, procs):
    dap_env["IPDB_WAIT_TIMEOUT"] = "1.5"
    prog = start(procs, python, dap_env, write(tmp_path, CRASH))
    port = prog.endpoint()
    assert "waits for 1.5s for an IDE" in prog.wait_err("for an IDE (DAP)")
    assert prog.finish() == 1
    assert f"no IDE attached within 1.5s on 127.0.0.1:{port}; going on" in prog.wait_err("no IDE attached")
    assert refused(port)
    assert records(dap_env) == []
    # attach or dump: the crash site is saved as in socket and web mode
    saved = re.search(r"post-mortem saved to (\S+) -- open it with: pydebug-hook load ", prog.wait_err("post-mortem saved"))
    assert saved and os.path.isfile(saved.group(1))


def test_sigterm_while_waiting_ends_the_session_and_leaves_nothing(tmp_path, python, dap_env, procs):
    prog = start(procs, python, dap_env, write(tmp_path, CRASH), preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    port = prog.endpoint()
    wait_for(lambda: records(dap_env), 10, "the session's record")
    assert children(prog.proc.pid) == []
    prog.proc.send_signal(signal.SIGTERM)
    assert prog.finish() == -signal.SIGTERM
    assert records(dap_env) == []
    assert refused(port)


def test_ctrl_c_while_waiting_goes_on(tmp_path, python, dap_env, procs):
    prog = start(procs, python, dap_env, write(tmp_path, CRASH), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))
    port = prog.endpoint()
    wait_for(lambda: records(dap_env), 10, "the session's record")
    prog.proc.send_signal(signal.SIGINT)
    assert prog.finish() == 1  # the uncaught exception's status, as without the tool
    assert "interrupted (Ctrl-C)" in prog.wait_err("interrupted")
    assert records(dap_env) == []
    assert refused(port)


NOBODY = 65534


def as_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_ide_of_another_user_is_refused(tmp_path, python, dap_env, procs, dap):
    prog = start(procs, python, dap_env, write(tmp_path, CRASH))
    port = prog.endpoint()
    other = dap.run(port, [*ATTACH], uid=NOBODY)
    assert other["error"] == "the server closed the connection" and other["closed"], other
    assert "stopped" not in step(other, "attach") and other["events"] == []  # not a byte of debugpy's
    line = prog.wait_err("refused a connection")
    assert f"dap session at 127.0.0.1:{port} refused a connection from 127.0.0.1:" in line
    assert "connection from uid 65534; this debugger belongs to uid 0" in line
    # A raw client of that user gets nothing either, and is told once.
    raw = f'exec 3<>/dev/tcp/127.0.0.1/{port}; printf \'Content-Length: 2\\r\\n\\r\\n{{}}\' >&3; cat <&3'
    assert subprocess.run(["bash", "-c", raw], capture_output=True, text=True, timeout=30, preexec_fn=as_nobody).stdout == ""
    assert len([x for x in prog.err if "refused a connection" in x]) == 1
    mine = dap.run(port, [*ATTACH, {"op": "variables", "frame": 0}, *CONTINUE])
    assert mine["error"] is None and step(mine, "variables")["variables"]["secret"] == "42"
    assert prog.finish() == 1


def test_busy_port_moves_to_the_next_free_one(tmp_path, python, dap_env, procs, dap):
    base = int(dap_env["IPDB_DAP_PORT"])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base))
        busy.listen()
        prog = start(procs, python, dap_env, write(tmp_path, CRASH))
        assert prog.endpoint() == base + 1
        assert f"(port {base} was busy)" in prog.wait_err("for an IDE (DAP)")
        assert dap.run(base + 1, [*ATTACH, *CONTINUE])["error"] is None
        assert prog.finish() == 1


def test_ports_follow_the_rank(tmp_path, python, dap_env, procs, dap):
    base = int(dap_env["IPDB_DAP_PORT"])
    script = write(tmp_path, CRASH)
    ranks = [start(procs, python, dict(dap_env, RANK=str(r), WORLD_SIZE="3"), script) for r in (0, 2)]
    assert [p.endpoint() for p in ranks] == [base, base + 2]
    assert "rank 2/3" in ranks[1].wait_err("for an IDE (DAP)")
    for prog, port in zip(ranks, (base, base + 2)):
        assert dap.run(port, [*ATTACH, *CONTINUE])["error"] is None
        assert prog.finish() == 1


def test_ls_lists_the_endpoint_and_attach_says_what_to_enter_in_the_ide(tmp_path, python, dap_env, procs, dap):
    prog = start(procs, python, dict(dap_env, RANK="1", WORLD_SIZE="2"), write(tmp_path, CRASH))
    port = prog.endpoint()
    listing = run([PYDEBUG_HOOK, "ls"], dap_env, timeout=30).stdout
    [row] = [x for x in listing.splitlines() if x.startswith("1 ")]
    assert " dap " in row and f"127.0.0.1:{port}" in row and "ZeroDivisionError" in row
    attached = run([PYDEBUG_HOOK, "attach", "1"], dap_env, timeout=30)
    assert attached.returncode == 0, attached.stderr
    out = attached.stdout
    assert f"host  127.0.0.1\nport  {port}\n" in out
    launch = json.loads(out[out.index("{"): out.rindex("}") + 1])
    assert launch["request"] == "attach" and launch["connect"] == {"host": "127.0.0.1", "port": port}
    assert launch["justMyCode"] is False and launch["type"] == "debugpy"
    assert f"ssh -L {port}:127.0.0.1:{port} {socket.gethostname()}" in out
    assert dap.run(port, [*ATTACH, *CONTINUE])["error"] is None
    assert prog.finish() == 1


def test_pydebug_hook_run_mode_dap(tmp_path, env, procs, dap):
    """An interpreter without the .pth: ``pydebug-hook run --mode dap``."""
    env["IPDB_DAP_PORT"] = str(free_port_block())
    prog = Prog(procs.popen([PYDEBUG_HOOK, "run", "--mode", "dap", str(write(tmp_path, CRASH))], env))
    port = prog.endpoint()
    result = dap.run(port, [*ATTACH, *CONTINUE])
    assert result["error"] is None, result
    assert [f["name"].split(" (")[0] for f in step(result, "stackTrace")["frames"]] == ["inner", "outer", "<module>"]
    assert prog.finish() == 1


THREADED = """
    import sys, threading, time

    def worker():
        local_in_thread = "thread-local-value"
        raise RuntimeError("worker failed")

    t = threading.Thread(target=worker, name="worker-1")
    t.start()
    i = 0
    while t.is_alive():
        i += 1
        time.sleep(0.02)
        if i == 5:
            print("main runs on", sys.gettrace(), flush=True)
    print("main done", sys.gettrace(), sorted(x.name for x in threading.enumerate()), flush=True)
"""


def test_thread_failure_leaves_the_other_threads_running_and_untraced(tmp_path, python, dap_env, procs, dap):
    prog = start(procs, python, dap_env, write(tmp_path, THREADED))
    port = prog.endpoint()
    assert "thread worker-1" in prog.wait_err("for an IDE (DAP)")
    prog.wait_out("main runs on None")
    result = dap.run(port, [*ATTACH, {"op": "variables", "frame": 0}, {"op": "threads"}, *CONTINUE])
    assert result["error"] is None, result
    assert step(result, "stackTrace")["frames"][0]["name"].startswith("worker")
    assert step(result, "variables")["variables"]["local_in_thread"] == "'thread-local-value'"
    prog.wait_out("main done None ['MainThread']")
    assert prog.finish() == 0  # a thread's exception does not change the exit status


TWICE = """
    import threading

    def fail(tag):
        which = tag
        raise KeyError(tag)

    t = threading.Thread(target=fail, args=("first",), name="first")
    t.start()
    t.join()
    print("between", flush=True)
    fail("second")
"""


def test_two_sessions_in_one_process(tmp_path, python, dap_env, procs, dap):
    """debugpy's own listen() works once per process; each of our sessions starts afresh."""
    prog = start(procs, python, dap_env, write(tmp_path, TWICE))
    port = prog.endpoint()
    first = dap.run(port, [*ATTACH, {"op": "variables", "frame": 0}, *CONTINUE])
    assert first["error"] is None and step(first, "variables")["variables"]["which"] == "'first'"
    prog.wait_out("between")
    wait_for(lambda: len([x for x in prog.err if "for an IDE (DAP) on" in x]) == 2, 20, "the second waiting line")
    second = dap.run(port, [*ATTACH, {"op": "variables", "frame": 0}, *CONTINUE])
    assert second["error"] is None and step(second, "variables")["variables"]["which"] == "'second'"
    assert prog.finish() == 1


BREAKPOINT = """
    import sys
    import pydebug_hook

    def compute(x):
        before = x * 3
        pydebug_hook.set_trace()
        after = before + 1
        return after

    print("result", compute(5), flush=True)
    print("traced after:", sys.gettrace(), flush=True)
"""


def test_live_breakpoint_stops_in_the_ide_steps_and_continues(tmp_path, python, dap_env, procs, dap):
    dap_env.pop("IPDB_DEBUG")  # set_trace() is an explicit request
    script = write(tmp_path, BREAKPOINT)
    prog = start(procs, python, dap_env, script)
    port = prog.endpoint()
    assert "breakpoint in compute (prog.py:7)" in prog.wait_err("for an IDE (DAP)")
    result = dap.run(port, [
        *ATTACH,
        {"op": "variables", "frame": 0},
        {"op": "next"},
        {"op": "stopped"},
        {"op": "stackTrace"},
        {"op": "variables", "frame": 0},
        *CONTINUE,
    ])
    assert result["error"] is None, result
    first, second = [s["frames"][0] for s in result["steps"] if s["op"] == "stackTrace"]
    assert (first["name"], first["line"], first["path"]) == ("compute", 8, str(script))  # the line after set_trace()
    assert step(result, "variables", 0)["variables"]["before"] == "15"
    assert second["line"] == 9 and step(result, "variables", 1)["variables"]["after"] == "16"
    prog.wait_out("result 16")
    prog.wait_out("traced after: None")
    assert prog.finish() == 0
    assert refused(port)
    assert records(dap_env) == []


def test_breakpoint_through_PYTHONBREAKPOINT(tmp_path, python, dap_env, procs, dap):
    dap_env.update(PYTHONBREAKPOINT="pydebug_hook.set_trace")
    script = write(tmp_path, BREAKPOINT.replace("pydebug_hook.set_trace()", "breakpoint()"))
    prog = start(procs, python, dap_env, script)
    port = prog.endpoint()
    result = dap.run(port, [*ATTACH, {"op": "variables", "frame": 0}, {"op": "disconnect"}, {"op": "wait_closed"}])
    assert result["error"] is None, result
    assert step(result, "variables")["variables"]["before"] == "15"
    prog.wait_out("result 16")
    assert prog.finish() == 0


def _netns_available() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _netns_available(), reason="needs root and unshare -n (a private network namespace)")
def test_another_host_warns_and_checks_no_user(tmp_path, python, dap_env, procs, dap):
    # Every address of a private network namespace: nothing outside this test can reach it.
    dap_env["IPDB_DAP_HOST"] = "0.0.0.0"
    script = write(tmp_path, CRASH)
    prog = Prog(procs.popen(["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$1"', python, str(script)], dap_env))
    port = prog.endpoint()
    warning = prog.wait_err("WARNING")
    assert f"listens on {socket.gethostname()}:{port}, reachable from other machines" in warning and "DAP has no password" in warning
    assert "ssh -L" not in prog.wait_err("for an IDE (DAP)")
    pid = prog.proc.pid
    client = subprocess.run(
        ["nsenter", "-t", str(pid), "-n", "-S", str(NOBODY), "-G", str(NOBODY), "--", *dap.command(port)],
        input=json.dumps([*ATTACH, *CONTINUE]), capture_output=True, text=True, timeout=90, env=dap.env(), cwd="/",
    )
    result = json.loads(client.stdout.strip().splitlines()[-1])
    assert result["error"] is None, result  # another user got in: no check off loopback, as the warning said
    assert prog.finish() == 1


def test_port_range_exhausted_is_one_line_and_the_original_failure(tmp_path, python, dap_env, procs):
    with socket.socket() as busy:
        try:
            busy.bind(("127.0.0.1", 65535))
        except OSError:
            pytest.skip("port 65535 is in use")
        busy.listen()
        dap_env["IPDB_DAP_PORT"] = "65535"
        prog = start(procs, python, dap_env, write(tmp_path, CRASH))
        assert prog.finish() == 1
    assert "pydebug_hook: dap mode found no free port on 127.0.0.1 (tried 65535)" in prog.stderr
    assert "ZeroDivisionError: division by zero" in prog.stderr
    assert prog.stderr.count("Traceback (most recent call last)") == 1


def test_missing_debugpy_is_one_line_and_the_original_failure(tmp_path, python, dap_env, procs):
    fake = tmp_path / "fake" / "debugpy"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('simulated breakage')\n")
    dap_env["PYTHONPATH"] = str(fake.parent)
    prog = start(procs, python, dap_env, write(tmp_path, CRASH))
    assert prog.finish() == 1
    assert "pydebug_hook: dap mode needs debugpy 1.8.x, which could not be imported (ImportError: simulated breakage)" in prog.stderr
    assert "-> dap session" not in prog.stderr  # no header announcing a session that never opens
    assert prog.stderr.count("Traceback (most recent call last)") == 1


def test_a_program_already_under_debugpy_keeps_its_debugger(tmp_path, python, dap_env, procs):
    """Started by an IDE (or calling debugpy.listen itself): that debugger already breaks on
    uncaught exceptions; dap mode must not take it over."""
    port = free_port_block()
    source = f"import debugpy\ndebugpy.listen(('127.0.0.1', {port}), in_process_debug_adapter=True)\n" + textwrap.dedent(CRASH)
    prog = start(procs, python, dap_env, write(tmp_path, source))
    assert prog.finish() == 1
    assert "pydebug_hook: this process is already being debugged through debugpy: dap mode leaves it to that debugger" in prog.stderr
    assert "ZeroDivisionError: division by zero" in prog.stderr and "for an IDE (DAP)" not in prog.stderr


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("dap mode's tests use Linux facilities")
