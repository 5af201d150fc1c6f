"""Exceptions that never reach sys.excepthook: multiprocessing.Process, Pool and
ProcessPoolExecutor workers, with the fork, spawn and forkserver start methods.

Every scenario is a real program run with ``IPDB_DEBUG=1 IPDB_MODE=socket``: the bug in
the worker's function is debugged in the worker, at its raising frame, through the
worker's own socket; then the program goes on as without the tool (same exit status,
stdout, and the parent's own report at the end of stderr), compared with a run of the
same program with ``IPDB_DEBUG`` unset.
"""

import os
import textwrap

import internals
import pytest
from helpers import run, wait_for, write_script
from sockets import Program, Raw
from web_client import Watched, WebSocket, frame_data, free_port_block, port_of, refused
from workers import TAG, check_as_before, debug_worker, framework_noise, without_tool

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/nc"), reason="needs netcat-openbsd (scripts/test.sh installs it)")

METHODS = ["fork", "spawn", "forkserver"]

PROCESS = """
import multiprocessing as mp

def work(n):
    secret = n * 3
    raise KeyError(f"bad {{n}}")

if __name__ == "__main__":
    mp.set_start_method("{method}")
    p = mp.Process(target=work, args=(7,))
    p.start()
    p.join()
    print("exitcode", p.exitcode, flush=True)
"""

POOL = """
import multiprocessing as mp

def work(n):
    secret = n * 3
    if n == 2:
        raise ValueError(f"bad {{n}}")
    return n

if __name__ == "__main__":
    with mp.get_context("{method}").Pool(2) as pool:
        print(pool.map(work, range(4)))
"""

EXECUTOR = """
import concurrent.futures
import multiprocessing as mp

def work(n):
    secret = n * 3
    if n == 1:
        raise ValueError(f"bad {{n}}")
    return n

if __name__ == "__main__":
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=mp.get_context("{method}")) as ex:
        print(list(ex.map(work, range(3))))
"""


@pytest.mark.parametrize("method", METHODS)
def test_process(procs, python, env, tmp_path, method):
    prog = Program(procs, python, env, tmp_path, source=PROCESS.format(method=method))
    debugged = debug_worker(prog, python, "process", "secret", "21", 'raise KeyError(f"bad {n}")', worker=1)
    assert debugged.path == str(tmp_path / "pdb.sock.0.w1")
    baseline = without_tool(python, prog, env)
    assert "Process Process-1:" in baseline.stderr and baseline.stdout == "exitcode 1\n"
    # multiprocessing's "Process Process-1:" and traceback, printed once, before the session.
    check_as_before(debugged, baseline, env, printed_by_worker=False)
    stderr = prog.stderr()
    assert stderr.index(debugged.header) < stderr.index("Process Process-1:") < stderr.index("waits for a debugger")


@pytest.mark.parametrize("method", METHODS)
def test_pool(procs, python, env, tmp_path, method):
    prog = Program(procs, python, env, tmp_path, source=POOL.format(method=method))
    debugged = debug_worker(prog, python, "pool", "secret", "6", 'raise ValueError(f"bad {n}")')
    baseline = without_tool(python, prog, env)
    assert "multiprocessing.pool.RemoteTraceback" in baseline.stderr and baseline.returncode == 1
    check_as_before(debugged, baseline, env)


@pytest.mark.parametrize("method", METHODS)
def test_process_pool_executor(procs, python, env, tmp_path, method):
    prog = Program(procs, python, env, tmp_path, source=EXECUTOR.format(method=method))
    debugged = debug_worker(prog, python, "executor", "secret", "3", 'raise ValueError(f"bad {n}")', end="c")
    baseline = without_tool(python, prog, env)
    assert "concurrent.futures.process._RemoteTraceback" in baseline.stderr and baseline.returncode == 1
    check_as_before(debugged, baseline, env)


