"""Socket safety: 0600 from birth, peers of another uid refused, nothing unlinked but our
own stale socket, fallback paths, and cleanup on SIGTERM/SIGHUP and at exit."""

import os
import shutil
import signal
import socket
import stat
import tempfile
import textwrap
import threading

import internals
import pytest
from helpers import AS_NOBODY, NOBODY, run, wait_for
from sockets import CRASH, Program, Raw, gone, records, runtime_dir


def test_mode_0600_from_the_moment_the_path_exists(procs, python, env, tmp_path):
    """Watch the path from before the program starts: every mode ever seen is 0600."""
    path = str(tmp_path / "pdb.sock.0")
    seen = set()
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                seen.add(stat.S_IMODE(os.lstat(path).st_mode))
            except FileNotFoundError:
                pass

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        prog = Program(procs, python, env, tmp_path, IPDB_SOCKET_PATH=str(tmp_path / "pdb.sock.{rank}"))
        assert prog.socket_path() == path
        st = os.lstat(path)
    finally:
        stop.set()
        watcher.join()
    assert stat.S_ISSOCK(st.st_mode)
    assert st.st_uid == os.getuid()
    assert seen == {0o600}
    # nothing of the private bind directory is left next to the socket
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".pydebug_hook")) == []


BIND_PROBE = internals.PRELUDE + """
import os, socket, stat
_unix_listener = internals.listener

os.umask(0)  # the most open umask: safety must not rest on it
events = []
real_bind, real_link = socket.socket.bind, os.link

def bind(self, address):
    directory = os.path.dirname(address)
    st = os.stat(directory)
    events.append(("bind-dir", oct(stat.S_IMODE(st.st_mode)), st.st_uid == os.getuid()))
    return real_bind(self, address)

def link(src, dst, **kw):
    st = os.lstat(src)
    events.append(("link-src", oct(stat.S_IMODE(st.st_mode)), stat.S_ISSOCK(st.st_mode)))
    return real_link(src, dst, **kw)

socket.socket.bind, os.link = bind, link
sock, _ = _unix_listener.bind_private(sys.argv[1])
events.append(("final", oct(stat.S_IMODE(os.lstat(sys.argv[1]).st_mode)), True))
print(events)
"""


