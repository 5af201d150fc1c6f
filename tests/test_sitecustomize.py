"""``sitecustomize_template/sitecustomize.py``: start-up where ``.pth`` files are not
read (a package installed with ``pip install --target`` and found via ``PYTHONPATH``),
chaining to the ``sitecustomize`` it shadows."""

import os

import pytest
from helpers import REPO, TRACEBACK, header_lines, run, write_script

TEMPLATE = REPO / "sitecustomize_template"

CRASH = """
import sys
print("other ran:", getattr(sys, "other_sitecustomize_ran", False))
def inner():
    secret = 42
    return 1 / 0
inner()
"""


@pytest.fixture(scope="module")
def target_dir(tmp_path_factory, wheel):
    """pydebug_hook installed with --target: its .pth is there, and nobody reads it."""
    import subprocess
    import sys

    where = tmp_path_factory.mktemp("target")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--target", str(where), str(wheel)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    assert (where / "pydebug_hook.pth").is_file()
    return where


@pytest.fixture
def other_sitecustomize(tmp_path):
    """Another sitecustomize, later on sys.path, that must still run."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text(
        "import sys\nsys.other_sitecustomize_ran = True\nsys.stderr.write('other sitecustomize\\n')\n"
    )
    return other


def _pythonpath(*dirs):
    return os.pathsep.join(str(d) for d in dirs)


def test_without_the_template_the_target_install_is_inert(tmp_path, env, bare_python, target_dir):
    script = write_script(tmp_path, CRASH)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console", PYTHONPATH=_pythonpath(target_dir))
    result = run([bare_python, str(script)], env, input="p secret\n")
    assert header_lines(result.stderr) == [] and "42" not in result.stdout


def test_template_starts_pydebug_hook_and_chains_the_shadowed_sitecustomize(tmp_path, env, bare_python, target_dir, other_sitecustomize):
    script = write_script(tmp_path, CRASH)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console", PYTHONPATH=_pythonpath(TEMPLATE, other_sitecustomize, target_dir))
    # no ipdb in this venv (installed --no-deps): pdb it is
    result = run([bare_python, str(script)], env, input="p secret\n")
    assert "other ran: True" in result.stdout
    assert "(Pdb) 42" in result.stdout, result.stderr
    assert result.stderr.startswith("other sitecustomize\n")
    assert len(header_lines(result.stderr)) == 1 and result.stderr.count(TRACEBACK) == 1
    assert result.returncode == 1


def test_template_is_inert_when_disabled(tmp_path, env, bare_python, target_dir, other_sitecustomize):
    script = write_script(tmp_path, CRASH)
    env.update(PYTHONPATH=_pythonpath(other_sitecustomize))
    plain = run([bare_python, str(script)], env)
    env.update(PYTHONPATH=_pythonpath(TEMPLATE, other_sitecustomize, target_dir))
    ours = run([bare_python, str(script)], env)
    assert (ours.stdout, ours.stderr, ours.returncode) == (plain.stdout, plain.stderr, plain.returncode)
    timing = run([bare_python, "-X", "importtime", "-c", "pass"], env)
    assert "pydebug_hook" not in timing.stderr and "sitecustomize" in timing.stderr


def test_template_never_fails_without_pydebug_hook(tmp_path, env, bare_python, other_sitecustomize):
    script = write_script(tmp_path, CRASH)
    env.update(PYTHONPATH=_pythonpath(other_sitecustomize))
    plain = run([bare_python, str(script)], env)
    env.update(IPDB_DEBUG="1", PYTHONPATH=_pythonpath(TEMPLATE, other_sitecustomize))
    ours = run([bare_python, str(script)], env)
    assert (ours.stdout, ours.stderr, ours.returncode) == (plain.stdout, plain.stderr, plain.returncode)
    assert "other ran: True" in ours.stdout


def test_template_alone_on_the_path(tmp_path, env, bare_python, target_dir):
    script = write_script(tmp_path, CRASH)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console", PYTHONPATH=_pythonpath(TEMPLATE, target_dir))
    result = run([bare_python, str(script)], env, input="p secret\n")
    assert "other ran: False" in result.stdout and "(Pdb) 42" in result.stdout
    assert len(header_lines(result.stderr)) == 1


def test_template_with_the_pth_active_installs_once(tmp_path, env, python, other_sitecustomize):
    # an ordinary install plus the template: the hooks are installed once, chained once
    script = write_script(tmp_path, """
        import sys
        from pydebug_hook import _hooks
        print(sys.excepthook is _hooks._excepthook, _hooks._previous_excepthook is sys.__excepthook__)
    """)
    env.update(IPDB_DEBUG="1", PYTHONPATH=_pythonpath(TEMPLATE, other_sitecustomize))
    result = run([python, str(script)], env)
    assert result.stdout == "True True\n" and result.stderr == "other sitecustomize\n"
