"""Dump mode and dump files: real programs save their crash site with IPDB_MODE=dump (or
when a socket or web session times out), and ``pydebug-hook load`` / ``ls`` open and
list what they saved."""

import json
import os
import re
import signal
from pathlib import Path

import internals
import pytest
from dumps import (
    CLI,
    CRASH,
    NAME,
    dump_dir,
    dump_env,
    dumps_in,
    header_of,
    load,
    mode_of,
    ours,
    plain_gzip,
    saved_paths,
    with_header,
)
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
from sockets import Program, Raw

# -- dump mode in a plain program -------------------------------------------------------------


def test_plain_script_saves_a_dump_and_goes_on(python, bare_python, env, tmp_path):
    script = write_script(tmp_path, CRASH)
    result = run([python, str(script)], dump_env(env), timeout=60)
    plain = run([bare_python, str(script)], env)
    # as without the tool: status, stdout, the traceback once; plus our two lines
    assert result.returncode == plain.returncode == 1
    assert result.stdout == plain.stdout == "program output\n"
    assert without_tool_lines(result.stderr) == plain.stderr
    header, saved = ours(result.stderr)
    assert header == header_lines(result.stderr)[0] and header.endswith("-> dump session")
    assert result.stderr.index(header) < result.stderr.index(TRACEBACK) < result.stderr.index(saved)
    [path] = saved_paths(result.stderr)
    assert saved.startswith("pydebug_hook: rank 0 (pid ") and "ZeroDivisionError: division by zero) post-mortem saved to /" in saved

    # the file: where IPDB_DUMP_DIR says, named for time, host, rank and pid, 0600 in a 0700 directory
    assert dumps_in(dump_dir(env)) == [dump_dir(env) / os.path.basename(path)]
    name = NAME.match(os.path.basename(path))
    assert name and name.group(1) == "0" and f"(pid {name.group(2)}," in header
    assert mode_of(path) == 0o600 and mode_of(dump_dir(env)) == 0o700
    meta = header_of(dump_dir(env) / os.path.basename(path))
    assert (meta["rank"], meta["world_size"], meta["exception"], meta["kind"]) == (0, 1, "ZeroDivisionError: division by zero", "post-mortem")

    # opened with commands on a pipe: at the raising frame, the stack navigable, locals as values
    opened = load(path, env, "p secret\np numbers\nwhere\nup\np local_outer\ndown\np n\n")
    assert opened.returncode == 0, opened.stderr
    out = opened.stdout
    assert "return 10 / (n - n)" in out.split("ipdb>")[0]  # where it starts: the raising line
    assert "42" in out and "[0, 1, 2, 3, 4]" in out and "'hello'" in out and "21" in out
    where = out.split("ipdb>")[3]
    assert where.index("<module>()") < where.index("outer()") < where.index("inner()")
    # the header line and the traceback as the program printed it, before the prompt
    [intro] = ours(opened.stderr)
    assert "post-mortem of ZeroDivisionError: division by zero on rank 0/1 (pid " in intro
    assert without_tool_lines(opened.stderr) == plain.stderr


