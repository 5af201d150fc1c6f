"""Another user of the same machine (``nobody``, the tests run as root in CI) tries what
it can: squat the runtime directory's name, forge records, plant named pipes and
symbolic links, listen on the well-known socket path.  And one bad record of our own
must not switch anything off.  docs/security.md lists what each test proves."""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from helpers import AS_NOBODY, NOBODY, run, write_script
from sockets import Program

ESC = "\x1b"


def cli(python):
    return [python, "-m", "pydebug_hook"]


@pytest.fixture
def shared_tmp():
    """A temporary directory both root and nobody write, sticky like /tmp (tmp_path's
    parents are root's alone)."""
    if os.getuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to act as another user")
    path = tempfile.mkdtemp(prefix="pydebug_hook-shared-")
    os.chmod(path, 0o1777)
    try:
        yield Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tmp_env(env, shared_tmp):
    """No XDG_RUNTIME_DIR: the runtime directory is $TMPDIR/pydebug_hook-<uid>, a name
    anybody can take first."""
    env.pop("XDG_RUNTIME_DIR")
    env["TMPDIR"] = str(shared_tmp)
    return env


@pytest.fixture(scope="module")
def nobody_python():
    """An interpreter nobody can run, for the stranger's scripts (standard library only):
    the one under test may live below /root."""
    for candidate in (sys.executable, shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")):
        if candidate and subprocess.run([*AS_NOBODY, candidate, "-c", "pass"], capture_output=True, cwd="/").returncode == 0:
            return candidate
    pytest.fail("no Python interpreter that user nobody can run")


def as_nobody(python: str, source: str, *args: str) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [*AS_NOBODY, python, "-c", textwrap.dedent(source), *args],
        capture_output=True, text=True, timeout=30, cwd="/",
    )
    assert out.returncode == 0, out.stderr
    return out


def forged_record(**changes) -> dict:
    record = {
        "rank": 1, "local_rank": 1, "world_size": 2, "host": socket.gethostname(), "pid": 1,
        "mode": "web", "endpoint": "http://127.0.0.1:9/\x1b]0;OWNED\x07", "exception": "\x1b[2JValueError: forged",
        "failed_at": 0.0,
    }
    record.update(changes)
    return record


# What nobody does to the name root's sessions would use: make it first (mode 0777 or
# 0700), or point it at a directory of its own; or, when root's own directory is open to
# others, fill it.  Every time: a forged record, escape sequences included, and a named
# pipe named like a record (opening it would wait for a writer forever).
SQUAT = """
import json, os, sys
base, how, record = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if how == "symlink":
    target = base + "-target"
    os.mkdir(target, 0o777)
    os.chmod(target, 0o777)
    os.symlink(target, base)
elif how != "ours-open":
    os.mkdir(base)
    os.chmod(base, 0o777 if how == "open" else 0o700)
with open(os.path.join(base, "session-forged-1-1.json"), "w") as f:
    json.dump(record, f)
os.mkfifo(os.path.join(base, "session-pipe-1-1.json"))
"""


