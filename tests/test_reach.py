"""A session only waits where a person has been told (docs/auto.md).

``IPDB_DEBUG=1`` exported in a shell reaches every Python process started from it: import
probes, build backends run by pip, children whose output a parent captures.  Those must
not hang where nobody sees them; where a person can see them (the terminal the parent
runs on, a log file, a launcher that relays the pipe), ``auto`` waits and says so there.
"""

import os
import re
import signal
import socket
import sys

import pexpect
import pytest
from helpers import (
    PROMPT,
    TRACEBACK,
    command,
    finish,
    header_lines,
    run,
    transcript,
    wait_for,
    without_tool_lines,
    write_script,
)
from sockets import CRASH

# A parent that captures its child's output, as an import probe or a build tool does.
CAPTURING_PARENT = """
import subprocess, sys
r = subprocess.run([sys.executable, sys.argv[1]], capture_output=True, text=True)
print("child exited", r.returncode, flush=True)
print("captured stdout:", repr(r.stdout), flush=True)
sys.stdout.write("captured stderr:\\n" + r.stderr)
"""

# A launcher stand-in: takes the process name (comm) given, starts the program with its
# stderr on a pipe, and copies what comes through to a file (a relay) or to its own
# stderr (a forwarder, as mpirun does for its local ranks).
PIPE_READER = """
import subprocess, sys
name, program, out = sys.argv[1], sys.argv[2], sys.argv[3]
with open("/proc/self/comm", "w") as f:
    f.write(name)
sink = open(out, "w") if out != "-" else sys.stderr
child = subprocess.Popen([sys.executable, program], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
for line in child.stderr:
    sink.write(line)
    sink.flush()
sys.exit(child.wait())
"""


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def debug_env(env):
    env["IPDB_DEBUG"] = "1"  # exported, as in the user's shell; IPDB_MODE unset: auto
    return env


def _crash(tmp_path):
    return write_script(tmp_path, CRASH, "crash.py")


