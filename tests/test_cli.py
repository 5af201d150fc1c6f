"""The ``pydebug-hook`` command: run, doctor, --help, --version, ``python -m``."""

import json
import os
from pathlib import Path

import pytest
from helpers import (
    PROMPT,
    TRACEBACK,
    command,
    finish,
    header_lines,
    run,
    transcript,
    write_script,
)

from pydebug_hook import __version__


@pytest.fixture(scope="module")
def cli(python):
    """The console script installed next to the interpreter under test."""
    exe = Path(python).parent / "pydebug-hook"
    assert exe.is_file()
    return str(exe)


SHOW = """
import sys
print("argv:", sys.argv)
print("name:", __name__, "main is me:", sys.modules["__main__"].__dict__ is globals())
print("path0 is script dir:", sys.path[0] == __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
GLOBAL = "module global"
if len(sys.argv) > 1 and sys.argv[1] == "exit":
    sys.exit(int(sys.argv[2]))
if len(sys.argv) > 1 and sys.argv[1] == "crash":
    def inner():
        secret = 42
        return 1 / 0
    inner()
"""


def test_run_script_like_python(tmp_path, env, cli, python):
    script = write_script(tmp_path, SHOW)
    for args in (["a", "--b", "c d"], ["exit", "7"]):
        ours = run([cli, "run", str(script), *args], env)
        plain = run([python, str(script), *args], env)
        assert (ours.stdout, ours.stderr, ours.returncode) == (plain.stdout, plain.stderr, plain.returncode)
    assert plain.returncode == 7
    assert f"argv: ['{script}', 'exit', '7']" in plain.stdout
    assert "name: __main__ main is me: True" in plain.stdout


def test_run_traceback_has_no_runner_frames(tmp_path, env, cli, python):
    script = write_script(tmp_path, SHOW)
    env["IPDB_DEBUG"] = "0"  # run debugs unless told otherwise: here it is told
    ours = run([cli, "run", str(script), "crash"], env)
    plain = run([python, str(script), "crash"], env)
    assert ours.stderr == plain.stderr and ours.returncode == plain.returncode == 1
    assert "runpy" not in ours.stderr and "_runner" not in ours.stderr


def test_run_opens_the_debugger_without_ipdb_debug_set(tmp_path, env, procs, cli):
    # IPDB_DEBUG unset: the .pth does nothing, `run` installs the hooks itself
    script = write_script(tmp_path, SHOW)
    child = procs.spawn([cli, "run", str(script), "crash"], env)
    child.expect(PROMPT)
    assert "42" in command(child, "p secret")
    assert "'module global'" in command(child, "p GLOBAL")
    where = command(child, "where")
    assert "runpy" not in where  # the stack starts at the script, as under python
    child.sendline("q")
    assert finish(child) == 1
    out = transcript(child)
    assert len(header_lines(out)) == 1 and out.count(TRACEBACK) == 1


def test_run_mode_option(tmp_path, env, cli):
    script = write_script(tmp_path, SHOW)
    result = run([cli, "run", "--mode", "console", str(script), "crash"], env, input="p secret\n")
    assert "-> console session" in result.stderr and "42" in result.stdout
    dumped = run([cli, "run", "--mode", "dump", str(script), "crash"], env)
    assert "-> dump session" in dumped.stderr and " post-mortem saved to " in dumped.stderr


def test_run_module_like_python_m(tmp_path, env, cli, python):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tool.py").write_text(SHOW)
    (pkg / "__main__.py").write_text("import sys\nprint('package main', sys.argv[1:])\n")
    for target, args in (("mypkg.tool", ["x", "-y"]), ("mypkg.tool", ["exit", "3"]), ("mypkg", ["p"])):
        ours = run([cli, "run", "-m", target, *args], env, cwd=tmp_path)
        plain = run([python, "-m", target, *args], env, cwd=tmp_path)
        assert (ours.stdout, ours.stderr, ours.returncode) == (plain.stdout, plain.stderr, plain.returncode), target
    assert "package main ['p']" in plain.stdout


def test_run_module_opens_the_debugger(tmp_path, env, cli):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tool.py").write_text(SHOW)
    env["IPDB_MODE"] = "console"
    result = run([cli, "run", "-m", "mypkg.tool", "crash"], env, input="p secret\n", cwd=tmp_path)
    assert "42" in result.stdout and result.returncode == 1
    assert result.stderr.count(TRACEBACK) == 1 and "runpy" not in result.stderr


def test_run_missing_targets(tmp_path, env, cli):
    missing = run([cli, "run", str(tmp_path / "nope.py")], env)
    assert missing.returncode == 2 and "nope.py" in missing.stderr
    no_module = run([cli, "run", "-m", "no_such_module_here"], env, cwd=tmp_path)
    assert no_module.returncode == 1 and "No module named" in no_module.stderr


def test_run_syntax_error_reported_as_python_does(tmp_path, env, cli, python):
    script = write_script(tmp_path, "def broken(:\n    pass\n")
    ours = run([cli, "run", str(script)], env)
    plain = run([python, str(script)], env)
    assert ours.returncode == plain.returncode == 1
    assert ours.stderr.splitlines()[-1] == plain.stderr.splitlines()[-1]
    assert "SyntaxError" in ours.stderr and "runpy" not in ours.stderr


