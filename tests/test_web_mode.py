"""Web mode against the installed package: real programs crash into web-pdb, and real
HTTP/WebSocket clients (tests/web_client.py) use, and try to abuse, the page."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import wait_for
from sockets import default_sigint
from web_client import (
    Watched,
    WebSocket,
    frame_data,
    free_port_block,
    port_of,
    refused,
    request,
    wait_history,
)

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


def write(tmp_path: Path, text: str, name: str = "prog.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def web_env(env):
    env.update(IPDB_DEBUG="1", IPDB_MODE="web", IPDB_WEB_PORT=str(free_port_block()))
    return env


def start(procs, python, env, script) -> Watched:
    # SIGINT at its default: a suite started in the background hands children SIGINT ignored.
    return Watched(procs.popen([python, str(script)], env, preexec_fn=default_sigint))


def records(env):
    """The registry's records as the installed package reads them (no pruning)."""
    directory = Path(env["XDG_RUNTIME_DIR"]) / "pydebug_hook"
    found = []
    for path in directory.glob("session-*.json") if directory.is_dir() else []:
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            pass
    return found


def test_page_and_frame_data_show_the_raising_frame(tmp_path, python, web_env, procs):
    prog = start(procs, python, web_env, write(tmp_path, CRASH))
    url = prog.url()
    port = port_of(url)
    assert url == f"http://127.0.0.1:{port}/"
    line = prog.wait_err("web debugger at")
    assert "ZeroDivisionError: division by zero on rank 0/1" in line and f"pid {prog.proc.pid}" in line
    assert f"ssh -L {port}:127.0.0.1:{port} {socket.gethostname()}" in line

    status, headers, body = request(port, "/")
    assert status == 200 and b"<html" in body.lower()
    data = frame_data(port)
    assert data["filename"] == "prog.py"
    assert "secret = 42" in data["locals"] and "n = 21" in data["locals"]
    assert "GLOBAL_MARK = 'global-mark'" in data["globals"]
    assert "return 10 / (n - n)" in data["file_listing"].splitlines()[data["current_line"] - 1]
    assert "ZeroDivisionError: division by zero" in data["console_history"]

    # The whole stack is there: `up` moves to the caller and its locals.
    ws = WebSocket(port)
    assert ws.status == 101
    ws.send("p secret\n")
    wait_history(port, "(Pdb) p secret\n42\n")
    ws.send("up\n")
    wait_for(lambda: "outer_local = 22" in frame_data(port)["locals"], 10, "the caller's locals after `up`")
    ws.send("q\n")
    assert prog.finish() == 1
    assert refused(port)
    assert "Traceback (most recent call last)" in prog.stderr
    assert prog.stdout == "started\n"  # the tool writes nothing to stdout
    assert records(web_env) == []


def test_foreign_host_is_refused(tmp_path, python, web_env, procs):
    prog = start(procs, python, web_env, write(tmp_path, CRASH))
    port = port_of(prog.url())
    # A DNS-rebinding page: the browser connects to 127.0.0.1 but names its own host.
    for path in ("/", "/frame-data", "/static/bundle.min.js"):
        status, _, body = request(port, path, headers={"Host": f"rebind.example:{port}"})
        assert status == 403, (path, status)
        assert b"secret" not in body and b"Host 'rebind.example" in body
    assert request(port, "/frame-data", headers={"Host": None})[0] == 403
    # Localhost forms of the bound address are ours, whatever port a tunnel shows.
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost:9000", f"[::1]:{port}"):
        assert request(port, "/frame-data", headers={"Host": host})[0] == 200, host
    line = prog.wait_err("refused a request")
    assert "rebind.example" in line
    assert len([x for x in prog.err if "refused a request" in x]) == 1  # one line, not one per request
    WebSocket(port).send("c\n")
    assert prog.finish() == 1