def test_bind_happens_in_a_private_directory_and_the_name_appears_0600(python, env, tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(BIND_PROBE)
    out = run([python, str(script), str(tmp_path / "s.sock")], env, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str([("bind-dir", "0o700", True), ("link-src", "0o600", True), ("final", "0o600", True)])


@pytest.fixture
def shared_dir():
    """A directory user nobody can traverse (tmp_path's parents are root-only)."""
    if os.getuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to act as another user")
    path = tempfile.mkdtemp(prefix="pydebug_hook-test-")
    os.chmod(path, 0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_another_user_is_refused(procs, python, env, tmp_path, shared_dir):
    prog = Program(procs, python, env, tmp_path, IPDB_SOCKET_PATH=os.path.join(shared_dir, "pdb.sock.{rank}"))
    path = prog.socket_path()
    # 0600 alone stops a non-root user at connect()
    denied = run([*AS_NOBODY, "nc", "-U", path], env, input="p secret\n", timeout=20)
    assert denied.returncode != 0
    assert "Permission denied" in denied.stderr
    assert "42" not in denied.stdout
    # with the file opened up, the peer-credential check still refuses, and says so
    os.chmod(path, 0o666)
    refused = run([*AS_NOBODY, "nc", "-U", path], env, input="p secret\n", timeout=20)
    assert "refused: this debug session belongs to another user" in refused.stdout
    assert "42" not in refused.stdout
    wait_for(lambda: f"from uid {NOBODY}" in prog.stderr(), 10, "the refusal line on the program's stderr")
    assert f"refused a connection to {path} from uid {NOBODY}" in prog.stderr()
    # the shared_dir fixture runs as root: the line names root once ("only uid 0 and root
    # may attach" said it twice)
    assert prog.stderr().count(": only root may attach") == 1
    # the owner still gets the session
    out = run(["nc", "-U", path], env, input="p secret\nq\n", timeout=20)
    assert "42" in out.stdout
    assert prog.wait() == 1


def test_stale_socket_of_ours_is_reused(procs, python, env, tmp_path):
    path = str(tmp_path / "pdb.sock.0")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)
    dead.close()  # the file stays; nobody listens: stale
    os.chmod(path, 0o755)  # tell it from ours by its mode (inode numbers get reused)
    prog = Program(procs, python, env, tmp_path)
    assert prog.socket_path() == path
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    assert "cannot be used" not in prog.stderr()
    # replacing it is said, in one line (the note was built and dropped)
    assert [line for line in prog.stderr().splitlines() if "replaced" in line] == [
        f"pydebug_hook: replaced a stale socket of ours that nobody answers at {path}"
    ]
    out = run(["nc", "-U", path], env, input="p secret\nq\n", timeout=20)
    assert "42" in out.stdout
    assert prog.wait() == 1


def _regular_file(path):
    with open(path, "w") as f:
        f.write("precious\n")
    return "regular file"


def _directory(path):
    os.mkdir(path)
    return "directory"


def _other_users_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    os.chown(path, NOBODY, NOBODY)  # stale, but not ours: not ours to remove
    return "another user"


def _live_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    _live_socket.keep = s
    return "live"


@pytest.mark.parametrize(
    "occupant", [_regular_file, _directory, _other_users_socket, _live_socket], ids=["file", "dir", "foreign", "live"]
)
def test_taken_path_is_left_alone(procs, python, env, tmp_path, occupant):
    if occupant is _other_users_socket and os.getuid() != 0:
        pytest.skip("needs root to make a socket of another uid")
    wanted = str(tmp_path / "pdb.sock.0")
    words = occupant(wanted)
    before = os.lstat(wanted)
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    assert path != wanted
    assert path == str(runtime_dir(env) / "pydebug_hook" / f"pdb.sock.0.{prog.pid}")
    note = [line for line in prog.stderr().splitlines() if "cannot be used" in line]
    assert len(note) == 1 and wanted in note[0] and f"listening on {path} instead" in note[0] and words in note[0]
    after = os.lstat(wanted)
    assert (after.st_ino, after.st_mode, after.st_uid) == (before.st_ino, before.st_mode, before.st_uid)
    if occupant is _regular_file:
        assert open(wanted).read() == "precious\n"
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    out = run(["nc", "-U", path], env, input="p secret\nq\n", timeout=20)
    assert "42" in out.stdout
    assert prog.wait() == 1
    assert gone(path)
    assert os.path.lexists(wanted)
    if occupant is _live_socket:
        _live_socket.keep.close()


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
def test_signal_removes_socket_and_record_and_ends_as_by_signal(procs, python, env, tmp_path, signame):
    signum = getattr(signal, signame)
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    assert len(records(runtime_dir(env))) == 1
    os.kill(prog.pid, signum)
    assert prog.wait() == -signum
    assert gone(path)
    assert records(runtime_dir(env)) == []


def test_sigterm_with_a_client_attached(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    client = Raw(path)
    client.expect("(Pdb) ")
    os.kill(prog.pid, signal.SIGTERM)
    client.read_to_eof()
    assert prog.wait() == -signal.SIGTERM
    assert gone(path)
    assert records(runtime_dir(env)) == []


def test_programs_own_sigterm_handler_still_runs(procs, python, env, tmp_path):
    source = textwrap.dedent("""
        import os, signal, sys
        def handler(signum, frame):
            os.write(1, b"own handler\\n")
            os._exit(3)
        signal.signal(signal.SIGTERM, handler)
    """) + CRASH
    prog = Program(procs, python, env, tmp_path, source=source)
    path = prog.socket_path()
    os.kill(prog.pid, signal.SIGTERM)
    assert prog.wait() == 3
    assert prog.stdout() == "own handler\n"
    assert gone(path)
    assert records(runtime_dir(env)) == []


def test_ignored_sigterm_stays_ignored(procs, python, env, tmp_path):
    source = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + textwrap.dedent(CRASH)
    prog = Program(procs, python, env, tmp_path, source=source)
    path = prog.socket_path()
    os.kill(prog.pid, signal.SIGTERM)
    out = run(["nc", "-U", path], env, input="p secret\nq\n", timeout=20)
    assert "42" in out.stdout  # still there after the ignored signal
    assert prog.wait() == 1


def test_exit_while_a_live_session_keeps_breakpoints_cleans_up(procs, python, env, tmp_path):
    """`c` with breakpoints that are never hit: the socket stays until the program exits."""
    source = """
    from pydebug_hook import Debugger
    def never():
        pass
    Debugger.set_trace()
    print("running", flush=True)
    """
    prog = Program(procs, python, env, tmp_path, source=textwrap.dedent(source))
    path = prog.socket_path()
    client = Raw(path)
    client.expect("(Pdb) ")
    client.send("b never")
    client.expect("Breakpoint 1")
    client.send("c")
    client.read_to_eof()
    assert prog.wait() == 0
    assert prog.stdout() == "running\n"
    assert gone(path)
    assert records(runtime_dir(env)) == []


def test_client_gone_mid_output_with_sigpipe_restored(procs, python, env, tmp_path):
    """A host that restored SIGPIPE's default must not die when a client leaves mid-write."""
    source = "import signal\nsignal.signal(signal.SIGPIPE, signal.SIG_DFL)\n" + textwrap.dedent(CRASH)
    prog = Program(procs, python, env, tmp_path, source=source)
    path = prog.socket_path()
    client = Raw(path)
    client.expect("(Pdb) ")
    client.send("p 'x' * 10**7")
    client.sock.shutdown(socket.SHUT_RDWR)
    client.close()
    again = Raw(path)
    again.expect("(Pdb) ")
    again.send("p secret")
    again.expect("42")
    again.send("q")
    assert prog.wait() == 1


def _ls(python, env):
    return run([os.path.join(os.path.dirname(python), "pydebug-hook"), "ls"], env)


def test_ls_removes_the_socket_of_a_session_killed_by_sigkill(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path)
    path = prog.socket_path()
    os.kill(prog.pid, signal.SIGKILL)
    assert prog.wait() == -signal.SIGKILL
    assert os.path.lexists(path) and len(records(runtime_dir(env))) == 1  # SIGKILL leaves both
    assert "no debug session is waiting" in _ls(python, env).stdout
    assert gone(path)
    assert records(runtime_dir(env)) == []


def test_fallback_sockets_of_killed_sessions_are_removed_by_ls_and_by_the_next_session(procs, python, env, tmp_path):
    wanted = tmp_path / "pdb.sock.0"
    _regular_file(wanted)  # the configured path is taken: sessions fall back to pid-named paths
    first = Program(procs, python, env, tmp_path, name="first")
    old = first.socket_path()
    assert old == str(runtime_dir(env) / "pydebug_hook" / f"pdb.sock.0.{first.pid}")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert os.path.lexists(old)
    second = Program(procs, python, env, tmp_path, name="second")
    assert second.socket_path() != old
    wait_for(lambda: gone(old), 10, "the next session to remove the dead one's socket")
    os.kill(second.pid, signal.SIGKILL)
    second.wait()
    assert os.path.lexists(second_path := str(runtime_dir(env) / "pydebug_hook" / f"pdb.sock.0.{second.pid}"))
    _ls(python, env)
    assert gone(second_path)
    assert open(wanted).read() == "precious\n"


def _dead_pid():
    import subprocess

    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_only_provably_stale_sockets_of_ours_are_removed(python, env, tmp_path):
    """Named like fallbacks: a regular file, a live socket, another user's stale socket,
    a stale socket whose pid lives, each stay; only our stale socket of a gone pid goes."""
    directory = runtime_dir(env) / "pydebug_hook"
    directory.mkdir(mode=0o700, exist_ok=True)
    dead = _dead_pid()
    names = {kind: str(directory / f"pdb.sock.{i}.{dead if kind != 'pid alive' else os.getpid()}")
             for i, kind in enumerate(["file", "live", "foreign", "pid alive", "stale"])}
    _regular_file(names["file"])
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(names["live"])
    live.listen(1)
    for kind in ("foreign", "pid alive", "stale"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(names[kind])
        s.close()
    os.chown(names["foreign"], NOBODY, NOBODY)
    try:
        _ls(python, env)
        assert gone(names["stale"])
        for kind in ("file", "live", "foreign", "pid alive"):
            assert os.path.lexists(names[kind]), kind
    finally:
        live.close()