def test_thread_in_a_worker_gets_the_workers_endpoint(procs, python, env, tmp_path):
    source = """
    import multiprocessing as mp
    import threading

    def in_thread():
        tlocal = 5
        raise RuntimeError("thread of a worker")

    def work():
        t = threading.Thread(target=in_thread, name="helper")
        t.start()
        t.join()
        print("worker goes on", flush=True)

    if __name__ == "__main__":
        mp.set_start_method("fork")
        p = mp.Process(target=work)
        p.start()
        p.join()
        print("exitcode", p.exitcode, flush=True)
    """
    prog = Program(procs, python, env, tmp_path, source=textwrap.dedent(source))
    debugged = debug_worker(prog, python, "process", "tlocal", "5", 'raise RuntimeError("thread of a worker")', worker=1)
    assert "thread helper" in debugged.header
    baseline = without_tool(python, prog, env)
    check_as_before(debugged, baseline, env, printed_by_worker=False)
    assert prog.stdout() == "worker goes on\nexitcode 0\n"


def test_debugging_off_in_code_leaves_every_framework_as_plain_python(python, bare_python, env, tmp_path):
    """IPDB_DEBUG=1 installs the hooks and the patches; Debugger.debug_flag = False (at
    module level, so spawned children run it too) turns debugging off: each framework's
    output and status are then those of plain Python."""
    off = "from pydebug_hook import Debugger\nDebugger.debug_flag = False\n"
    same_lines = "import os\nimport sys\n"  # the plain program: as many lines, doing nothing
    for name, template in (("process", PROCESS), ("pool", POOL), ("executor", EXECUTOR)):
        for method in ("fork", "spawn"):
            source = textwrap.dedent(template.format(method=method))
            plain_dir, off_dir = tmp_path / f"plain-{name}-{method}", tmp_path / f"off-{name}-{method}"
            plain_dir.mkdir()
            off_dir.mkdir()
            plain_script = write_script(plain_dir, same_lines + source)
            off_script = write_script(off_dir, off + source)
            plain = run([bare_python, str(plain_script)], env, timeout=60)
            patched = run([python, str(off_script)], dict(env, IPDB_DEBUG="1"), timeout=60)
            assert plain.returncode != 0 or name == "process"
            assert (patched.returncode, patched.stdout) == (plain.returncode, plain.stdout), (name, method)
            expected = framework_noise(plain.stderr.replace(str(plain_dir), str(off_dir)))
            assert framework_noise(patched.stderr) == expected, (name, method)


def test_debugging_off_nothing_changes(python, bare_python, env, tmp_path):
    for name, template in (("process", PROCESS), ("pool", POOL), ("executor", EXECUTOR)):
        script = write_script(tmp_path, textwrap.dedent(template.format(method="forkserver")), f"{name}.py")
        plain = run([bare_python, str(script)], env, timeout=60)
        installed = run([python, str(script)], env, timeout=60)
        assert (installed.returncode, installed.stdout) == (plain.returncode, plain.stdout)
        assert framework_noise(installed.stderr) == framework_noise(plain.stderr)


def test_debug_flag_at_module_level_reaches_spawned_workers(procs, python, env, tmp_path):
    """No IPDB_DEBUG in the environment: a spawned worker is a new interpreter whose
    start-up hook does nothing, but it runs the main module's top level again, where
    `Debugger.debug_flag = True` installs the hooks and the patches."""
    source = "from pydebug_hook import Debugger\nDebugger.debug_flag = True\n" + textwrap.dedent(POOL.format(method="spawn"))
    script = write_script(tmp_path, source)
    err = tmp_path / "stderr"
    with open(err, "w") as stderr:
        proc = procs.popen([python, str(script)], dict(env, IPDB_MODE="socket"), stderr=stderr)
    assert "IPDB_DEBUG" not in env
    line = wait_for(lambda: next((x for x in err.read_text().splitlines() if "waits for a debugger" in x), None), 30, "the waiting line")
    path = line.split("for a debugger on ", 1)[1].split(" -- ", 1)[0]
    assert TAG.search(path), path
    client = Raw(path)
    client.expect("(Pdb) ")
    client.send("p secret")
    client.expect("6")
    client.send("q")
    client.read_to_eof()
    assert proc.wait(60) == 1
    assert "RemoteTraceback" in err.read_text()


