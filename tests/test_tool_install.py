"""``pydebug-hook`` installed as a tool (``uv tool install``, ``pipx install``): ``run``
and ``doctor`` are about the user's environment, not the tool's."""

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import VENVS
from helpers import base_python, header_lines, run, site_packages, write_script

pytestmark = pytest.mark.slow

SCRIPT = """
import sys
import projpkg  # only the project's environment has it
print("projpkg from", projpkg.__file__)
print("prefix", sys.prefix)
def inner():
    secret = 42
    return 1 / 0
inner()
"""


@pytest.fixture(scope="module")
def uv_tool(tmp_path_factory, wheel):
    """`uv tool install` of the wheel under test, in a tool directory of its own."""
    uv = Path(sys.executable).with_name("uv")
    where = tmp_path_factory.mktemp("uv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPDB_", "UV_", "VIRTUAL_ENV"))}
    env.update(UV_TOOL_DIR=str(where / "tools"), UV_TOOL_BIN_DIR=str(where / "bin"), UV_CACHE_DIR=str(VENVS / "uv-cache"),
               UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1")
    done = subprocess.run([str(uv), "tool", "install", "--python", base_python(), str(wheel)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    tool = where / "bin" / "pydebug-hook"
    assert tool.exists() and (where / "tools" / "pydebug-hook" / "uv-receipt.toml").is_file()
    return str(tool)


@pytest.fixture
def project(tmp_path):
    """The user's project environment: a venv with a package of its own, no pydebug-hook."""
    where = tmp_path / "project-venv"
    venv.EnvBuilder(with_pip=False).create(where)
    python = str(where / "bin" / "python")
    (site_packages(python) / "projpkg.py").write_text("VALUE = 1\n")
    return where


def _as_user(env, project, activated=True):
    env = dict(env, IPDB_DEBUG="1", IPDB_MODE="console", PATH=f"{project / 'bin'}{os.pathsep}{env['PATH']}")
    if activated:
        env["VIRTUAL_ENV"] = str(project)
    return env


@pytest.mark.parametrize("activated", [True, False], ids=["VIRTUAL_ENV", "PATH"])
def test_run_from_a_uv_tool_uses_the_projects_interpreter(tmp_path, env, uv_tool, project, activated):
    script = write_script(tmp_path, SCRIPT)
    result = run([uv_tool, "run", str(script)], _as_user(env, project, activated), input="p secret\n", timeout=120)
    assert f"projpkg from {site_packages(str(project / 'bin' / 'python')) / 'projpkg.py'}" in result.stdout, result.stderr
    assert f"prefix {project}" in result.stdout
    assert "(Pdb) 42" in result.stdout  # the project has no ipdb: pdb
    assert len(header_lines(result.stderr)) == 1 and result.returncode == 1


def test_doctor_from_a_uv_tool_reports_the_projects_environment(env, uv_tool, project):
    result = run([uv_tool, "doctor"], _as_user(env, project), timeout=120)
    lines = {line[:18].strip(): line[18:] for line in result.stdout.splitlines()[1:]}
    assert lines["environment"] == str(project), result.stdout
    assert lines["start-up file"].startswith("not found")
    assert result.returncode == 1  # the hook cannot start there: pydebug-hook is not installed in it


def test_run_python_option_names_the_interpreter(tmp_path, env, cli_python, project):
    script = write_script(tmp_path, SCRIPT)
    result = run([cli_python, "run", "--python", str(project / "bin" / "python"), str(script)],
                 dict(env, IPDB_DEBUG="1", IPDB_MODE="console"), input="p secret\n", timeout=120)
    assert f"prefix {project}" in result.stdout and "(Pdb) 42" in result.stdout, result.stderr


def test_a_pipx_layout_runs_in_the_first_python_on_path(tmp_path, env, wheel, project, pip_into):
    """pipx marks its venvs with pipx_metadata.json; without an activated environment
    the first python on PATH is the user's."""
    tool_venv = tmp_path / "pipx-venv"
    venv.EnvBuilder(with_pip=False).create(tool_venv)
    pip_into(str(tool_venv / "bin" / "python"), "install", "--no-deps", str(wheel))
    (tool_venv / "pipx_metadata.json").write_text("{}\n")
    script = write_script(tmp_path, SCRIPT)
    result = run([str(tool_venv / "bin" / "pydebug-hook"), "run", str(script)], _as_user(env, project, activated=False),
                 input="p secret\n", timeout=120)
    assert f"prefix {project}" in result.stdout, result.stderr
    # A plain venv install is no tool: its own interpreter, whatever PATH says.
    (tool_venv / "pipx_metadata.json").unlink()
    plain = run([str(tool_venv / "bin" / "pydebug-hook"), "run", str(script)], _as_user(env, project, activated=False), timeout=120)
    assert "No module named 'projpkg'" in plain.stderr


@pytest.fixture(scope="module")
def cli_python(python):
    return str(Path(python).parent / "pydebug-hook")


