"""``scripts/demo.sh`` on a fresh copy of the repository: it says what it does while it
installs (a fresh clone waits for pip), then lands in ipdb at the raising line."""

import shutil

import pytest
from helpers import PROMPT, REPO, base_python, finish, transcript

pytestmark = pytest.mark.slow

_SKIP = shutil.ignore_patterns(".git", ".venv*", "dist", "build", "*.egg-info", "__pycache__", ".test-artifacts")


def test_demo_shows_progress_then_ipdb(tmp_path, env, procs):
    clone = tmp_path / "clone"
    shutil.copytree(REPO, clone, ignore=_SKIP)
    env["PYTHON"] = base_python()
    child = procs.spawn(["bash", str(clone / "scripts" / "demo.sh")], env, timeout=60)
    child.expect("== making a virtual environment in .venv-demo")
    child.expect(r"== installing pydebug-hook and its dependencies")
    child.expect("Successfully installed", timeout=300)
    child.expect("== IPDB_DEBUG=1 IPDB_MODE=console python examples/py_debug/plain_crash.py")
    child.expect(PROMPT, timeout=60)
    shown = transcript(child)
    assert shown.index("Successfully installed") < shown.index("== IPDB_DEBUG=1")
    assert 'float(row["amount"])' in shown.split("Traceback")[-1]
    child.sendline("q")
    assert finish(child) == 1