def test_nothing_imported_at_start_up(python, env):
    """The patches wait for their modules: none of them is imported by the start-up hook."""
    probe = f"import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in ('multiprocessing', 'concurrent', 'torch', 'pydebug_hook') and m not in {tuple(internals.STARTUP_MODULES)!r}))"
    out = run([python, "-c", probe], dict(env, IPDB_DEBUG="1"))
    assert out.stdout.strip() == "[]", out


def test_patch_applies_on_import_and_steps_aside_for_a_changed_framework(python, env, tmp_path):
    source = """
    import types
    from internals import patches

    import multiprocessing.pool
    print("pool", internals.patch_status["multiprocessing.pool"])
    print("subclass", multiprocessing.pool.ExceptionWithTraceback.__mro__[1].__module__,
          multiprocessing.pool.ExceptionWithTraceback.__qualname__)

    # A framework of another shape: the patch leaves it as it is.
    fake = types.ModuleType("multiprocessing.pool")
    class ExceptionWithTraceback:
        def __init__(self, error, traceback_text):  # other arguments than (exc, tb)
            pass
        def __reduce__(self):
            return (str, ())
    fake.ExceptionWithTraceback = ExceptionWithTraceback
    print("changed", patches.apply("multiprocessing.pool", fake))
    print("untouched", fake.ExceptionWithTraceback is ExceptionWithTraceback)
    print("check", patches.check("torch.multiprocessing.spawn", types.ModuleType("torch.multiprocessing.spawn")))
    """
    script = write_script(tmp_path, source, internals=True)
    out = run([python, str(script)], dict(env, IPDB_DEBUG="1"))
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # stepping aside is silent
    lines = out.stdout.splitlines()
    assert lines[0] == "pool patched"
    assert lines[1] == "subclass multiprocessing.pool ExceptionWithTraceback"
    assert lines[2] == "changed stepped aside: multiprocessing.pool.ExceptionWithTraceback does not take (self, exc, tb)"
    assert lines[3] == "untouched True"
    assert lines[4] == "check steps aside: torch.multiprocessing.spawn has no _wrap()"


def test_doctor_lists_the_worker_patches(python, env):
    out = run([python, "-m", "pydebug_hook", "doctor"], env, timeout=60)
    assert out.returncode == 0
    text = out.stdout
    for name in ("multiprocessing.process", "multiprocessing.pool", "concurrent.futures.process"):
        assert f"{name}" in text and "applies" in text.split(name, 1)[1].splitlines()[0]
    assert "torch.utils.data._utils.worker" in text and "torch.multiprocessing.spawn" in text


WHERE = """
import multiprocessing as mp

def show(who):
    print(who, internals.dispatch.destination(), flush=True)

if __name__ == "__main__":
    show("parent")
    p = mp.get_context("spawn").Process(target=show, args=("worker",))
    p.start(); p.join()
"""


@pytest.mark.parametrize("mode", ["socket", "web"])
def test_where_a_workers_session_would_go_is_the_modes_answer(python, env, tmp_path, mode):
    """What `doctor` says comes from the mode itself: in a worker, with its endpoint's
    offset (the socket path's tag, the web port's offset)."""
    script = write_script(tmp_path, WHERE, internals=True)
    port = free_port_block()
    out = run([python, str(script)], dict(env, IPDB_MODE=mode, IPDB_SOCKET_PATH=str(tmp_path / "pdb.sock.{rank}"), IPDB_WEB_PORT=str(port)))
    assert out.returncode == 0, out.stderr
    seen = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    if mode == "socket":
        assert seen == {"parent": f"socket at {tmp_path}/pdb.sock.0", "worker": f"socket at {tmp_path}/pdb.sock.0.w1"}
    else:  # rank 0 of 1, worker 1: IPDB_WEB_PORT + rank + world_size * (1 + 1)
        assert seen == {"parent": f"web at http://127.0.0.1:{port}/", "worker": f"web at http://127.0.0.1:{port + 2}/"}


