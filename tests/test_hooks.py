"""``sys.excepthook`` / ``threading.excepthook``: installed, chained, compared with
the same program run by plain Python (``bare_python``, no pydebug_hook)."""

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
def inner():
    secret = 42
    return 1 / 0
inner()
"""

PREVIOUS_HOOKS = {
    "print": """
        def hook(typ, value, tb):
            print("custom hook saw", typ.__name__, file=sys.stderr)
    """,
    "exit": """
        def hook(typ, value, tb):
            print("custom hook exits", file=sys.stderr)
            sys.exit(3)
    """,
    "exit-message": """
        def hook(typ, value, tb):
            raise SystemExit("custom hook gives up")
    """,
    "raise": """
        def hook(typ, value, tb):
            print("custom hook breaks", file=sys.stderr)
            raise RuntimeError("the hook itself failed")
    """,
    "default": """
        hook = sys.__excepthook__
    """,
}


def _program(hook_source: str, body: str, *, thread: bool = False) -> str:
    """The program installs its own hook, then pydebug_hook's (which chains it); under
    plain Python (no pydebug_hook) the same program runs with its hook alone."""
    import textwrap

    target = "threading.excepthook" if thread else "sys.excepthook"
    adapt = "\n_hook = hook\ndef hook(args):\n    _hook(args.exc_type, args.exc_value, args.exc_traceback)\n" if thread else ""
    return (
        "import sys\nimport threading\n"
        + textwrap.dedent(hook_source)
        + adapt
        + f"{target} = hook\n"
        + "try:\n    import pydebug_hook\nexcept ImportError:\n    pass\nelse:\n    pydebug_hook.install()\n"
        + textwrap.dedent(body)
    )


@pytest.mark.parametrize("kind", sorted(PREVIOUS_HOOKS))
def test_previous_sys_excepthook_is_chained_as_without_the_tool(tmp_path, env, python, bare_python, kind):
    script = write_script(tmp_path, _program(PREVIOUS_HOOKS[kind], CRASH))
    plain = run([bare_python, str(script)], env)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    ours = run([python, str(script)], env, input="p secret\n")
    assert "42" in ours.stdout  # the session happened, at the raising frame
    assert len(header_lines(ours.stderr)) == 1
    assert without_tool_lines(ours.stderr) == plain.stderr
    assert ours.returncode == plain.returncode
    assert plain.returncode == {"exit": 3}.get(kind, 1)
    # the header comes first, then what the previous hook printed, then the session
    assert ours.stderr.startswith("pydebug_hook: ZeroDivisionError")


@pytest.mark.parametrize("kind", ["print", "raise", "default"])
def test_previous_threading_excepthook_is_chained_as_without_the_tool(tmp_path, env, python, bare_python, kind):
    body = """
        def work():
            secret = 42
            return 1 / 0
        t = threading.Thread(target=work, name="worker")
        t.start()
        t.join()
        print("main goes on", file=sys.stderr)
    """
    script = write_script(tmp_path, _program(PREVIOUS_HOOKS[kind], body, thread=True))
    plain = run([bare_python, str(script)], env)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    ours = run([python, str(script)], env, input="p secret\n")
    assert "42" in ours.stdout
    assert len(header_lines(ours.stderr)) == 1
    assert without_tool_lines(ours.stderr) == plain.stderr
    assert ours.returncode == plain.returncode == 0


@pytest.mark.parametrize("enabled", ["0", "1"])
def test_crash_without_a_previous_hook_matches_plain_python(tmp_path, env, python, bare_python, enabled):
    script = write_script(tmp_path, CRASH)
    plain = run([bare_python, str(script)], env)
    env.update(IPDB_DEBUG=enabled, IPDB_MODE="console")
    ours = run([python, str(script)], env, input="")
    assert without_tool_lines(ours.stderr) == plain.stderr
    assert ours.returncode == plain.returncode == 1
    assert len(header_lines(ours.stderr)) == int(enabled)


TORCH_LIKE_WRAPPER = '''
import io
import os
import sys

if os.environ.get("SWITCH_OFF"):  # hooks installed at start-up, debugging off in code
    from pydebug_hook import Debugger; Debugger.debug_flag = False

# What torch.distributed.init_process_group does to sys.excepthook (torch 2.x): the hook
# it wraps (ours) runs with sys.stderr pointed at a StringIO; what it captured is printed
# afterwards with a rank prefix.  Defined where torch defines it (a function
# _distributed_excepthook of torch.distributed.distributed_c10d), without importing torch:
# the tool tells that capture apart from a program's own.
TORCH = """
def install(sys, io):
    old_hook = sys.excepthook

    def _distributed_excepthook(*args):
        old_stderr = sys.stderr
        sys.stderr = buf = io.StringIO()
        try:
            old_hook(*args)
        finally:
            sys.stderr = old_stderr
        msg = buf.getvalue()
        msg = "\\\\n".join(f"[rank0]: {s}" if s != "" else "" for s in msg.split("\\\\n"))
        sys.stderr.write(msg)
        sys.stderr.flush()

    sys.excepthook = _distributed_excepthook