@pytest.mark.parametrize("how", ["open", "private", "symlink", "ours-open"])
def test_a_squatted_runtime_directory_is_never_used(procs, python, nobody_python, tmp_env, tmp_path, shared_tmp, how):
    squatted = shared_tmp / f"pydebug_hook-{os.getuid()}"
    if how == "ours-open":
        squatted.mkdir()
        os.chmod(squatted, 0o777)
    as_nobody(nobody_python, SQUAT, str(squatted), how, json.dumps(forged_record()))
    before = sorted(os.listdir(squatted))

    listed = run([*cli(python), "ls"], tmp_env, timeout=20)  # the named pipe: no hang
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "no debug session is waiting\n"
    why = {
        "open": f"it belongs to uid {NOBODY}",
        "private": f"it belongs to uid {NOBODY}",
        "symlink": "it is a symbolic link, not a directory",
        "ours-open": "it is open to other users (mode 777)",
    }[how]
    assert listed.stderr == f"pydebug_hook: not using {squatted}: {why}\n"
    assert "forged" not in listed.stdout + listed.stderr and ESC not in listed.stdout + listed.stderr

    attached = run([*cli(python), "attach", "1"], tmp_env, timeout=20)
    assert attached.returncode == 1
    assert "no session with rank or pid 1" in attached.stderr
    assert "OWNED" not in attached.stdout + attached.stderr

    # A crashing program that gives up at once (IPDB_WAIT_TIMEOUT=1) does not hang either.
    quick = run([python, "-c", "1/0"], dict(tmp_env, IPDB_DEBUG="1", IPDB_MODE="socket", IPDB_WAIT_TIMEOUT="1", IPDB_SOCKET_PATH=str(tmp_path / "q.{rank}")), timeout=30)
    assert quick.returncode == 1
    assert quick.stderr.count(f"pydebug_hook: not using {squatted}") == 1

    # A session registers in a private directory of root's, said in one line; `ls` and
    # `attach` find it there by the same rule.
    prog = Program(procs, python, tmp_env, tmp_path, IPDB_SOCKET_PATH=str(tmp_path / "pdb.sock.{rank}"))
    prog.socket_path()
    [moved] = [line for line in prog.stderr().splitlines() if "not using" in line]
    instead = Path(moved.rsplit("; using ", 1)[1].split(" instead")[0])
    assert instead.parent == shared_tmp and instead.name.startswith(squatted.name + ".")
    st = os.lstat(instead)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o700
    assert [p.name for p in instead.iterdir() if p.name.startswith("session-")] != []
    listed = run([*cli(python), "ls", "--json"], tmp_env, timeout=20)
    # (the quick program's timed-out session left a dump, which `ls` lists after the sessions)
    assert [r["pid"] for r in json.loads(listed.stdout) if r["mode"] != "dump"] == [prog.pid]
    out = run([*cli(python), "attach"], tmp_env, input="p secret\nq\n", timeout=20)
    assert "42" in out.stdout
    assert prog.wait() == 1
    assert sorted(os.listdir(squatted)) == before  # the stranger's files are left alone


def _planted(directory: Path, name: str, kind: str, valid: dict) -> None:
    path = directory / name
    if kind == "pipe":
        os.mkfifo(path)
    elif kind == "symlink":
        target = directory.parent / f"elsewhere-{name}"
        target.write_text(json.dumps(valid))
        os.symlink(target, path)
    elif kind == "huge":
        path.write_text(json.dumps(dict(valid, extra={"padding": "x" * 200_000})))
    elif kind == "foreign":
        path.write_text(json.dumps(valid))
        os.chown(path, NOBODY, NOBODY)
    elif kind == "bad-field":
        path.write_text(json.dumps(dict(valid, failed_at="yesterday")))
    elif kind == "not-json":
        path.write_text("{nope")


BAD_KINDS = ["pipe", "symlink", "huge", "foreign", "bad-field", "not-json"]


