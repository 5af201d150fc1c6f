"""What every mode does alike.  One debugger policy: after a post-mortem, ``c`` and ``q``
end the session and leave the program as it was, its own tracer (coverage, a profiler)
still installed and its own SIGINT handler in place (stock pdb's ``c``/``q`` call
``sys.settrace(None)``, and its ``c`` installs pdb's SIGINT handler for good).  And one
check before any header: an exception without a traceback has nothing to debug."""

import pytest
from helpers import header_lines, run, without_tool_lines, write_script
from sockets import Program
from web_client import Watched, WebSocket, free_port_block, port_of

# A program with its own tracer and SIGINT handler; a decorated function fails, its
# session ends, and the program goes on to say whether both are still its own.
PROGRAM = """
import signal, sys
from pydebug_hook import Debugger

def tracer(frame, event, arg):  # what coverage or a profiler installs (calls only: cheap)
    return None

def on_sigint(signum, frame):
    pass

sys.settrace(tracer)
signal.signal(signal.SIGINT, on_sigint)

@Debugger.attach_on_error()
def fails():
    secret = 42
    return 1 / 0

try:
    fails()
except ZeroDivisionError:
    pass
print("tracer kept:", sys.gettrace() is tracer, "sigint kept:", signal.getsignal(signal.SIGINT) is on_sigint, flush=True)
"""

KEPT = "tracer kept: True sigint kept: True"


@pytest.mark.parametrize("command", ["c", "q"])
def test_console_post_mortem_leaves_the_programs_tracer_and_sigint_handler(python, env, tmp_path, command):
    script = write_script(tmp_path, PROGRAM)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    result = run([python, str(script)], env, input=f"p secret\n{command}\n")
    assert "42" in result.stdout, result.stderr
    assert KEPT in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0


@pytest.mark.parametrize("command", ["c", "q"])
def test_socket_post_mortem_leaves_the_programs_tracer_and_sigint_handler(procs, python, env, tmp_path, command):
    prog = Program(procs, python, env, tmp_path, source=PROGRAM)
    out = run(["nc", "-U", prog.socket_path()], env, input=f"p secret\n{command}\n", timeout=20)
    assert "42" in out.stdout
    assert prog.wait() == 0
    assert KEPT in prog.stdout()


@pytest.mark.parametrize("command", ["c", "q"])
def test_web_post_mortem_leaves_the_programs_tracer_and_sigint_handler(procs, python, env, tmp_path, command):
    script = write_script(tmp_path, PROGRAM)
    env.update(IPDB_DEBUG="1", IPDB_MODE="web", IPDB_WEB_PORT=str(free_port_block()))
    prog = Watched(procs.popen([python, str(script)], env))
    WebSocket(port_of(prog.url())).send(f"{command}\n")
    assert prog.finish() == 0
    assert KEPT in prog.stdout


@pytest.mark.parametrize("mode", ["console", "socket", "web", "dump", "dap"])
def test_nothing_to_debug_is_said_before_any_header(python, bare_python, env, tmp_path, mode):
    """A SyntaxError of the script itself has no frame to debug: one line, no header
    announcing a session that never opens, then the traceback and status of plain Python."""
    script = write_script(tmp_path, "x = (\n")
    env.update(IPDB_DEBUG="1", IPDB_MODE=mode, IPDB_WEB_PORT=str(free_port_block()))
    ours = run([python, str(script)], env, timeout=30)
    plain = run([bare_python, str(script)], env, timeout=30)
    assert ours.returncode == plain.returncode == 1
    assert header_lines(ours.stderr) == []
    assert [line for line in ours.stderr.splitlines() if line.startswith("pydebug_hook: ")] == [
        "pydebug_hook: nothing to debug: the exception has no traceback"
    ]
    assert without_tool_lines(ours.stderr) == plain.stderr