"""
c10d = {"__name__": "torch.distributed.distributed_c10d"}
exec(TORCH, c10d)
c10d["install"](sys, io)

def inner():
    secret = 42
    return 1 / 0
inner()
'''


def test_hook_wrapped_by_a_stderr_capture_still_shows_the_traceback_first_and_once(tmp_path, env, procs, python):
    script = write_script(tmp_path, TORCH_LIKE_WRAPPER)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    child = procs.spawn([python, str(script)], env)
    child.expect(PROMPT)
    before = transcript(child)
    assert len(header_lines(before)) == 1
    assert before.count(TRACEBACK) == 1 and "ZeroDivisionError: division by zero" in before
    assert "42" in command(child, "p secret")
    child.sendline("q")
    assert finish(child) == 1
    out = transcript(child)
    assert out.count(TRACEBACK) == 1
    assert "[rank0]" not in out  # nothing was left in the capture to be printed again


def test_hook_wrapped_by_a_stderr_capture_prints_as_before_when_debugging_is_off(tmp_path, env, python, bare_python):
    script = write_script(tmp_path, TORCH_LIKE_WRAPPER)
    plain = run([bare_python, str(script)], env)
    assert "[rank0]: Traceback" in plain.stderr
    env.update(IPDB_DEBUG="1", SWITCH_OFF="1")
    ours = run([python, str(script)], env)
    assert ours.stderr == plain.stderr
    assert ours.returncode == plain.returncode == 1


def test_install_is_idempotent_and_uninstall_restores(tmp_path, env, python):
    script = write_script(tmp_path, """
        import sys
        import threading
        import pydebug_hook
        _hooks = internals.hooks

        def mine(*args):
            pass

        sys.excepthook = mine
        threading.excepthook = mine
        pydebug_hook.install()
        first = sys.excepthook, threading.excepthook
        pydebug_hook.install()
        pydebug_hook.install()
        assert (sys.excepthook, threading.excepthook) == first
        assert sys.excepthook is _hooks._excepthook
        assert _hooks._previous_excepthook is mine and _hooks._previous_threading_excepthook is mine
        pydebug_hook.uninstall()
        assert sys.excepthook is mine and threading.excepthook is mine
        pydebug_hook.uninstall()
        assert sys.excepthook is mine
        print("ok")
    """, internals=True)
    result = run([python, str(script)], env)
    assert (result.stdout, result.stderr, result.returncode) == ("ok\n", "", 0)


def test_threading_imported_after_start_up_gets_the_hook(tmp_path, env, python):
    # the bootstrap does not import threading (it costs start-up time); it patches it
    # when the program imports it
    script = write_script(tmp_path, """
        import sys
        print("threading" in sys.modules)
        import threading
        print(threading.excepthook.__module__)
    """)
    env["IPDB_DEBUG"] = "1"
    result = run([python, str(script)], env)
    assert result.stdout.split() == ["False", internals.HOOKS_MODULE], result.stderr
