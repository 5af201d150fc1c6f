"""The examples run: every scenario of debug_single_process.py, and the demo program."""

import pytest
from helpers import (
    EXAMPLES,
    PROMPT,
    TRACEBACK,
    command,
    finish,
    header_lines,
    run,
    transcript,
)

SINGLE = str(EXAMPLES / "debug_single_process.py")


@pytest.mark.parametrize("environ", [{}, {"IPDB_DEBUG": "1"}], ids=["plain", "debug"])
def test_hello_exits_0_with_output(env, python, environ):
    env.update(environ)
    result = run([python, SINGLE, "--mode", "hello"], env)
    assert (result.stdout, result.stderr, result.returncode) == ("Hello, pydebug_hook!\n", "", 0)
    assert run([python, SINGLE], env).stdout == "Hello, pydebug_hook!\n"  # hello is the default


# mode -> (a local to print at the prompt, its value, the exit status after `q`)
SCENARIOS = {
    "error": ("index", "10", 1),
    "math_error": ("values", "[]", 0),
    "context": ("config", "'epochs': 3", 1),
}


@pytest.mark.parametrize("how", ["flags", "environment"])
@pytest.mark.parametrize("mode", sorted(SCENARIOS))
def test_failing_scenarios_open_the_console_debugger(env, procs, python, mode, how):
    name, value, status = SCENARIOS[mode]
    if how == "flags":
        argv = [python, SINGLE, "--mode", mode, "--debug", "--debug_mode", "console"]
    else:
        env.update(IPDB_DEBUG="1", IPDB_MODE="console")
        argv = [python, SINGLE, "--mode", mode]
    child = procs.spawn(argv, env)
    child.expect(PROMPT)
    assert "-> console session" in header_lines(transcript(child))[0]
    assert value in command(child, f"p {name}")
    child.sendline("q")
    assert finish(child) == status
    out = transcript(child)
    assert out.count(TRACEBACK) == 1 and len(header_lines(out)) == 1
    if mode == "math_error":
        assert "the program carries on after the post-mortem" in out


@pytest.mark.parametrize("mode, error", [("error", "IndexError"), ("math_error", "ZeroDivisionError"), ("context", "KeyError")])
def test_failing_scenarios_without_debugging_are_plain_tracebacks(env, python, mode, error):
    result = run([python, SINGLE, "--mode", mode], env)
    assert result.returncode == 1
    assert result.stderr.count(TRACEBACK) == 1 and f"{error}" in result.stderr.splitlines()[-1]
    assert header_lines(result.stderr) == []


def test_demo_program_crashes_into_ipdb(env, procs, python):
    env["IPDB_DEBUG"] = "1"
    child = procs.spawn([python, str(EXAMPLES / "plain_crash.py")], env)
    child.expect(PROMPT)
    assert "'n/a'" in command(child, "p row['amount']")
    child.sendline("q")
    assert finish(child) == 1
    plain = run([python, str(EXAMPLES / "plain_crash.py")], {k: v for k, v in env.items() if k != "IPDB_DEBUG"})
    assert plain.returncode == 1 and "ValueError: could not convert string to float: 'n/a'" in plain.stderr
