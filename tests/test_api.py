"""The ``Debugger`` API of the seed: post-mortems from an ``except`` block, and the
``debug_flag`` / ``debug_mode`` overrides."""

import pytest
from helpers import (
    TRACEBACK,
    header_lines,
    run,
    strip_ansi,
    without_tool_lines,
    write_script,
)

# The seed's "上下文异常调试" example, nearly verbatim.
SEED_EXAMPLE = """
import sys
from pydebug_hook import Debugger

def risky_function():
    try:
        print("执行风险操作...")
        secret = 42
        result = 1 / 0
        return result
    except Exception as e:
        if Debugger.debug_flag:
            print(f"捕获到异常: {e}")
            _, tb = sys.exc_info()[1], sys.exc_info()[2]
            Debugger.blocking_console_post_mortem(rank=0)
        else:
            raise

print("returned", risky_function())
"""


def test_blocking_console_post_mortem_from_an_except_block(tmp_path, env, python):
    script = write_script(tmp_path, SEED_EXAMPLE)
    # console even where IPDB_MODE says otherwise: that is what the name promises
    env.update(IPDB_DEBUG="1", IPDB_MODE="socket")
    result = run([python, str(script)], env, input="p secret\nq\n")
    assert "42" in result.stdout, result.stderr
    assert "捕获到异常: division by zero" in result.stdout
    assert "returned None" in result.stdout  # the function goes on after the session
    assert len(header_lines(result.stderr)) == 1 and "-> console session" in result.stderr
    assert result.stderr.count(TRACEBACK) == 1
    assert result.returncode == 0


def test_blocking_console_post_mortem_skips_other_ranks(tmp_path, env, python):
    script = write_script(tmp_path, SEED_EXAMPLE)
    env.update(IPDB_DEBUG="1", RANK="1", WORLD_SIZE="2")
    result = run([python, str(script)], env, input="p secret\nq\n")
    assert "returned None" in result.stdout
    assert "42" not in result.stdout and result.stderr == ""
    assert result.returncode == 0


def test_seed_example_without_debugging_raises(tmp_path, env, python):
    script = write_script(tmp_path, SEED_EXAMPLE)
    result = run([python, str(script)], env)
    assert result.returncode == 1 and "ZeroDivisionError" in result.stderr
    assert header_lines(result.stderr) == []


def test_post_mortem_in_the_configured_mode_even_with_debugging_off(tmp_path, env, python):
    script = write_script(tmp_path, """
        import pydebug_hook
        from pydebug_hook import Debugger

        def compute():
            secret = 42
            return secret / 0

        try:
            compute()
        except ZeroDivisionError:
            Debugger.post_mortem()
        try:
            compute()
        except ZeroDivisionError as exc:
            pydebug_hook.post_mortem(exc.__traceback__)
        try:
            Debugger.post_mortem()
        except ValueError as exc:
            print("outside an except block:", exc)
        print("done")
    """)
    env.update(IPDB_MODE="console")  # IPDB_DEBUG unset: post_mortem() is an explicit request
    result = run([python, str(script)], env, input="p secret\nq\np secret\nq\n")
    assert strip_ansi(result.stdout).count("ipdb> 42") == 2, result.stdout + result.stderr
    assert "outside an except block: post_mortem() needs a traceback" in result.stdout
    assert "done" in result.stdout
    assert len(header_lines(result.stderr)) == 2
    assert result.returncode == 0


def test_debug_flag_false_in_code_wins_over_the_environment(tmp_path, env, python, bare_python):
    script = write_script(tmp_path, """
        try:
            from pydebug_hook import Debugger
        except ImportError:
            pass
        else:
            Debugger.debug_flag = False
        def inner():
            return 1 / 0
        inner()
    """)
    plain = run([bare_python, str(script)], env)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    ours = run([python, str(script)], env, input="q\n")
    assert (ours.stdout, ours.stderr, ours.returncode) == (plain.stdout, plain.stderr, plain.returncode)


def test_debug_flag_and_mode_true_in_code_win_over_the_environment(tmp_path, env, python):
    # IPDB_DEBUG off and IPDB_MODE=socket in the environment; the code says console, on
    script = write_script(tmp_path, """
        from pydebug_hook import Debugger
        Debugger.debug_flag = True
        Debugger.debug_mode = "console"
        print(Debugger.debug_flag, Debugger.debug_mode)
        def inner():
            secret = 42
            return 1 / 0
        inner()
    """)
    env.update(IPDB_DEBUG="0", IPDB_MODE="socket")
    result = run([python, str(script)], env, input="p secret\nq\n")
    assert result.stdout.startswith("True console\n")
    assert "42" in result.stdout  # the uncaught exception opened a console session
    assert "-> console session" in result.stderr
    assert result.returncode == 1
    assert without_tool_lines(result.stderr).count(TRACEBACK) == 1


@pytest.mark.parametrize(
    "environ, code, expected",
    [
        ({}, "", "False auto"),
        ({"IPDB_DEBUG": "1", "IPDB_MODE": "web"}, "", "True web"),
        ({"IPDB_DEBUG": "1"}, "Debugger.debug_flag = False", "False auto"),
        ({"IPDB_MODE": "web"}, "Debugger.debug_mode = 'socket'", "False socket"),
        ({"IPDB_MODE": "web"}, "Debugger.debug_mode = 'socket'; Debugger.debug_mode = None", "False web"),
    ],
)
def test_debugger_properties_read_the_effective_settings(tmp_path, env, python, environ, code, expected):
    env.update(environ)
    script = write_script(tmp_path, f"""
        from pydebug_hook import Debugger
        {code}
        print(Debugger.debug_flag, Debugger.debug_mode)
    """)
    result = run([python, str(script)], env)
    assert result.stdout.strip() == expected, result.stderr
