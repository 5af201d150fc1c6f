"""Settings at their edges: waits longer than any single system call can wait, socket
path templates that try to be code, a web port pushed past 65535 by the rank; and a
session at a path that another session (a forked child's) still serves."""

import os
import signal
import socket

import pytest
from helpers import TRACEBACK, header_lines, run, wait_for, write_script
from internals import probe, settings
from sockets import CRASH, Program, Raw, default_sigint
from web_client import Watched, free_port_block, port_of, request


def cli(python):
    return [python, "-m", "pydebug_hook"]


@pytest.mark.parametrize("timeout, shown", [("2592000", "30 days"), ("1e12", "31,710 years")])
def test_a_wait_of_any_length_is_a_wait(procs, python, env, tmp_path, timeout, shown):
    """poll() takes at most about 24.8 days: longer waits are several polls."""
    prog = Program(procs, python, env, tmp_path, IPDB_WAIT_TIMEOUT=timeout)
    line = prog.waiting_line()
    assert f" waits for {shown} for a debugger on " in line
    assert "session failed" not in prog.stderr()
    client = Raw(prog.socket_path())
    client.expect("(Pdb) ")
    client.send("p secret")
    client.expect("42")
    client.send("q")
    assert prog.wait() == 1
    doctor = run([*cli(python), "doctor"], dict(env, IPDB_WAIT_TIMEOUT=timeout), timeout=30)
    assert f"wait for client   {shown}" in doctor.stdout


def test_a_web_session_waits_any_length_too(procs, python, env, tmp_path):
    """The web session counts its wait by comparing times: no system call's limit."""
    script = write_script(tmp_path, CRASH)
    env.update(IPDB_DEBUG="1", IPDB_MODE="web", IPDB_WAIT_TIMEOUT="1e12", IPDB_WEB_PORT=str(free_port_block()))
    prog = Watched(procs.popen([python, str(script)], env, preexec_fn=default_sigint))
    status, _, _ = request(port_of(prog.url()), "/")
    assert status == 200
    assert prog.proc.poll() is None and "session failed" not in prog.stderr
    prog.proc.send_signal(signal.SIGTERM)
    assert prog.finish() == -signal.SIGTERM


@pytest.mark.parametrize(
    "template",
    ["{rank.foo}", "{rank[0]}", "{rank.__class__.__mro__}", "{rank!r}", "{rank:>8}", "{0}", "{}", "{nope}", "pdb.{rank"],
)
def test_a_socket_path_template_is_data_not_code(python, env, tmp_path, template):
    path = str(tmp_path / template)
    doctor = run([*cli(python), "doctor"], dict(env, IPDB_SOCKET_PATH=path), timeout=30)
    assert doctor.returncode == 0, doctor.stderr
    assert f"socket path       {settings.DEFAULT_SOCKET_PATH}" in doctor.stdout
    warned = [line for line in doctor.stderr.splitlines() if "IPDB_SOCKET_PATH" in line]
    assert len(warned) == 1 and warned[0].endswith(f"; using {settings.DEFAULT_SOCKET_PATH}")
    assert "class" not in doctor.stdout.replace(template, "")  # nothing was evaluated into it


def test_a_session_with_a_bad_template_opens_at_the_default(procs, python, env, tmp_path):
    # The default /tmp/pdb.sock.0 may be another test's: a private fallback is fine too.
    prog = Program(procs, python, env, tmp_path, IPDB_SOCKET_PATH=str(tmp_path / "{rank.__class__.__mro__}"), IPDB_WAIT_TIMEOUT="0")
    assert prog.wait() == 1
    err = prog.stderr()
    assert err.count("IPDB_SOCKET_PATH") == 1
    assert "waits for 0s for a debugger on " in err and "class" not in err.split("waits for", 1)[1]


@pytest.mark.parametrize(
    "template, expected",
    [("/run/x/pdb.{rank}.{local_rank}.{pid}", "/run/x/pdb.3.1.99"), ("/tmp/{{rank}}-{rank}", "/tmp/{rank}-3")],
)
def test_the_documented_fields_expand(template, expected):
    assert settings.read({"IPDB_SOCKET_PATH": template}).socket_path == template
    assert settings.expand_socket_path(template, 3, 1, 99) == expected


def test_a_web_port_past_65535_is_said_before_any_header(python, env, tmp_path):
    script = write_script(tmp_path, CRASH)
    out = run([python, str(script)], dict(env, IPDB_DEBUG="1", IPDB_MODE="web", IPDB_WEB_PORT="65535", RANK="1", WORLD_SIZE="2"), timeout=30)
    assert out.returncode == 1
    assert header_lines(out.stderr) == []  # no header announced a web session that never opens
    assert "pydebug_hook: web port 65536 (IPDB_WEB_PORT 65535 + rank) is out of range" in out.stderr
    assert out.stderr.count(TRACEBACK) == 1


FORKED = """
import os, sys, time
path = sys.argv[1]
child = os.fork()
if child == 0:
    def in_child():
        secret = "child"
        raise RuntimeError("the child failed")
    in_child()
while not os.path.exists(path):  # the child's session listens
    time.sleep(0.02)
raise ValueError("the parent failed too")
"""


def test_a_path_probe_is_not_taken_for_a_client(procs, python, env, tmp_path):
    """The parent's session finds the path taken by its forked child's live session and
    moves elsewhere; asking whether that path is live must not look like a client to the
    child (its wait would start over, and its record say "attached")."""
    path = tmp_path / "pdb.sock.0"
    prog = Program(procs, python, env, tmp_path, source=FORKED.replace("sys.argv[1]", repr(str(path))), IPDB_WAIT_TIMEOUT="3")
    assert prog.wait(30) == 1
    # The child outlives the parent by a little: wait for its own end of the wait.
    wait_for(lambda: f"on {path}; going on" in prog.stderr(), 20, "the child's wait to end")
    err = prog.stderr()
    assert f"no debugger attached within 3s on {path}; going on" in err
    assert "came back" not in err
    assert f"socket path {path} cannot be used (another live session (or program) listens on it)" in err


def test_probe_tells_live_from_stale_without_connecting(tmp_path):
    path = str(tmp_path / "s")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.setblocking(False)
    assert probe(path) == "live"
    with pytest.raises(BlockingIOError):
        server.accept()  # nobody connected
    server.close()
    assert probe(path) == "stale"
    os.unlink(path)
    assert probe(path) == "unknown"