def test_default_directory_is_pydebug_dumps_in_the_working_directory(python, env, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    script = write_script(tmp_path, CRASH)
    del env["IPDB_DUMP_DIR"]
    result = run([python, str(script)], dump_env(env), timeout=60, cwd=work)
    [path] = saved_paths(result.stderr)
    assert os.path.dirname(path) == str(work / "pydebug-dumps")
    assert dumps_in(work / "pydebug-dumps") and mode_of(work / "pydebug-dumps") == 0o700
    listed = run([CLI, "ls"], env, cwd=work)  # ls looks in the same place
    assert path in listed.stdout


THREAD_CRASH = """
import threading

def work():
    tlocal = 7
    raise ValueError("in thread")

t = threading.Thread(target=work, name="worker-1")
t.start()
t.join()
print("main continues")
"""


def test_thread(python, bare_python, env, tmp_path):
    script = write_script(tmp_path, THREAD_CRASH)
    result = run([python, str(script)], dump_env(env), timeout=60)
    plain = run([bare_python, str(script)], env)
    assert result.returncode == plain.returncode == 0
    assert result.stdout == plain.stdout == "main continues\n"
    assert without_tool_lines(result.stderr) == plain.stderr
    [path] = saved_paths(result.stderr)
    assert "thread worker-1" in header_lines(result.stderr)[0]
    opened = load(path, env, "p tlocal\nwhere\n")
    assert "7" in opened.stdout and "work()" in opened.stdout
    assert "thread worker-1" in ours(opened.stderr)[0]


SPAWNED = """
import multiprocessing as mp

def work(n):
    child_secret = n * 3
    raise KeyError(f"child {n}")

if __name__ == "__main__":
    p = mp.get_context("spawn").Process(target=work, args=(5,))
    p.start()
    p.join()
    print("exit code", p.exitcode)
"""

POOL = """
import multiprocessing as mp

def work(n):
    child_secret = n * 3
    if n == 5:
        raise KeyError(f"item {n}")
    return n

if __name__ == "__main__":
    with mp.get_context("spawn").Pool(2) as pool:
        print(pool.map(work, range(8)))
"""


@pytest.mark.parametrize("source, kind", [(SPAWNED, "process"), (POOL, "pool")], ids=["process", "pool"])
def test_spawned_multiprocessing_child(python, bare_python, env, tmp_path, source, kind):
    script = write_script(tmp_path, source)
    result = run([python, str(script)], dump_env(env), timeout=120, cwd=tmp_path)
    plain = run([bare_python, str(script)], env, timeout=120, cwd=tmp_path)
    # the parent's own reporting as before: status, stdout, its traceback at the end
    assert result.returncode == plain.returncode
    assert result.stdout == plain.stdout
    rest = without_tool_lines(result.stderr)
    assert rest.endswith(plain.stderr) and rest.count(TRACEBACK) == plain.stderr.count(TRACEBACK) + (kind == "pool")
    [path] = saved_paths(result.stderr)  # the worker's; the parent saves none
    assert f"{kind} worker" in header_lines(result.stderr)[0]
    assert NAME.match(os.path.basename(path)).group(3).startswith(f"-{kind}-w")
    assert len(dumps_in(dump_dir(env))) == 1
    if kind == "pool":
        assert result.stderr.count("debugged there; no second session here") == 1
    opened = load(path, env, "p child_secret\n")
    assert "15" in opened.stdout and "raise KeyError" in opened.stdout


DECORATED = """
from pydebug_hook import Debugger

@Debugger.attach_on_error()
def compute(x):
    inside = x + 1
    return {}[inside]

def caller():
    caller_local = "up here"
    compute(1)

caller()
"""


def test_decorator(python, env, tmp_path):
    script = write_script(tmp_path, DECORATED)
    result = run([python, str(script)], dump_env(env), timeout=60)
    assert result.returncode == 1
    assert result.stderr.count(TRACEBACK) == 1 and without_tool_lines(result.stderr).count("KeyError: 2") == 1
    [path] = saved_paths(result.stderr)  # one dump: the excepthook knows it was saved
    assert len(dumps_in(dump_dir(env))) == 1
    opened = load(path, env, "p inside\nwhere\nup\nup\np caller_local\n")
    assert "2" in opened.stdout and "'up here'" in opened.stdout
    assert "<module>()" in opened.stdout  # the callers, above the decorated function


GENERATOR = """
import asyncio

def rows():
    row_local = "in the generator"
    yield 1
    raise ValueError("bad row")

def consume():
    consumer_local = "consumer"
    return list(rows())

async def leaf():
    leaf_local = 99
    await asyncio.sleep(0)
    consume()

async def main():
    await leaf()

asyncio.run(main())
"""


def test_stack_is_the_tracebacks_with_generators_and_coroutines(python, env, tmp_path):
    """A finished generator's or coroutine's frame has no caller (f_back): the stack is
    the traceback's, as a session shows it."""
    script = write_script(tmp_path, GENERATOR)
    result = run([python, str(script)], dump_env(env), timeout=60)
    [path] = saved_paths(result.stderr)
    opened = load(path, env, "where\np row_local\nup\np consumer_local\nup\np leaf_local\n")
    where = opened.stdout.split("ipdb>")[1]
    names = re.findall(r"^[ >]\s*\S+\(\d+\)(\S+)\(\)$", where, re.MULTILINE)  # the stack's entries, outermost first
    assert names[0] == "<module>" and names[-4:] == ["main", "leaf", "consume", "rows"], where
    assert "'in the generator'" in opened.stdout and "'consumer'" in opened.stdout and "99" in opened.stdout, opened.stdout


BREAKPOINT = """
def step(k):
    watched = k * 5
    breakpoint()
    return watched

print("result", step(3))
"""


def test_breakpoint_saves_a_snapshot_and_runs_on(python, env, tmp_path):
    script = write_script(tmp_path, BREAKPOINT)
    result = run([python, str(script)], dict(env, IPDB_MODE="dump", PYTHONBREAKPOINT="pydebug_hook.set_trace"), timeout=60)
    assert result.returncode == 0 and result.stdout == "result 15\n", result.stderr
    [line] = [x for x in ours(result.stderr) if " saved to " in x]
    assert ") snapshot saved to " in line and "breakpoint in step" in line
    opened = load(saved_paths(result.stderr)[0], env, "p watched\n")
    assert "15" in opened.stdout


LATE_HOOK = """
import sys

def own_hook(kind, value, tb):
    print("own hook:", value, file=sys.stderr)

sys.excepthook = own_hook  # after start-up, not chaining ours: the dump is saved at exit
def inner():
    late_local = 5
    raise ValueError("late")

inner()
"""


def test_dump_at_exit_after_a_late_excepthook(python, env, tmp_path):
    result = run([python, str(write_script(tmp_path, LATE_HOOK))], dump_env(env), timeout=60)
    assert result.returncode == 1 and "own hook: late" in result.stderr
    [path] = saved_paths(result.stderr)
    assert "5" in load(path, env, "p late_local\n").stdout


# -- load ---------------------------------------------------------------------------------


@pytest.fixture
def a_dump(python, env, tmp_path):
    script = write_script(tmp_path, CRASH, name="crash.py")
    result = run([python, str(script)], dump_env(env), timeout=60)
    [path] = saved_paths(result.stderr)
    return path


def test_load_on_a_terminal(procs, env, a_dump):
    child = procs.spawn([CLI, "load", a_dump], env, timeout=60)
    child.expect(PROMPT)
    before = transcript(child)
    assert "post-mortem of ZeroDivisionError: division by zero on rank 0/1" in before
    assert before.index(TRACEBACK) < before.rindex("return 10 / (n - n)")
    assert "42" in command(child, "p secret")
    assert "inner(21)" in command(child, "up")
    assert "'hello'" in command(child, "p local_outer")
    where = command(child, "where")
    assert where.index("<module>()") < where.index("outer()") < where.index("inner()")
    assert "return 10 / (n - n)" in command(child, "down")
    child.sendline("q")
    assert finish(child) == 0


def test_load_uses_pdb_where_ipdb_cannot_be_used(env, tmp_path, a_dump):
    fake = tmp_path / "fake" / "ipdb"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise RuntimeError('this ipdb is broken')\n")
    opened = load(a_dump, dict(env, PYTHONPATH=str(fake.parent)), "p secret\nup\np local_outer\n")
    assert opened.returncode == 0
    assert "(Pdb) 42" in opened.stdout and "'hello'" in opened.stdout
    assert "using pdb" in opened.stderr


def _truncated(path, target):
    data = open(path, "rb").read()
    target.write_bytes(data[: len(data) // 2])
    return target


BAD = {
    "text": (lambda d, t: (t / "notes.dump").write_text("hello\n") and t / "notes.dump", "is not a dump (not gzip data)"),
    "empty": (lambda d, t: (t / "empty.dump").write_bytes(b"") or t / "empty.dump", "is not a dump (not gzip data)"),
    "truncated": (lambda d, t: _truncated(d, t / "half.dump"), "is truncated or damaged"),
    "newer format": (lambda d, t: with_header(Path(d), t / "newer.dump", version=2), "was written by a newer pydebug-hook (dump format 2; this one reads format 1): upgrade pydebug-hook to open it"),
    "gzip, not json": (lambda d, t: plain_gzip(t / "other.dump", b"not json at all"), "is not a dump coredumpy can read"),
    "directory": (lambda d, t: t, "is a directory, not a dump"),
    "missing": (lambda d, t: t / "nothing-here.dump", "cannot be opened (No such file or directory)"),
    "fifo": (lambda d, t: os.mkfifo(t / "pipe.dump") or t / "pipe.dump", "is a FIFO, not a dump"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_files_one_line_and_status_1(env, tmp_path, a_dump, case):
    make, message = BAD[case]
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    target = make(a_dump, bad_dir)
    opened = load(target, env, "p 1\n", timeout=30)  # a FIFO must not hang it
    assert opened.returncode == 1
    assert opened.stdout == ""
    [line] = opened.stderr.splitlines()
    assert line.startswith(f"pydebug_hook: {os.path.abspath(target)} {message}"), line


def test_load_does_not_run_conf_coredumpy_of_the_working_directory(python, env, tmp_path):
    """coredumpy runs conf_coredumpy.py from the working directory when it is imported:
    in a shared directory, anybody's code."""
    shared = tmp_path / "shared"
    shared.mkdir()
    marker = tmp_path / "conf-ran"
    (shared / "conf_coredumpy.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    script = write_script(tmp_path, CRASH)
    result = run([python, str(script)], dump_env(env), timeout=60, cwd=shared)
    [path] = saved_paths(result.stderr)
    assert "42" in load(path, env, "p secret\n", cwd=shared).stdout
    assert not marker.exists()


def test_load_imports_no_module_of_the_working_directory(python, env, tmp_path):
    """A dump names the modules its frames held, and loading imports them by name: not
    from whatever directory `python -m pydebug_hook load` runs in."""
    (tmp_path / "helper_mod.py").write_text("VALUE = 1\n")
    script = write_script(tmp_path, "import helper_mod\ndef f():\n    mod = helper_mod\n    return 1 / 0\nf()\n")
    result = run([python, str(script)], dump_env(env), timeout=60)
    [path] = saved_paths(result.stderr)
    shared = tmp_path / "shared"
    shared.mkdir()
    marker = tmp_path / "imported"
    (shared / "helper_mod.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    opened = run([python, "-m", "pydebug_hook", "load", path], env, input="p mod\n", timeout=60, cwd=shared)
    assert opened.returncode == 0, opened.stderr
    assert not marker.exists()


# -- where dumps go: the directory's checks --------------------------------------------------


def test_file_0600_and_new_directories_0700_whatever_the_umask(python, env, tmp_path):
    script = write_script(tmp_path, "import os\nos.umask(0)\n" + CRASH)
    nested = tmp_path / "a" / "b" / "c"
    result = run([python, str(script)], dump_env(env, IPDB_DUMP_DIR=str(nested)), timeout=60)
    [path] = saved_paths(result.stderr)
    assert mode_of(path) == 0o600
    assert [mode_of(d) for d in (tmp_path / "a", tmp_path / "a" / "b", nested)] == [0o700] * 3


def _refused(python, bare_python, env, tmp_path, directory, needle):
    script = write_script(tmp_path, CRASH)
    result = run([python, str(script)], dump_env(env, IPDB_DUMP_DIR=str(directory)), timeout=60)
    plain = run([bare_python, str(script)], env)
    assert result.returncode == plain.returncode == 1
    assert without_tool_lines(result.stderr) == plain.stderr  # the traceback, once
    header, line = ours(result.stderr)
    assert "post-mortem not saved: " in line and needle in line, line
    assert saved_paths(result.stderr) == []
    return line


NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to another user")
def test_directory_of_another_user_is_refused(python, bare_python, env, tmp_path):
    shared = tmp_path / "theirs"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    os.chown(shared, NOBODY, NOBODY)
    _refused(python, bare_python, env, tmp_path, shared, f"dump directory {shared} belongs to uid {NOBODY}, not to uid 0")
    assert list(shared.iterdir()) == []
    listed = run([CLI, "ls"], dict(env, IPDB_DUMP_DIR=str(shared)), timeout=30)
    assert ours(listed.stderr) == [f"pydebug_hook: dumps not listed: dump directory {shared} belongs to uid {NOBODY}, not to uid 0 (set IPDB_DUMP_DIR to a directory of your own)"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to another user")
def test_symlink_of_another_user_is_not_followed_but_ours_is(python, bare_python, env, tmp_path):
    target = tmp_path / "ours"
    target.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(target)
    os.lchown(link, NOBODY, NOBODY)
    _refused(python, bare_python, env, tmp_path, link, f"dump directory {link} is a symbolic link of uid {NOBODY}; not following it")
    assert list(target.iterdir()) == []
    # our own link to our own directory is fine
    mine = tmp_path / "mine"
    mine.symlink_to(target)
    result = run([python, str(write_script(tmp_path, CRASH))], dump_env(env, IPDB_DUMP_DIR=str(mine)), timeout=60)
    [path] = saved_paths(result.stderr)
    assert path.startswith(str(mine) + "/") and len(dumps_in(target)) == 1


def test_a_file_where_the_directory_should_be(python, bare_python, env, tmp_path):
    path = tmp_path / "occupied"
    path.write_text("")
    _refused(python, bare_python, env, tmp_path, path, f"dump directory {path} is not a directory")


@pytest.mark.parametrize("options, why", [("ro", "Read-only file system"), ("size=4k", "No space left on device")], ids=["read-only", "full"])
def test_unwritable_directory(python, bare_python, env, tmp_path, options, why):
    """A directory of ours on a read-only or a full file system (a tmpfs in a private
    mount namespace)."""
    script = write_script(tmp_path, CRASH)
    where = tmp_path / "mounted"
    where.mkdir()
    wrap = ["unshare", "--mount", "--", "bash", "-c", f'mount -t tmpfs -o {options} tmpfs "$0" && exec "$@"', str(where)]
    result = run(wrap + [python, str(script)], dump_env(env, IPDB_DUMP_DIR=str(where)), timeout=60)
    plain = run([bare_python, str(script)], env)
    assert result.returncode == plain.returncode == 1
    assert without_tool_lines(result.stderr) == plain.stderr
    header, line = ours(result.stderr)
    assert line.endswith(f"post-mortem not saved: cannot write in the dump directory {where}: {why}"), line


def test_an_exception_without_a_traceback_saves_nothing(python, bare_python, env, tmp_path):
    script = write_script(tmp_path, "x = (\n")  # a SyntaxError of the script itself: no frame
    result = run([python, str(script)], dump_env(env), timeout=60)
    plain = run([bare_python, str(script)], env)
    assert result.returncode == plain.returncode == 1
    assert without_tool_lines(result.stderr) == plain.stderr
    assert ours(result.stderr) == ["pydebug_hook: nothing to debug: the exception has no traceback"]  # as in every mode
    assert not dump_dir(env).exists()


# -- a dump takes what it takes, no more --------------------------------------------------------

BLOCKING = """
import os, sys, time

class Stuck:
    @property
    def value(self):  # coredumpy reads properties: this one returns when the test says so
        open(sys.argv[1] + ".reached", "w").close()
        while not os.path.exists(sys.argv[1]):
            time.sleep(0.01)
        return 1

def fail():
    stuck = Stuck()
    raise RuntimeError("with a stuck object in scope")

fail()
"""


def test_a_dump_that_takes_too_long_is_given_up(python, bare_python, env, tmp_path):
    script = write_script(tmp_path, BLOCKING)
    never = str(tmp_path / "never")
    result = run([python, str(script), never], dump_env(env, IPDB_DUMP_TIMEOUT="1"), timeout=60)
    plain = run([python, str(script), never], dict(env, IPDB_DEBUG="0"), timeout=60)
    assert result.returncode == plain.returncode == 1
    assert without_tool_lines(result.stderr) == plain.stderr
    header, line = ours(result.stderr)
    assert line.endswith("post-mortem not saved: not finished within 1s (IPDB_DUMP_TIMEOUT)"), line
    assert list(dump_dir(env).glob("*")) == []


def test_sigterm_waits_for_the_dump_then_ends_the_program(procs, python, env, tmp_path):
    """A launcher tearing the job down (torchrun's SIGTERM) does not cut the dump short."""
    script = write_script(tmp_path, BLOCKING)
    go = tmp_path / "go"
    err = tmp_path / "stderr"
    with open(err, "w") as stream:
        proc = procs.popen([python, str(script), str(go)], dump_env(env), stderr=stream, preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
        wait_for(lambda: os.path.exists(f"{go}.reached"), 30, "the dump under way")
        proc.send_signal(signal.SIGTERM)
        go.write_text("")
        assert proc.wait(60) == -signal.SIGTERM
    text = err.read_text()
    [path] = saved_paths(text)
    assert "pydebug_hook: SIGTERM came while the dump was written; it takes effect now" in text
    assert "<Stuck object at" in load(path, env, "p stuck\n").stdout


# -- bounds ------------------------------------------------------------------------------------

HUGE = """
def fill():
    big_list = list(range(2_000_000))
    big_dict = {i: i for i in range(300_000)}
    big_text = "some words " * 100_000  # (a run of 32 letters or digits would be redacted as a secret)
    big_bytes = b"y" * 1_000_000
    nested = [[i] * 3000 for i in range(3000)]
    raise MemoryError("pretend")

fill()
"""


def test_huge_objects_are_cut_and_say_so(python, env, tmp_path):
    script = write_script(tmp_path, HUGE)
    result = run([python, str(script)], dump_env(env), timeout=120)
    [path] = saved_paths(result.stderr)
    assert os.path.getsize(path) < 2_000_000, os.path.getsize(path)
    meta = header_of(dump_dir(env) / os.path.basename(path))
    assert meta["left_out"]["containers cut"] >= 3 and meta["left_out"]["strings cut"] >= 1
    opened = load(path, env, "p len(big_list)\np big_list[-1]\np len(big_text)\np big_text[-40:]\np big_bytes[-30:]\np len(big_dict)\n")
    out = opened.stdout
    assert "1001" in out and "<not saved: 1,999,000 more items of this list of 2,000,000>" in out
    assert "[1,090,000 more characters not saved]" in out and "more bytes not saved]" in out
    assert "not everything was saved" in opened.stderr


# -- ls -------------------------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_ls_lists_dumps_newest_first_and_skips_what_is_not_ours(python, env, tmp_path):
    script = write_script(tmp_path, "import os, sys\nraise KeyError(sys.argv[1])\n")
    first = run([python, str(script), "first"], dump_env(env, RANK="1", LOCAL_RANK="1", WORLD_SIZE="2"), timeout=60)
    second = run([python, str(script), "second"], dump_env(env), timeout=60)
    [older], [newer] = saved_paths(first.stderr), saved_paths(second.stderr)
    directory = dump_dir(env)
    os.symlink(older, directory / "link.dump")
    os.mkfifo(directory / "fifo.dump")
    theirs = directory / "theirs.dump"
    theirs.write_bytes(Path(older).read_bytes())
    os.chown(theirs, NOBODY, NOBODY)

    listed = run([CLI, "ls"], env, timeout=30)  # a FIFO must not hang it
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert lines[0] == "no debug session is waiting"
    assert lines[2] == f"dumps in {directory}, newest first (open one with: pydebug-hook load FILE)"
    assert lines[3].split() == ["#", "AGE", "RANK", "PID", "HOST", "FILE", "EXCEPTION"]
    rows = lines[4:]
    assert len(rows) == 2 and newer in rows[0] and older in rows[1]
    assert rows[0].split()[2] == "0/1" and rows[1].split()[2] == "1/2"
    assert rows[0].endswith("KeyError: 'second'") and rows[1].endswith("KeyError: 'first'")
    assert f"  {os.uname().nodename}  " in rows[0]
    assert ours(listed.stderr) == [f"pydebug_hook: not listed in {directory}: 1 file of another user, 1 special file, 1 symbolic link"]

    listed = json.loads(run([CLI, "ls", "--json"], env, timeout=30).stdout)
    assert [(d["mode"], d["state"], d["endpoint"], d["rank"], d["exception"]) for d in listed] == [
        ("dump", "saved", newer, 0, "KeyError: 'second'"),
        ("dump", "saved", older, 1, "KeyError: 'first'"),
    ]


def test_ls_without_dumps_prints_what_it_did(env, tmp_path):
    assert run([CLI, "ls"], env, timeout=30).stdout == "no debug session is waiting\n"


# -- sessions that nobody attached to ----------------------------------------------------------


def test_socket_wait_timeout_saves_the_dump(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path, IPDB_WAIT_TIMEOUT="0.5")
    assert prog.wait() == 1
    text = prog.stderr()
    assert text.count(TRACEBACK) == 1
    assert text.index("no debugger attached within 0.5s") < text.index(" post-mortem saved to ")
    [path] = saved_paths(text)
    assert "42" in load(path, env, "p secret\n").stdout


def test_socket_client_gone_and_not_back_saves_the_dump(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path, IPDB_WAIT_TIMEOUT="1")
    client = Raw(prog.socket_path())
    client.expect("(Pdb) ")
    client.close()
    assert prog.wait() == 1
    text = prog.stderr()
    assert text.index("no debugger came back within 1s") < text.index(" post-mortem saved to ")
    assert len(saved_paths(text)) == 1


def test_socket_session_ended_by_its_client_saves_nothing(procs, python, env, tmp_path):
    prog = Program(procs, python, env, tmp_path, IPDB_WAIT_TIMEOUT="30")
    client = Raw(prog.socket_path())
    client.expect("(Pdb) ")
    client.send("q")
    client.read_to_eof()
    assert prog.wait() == 1
    assert saved_paths(prog.stderr()) == [] and dumps_in(dump_dir(env)) == []


def test_web_wait_timeout_saves_the_dump(procs, python, env, tmp_path):
    from web_client import free_port_block

    script = write_script(tmp_path, CRASH)
    web = dict(env, IPDB_DEBUG="1", IPDB_MODE="web", IPDB_WEB_PORT=str(free_port_block()), IPDB_WAIT_TIMEOUT="1")
    result = run([python, str(script)], web, timeout=60)
    assert result.returncode == 1 and result.stderr.count(TRACEBACK) == 1
    assert result.stderr.index("no browser connected for 1s") < result.stderr.index(" post-mortem saved to ")
    [path] = saved_paths(result.stderr)
    assert "42" in load(path, env, "p secret\n").stdout


def test_nothing_of_coredumpy_at_start_up_in_dump_mode(python, env):
    code = f"import sys; print(sorted(m for m in sys.modules if 'coredumpy' in m or m.startswith({internals.DUMP_MODULES!r})))"
    out = run([python, "-c", code], dump_env(env), timeout=30)
    assert out.stdout == "[]\n"
