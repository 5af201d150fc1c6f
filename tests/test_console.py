"""Console mode: real interpreters on a real pty (pexpect), or with piped stdin.

Every session here is opened by the start-up hook in an unmodified program
(``IPDB_DEBUG=1``), unless the test says otherwise.
"""

import internals
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

CRASH = """
def inner(n):
    secret = n * 2
    return 10 / (n - n)

def outer():
    local_outer = "hello"
    inner(21)

print("program output")
outer()
"""

THREAD_CRASH = """
import sys
import threading

def work():
    tlocal = 7
    raise ValueError("in thread")

t = threading.Thread(target=work, name="worker-1")
t.start()
t.join()
print("main continues; hooks:", sys.excepthook.__module__, threading.excepthook.__module__)
"""


@pytest.fixture
def console_env(env):
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    return env


def test_main_thread_exception_opens_ipdb_at_raising_frame(tmp_path, console_env, procs, python):
    script = write_script(tmp_path, CRASH)
    child = procs.spawn([python, str(script)], console_env)
    child.expect(PROMPT)
    before = transcript(child)
    assert "return 10 / (n - n)" in before.split(TRACEBACK)[-1]  # the listing is at the raising line
    assert len(header_lines(before)) == 1
    assert "ZeroDivisionError on rank 0/1" in header_lines(before)[0]
    assert before.index("pydebug_hook: ZeroDivisionError") < before.index(TRACEBACK)

    assert "42" in command(child, "p secret")
    assert "outer()" in command(child, "up")
    assert "'hello'" in command(child, "p local_outer")
    where = command(child, "where")
    assert where.index("<module>()") < where.index("outer()") < where.index("inner()")
    child.sendline("q")
    assert finish(child) == 1
    out = transcript(child)
    assert out.count(TRACEBACK) == 1
    assert out.count("ZeroDivisionError: division by zero") == 1
    assert len(header_lines(out)) == 1


def test_thread_exception_opens_ipdb_in_the_thread(tmp_path, console_env, procs, python):
    script = write_script(tmp_path, THREAD_CRASH)
    child = procs.spawn([python, str(script)], console_env)
    child.expect(PROMPT)
    before = transcript(child)
    assert "thread worker-1" in header_lines(before)[0]
    assert 'raise ValueError("in thread")' in before.split(TRACEBACK)[-1]
    assert "7" in command(child, "p tlocal")
    child.sendline("q")
    # a thread's exception does not change the exit status, with or without the tool;
    # and ipdb/IPython did not keep the process's hooks for themselves
    child.expect(f"main continues; hooks: {internals.HOOKS_MODULE} {internals.HOOKS_MODULE}")
    assert finish(child) == 0
    out = transcript(child)
    assert out.count(TRACEBACK) == 1
    assert out.count("Exception in thread worker-1") == 1


@pytest.mark.parametrize("program", [CRASH, THREAD_CRASH], ids=["main", "thread"])
def test_ctrl_c_at_the_prompt_keeps_the_session(tmp_path, console_env, procs, python, program):
    script = write_script(tmp_path, program)
    child = procs.spawn([python, str(script)], console_env)
    child.expect(PROMPT)
    child.sendintr()
    assert "42" in command(child, "p 6 * 7")
    assert child.isalive()
    child.sendline("q")
    assert finish(child) == (1 if program is CRASH else 0)


def test_piped_stdin_runs_commands_and_ends_at_eof(tmp_path, console_env, python):
    script = write_script(tmp_path, CRASH)
    result = run([python, str(script)], console_env, input="p secret\nup\np local_outer\n", timeout=60)
    assert result.returncode == 1
    assert "42" in result.stdout and "'hello'" in result.stdout
    assert result.stderr.count(TRACEBACK) == 1
    assert len(header_lines(result.stderr)) == 1


def test_stdin_at_eof_ends_the_session_at_once(tmp_path, console_env, python, bare_python):
    script = write_script(tmp_path, CRASH)
    result = run([python, str(script)], console_env, input="", timeout=60)
    plain = run([bare_python, str(script)], console_env, input="")
    assert result.returncode == plain.returncode == 1
    assert without_tool_lines(result.stderr) == plain.stderr


def test_closed_stdin_gives_one_line_and_the_original_traceback(tmp_path, console_env, python, bare_python):
    script = write_script(tmp_path, CRASH)
    closed = ["bash", "-c", 'exec "$0" "$@" <&-']
    result = run(closed + [python, str(script)], console_env)
    plain = run(closed + [bare_python, str(script)], console_env)
    ours = [line for line in result.stderr.splitlines() if line.startswith("pydebug_hook:")]
    assert len(ours) == 1 and "stdin is closed" in ours[0], result.stderr
    assert without_tool_lines(result.stderr) == plain.stderr
    assert result.returncode == plain.returncode == 1
    assert result.stdout == plain.stdout == "program output\n"