def test_records_that_are_not_valid_records_of_ours_are_skipped_with_one_line(procs, python, env, tmp_path):
    if os.getuid() != 0:
        pytest.skip("needs root to make a file of another uid")
    prog = Program(procs, python, env, tmp_path)  # a real session, listed among the bad files
    prog.socket_path()
    directory = Path(env["XDG_RUNTIME_DIR"]) / "pydebug_hook"
    valid = forged_record(pid=os.getpid(), mode="socket", endpoint="/nowhere", failed_at=time.time())
    for index, kind in enumerate(BAD_KINDS):
        _planted(directory, f"session-{kind}-{index}-1.json", kind, valid)
    # our own record, with a hostile message: listed, its control characters escaped
    hostile = forged_record(pid=os.getpid(), rank=7, failed_at=time.time())
    (directory / "session-escapes-9-1.json").write_text(json.dumps(hostile))

    listed = run([*cli(python), "ls"], env, timeout=20)
    assert listed.returncode == 0, listed.stderr
    skipped = listed.stderr.splitlines()
    assert len(skipped) == len(BAD_KINDS) and all(line.startswith("pydebug_hook: skipping session record ") for line in skipped)
    assert "failed_at" in listed.stderr and "named pipe" in listed.stderr and "symbolic link" in listed.stderr
    assert f"belongs to uid {NOBODY}" in listed.stderr and "larger than" in listed.stderr
    rows = listed.stdout.splitlines()[1:]
    assert [row.split()[2] for row in rows] == [str(prog.pid), str(os.getpid())]
    assert ESC not in listed.stdout and "\\x1b[2JValueError: forged" in listed.stdout
    assert "\\x1b]0;OWNED\\x07" in listed.stdout
    web = run([*cli(python), "attach", "7"], env, timeout=20)  # a web session: its URL is printed
    assert web.stdout == "http://127.0.0.1:9/\\x1b]0;OWNED\\x07\n"
    assert ESC not in web.stderr and "\x07" not in web.stderr

    # the session of this user works all the same (sorting the records failed on a bad one)
    out = run([*cli(python), "attach", "0"], env, input="p secret\nq\n", timeout=20)
    assert "42" in out.stdout
    assert prog.wait() == 1


def test_a_bad_record_switches_no_session_off(procs, python, env, tmp_path):
    directory = Path(env["XDG_RUNTIME_DIR"]) / "pydebug_hook"
    directory.mkdir(mode=0o700)
    record = forged_record(pid=os.getpid(), mode="socket", endpoint="/nowhere", failed_at="yesterday")
    (directory / "session-bad-1-1.json").write_text(json.dumps(record))
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    out = run(["nc", "-U", path], env, input="p secret\nq\n", timeout=20)
    assert "42" in out.stdout
    assert prog.wait() == 1
    assert "session failed" not in prog.stderr()
    assert prog.stderr().count("skipping session record") == 1


READERS = """
import json, os, sys, threading
from pathlib import Path
from pydebug_hook import _arbiter, _files, _job, _locks, _registry

threading.Timer(10, lambda: os._exit(9)).start()  # a reader that blocks fails the test
directory = Path(sys.argv[1])
for path in sorted(directory.iterdir()):
    results = [_arbiter.read_ticket(path), _job._read(path)]
    try:
        _registry.read_record(path)
        results.append("read")
    except OSError as exc:
        results.append(type(exc).__name__)
    results.append(_locks.released(path, blocking=True))  # held by nobody: not waited for
    print(path.name, json.dumps(results), flush=True)
os._exit(0)
"""


def test_every_reader_of_the_runtime_directory_refuses_what_is_not_a_file_of_ours(python, env, tmp_path):
    """Records, terminal tickets and job files are read by one function: whatever sits
    there, nothing blocks, follows a link, reads a huge file, or trusts another uid."""
    if os.getuid() != 0:
        pytest.skip("needs root to make a file of another uid")
    directory = tmp_path / "run" / "planted"
    directory.mkdir(parents=True, mode=0o700)
    valid = forged_record(pid=os.getpid())
    for kind in ("pipe", "symlink", "huge", "foreign"):
        _planted(directory, f"{kind}.json", kind, valid)
    script = write_script(tmp_path, READERS, "readers.py")
    out = run([python, str(script), str(directory)], env, timeout=30)
    assert out.returncode == 0, out.stderr
    results = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    assert sorted(results) == ["foreign.json", "huge.json", "pipe.json", "symlink.json"]
    for name, found in results.items():
        assert json.loads(found) == [{}, None, "Untrusted", True], name