def test_a_captured_child_without_a_terminal_finishes_at_once(tmp_path, debug_env, python, bare_python):
    """No terminal (a new session), stderr a pipe its parent reads: no session, one
    line in the captured stderr, then the traceback; the same exit status."""
    crash = _crash(tmp_path)
    parent = write_script(tmp_path, CAPTURING_PARENT, "parent.py")
    result = run([python, str(parent), str(crash)], debug_env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "child exited 1" in result.stdout
    captured = result.stdout.split("captured stderr:\n", 1)[1]
    ours = [line for line in captured.splitlines() if line.startswith("pydebug_hook:")]
    assert len(ours) == 2, captured
    assert re.match(r"pydebug_hook: ZeroDivisionError on rank 0/1 \(pid \d+, host [^)]+\) \(no session: stderr is a pipe opened by \S+ \(pid \d+\)"
                    r" and there is no terminal: nobody would know it waits; the post-mortem is saved instead \(IPDB_MODE=socket would wait\)\)$", ours[0]), ours[0]
    # the crash site is not lost: saved as in dump mode, loadable later
    saved = re.match(r"pydebug_hook: rank 0 \(pid \d+, ZeroDivisionError: .*\) post-mortem saved to (\S+) -- open it with: pydebug-hook load \1$", ours[1])
    assert saved and os.path.isfile(saved.group(1)), ours[1]
    plain = run([bare_python, str(parent), str(crash)], debug_env, timeout=60)
    assert without_tool_lines(captured) == plain.stdout.split("captured stderr:\n", 1)[1]
    assert captured.count(TRACEBACK) == 1


def test_a_worker_of_a_captured_child_does_not_wait_either(tmp_path, debug_env, python):
    """The worker inherits the pipe: up the process tree to the parent that reads it."""
    worker = write_script(tmp_path, """
        import multiprocessing as mp
        def work():
            raise ValueError("in the worker")
        if __name__ == "__main__":
            p = mp.get_context("spawn").Process(target=work)
            p.start(); p.join()
            print("worker exit", p.exitcode)
    """, "worker.py")
    parent = write_script(tmp_path, CAPTURING_PARENT, "parent.py")
    result = run([python, str(parent), str(worker)], debug_env, timeout=90)
    assert "child exited 0" in result.stdout and "worker exit 1" in result.stdout, result.stdout + result.stderr
    assert "no session: stderr is a pipe opened by" in result.stdout
    assert "ValueError: in the worker" in result.stdout


def test_a_captured_child_on_a_terminal_tells_the_person_there_and_ctrl_c_ends_it(tmp_path, debug_env, procs, python):
    """The parent runs on a terminal: header, traceback and the session go to that
    terminal (the prompt too: never into the captured stdout); Ctrl-C ends the session
    and the parent gets what it would have got without the tool."""
    crash = _crash(tmp_path)
    parent = write_script(tmp_path, CAPTURING_PARENT, "parent.py")
    child = procs.spawn([python, str(parent), str(crash)], debug_env, preexec_fn=default_sigint)
    child.expect(r"ZeroDivisionError on rank 0/1 \(pid \d+, host [^)]+\) -> console session")
    child.expect(r"this process's stderr is a pipe opened by \S+ \(pid \d+\), where nobody sees it; "
                 r"the session is on this terminal: q, c or Ctrl-C end it")
    child.expect(PROMPT)
    shown = transcript(child)
    assert shown.count(TRACEBACK) == 1 and "return 10 / (n - n)" in shown
    assert "42" in command(child, "p secret")
    child.sendcontrol("c")
    child.expect("child exited 1")
    assert finish(child) == 0
    out = transcript(child)
    assert "captured stdout: ''" in out  # nothing of the session went to the captured stdout
    captured = out.split("captured stderr:", 1)[1]
    assert captured.count(TRACEBACK) == 1 and len(header_lines(captured)) == 1


def test_console_prompts_on_the_terminal_when_only_stdout_is_captured(tmp_path, debug_env, procs, python):
    """check_output() captures stdout, stderr stays the terminal: the debugger reads and
    writes the terminal, the program's captured output holds only its own."""
    script = write_script(tmp_path, "print('own output')\n" + CRASH, "crash.py")
    parent = write_script(tmp_path, """
        import subprocess, sys
        try:
            subprocess.check_output([sys.executable, sys.argv[1]], text=True)
        except subprocess.CalledProcessError as e:
            print("captured stdout:", repr(e.output), flush=True)
    """, "parent.py")
    child = procs.spawn([python, str(parent), str(script)], debug_env)
    child.expect(PROMPT)
    assert "42" in command(child, "p secret")
    child.sendline("q")
    child.expect(r"captured stdout: 'own output\\n'")
    assert finish(child) == 0


def test_explicit_socket_mode_is_obeyed_and_the_waiting_line_reaches_the_terminal(tmp_path, debug_env, procs, python):
    crash = _crash(tmp_path)
    parent = write_script(tmp_path, CAPTURING_PARENT, "parent.py")
    debug_env["IPDB_MODE"] = "socket"
    child = procs.spawn([python, str(parent), str(crash)], debug_env)
    child.expect(r"waits for a debugger on (\S+) -- attach with")
    path = child.match.group(1).strip("'")
    out = run(["nc", "-N", "-U", path], debug_env, input="p secret\nq\n", timeout=30).stdout
    assert "42" in out
    child.expect("child exited 1")
    assert finish(child) == 0
    captured = transcript(child).split("captured stderr:", 1)[1]
    assert "waits for a debugger on" in captured  # stderr got it too


def test_explicit_socket_mode_waits_without_anybody(tmp_path, debug_env, procs, python):
    """Asked for: it waits even where nobody is told (the caller knows)."""
    crash = _crash(tmp_path)
    debug_env["IPDB_MODE"] = "socket"
    proc = procs.popen([python, str(crash)], debug_env)
    path = str(tmp_path / "pdb.sock.0")
    wait_for(lambda: os.path.exists(path), 20, "the socket")
    assert proc.poll() is None
    assert "42" in run(["nc", "-N", "-U", path], debug_env, input="p secret\nq\n", timeout=30).stdout
    assert proc.wait(20) == 1


def test_ci_does_not_wait_even_on_a_terminal(tmp_path, debug_env, procs, python):
    crash = _crash(tmp_path)
    debug_env["CI"] = "true"
    child = procs.spawn([python, str(crash)], debug_env)
    child.expect(r"\(no session: CI is set: nobody attends a CI job; the post-mortem is saved instead \(IPDB_MODE=socket would wait\)\)")
    child.expect("post-mortem saved to")
    assert finish(child) == 1
    assert transcript(child).count(TRACEBACK) == 1 and PROMPT not in transcript(child)


def _pipe_reader(procs, python, env, tmp_path, name, out):
    crash = _crash(tmp_path)
    reader = write_script(tmp_path, PIPE_READER, "reader.py")
    stderr = open(tmp_path / "reader.stderr", "w")
    return procs.popen([python, str(reader), name, str(crash), out], env, stderr=stderr)


@pytest.mark.parametrize("launcher", ["slurmstepd", "orted", "mpirun"])
def test_a_pipe_that_a_launcher_relays_waits(tmp_path, debug_env, procs, python, launcher):
    """srun's tasks write to a pipe that slurmstepd relays to srun's terminal or the
    job's log (MPI's daemons alike); mpirun writes its local ranks' output to its own
    stderr, here a log file.  A person is told: socket mode waits."""
    log = tmp_path / "job.log"
    if launcher == "mpirun":
        proc = _pipe_reader(procs, python, debug_env, tmp_path, launcher, "-")
        log = tmp_path / "reader.stderr"
    else:
        proc = _pipe_reader(procs, python, debug_env, tmp_path, launcher, str(log))

    def waiting():
        text = log.read_text() if log.exists() else ""
        found = re.search(r"waits for a debugger on (\S+) -- attach", text)
        assert proc.poll() is None, text
        return found

    path = wait_for(waiting, 30, "the waiting line in the job's log").group(1).strip("'")
    assert "-> socket session" in log.read_text()
    assert "42" in run(["nc", "-N", "-U", path], debug_env, input="p secret\nq\n", timeout=30).stdout
    assert proc.wait(30) == 1


def test_a_launcher_whose_own_output_is_captured_does_not_wait(tmp_path, debug_env, python):
    """mpirun passes its ranks' output on to its stderr: a pipe a parent reads."""
    crash = _crash(tmp_path)
    reader = write_script(tmp_path, PIPE_READER, "reader.py")
    result = run([python, str(reader), "mpirun", str(crash), "-"], debug_env, timeout=60)
    assert result.returncode == 1
    assert re.search(r"\(no session: stderr is a pipe opened by \S+ \(pid \d+\) and there is no terminal", result.stderr), result.stderr


def test_the_systemd_journal_is_a_log(tmp_path, debug_env, procs, python):
    """A service's stderr is a socket to journald (JOURNAL_STREAM says which): a log
    that a person reads, so socket mode waits."""
    crash = _crash(tmp_path)
    ours, theirs = socket.socketpair()
    st = os.fstat(theirs.fileno())
    debug_env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    proc = procs.popen([python, str(crash)], debug_env, stderr=theirs.fileno())
    theirs.close()
    ours.settimeout(30)
    seen = b""
    while b"waits for a debugger on" not in seen:
        chunk = ours.recv(4096)
        assert chunk, seen
        seen += chunk
    path = str(tmp_path / "pdb.sock.0")
    assert "42" in run(["nc", "-N", "-U", path], debug_env, input="p secret\nq\n", timeout=30).stdout
    assert proc.wait(20) == 1
    ours.close()


BROKEN_BACKEND = """
def _fail(*args, **kwargs):
    raise RuntimeError("setup failed on purpose")

get_requires_for_build_wheel = prepare_metadata_for_build_wheel = build_wheel = _fail
"""


def test_a_failing_pip_install_ends(tmp_path, debug_env, python):
    """pip runs the build backend with its output captured: a setup step that raises
    must end in pip's error report, not in a session nobody can see."""
    pkg = tmp_path / "broken"
    pkg.mkdir()
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n[project]\nname = "broken"\nversion = "0"\n'
    )
    (pkg / "backend.py").write_text(BROKEN_BACKEND)
    cmd = [python, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-deps",
           "--disable-pip-version-check", "--target", str(tmp_path / "target"), str(pkg)]
    result = run(cmd, debug_env, timeout=120)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "RuntimeError: setup failed on purpose" in out
    assert "no session: stderr is a pipe opened by" in out