def test_broken_ipdb_falls_back_to_pdb(tmp_path, console_env, procs, python, bare_python):
    fake = tmp_path / "fake" / "ipdb"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise RuntimeError('this ipdb is broken')\n")
    console_env["PYTHONPATH"] = str(fake.parent)
    script = write_script(tmp_path, CRASH)

    child = procs.spawn([python, str(script)], console_env)
    child.expect(r"\(Pdb\)")
    assert "42" in command(child, "p secret", prompt=r"\(Pdb\)")
    child.sendline("q")
    assert finish(child) == 1
    out = transcript(child)
    assert out.count("ipdb could not be loaded (RuntimeError: this ipdb is broken); using pdb") == 1
    assert out.count(TRACEBACK) == 1

    # and on stderr: the original traceback, the exit status, one line about ipdb
    result = run([python, str(script)], console_env, input="q\n")
    plain = run([bare_python, str(script)], console_env)
    assert without_tool_lines(result.stderr) == plain.stderr
    assert result.returncode == plain.returncode == 1
    ours = [line for line in result.stderr.splitlines() if line.startswith("pydebug_hook:")]
    assert len(ours) == 2 and "using pdb" in ours[1]  # the header, then the fallback


def test_sessions_of_two_threads_are_serialized(tmp_path, console_env, procs, python):
    script = write_script(tmp_path, """
        import sys
        import threading
        import time

        barrier = threading.Barrier(2)

        def fail(name):
            barrier.wait()
            raise RuntimeError(f"failure of {name}")

        def other_is_waiting():
            # True once the other failed thread is blocked at the session gate
            me = threading.get_ident()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                for ident, frame in sys._current_frames().items():
                    if ident == me:
                        continue
                    f = frame
                    while f is not None:
                        if f.f_code.co_name == "enter" and "pydebug_hook" in f.f_code.co_filename:
                            return True
                        f = f.f_back
                time.sleep(0.02)
            return False

        threads = [threading.Thread(target=fail, args=(n,), name=n) for n in ("A", "B")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("both done")
    """)
    child = procs.spawn([python, str(script)], console_env)
    child.expect(PROMPT)
    assert "True" in command(child, "p __import__('__main__').other_is_waiting()")
    assert len(header_lines(transcript(child))) == 1  # the other waits: no header, no prompt
    first = "A" if "'A'" in command(child, "p name") else "B"
    command(child, "q")
    assert len(header_lines(transcript(child))) == 2
    assert f"'{'B' if first == 'A' else 'A'}'" in command(child, "p name")
    child.sendline("q")
    child.expect("both done")
    assert finish(child) == 0
    assert transcript(child).count(TRACEBACK) == 2


def test_nothing_on_stdout_outside_a_session(tmp_path, console_env, python):
    script = write_script(tmp_path, """
        import threading
        print("program output")
        t = threading.Thread(target=lambda: 1 / 0)
        t.start()
        t.join()
        raise SystemExit("bye")
    """)
    # the thread's exception is handled (stdin closed: no console), the exit is not
    result = run(["bash", "-c", 'exec "$0" "$@" <&-', python, str(script)], console_env)
    assert result.stdout == "program output\n"
    assert "ZeroDivisionError" in result.stderr and result.returncode == 1
    # a program that does not fail: its own output only, nothing on stderr
    quiet = write_script(tmp_path, "print('just this')\n", "quiet.py")
    result = run([python, str(quiet)], console_env, input="")
    assert (result.stdout, result.stderr, result.returncode) == ("just this\n", "", 0)


def test_auto_mode_picks_console_on_a_terminal(tmp_path, env, procs, python):
    env["IPDB_DEBUG"] = "1"  # IPDB_MODE unset: auto
    script = write_script(tmp_path, CRASH)
    child = procs.spawn([python, str(script)], env)
    child.expect(PROMPT)
    assert "-> console session" in header_lines(transcript(child))[0]
    child.sendline("q")
    assert finish(child) == 1


def test_header_and_traceback_go_to_stderr_and_to_the_terminal_of_the_session(tmp_path, console_env, procs, python):
    """stderr into a file: the log gets header and traceback, and so does the terminal
    where the session opens (the person there must see what failed), once each."""
    script = write_script(tmp_path, CRASH)
    err_file = tmp_path / "err.txt"
    child = procs.spawn(["bash", "-c", f'exec "$0" "$@" 2>{err_file}', python, str(script)], console_env)
    child.expect(PROMPT)
    assert "42" in command(child, "p secret")
    child.sendline("q")
    assert finish(child) == 1
    err = err_file.read_text()
    assert err.count(TRACEBACK) == 1 and len(header_lines(err)) == 1
    shown = transcript(child)
    assert shown.count(TRACEBACK) == 1 and len(header_lines(shown)) == 1
    assert shown.index(TRACEBACK) < shown.index(PROMPT)


def test_no_colours_into_a_piped_stdout(tmp_path, console_env, python):
    """ipdb colours its listings on a terminal; into a pipe they would be escape codes."""
    script = write_script(tmp_path, CRASH)
    result = run([python, str(script)], console_env, input="p secret\nl\n", timeout=60)
    assert "42" in result.stdout and "return 10 / (n - n)" in result.stdout
    assert "\x1b" not in result.stdout, repr(result.stdout[:300])
