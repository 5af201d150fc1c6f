"""The start-up hook: the ``.pth`` line and the PEP 829 ``.start`` entry point, for the
wheel install (``python``) and the editable one (``editable_python``); removal by
``pip uninstall``; the cost of doing nothing."""

import re
import sys

import internals
import pytest
from helpers import (
    PROMPT,
    TRACEBACK,
    command,
    finish,
    header_lines,
    run,
    site_packages,
    transcript,
    write_script,
)
from internals import bootstrap

CRASH = """
def inner(n):
    secret = n * 2
    return 10 / (n - n)
inner(21)
"""


@pytest.fixture(params=["wheel", "editable"])
def installed_python(request):
    """Each bootstrap test runs against both kinds of install."""
    return request.getfixturevalue("python" if request.param == "wheel" else "editable_python")


def test_startup_files_are_installed_with_the_package(installed_python):
    site = site_packages(installed_python)
    assert (site / "pydebug_hook.pth").read_text() == bootstrap.PTH_LINE
    assert (site / "pydebug_hook.start").read_text() == bootstrap.START_LINE
    # one line, and the line is an import line: the only kind site executes
    assert bootstrap.PTH_LINE.count("\n") == 1 and bootstrap.PTH_LINE.startswith("import ")
    # .pth files run in name order: an editable install's path finder comes first
    assert max(["pydebug_hook.pth", "__editable__.pydebug_hook-0.1.0.pth", "distutils-precedence.pth"]) == "pydebug_hook.pth"


def test_unmodified_program_crashes_into_ipdb(tmp_path, env, procs, installed_python):
    script = write_script(tmp_path, CRASH)
    env["IPDB_DEBUG"] = "1"
    child = procs.spawn([installed_python, str(script)], env)
    child.expect(PROMPT)
    assert "42" in command(child, "p secret")
    child.sendline("q")
    assert finish(child) == 1
    out = transcript(child)
    assert out.count(TRACEBACK) == 1 and len(header_lines(out)) == 1


@pytest.mark.parametrize("value", [None, "0", "off", ""])
def test_disabled_is_byte_identical_to_plain_python(tmp_path, env, installed_python, bare_python, value):
    script = write_script(tmp_path, """
        import sys, threading
        print("out")
        t = threading.Thread(target=lambda: {}["missing"], name="T")
        t.start(); t.join()
        def inner():
            raise ValueError("boom") from KeyError("cause")
        inner()
    """)
    if value is not None:
        env["IPDB_DEBUG"] = value
    plain = run([bare_python, str(script)], env)
    ours = run([installed_python, str(script)], env)
    assert ours.stderr.encode() == plain.stderr.encode()
    assert (ours.stdout, ours.returncode) == (plain.stdout, plain.returncode) == ("out\n", 1)
    assert "The above exception was the direct cause" in plain.stderr


def test_invalid_value_is_plain_python_plus_one_warning(tmp_path, env, installed_python, bare_python):
    script = write_script(tmp_path, CRASH)
    env["IPDB_DEBUG"] = "please"
    plain = run([bare_python, str(script)], env)
    ours = run([installed_python, str(script)], env)
    warning, rest = ours.stderr.split("\n", 1)
    assert warning.startswith("pydebug_hook: IPDB_DEBUG='please' is not one of")
    assert rest == plain.stderr and ours.returncode == plain.returncode == 1


def _imports(python, env):
    result = run([python, "-X", "importtime", "-c", "pass"], env)
    assert result.returncode == 0
    return {m.group(1).strip() for m in re.finditer(r"^import time:.*\|\s*(\S+)\s*$", result.stderr, re.MULTILINE)}


@pytest.mark.parametrize("value", [None, "0", "false"])
def test_disabled_imports_nothing(env, installed_python, value):
    if value is not None:
        env["IPDB_DEBUG"] = value
    modules = _imports(installed_python, env)
    assert "site" in modules  # the measurement works
    assert not {m for m in modules if m.startswith("pydebug_hook")}


def test_enabled_imports_only_the_hooks(env, installed_python):
    without = _imports(installed_python, env)
    env["IPDB_DEBUG"] = "1"
    added = _imports(installed_python, env) - without
    # ours, and nothing else: not ipdb, IPython, web_pdb or torch, not even threading
    # (atexit is compiled into the interpreter: registering the at-exit fallback is free)
    assert {"pydebug_hook", internals.HOOKS_MODULE} <= added
    assert added <= internals.STARTUP_MODULES | {"atexit"}
    # Nothing below the top level: these load when an exception is handled or a command runs.
    later = ("core", "modes", "job", "children", "cli")
    assert not [m for m in added if m.startswith(tuple(f"pydebug_hook.{package}" for package in later))]
    assert "atexit" in sys.builtin_module_names