def test_uninstall_restores_the_frameworks(python, env, tmp_path):
    source = """
    import multiprocessing.pool, multiprocessing.process, concurrent.futures.process
    originals = (multiprocessing.pool.ExceptionWithTraceback, concurrent.futures.process._ExceptionWithTraceback,
                 vars(multiprocessing.process.BaseProcess)["_bootstrap"])
    import pydebug_hook
    pydebug_hook.install()
    patched = (multiprocessing.pool.ExceptionWithTraceback, concurrent.futures.process._ExceptionWithTraceback,
               vars(multiprocessing.process.BaseProcess)["_bootstrap"])
    pydebug_hook.uninstall()
    after = (multiprocessing.pool.ExceptionWithTraceback, concurrent.futures.process._ExceptionWithTraceback,
             vars(multiprocessing.process.BaseProcess)["_bootstrap"])
    print(all(a is not b for a, b in zip(originals, patched)), all(a is b for a, b in zip(originals, after)))
    """
    out = run([python, str(write_script(tmp_path, source))], env)
    assert out.stdout.split() == ["True", "True"], out.stderr


def test_web_mode_worker_port_does_not_collide_with_the_parent(procs, python, env, tmp_path):
    """Web mode: rank r's worker N listens on IPDB_WEB_PORT + r + world_size * (N + 1)."""
    base = free_port_block()
    script = write_script(tmp_path, textwrap.dedent(PROCESS.format(method="fork")))
    prog = Watched(procs.popen([python, str(script)], dict(env, IPDB_DEBUG="1", IPDB_MODE="web", IPDB_WEB_PORT=str(base))))
    port = port_of(prog.url())
    assert port == base + 2  # rank 0 of 1, worker 1
    assert f"process worker 1 of pid {prog.proc.pid}" in prog.wait_err("web debugger at")
    assert "secret = 21" in frame_data(port)["locals"]
    WebSocket(port).send("q\n")
    assert prog.finish() == 0
    assert prog.stdout == "exitcode 1\n"
    assert refused(port)


@pytest.mark.parametrize("mode", ["socket", "web"])
def test_a_signal_disposition_set_outside_python_survives_a_session(python, env, tmp_path, mode):
    """torch's DataLoader workers end quietly on their parent's SIGTERM through a C
    handler that Python does not know of (getsignal() says SIG_DFL). A session in such a
    worker must leave it in place: Python could not put it back, and the parent would
    report its worker "killed by signal" at exit. Here the disposition set behind
    Python's back is SIG_IGN, read from the kernel before and after the session."""
    source = """
    import ctypes, signal
    from pydebug_hook import Debugger

    libc = ctypes.CDLL(None)
    libc.signal.restype = ctypes.c_void_p
    libc.signal(signal.SIGTERM, ctypes.c_void_p(1))  # SIG_IGN, behind Python's back

    def ignored():
        for line in open("/proc/self/status"):
            if line.startswith("SigIgn:"):
                return int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1

    print("before", ignored(), signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, flush=True)
    try:
        1 / 0
    except ZeroDivisionError:
        Debugger.post_mortem()
    print("after", ignored(), flush=True)
    """
    extra = {"IPDB_WEB_PORT": str(free_port_block())} if mode == "web" else {}
    out = run([python, str(write_script(tmp_path, source))], dict(env, IPDB_MODE=mode, IPDB_WAIT_TIMEOUT="0", **extra))
    assert out.stdout == "before 1 True\nafter 1\n", out.stderr