def test_doctor_reports_inactive_hook(env, cli):
    result = run([cli, "doctor"], env)
    assert result.returncode == 0
    lines = dict(line.split(None, 1) if False else (line[:18].strip(), line[18:]) for line in result.stdout.splitlines()[1:])
    assert lines["hook active here"] == "no (IPDB_DEBUG is unset)"
    assert lines["debugging"] == "off"
    assert lines["start-up file"].endswith("pydebug_hook.pth")
    assert lines["rank"].startswith("0 of 1")
    assert result.stdout.startswith(f"pydebug-hook {__version__} on Python ")


def test_doctor_json_reports_active_hook_settings_rank_and_destination(tmp_path, env, cli):
    env.update(IPDB_DEBUG="1", IPDB_MODE="socket", RANK="2", LOCAL_RANK="0", WORLD_SIZE="4", IPDB_WEB_PORT="5000")
    result = run([cli, "doctor", "--json"], env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["hook_active"] is True
    assert report["pth"].endswith("pydebug_hook.pth") and report["pth_current"] is True
    assert report["start_file"].endswith("pydebug_hook.start")
    assert report["settings"]["enabled"] is True and report["settings"]["mode"] == "socket"
    assert report["settings"]["web_port"] == 5000
    assert report["rank"] == {"rank": 2, "local_rank": 0, "world_size": 4, "source": "torchrun"}
    expected = env["IPDB_SOCKET_PATH"].format(rank=2)
    assert report["session_would_go_to"] == f"socket at {expected}"


def test_doctor_text_destination_for_web(env, cli):
    env.update(IPDB_DEBUG="1", IPDB_MODE="web", SLURM_PROCID="3", SLURM_NTASKS="4")
    result = run([cli, "doctor"], env)
    assert "hook active here  yes" in result.stdout
    assert "a session goes to web at http://127.0.0.1:4447/" in result.stdout
    assert "rank              3 of 4 (local 3; from slurm)" in result.stdout


def test_doctor_text_destination_for_dap(env, cli):
    env.update(IPDB_DEBUG="1", IPDB_MODE="dap", RANK="2", WORLD_SIZE="4", IPDB_DAP_PORT="6000")
    result = run([cli, "doctor"], env)
    assert "a session goes to dap (an IDE attaches) at 127.0.0.1:6002" in result.stdout
    assert "dap address       127.0.0.1:6000 + rank" in result.stdout
    env["IPDB_DAP_HOST"] = "::1"
    report = json.loads(run([cli, "doctor", "--json"], env).stdout)
    assert report["session_would_go_to"] == "dap (an IDE attaches) at [::1]:6002"
    assert (report["settings"]["dap_host"], report["settings"]["dap_port"]) == ("::1", 6000)


def test_doctor_under_pydebug_hook_run_is_active(tmp_path, env, cli):
    script = write_script(tmp_path, "print(internals.hooks.installed())\n", internals=True)
    result = run([cli, "run", str(script)], env)
    assert result.stdout == "True\n"


def test_help_and_version(env, cli, python):
    assert run([cli, "--version"], env).stdout == f"pydebug-hook {__version__}\n"
    for argv in ([cli, "--help"], [python, "-m", "pydebug_hook", "--help"]):
        result = run(argv, env)
        assert result.returncode == 0
        for word in ("run", "doctor", "ls", "attach", "load", "--version"):
            assert word in result.stdout
    assert run([python, "-m", "pydebug_hook", "--version"], env).stdout == f"pydebug-hook {__version__}\n"
    run_help = run([cli, "run", "--help"], env).stdout
    assert "-m" in run_help and "--mode" in run_help
    nothing = run([cli], env)
    assert nothing.returncode == 2 and "usage:" in nothing.stderr


def test_python_m_pydebug_hook_run(tmp_path, env, python):
    script = write_script(tmp_path, SHOW)
    result = run([python, "-m", "pydebug_hook", "run", str(script), "exit", "5"], env)
    assert result.returncode == 5 and f"argv: ['{script}', 'exit', '5']" in result.stdout
    assert os.path.basename(python)


def test_run_without_a_target_names_only_the_target_as_required(env, cli):
    result = run([cli, "run"], env)
    assert result.returncode == 2
    assert "the following arguments are required: SCRIPT | MODULE\n" in result.stderr, result.stderr
    assert "ARGS" not in result.stderr.splitlines()[-1]


def test_doctor_with_a_bad_ipdb_debug_value_says_why_debugging_is_off(env, cli):
    env["IPDB_DEBUG"] = "maybe"  # the start-up line installs the hooks for it; settings say off
    result = run([cli, "doctor"], env)
    lines = {line[:18].strip(): line[18:] for line in result.stdout.splitlines()[1:]}
    assert lines["hook active here"] == "yes, but debugging is off: IPDB_DEBUG='maybe' is not one of 1/true/yes/on"
    assert lines["debugging"].startswith("off (IPDB_DEBUG='maybe' is not an on/off word")
    assert "IPDB_DEBUG='maybe' is not one of 1/true/yes/on or 0/false/no/off" in result.stderr  # the one warning
