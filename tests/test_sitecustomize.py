"""``sitecustomize_template/sitecustomize.py``: start-up where ``.pth`` files are not
read (a package installed with ``pip install --target`` and found via ``PYTHONPATH``),
chaining to the ``sitecustomize`` it shadows."""

import os

import pytest
from helpers import REPO, TRACEBACK, base_python, header_lines, run, write_script

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
        _hooks = internals.hooks
        print(sys.excepthook is _hooks._excepthook, _hooks._previous_excepthook is sys.__excepthook__)
    """, internals=True)
    env.update(IPDB_DEBUG="1", PYTHONPATH=_pythonpath(TEMPLATE, other_sitecustomize))
    result = run([python, str(script)], env)
    assert result.stdout == "True True\n" and result.stderr == "other sitecustomize\n"


@pytest.fixture
def fresh_target(tmp_path, wheel):
    """A --target install of its own (the tests here write into it)."""
    import subprocess
    import sys

    where = tmp_path / "target"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--target", str(where), str(wheel)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return where


def _lines(stdout):
    return {line[:18].strip(): line[18:] for line in stdout.splitlines()[1:] if line[:18].strip()}


def test_the_wheel_ships_the_template_and_the_command_writes_it(tmp_path, env, bare_python, fresh_target):
    shipped = fresh_target / "pydebug_hook" / "sitecustomize.py.template"
    assert shipped.is_file() and not shipped.is_symlink()
    assert shipped.read_text() == (TEMPLATE / "sitecustomize.py").read_text()  # one text, two places
    env.update(PYTHONPATH=_pythonpath(fresh_target))
    cmd = [bare_python, "-m", "pydebug_hook", "sitecustomize", str(fresh_target)]
    result = run(cmd, env, cwd=tmp_path)  # not the repository: `-m` would import its source tree
    assert result.returncode == 0 and f"wrote {fresh_target / 'sitecustomize.py'}" in result.stdout, result.stderr
    assert (fresh_target / "sitecustomize.py").read_text() == shipped.read_text()
    assert "already" in run(cmd, env, cwd=tmp_path).stdout

    script = write_script(tmp_path, CRASH)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    crashed = run([bare_python, str(script)], env, input="p secret\n")
    assert "(Pdb) 42" in crashed.stdout and len(header_lines(crashed.stderr)) == 1

    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("print('mine')\n")
    refused = run([bare_python, "-m", "pydebug_hook", "sitecustomize", str(other)], env, cwd=tmp_path)
    assert refused.returncode == 1 and "is not pydebug_hook's: left alone (--force replaces it)" in refused.stderr
    assert (other / "sitecustomize.py").read_text() == "print('mine')\n"
    forced = run([bare_python, "-m", "pydebug_hook", "sitecustomize", "--force", str(other)], env, cwd=tmp_path)
    assert forced.returncode == 0 and (other / "sitecustomize.py").read_text() == shipped.read_text()


def test_doctor_says_a_pth_outside_site_directories_is_not_read(tmp_path, env, bare_python, fresh_target):
    env.update(PYTHONPATH=_pythonpath(fresh_target))
    doctor = [bare_python, "-m", "pydebug_hook", "doctor"]
    before = run(doctor, env, cwd=tmp_path)  # not the repository: `-m` would import its source tree
    assert before.returncode == 1, before.stdout
    assert f"not read by this interpreter: {fresh_target} is not a site directory" in before.stdout
    assert f"pydebug-hook sitecustomize {fresh_target}" in before.stdout
    assert "pydebug_hook cannot start in this interpreter" in before.stdout
    run([bare_python, "-m", "pydebug_hook", "sitecustomize", str(fresh_target)], env, cwd=tmp_path)
    after = run(doctor, env, cwd=tmp_path)
    assert after.returncode == 0, after.stdout
    assert _lines(after.stdout)["sitecustomize"] == str(fresh_target / "sitecustomize.py")
    no_site = run([bare_python, "-S", "-m", "pydebug_hook", "doctor"], env, cwd=tmp_path)
    assert no_site.returncode == 1 and "python -S imports no site module" in no_site.stdout


def test_user_site_installs_are_skipped_by_minus_s_and_minus_i_and_doctor_says_so(tmp_path, env, wheel):
    """A `pip install --user` lives in the user site directory, which -s and -I leave
    out: there the start-up line is not read.  (A venv or system install's is.)"""
    import subprocess
    import sys

    base = base_python()
    userbase = tmp_path / "userbase"
    user_site = subprocess.check_output([base, "-c", "import site; print(site.getusersitepackages())"],
                                        env=dict(env, PYTHONUSERBASE=str(userbase)), text=True).strip()
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "--target", user_site, str(wheel)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    script = write_script(tmp_path, CRASH)
    env.update(PYTHONUSERBASE=str(userbase), IPDB_DEBUG="1", IPDB_MODE="console")
    read = run([base, str(script)], env, input="p secret\n")
    assert len(header_lines(read.stderr)) == 1, read.stderr
    for flag in ("-s", "-I"):
        skipped = run([base, flag, str(script)], env, input="p secret\n")
        assert header_lines(skipped.stderr) == [] and skipped.returncode == 1, flag
    env["PYTHONPATH"] = user_site  # so that -s can still import the package and tell why
    doctor = run([base, "-s", "-m", "pydebug_hook", "doctor"], env, cwd=tmp_path)
    assert doctor.returncode == 1
    assert "not read by this interpreter: it is the user site directory, which python -s skips" in doctor.stdout


def test_minus_i_and_minus_s_do_not_matter_to_a_venv_install(tmp_path, env, python):
    script = write_script(tmp_path, CRASH)
    env.update(IPDB_DEBUG="1", IPDB_MODE="console")
    for flags in (["-I"], ["-s"], ["-E"]):
        result = run([python, *flags, str(script)], env, input="p secret\n")
        assert len(header_lines(result.stderr)) == 1 and "42" in result.stdout, flags
    doctor = run([python, "-I", "-m", "pydebug_hook", "doctor"], env, cwd=tmp_path)
    assert doctor.returncode == 0 and "not read" not in doctor.stdout
