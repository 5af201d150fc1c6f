"""Finding sessions: `pydebug-hook ls` (table and --json) and `pydebug-hook attach`
(a real terminal through pexpect: prompt, completion, history, Ctrl-C, Ctrl-D)."""

import json
import os
import textwrap
import time

import internals
import pexpect
from helpers import run, strip_ansi, wait_for
from sockets import Program, Raw, default_sigint, gone, records, runtime_dir


def cli(python):
    return [python, "-m", "pydebug_hook"]


def attach(procs, python, env, *args):
    child = procs.spawn([*cli(python), "attach", *args], env, timeout=15, preexec_fn=default_sigint)
    return child


def test_attach_prompt_p_local_completion_history_ctrl_c_ctrl_d(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    prog.socket_path()
    client = attach(procs, python, env)
    client.expect_exact("(Pdb) ")
    assert "attaching to rank 0" in strip_ansi(client.before)
    assert "return 10 / (n - n)" in strip_ansi(client.before)

    client.sendline("p secret")
    client.expect_exact("42")
    client.expect_exact("(Pdb) ")

    # completion of a name of the debugged frame (sec<TAB> -> secret)
    client.send("p sec\t")
    client.expect_exact("secret")
    client.send("\r")
    client.expect_exact("42")
    client.expect_exact("(Pdb) ")

    # Ctrl-C cancels the line being typed; neither the client nor the program dies
    client.send("p 1/0")
    client.expect_exact("p 1/0")  # echoed: readline is reading (a Ctrl-C before that could be lost)
    client.sendcontrol("c")
    client.expect_exact("(Pdb) ")
    client.sendline("p secret + 1")
    client.expect_exact("43")
    client.expect_exact("(Pdb) ")
    assert prog.proc.poll() is None

    client.sendline("up")
    client.expect_exact("(Pdb) ")
    # Ctrl-D detaches: exit 0, the session keeps waiting
    client.sendcontrol("d")
    client.expect_exact("detached; the session keeps waiting")
    client.expect(pexpect.EOF)
    client.close()
    assert client.exitstatus == 0
    assert prog.proc.poll() is None
    history = (tmp_path / "home" / ".pydebug_hook_history").read_text()
    assert "p secret + 1" in history
    assert oct(os.stat(tmp_path / "home" / ".pydebug_hook_history").st_mode & 0o777) == "0o600"

    # again: a fresh prompt at the frame we left (`up`), and the history is there (Up arrow)
    again = attach(procs, python, env, "0")
    again.expect_exact("(Pdb) ")
    assert "<module>()" in strip_ansi(again.before)
    again.send("\x1b[A")  # Up: the last command of the previous attach
    again.expect_exact("up")
    again.send("\x15")  # Ctrl-U: drop it
    again.sendline("q")
    again.expect_exact("session ended")
    again.expect(pexpect.EOF)
    again.close()
    assert again.exitstatus == 0
    assert prog.wait() == 1
    assert gone(prog.socket_path())


def test_attach_with_nothing_waiting(python, env):
    out = run([*cli(python), "attach"], env, timeout=20)
    assert out.returncode == 1
    assert out.stderr.strip() == "pydebug_hook: no debug session is waiting (nothing to attach to; see pydebug-hook ls)"
    assert out.stdout == ""


def test_attach_unknown_rank(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    prog.socket_path()
    out = run([*cli(python), "attach", "5"], env, timeout=20)
    assert out.returncode == 1
    assert out.stderr.strip() == "pydebug_hook: no session with rank or pid 5; waiting: rank 0 (see pydebug-hook ls)"
    out = run([*cli(python), "attach", str(tmp_path / "nothing-here")], env, timeout=20)
    assert out.returncode == 1
    assert "no socket at" in out.stderr
    out = run([*cli(python), "attach", "rank-zero"], env, timeout=20)
    assert out.returncode == 1
    assert "is not a rank, a pid or a socket path" in out.stderr


def test_attach_by_pid_and_by_path_with_piped_input(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    by_pid = run([*cli(python), "attach", str(prog.pid)], env, input="p secret\n", timeout=20)
    assert "42" in by_pid.stdout
    assert by_pid.returncode == 0  # end of input: a detach
    assert "\x00" not in by_pid.stdout  # control lines never reach the screen
    by_path = run([*cli(python), "attach", path], env, input="p secret * 2\nq\n", timeout=20)
    assert "84" in by_path.stdout and "session ended" in by_path.stdout
    assert prog.wait() == 1


def test_attach_refused_while_another_client_is_attached(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    first = Raw(path)
    first.expect("(Pdb) ")
    out = run([*cli(python), "attach"], env, input="p secret\n", timeout=20)
    assert out.returncode == 1
    assert "refused: another client" in out.stdout
    first.send("q")
    assert prog.wait() == 1


def _two_ranks(procs, python, env, tmp_path):
    # rank 1 fails first: it is the root cause `ls` and `attach` put first
    one = Program(procs, python, env, tmp_path, name="rank1", RANK="1", LOCAL_RANK="1", WORLD_SIZE="2")
    path1 = one.socket_path()
    time.sleep(0.05)  # distinct failure times, whatever the clock's resolution
    zero = Program(procs, python, env, tmp_path, name="rank0", RANK="0", LOCAL_RANK="0", WORLD_SIZE="2")
    path0 = zero.socket_path()
    return one, path1, zero, path0


def test_two_ranks_two_sockets_ls_in_failure_order(procs, python, env, tmp_path):
    one, path1, zero, path0 = _two_ranks(procs, python, env, tmp_path)
    assert (path0, path1) == (str(tmp_path / "pdb.sock.0"), str(tmp_path / "pdb.sock.1"))

    table = run([*cli(python), "ls"], env, timeout=20)
    assert table.returncode == 0
    lines = table.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["#", "RANK", "PID"]
    assert [line.split()[1:3] for line in lines[1:]] == [["1/2", str(one.pid)], ["0/2", str(zero.pid)]]
    assert path1 in lines[1] and "ZeroDivisionError: division by zero" in lines[1]

    listed = json.loads(run([*cli(python), "ls", "--json"], env, timeout=20).stdout)
    assert [(r["rank"], r["pid"], r["endpoint"], r["mode"], r["state"]) for r in listed] == [
        (1, one.pid, path1, "socket", "waiting"),
        (0, zero.pid, path0, "socket", "waiting"),
    ]
    assert listed[0]["failed_at"] < listed[1]["failed_at"]
    assert listed[0]["world_size"] == 2 and listed[0]["local_rank"] == 1

    # no argument: the first failure
    out = run([*cli(python), "attach"], env, input="q\n", timeout=20)
    assert "rank 1/2" in out.stdout
    assert one.wait() == 1
    wait_for(lambda: len(records(runtime_dir(env))) == 1, 10, "rank 1's record removed")
    out = run([*cli(python), "attach", "0"], env, input="q\n", timeout=20)
    assert "rank 0/2" in out.stdout
    assert zero.wait() == 1
    assert run([*cli(python), "ls"], env, timeout=20).stdout == "no debug session is waiting\n"
    assert json.loads(run([*cli(python), "ls", "--json"], env, timeout=20).stdout) == []


def test_same_rank_twice_prefers_first_failure_and_says_pid(procs, python, env, tmp_path):
    first = Program(procs, python, env, tmp_path, name="a", IPDB_SOCKET_PATH=str(tmp_path / "a.{rank}"))
    first.socket_path()
    second = Program(procs, python, env, tmp_path, name="b", IPDB_SOCKET_PATH=str(tmp_path / "b.{rank}"))
    second.socket_path()
    assert "pydebug-hook attach 0" in first.waiting_line()
    assert f"pydebug-hook attach {second.pid}" in second.waiting_line()  # rank 0 means the first
    out = run([*cli(python), "attach", "0"], env, input="q\n", timeout=20)
    assert f"pid {first.pid}" in out.stdout
    assert first.wait() == 1
    out = run([*cli(python), "attach", str(second.pid)], env, input="q\n", timeout=20)
    assert second.wait() == 1


REGISTER_WEB = internals.PRELUDE + """
from internals import RankInfo, Session, registry, settings
session = Session(exc=ValueError("web"), tb=None, rank=RankInfo(3, 3, 4, "test"),
                  settings=settings.read({}), mode="web", origin="excepthook")
registry.register(session, "http://127.0.0.1:4447/")
print("registered", flush=True)
sys.stdin.read()
"""


def test_attach_to_a_web_session_prints_its_url(procs, python, env, tmp_path):
    script = tmp_path / "web.py"
    script.write_text(textwrap.dedent(REGISTER_WEB))
    holder = procs.popen([python, str(script)], env, stdin=-1)
    assert holder.stdout.readline() == "registered\n"
    out = run([*cli(python), "attach", "3"], env, timeout=20)
    assert out.returncode == 0
    assert out.stdout == "http://127.0.0.1:4447/\n"
    assert "is a web session" in out.stderr
    listed = run([*cli(python), "ls"], env, timeout=20).stdout
    assert "http://127.0.0.1:4447/" in listed and "web" in listed
    holder.stdin.close()
    holder.wait(10)
    # the holder never removed its record; its pid is gone: pruned on the next listing
    assert run([*cli(python), "ls"], env, timeout=20).stdout == "no debug session is waiting\n"