def test_doctor_says_where_a_session_would_go_without_anybody(tmp_path, debug_env, python):
    result = run([python, "-m", "pydebug_hook", "doctor"], debug_env, cwd=tmp_path)
    line = next(line for line in result.stdout.splitlines() if line.startswith("a session goes to"))
    assert line.startswith("a session goes to no session: stderr is a pipe opened by "), result.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="Linux only")
def test_a_background_process_with_tostop_is_not_stopped_by_its_lines(tmp_path, debug_env, procs, python):
    """stty tostop: writing to the terminal would stop a background job; its lines stay
    on stderr (here a pipe nobody reads: no session)."""
    crash = _crash(tmp_path)
    debug_env["PS1"] = "$ "
    shell = procs.spawn(["bash", "--norc", "--noprofile", "-i"], debug_env, timeout=30)
    shell.expect_exact("$ ")
    shell.sendline("stty tostop")
    shell.expect_exact("$ ")
    shell.sendline(f"{python} {crash} 2>&1 | cat > {tmp_path / 'out.txt'} &")
    shell.expect_exact("$ ")
    shell.sendline("wait; echo done=$?")
    shell.expect(r"done=(\d+)")
    out = (tmp_path / "out.txt").read_text()
    assert "no session:" in out and out.count(TRACEBACK) == 1, out
    shell.sendline("exit")
    shell.expect(pexpect.EOF)


def test_subprocess_of_a_subprocess_probe_finishes(tmp_path, debug_env, python):
    """The import probe of the report: `python -c "import apex"` with its output
    captured, IPDB_DEBUG=1 exported."""
    code = ("import subprocess, sys; r = subprocess.run([sys.executable, '-c', 'import no_such_module_apex'], "
            "capture_output=True, text=True); print(r.returncode, 'ModuleNotFoundError' in r.stderr)")
    probe = [python, "-c", code]
    result = run(probe, debug_env, timeout=60)
    assert result.stdout == "1 True\n", result.stderr