def test_pth_runs_twice_without_harm(tmp_path, env, installed_python):
    script = write_script(tmp_path, """
        import site, sys, sysconfig, threading
        _hooks = internals.hooks
        first = sys.excepthook, threading.excepthook
        assert first == (_hooks._excepthook, _hooks._threading_excepthook)
        # a site directory processed again runs every .pth in it again
        site.addsitedir(sysconfig.get_paths()["purelib"])
        site.addsitedir(sysconfig.get_paths()["purelib"])
        assert (sys.excepthook, threading.excepthook) == first
        assert _hooks._previous_excepthook is sys.__excepthook__
        default = threading.__excepthook__
        assert _hooks._previous_threading_excepthook is default
        def inner():
            secret = 42
            return 1 / 0
        inner()
    """, internals=True)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    result = run([installed_python, str(script)], env, input="p secret\n")
    assert "42" in result.stdout, result.stderr
    assert result.stderr.count(TRACEBACK) == 1 and len(header_lines(result.stderr)) == 1
    assert result.returncode == 1


def test_start_file_entry_point_installs_the_hooks(tmp_path, env, installed_python):
    # Python 3.15 (PEP 829) runs the entry points of <name>.start and ignores the import
    # lines of <name>.pth.  No 3.15 here: this emulates what its site module will do.
    script = write_script(tmp_path, """
        import os, pkgutil, sys, sysconfig
        assert "pydebug_hook" not in sys.modules  # IPDB_DEBUG was unset at start-up
        os.environ["IPDB_DEBUG"] = "1"
        start = os.path.join(sysconfig.get_paths()["purelib"], "pydebug_hook.start")
        with open(start) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    pkgutil.resolve_name(line)()
        print("hook:", sys.excepthook.__module__)
        def inner():
            secret = 42
            return 1 / 0
        inner()
    """)
    env["IPDB_MODE"] = "console"
    result = run([installed_python, str(script)], env, input="p secret\n")
    assert f"hook: {internals.HOOKS_MODULE}" in result.stdout, result.stderr
    assert "42" in result.stdout
    assert len(header_lines(result.stderr)) == 1 and result.returncode == 1


@pytest.mark.parametrize("entry", ["pydebug_hook:_start", "pydebug_hook._bootstrap:start"])
def test_start_entry_point_does_nothing_when_disabled(env, installed_python, entry):
    """The entry point of the installed lines, and the one earlier versions' sitecustomize
    copies call."""
    code = f"import pkgutil, sys; pkgutil.resolve_name({entry!r})(); print(sys.excepthook is sys.__excepthook__)"
    result = run([installed_python, "-c", code], env)
    assert (result.stdout, result.stderr) == ("True\n", "")
    env["IPDB_DEBUG"] = "1"
    result = run([installed_python, "-c", code], env)
    assert (result.stdout, result.stderr) == ("False\n", "")


def test_broken_package_never_stops_the_interpreter(tmp_path, env, python):
    # a pydebug_hook shadowed by a broken one: the start-up line fails, python still runs
    broken = tmp_path / "shadow" / "pydebug_hook"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("def _start():\n    raise RuntimeError('bad')\n")
    env.update(IPDB_DEBUG="1", PYTHONPATH=str(broken.parent))
    result = run([python, "-c", "print('alive')"], env)
    assert result.stdout == "alive\n" and result.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("editable", [False, True], ids=["wheel", "editable"])
def test_pip_uninstall_leaves_a_working_interpreter(tmp_path, env, throwaway_venv, pip_into, wheel, editable):
    from helpers import REPO

    target = [str(REPO)] if not editable else ["-e", str(REPO)]
    pip_into(throwaway_venv, "install", "--no-deps", *(target if editable else [str(wheel)]))
    site = site_packages(throwaway_venv)
    assert (site / "pydebug_hook.pth").is_file() and (site / "pydebug_hook.start").is_file()
    env["IPDB_DEBUG"] = "1"
    active = run([throwaway_venv, "-c", "import sys; print(sys.excepthook.__module__)"], env)
    assert active.stdout == internals.HOOKS_MODULE + "\n", active.stderr

    pip_into(throwaway_venv, "uninstall", "-y", "pydebug-hook")
    # (pip removes a site-packages left empty: nothing of ours may remain either way)
    left = [p.name for p in site.iterdir()] if site.exists() else []
    assert not [name for name in left if name.startswith(("pydebug_hook", "__editable__.pydebug"))]
    after = run([throwaway_venv, "-c", "import sys; print(sys.excepthook is sys.__excepthook__)"], env)
    assert (after.stdout, after.stderr, after.returncode) == ("True\n", "", 0)