def test_a_job_file_that_is_a_named_pipe_does_not_hang_the_session(procs, python, env, tmp_path):
    """The job's live files are waited for with flock: a named pipe there would block
    the open itself (the runtime directory is private; the reader must not depend on it)."""
    import zlib

    job = "job-with-a-pipe"
    directory = Path(env["XDG_RUNTIME_DIR"]) / "pydebug_hook" / "jobs" / f"{job}-{zlib.crc32(job.encode()):08x}"
    directory.mkdir(parents=True, mode=0o700)
    os.chmod(directory.parent, 0o700)
    os.chmod(directory.parent.parent, 0o700)
    os.mkfifo(directory / f"live-{time.time_ns() + 10**9:020d}-1.json")
    out = run([python, "-c", "1/0"], dict(env, IPDB_DEBUG="1", IPDB_MODE="socket", IPDB_WAIT_TIMEOUT="0.5", SLURM_JOB_ID=job, IPDB_SOCKET_PATH=str(tmp_path / "s.{rank}")), timeout=30)
    assert out.returncode == 1
    assert "ZeroDivisionError" in out.stderr


STRANGER_SERVER = """
import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o777)
s.listen(1)
print("listening", flush=True)
conn, _ = s.accept()
conn.settimeout(5)
got = b""
try:
    conn.sendall(b"\\x1b]0;OWNED\\x07\\x1b[2J(Pdb) ")
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            break
        got += chunk
except OSError:
    pass
with open(log, "wb") as f:
    f.write(got)
"""


def test_attach_checks_who_serves_the_socket_before_sending_a_byte(procs, python, nobody_python, env, shared_tmp):
    path, log = shared_tmp / "pdb.sock.0", shared_tmp / "received"
    server = procs.popen([*AS_NOBODY, nobody_python, "-c", STRANGER_SERVER, str(path), str(log)], env, cwd="/")
    assert server.stdout.readline() == "listening\n"
    out = run([*cli(python), "attach", str(path)], env, input="p api_key\n", timeout=20)
    assert out.returncode == 1
    assert out.stderr == f"pydebug_hook: {path} is served by uid {NOBODY} (pid {server.pid}), not by root: not attaching (nothing was sent)\n"
    assert ESC not in out.stdout + out.stderr and "OWNED" not in out.stdout
    server.wait(20)
    assert log.read_bytes() == b""  # not the hello, not "p api_key"


@pytest.mark.parametrize("kind", ["directory", "regular file"])
def test_attach_to_what_is_not_a_socket_says_what_it_is(python, env, tmp_path, kind):
    target = tmp_path / "target"
    if kind == "directory":
        target.mkdir()
    else:
        target.write_text("precious\n")
    out = run([*cli(python), "attach", str(target)], env, timeout=20)
    assert out.returncode == 1
    assert out.stderr == f"pydebug_hook: {target} is a {kind}, not a socket: no debug session there\n"
    assert "session is over" not in out.stderr


def test_our_lines_escape_the_control_characters_of_exception_messages(procs, python, env, tmp_path):
    source = 'raise ValueError("\\x1b]0;OWNED\\x07\\x1b[2Jcleared\\nfake line")\n'
    prog = Program(procs, python, env, tmp_path, source=source, IPDB_WAIT_TIMEOUT="0")
    assert prog.wait() == 1
    ours = [line for line in prog.stderr().splitlines() if line.startswith("pydebug_hook: ")]
    assert any("\\x1b]0;OWNED\\x07\\x1b[2Jcleared fake line" in line for line in ours), ours
    assert not any(ESC in line or "\x07" in line for line in ours)


HISTORY = """
import os, sys
from pydebug_hook import _client

os.umask(0o022)
path = os.path.expanduser(_client.HISTORY_FILE)
modes = []

class LibeditLike:
    # What libedit's write_history does: fopen(path, "w"), with the umask's mode.
    @staticmethod
    def write_history_file(name):
        with open(name, "w") as f:
            f.write("p secret_token\\n")
        modes.append(oct(os.stat(name).st_mode & 0o777))

client = _client.Client.__new__(_client.Client)
client._readline = LibeditLike()
client._save_history()
print(modes[0], oct(os.stat(path).st_mode & 0o777))
"""


def test_history_file_is_private_before_a_command_is_written_to_it(python, env, tmp_path):
    script = write_script(tmp_path, HISTORY, "history.py")
    out = run([python, str(script)], env, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0o600", "0o600"]