def test_websocket_from_another_origin_is_refused(tmp_path, python, web_env, procs):
    prog = start(procs, python, web_env, write(tmp_path, CRASH))
    port = port_of(prog.url())
    for origin in ("http://evil.example", f"http://evil.example:{port}", "null", None, f"http://127.0.0.1:{port + 1}"):
        ws = WebSocket(port, origin=origin)
        assert ws.status == 403, (origin, ws.response)
        try:
            ws.send("p secret\n")  # the server has closed it: nothing may reach pdb
        except OSError:
            pass
        ws.close()
    assert "(Pdb) p secret" not in frame_data(port)["console_history"]
    line = prog.wait_err("refused a request")
    assert "WebSocket from origin 'http://evil.example'" in line
    ws = WebSocket(port, origin=f"http://127.0.0.1:{port}")
    assert ws.status == 101
    ws.send("p secret\n")
    wait_history(port, "42\n")
    ws.send("q\n")
    assert prog.finish() == 1


def test_token_required_when_forced_on_loopback(tmp_path, python, web_env, procs):
    web_env["IPDB_WEB_TOKEN"] = "1"
    prog = start(procs, python, web_env, write(tmp_path, CRASH))
    url = prog.url()
    port = port_of(url)
    token = url.split("?token=", 1)[1]
    assert len(token) >= 20
    tampered = token[:-1] + ("y" if token.endswith("x") else "x")  # never the token itself
    for path in ("/", "/frame-data", "/static/bundle.min.js", "/?token=wrong", "/frame-data?token=" + tampered):
        assert request(port, path)[0] == 403, path
    assert request(port, "/frame-data", headers={"Cookie": f"pydebug_hook_{port}=wrong"})[0] == 403
    assert WebSocket(port).status == 403

    status, headers, _ = request(port, "/?token=" + token)
    assert status == 303 and headers["location"] == "/"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"pydebug_hook_{port}={token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    pair = cookie.split(";", 1)[0]
    assert request(port, "/", headers={"Cookie": pair})[0] == 200
    assert "secret = 42" in frame_data(port, headers={"Cookie": pair})["locals"]
    assert request(port, "/frame-data?token=" + token)[0] == 200  # scripts may pass it in the URL
    ws = WebSocket(port, cookie=pair)
    assert ws.status == 101
    ws.send("q\n")
    assert prog.finish() == 1
    assert prog.stderr.count(token) == 1  # printed once


def _netns_available() -> bool:
    if os.geteuid() != 0:
        return False
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# TEST-NET-2: a documentation address, given to the loopback device of a network
# namespace of our own, so that nothing sent to it can leave this test.
NON_LOOPBACK = "198.51.100.7"


@pytest.mark.skipif(not _netns_available(), reason="needs root and unshare -n (a private network namespace)")
def test_non_loopback_bind_warns_and_requires_the_token(tmp_path, python, web_env, procs):
    web_env["IPDB_WEB_HOST"] = NON_LOOPBACK
    script = write(tmp_path, CRASH)
    setup = f"ip link set lo up && ip addr add {NON_LOOPBACK}/32 dev lo && exec \"$0\" \"$1\""
    prog = Watched(procs.popen(["unshare", "-n", "--", "sh", "-c", setup, python, str(script)], web_env))
    url = prog.url()
    port = port_of(url)
    assert url.startswith(f"http://{NON_LOOPBACK}:{port}/?token=")
    token = url.split("?token=", 1)[1]
    warning = prog.wait_err("WARNING")
    assert f"{NON_LOOPBACK}:{port}" in warning and "reachable from other machines" in warning
    assert "ssh -L" not in prog.wait_err("web debugger at")

    # The client runs inside the program's namespace (never in ours: that address is
    # not ours outside it).
    pid = prog.proc.pid  # unshare execs sh, which execs python: one pid throughout
    assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
    client = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from web_client import request, WebSocket
        h, p, tok = {NON_LOOPBACK!r}, {port}, {token!r}
        out = {{}}
        out["page"] = request(p, "/", host=h, connect=h)[0]
        out["frame"] = request(p, "/frame-data", host=h, connect=h)[0]
        out["ws"] = WebSocket(p, host=h, connect=h).status
        status, headers, _ = request(p, "/?token=" + tok, host=h, connect=h)
        out["token"] = status
        pair = headers["set-cookie"].split(";")[0]
        out["locals"] = json.loads(request(p, "/frame-data", host=h, connect=h, headers={{"Cookie": pair}})[2])["locals"]
        ws = WebSocket(p, host=h, connect=h, cookie=pair)
        out["ws_cookie"] = ws.status
        ws.send("q\\n")
        print(json.dumps(out))
    """)
    done = subprocess.run(["nsenter", "-t", str(pid), "-n", "--", python, "-c", client], capture_output=True, text=True, timeout=60, env=web_env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["page"] == 403 and out["frame"] == 403 and out["ws"] == 403
    assert out["token"] == 303 and "secret = 42" in out["locals"] and out["ws_cookie"] == 101
    assert prog.finish() == 1
    assert "no valid token" in prog.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
def test_client_of_another_user_is_refused(tmp_path, python, web_env, procs):
    prog = start(procs, python, web_env, write(tmp_path, CRASH))
    port = port_of(prog.url())
    # bash's /dev/tcp: a client as `nobody` needs no interpreter that nobody may run.
    get = f'exec 3<>/dev/tcp/127.0.0.1/{port}; printf "GET /frame-data HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\nConnection: close\\r\\n\\r\\n" >&3; cat <&3'

    def as_nobody():
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)

    other = subprocess.run(["bash", "-c", get], capture_output=True, text=True, timeout=30, preexec_fn=as_nobody)
    assert other.stdout.startswith("HTTP/1.1 403"), other.stdout
    assert "secret" not in other.stdout and "uid 65534" in other.stdout
    mine = subprocess.run(["bash", "-c", get], capture_output=True, text=True, timeout=30)
    assert mine.stdout.startswith("HTTP/1.1 200") and "secret = 42" in mine.stdout
    assert "uid 65534" in prog.wait_err("refused a request")
    WebSocket(port).send("q\n")
    assert prog.finish() == 1


def test_busy_port_moves_to_the_next_free_one(tmp_path, python, web_env, procs):
    base = int(web_env["IPDB_WEB_PORT"])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base))
        busy.listen()
        prog = start(procs, python, web_env, write(tmp_path, CRASH))
        url = prog.url()
        assert port_of(url) == base + 1
        assert f"(port {base} was busy)" in prog.wait_err("web debugger at")
        assert "secret = 42" in frame_data(base + 1)["locals"]
        WebSocket(base + 1).send("q\n")
        assert prog.finish() == 1


def test_default_ports_follow_the_rank_and_move_when_busy(tmp_path, python, env, procs):
    """The one test on the default ports (4444 + rank), as a user would see them."""
    for port in (4444, 4445, 4446):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is not "in use"
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                pytest.skip(f"port {port} is in use on this machine")
    env.update(IPDB_DEBUG="1", IPDB_MODE="web")
    script = write(tmp_path, CRASH)
    ranks = [Watched(procs.popen([python, str(script)], dict(env, RANK=str(r), WORLD_SIZE="2"))) for r in (0, 1)]
    assert [ranks[0].url(), ranks[1].url()] == ["http://127.0.0.1:4444/", "http://127.0.0.1:4445/"]
    assert "rank 1/2" in ranks[1].wait_err("web debugger at")
    assert "secret = 42" in frame_data(4445)["locals"]
    for prog, port in zip(ranks, (4444, 4445)):
        WebSocket(port).send("q\n")
        assert prog.finish() == 1

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 4444))
        busy.listen()
        prog = Watched(procs.popen([python, str(script)], dict(env, RANK="0", WORLD_SIZE="2")))
        assert prog.url() == "http://127.0.0.1:4445/"
        assert "(port 4444 was busy)" in prog.wait_err("web debugger at")
        WebSocket(4445).send("q\n")
        assert prog.finish() == 1


DECORATED = """
    import socket, sys
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

    try:
        work(7)
    except Boom as caught:
        print("reraised-same:", caught is raised[0], flush=True)
    port = int(sys.argv[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        print("port: open", flush=True)
    except ConnectionRefusedError:
        print("port: closed", flush=True)
    sys.stdin.readline()  # stay alive until the test is done
"""


def test_continue_ends_the_session_decorator_reraises_and_port_closes(tmp_path, python, web_env, procs):
    port = int(web_env["IPDB_WEB_PORT"])
    script = write(tmp_path, DECORATED)
    prog = Watched(procs.popen([python, str(script), str(port)], web_env, stdin=subprocess.PIPE))
    assert port_of(prog.url()) == port
    assert "payload = {'n': 7}" in frame_data(port)["locals"]
    record = wait_for(lambda: records(web_env), 10, "the session's record")[0]
    assert record["mode"] == "web" and record["endpoint"] == f"http://127.0.0.1:{port}/"
    assert record["pid"] == prog.proc.pid and "Boom: decorated failure" in record["exception"]
    WebSocket(port).send("c\n")
    prog.wait_out("reraised-same: True")
    prog.wait_out("port: closed")  # checked by the program itself, still running
    assert refused(port)
    assert records(web_env) == []
    prog.proc.stdin.write("\n")
    prog.proc.stdin.flush()
    assert prog.finish() == 0


def test_closing_the_page_leaves_the_session_waiting_and_a_new_page_reconnects(tmp_path, python, web_env, procs):
    prog = start(procs, python, web_env, write(tmp_path, CRASH))
    port = port_of(prog.url())
    first = WebSocket(port)
    assert first.status == 101
    wait_for(lambda: [r for r in records(web_env) if r["state"] == "attached"], 10, "state attached")
    first.send("p n\n")
    wait_history(port, "(Pdb) p n\n21\n")
    first.close()  # the tab is closed
    wait_for(lambda: [r for r in records(web_env) if r["state"] == "waiting"], 10, "state waiting")
    time.sleep(0.5)
    assert prog.proc.poll() is None and request(port, "/")[0] == 200
    second = WebSocket(port)  # a reload
    second.send("p secret\n")
    wait_history(port, "(Pdb) p secret\n42\n")
    second.send("q\n")
    assert prog.finish() == 1


def test_wait_timeout_without_a_browser_goes_on(tmp_path, python, web_env, procs):
    web_env["IPDB_WAIT_TIMEOUT"] = "1.5"
    prog = start(procs, python, web_env, write(tmp_path, CRASH))
    port = port_of(prog.url())
    assert prog.finish() == 1
    assert "no browser connected for 1.5s: the program goes on" in prog.wait_err("ended:")
    assert refused(port)
    assert records(web_env) == []


def test_sigterm_ends_the_session_and_removes_the_record(tmp_path, python, web_env, procs):
    prog = start(procs, python, web_env, write(tmp_path, CRASH))
    port = port_of(prog.url())
    wait_for(lambda: records(web_env), 10, "the session's record")
    prog.proc.send_signal(signal.SIGTERM)
    assert prog.finish() == -signal.SIGTERM
    assert records(web_env) == []
    assert refused(port)


def test_ctrl_c_in_the_terminal_ends_the_session(tmp_path, python, web_env, procs):
    prog = start(procs, python, web_env, write(tmp_path, CRASH))
    port = port_of(prog.url())
    wait_for(lambda: records(web_env), 10, "the session's record")
    prog.proc.send_signal(signal.SIGINT)
    assert prog.finish() == 1  # the uncaught exception's status, as without the tool
    assert "Ctrl-C: the session ends" in prog.wait_err("ended:")
    assert records(web_env) == []
    assert refused(port)


THREADED = """
    import sys, threading, time

    def worker():
        local_in_thread = "thread-local-value"
        raise RuntimeError("worker failed")

    t = threading.Thread(target=worker, name="worker-1")
    t.start()
    i = 0
    while t.is_alive():
        print(f"tick {i}", flush=True)
        sys.stderr.write(f"err-tick {i}\\n")
        i += 1
        time.sleep(0.05)
    print("main done", flush=True)
"""


def test_thread_session_leaves_other_threads_streams_alone(tmp_path, python, web_env, procs):
    prog = start(procs, python, web_env, write(tmp_path, THREADED))
    port = port_of(prog.url())
    assert "thread worker-1" in prog.wait_err("web debugger at")
    assert "local_in_thread = 'thread-local-value'" in frame_data(port)["locals"]
    ticks = prog.stdout.count("tick")
    wait_for(lambda: prog.stdout.count("tick") > ticks + 5, 10, "the main thread printing on")
    ws = WebSocket(port)
    ws.send("p local_in_thread\n")
    history = wait_history(port, "'thread-local-value'\n")
    assert "tick" not in history  # the main thread's output stays on its own stdout/stderr
    assert "err-tick" in prog.stderr
    ws.send("c\n")
    prog.wait_out("main done")
    assert prog.finish() == 0  # a thread's exception does not change the exit status


def test_port_range_exhausted_is_one_line_and_the_original_failure(tmp_path, python, web_env, procs):
    with socket.socket() as busy:
        try:
            busy.bind(("127.0.0.1", 65535))
        except OSError:
            pytest.skip("port 65535 is in use")
        busy.listen()
        web_env["IPDB_WEB_PORT"] = "65535"
        prog = start(procs, python, web_env, write(tmp_path, CRASH))
        assert prog.finish() == 1
    lines = [x for x in prog.err if x.startswith("pydebug_hook:")]
    assert any("found no free port on 127.0.0.1 (tried 65535)" in x for x in lines), prog.stderr
    assert "ZeroDivisionError: division by zero" in prog.stderr


def test_broken_web_pdb_is_one_line_and_the_original_failure(tmp_path, python, web_env, procs):
    fake = tmp_path / "fake" / "web_pdb"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('simulated breakage')\n")
    web_env["PYTHONPATH"] = str(fake.parent)
    prog = start(procs, python, web_env, write(tmp_path, CRASH))
    assert prog.finish() == 1
    line = prog.wait_err("web-pdb")
    assert "needs web-pdb 2.0.x" in line and "simulated breakage" in line
    assert "ZeroDivisionError: division by zero" in prog.stderr
    assert prog.stderr.count("Traceback (most recent call last)") == 1


BREAKPOINT = """
    import pydebug_hook

    def compute(x):
        before = x * 3
        pydebug_hook.set_trace()
        after = before + 1
        return after

    print("result", compute(5), flush=True)
"""


def test_live_breakpoint_steps_and_continues(tmp_path, python, web_env, procs):
    web_env.pop("IPDB_DEBUG")  # set_trace() is an explicit request
    prog = start(procs, python, web_env, write(tmp_path, BREAKPOINT))
    port = port_of(prog.url())
    data = wait_for(lambda: (lambda d: d if "before = 15" in d["locals"] else None)(frame_data(port)), 10, "the breakpoint's frame")
    assert data["filename"] == "prog.py"
    # Python < 3.13 stops on the line after set_trace(), 3.13+ on the call itself.
    line = data["file_listing"].splitlines()[data["current_line"] - 1]
    assert "after = before + 1" in line or "set_trace()" in line
    ws = WebSocket(port)
    for _ in range(2 if "set_trace()" in line else 1):
        ws.send("n\n")  # queued: pdb reads one per prompt
    wait_for(lambda: "after = 16" in frame_data(port)["locals"], 10, "stepping over `after = ...`")
    ws.send("c\n")
    prog.wait_out("result 16")
    assert prog.finish() == 0
    assert refused(port)
    assert records(web_env) == []


def test_stdout_is_untouched_and_exit_status_matches_plain_python(tmp_path, python, bare_python, web_env, procs):
    script = write(tmp_path, CRASH)
    plain = subprocess.run([bare_python, str(script)], capture_output=True, text=True, timeout=60)
    prog = start(procs, python, web_env, script)
    port = port_of(prog.url())
    WebSocket(port).send("q\n")
    assert prog.finish() == plain.returncode == 1
    assert prog.stdout == plain.stdout
    assert plain.stderr in prog.stderr  # the same traceback, under our lines


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("web mode's tests use Linux facilities")
