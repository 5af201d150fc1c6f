"""Fixtures: the interpreters under test and process bookkeeping.

The suite runs in a virtual environment where pydebug-hook is installed from the built
wheel (``scripts/test.sh`` makes it), so ``sys.executable`` is the wheel install.  An
editable install and a bare environment (the baseline "plain Python") are made here.
"""

import io
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Dict, Iterator, List

import pexpect
import pytest
from helpers import REPO, base_env, kill_group

VENVS = REPO / ".venv-test"
TAG = f"py{sys.version_info[0]}.{sys.version_info[1]}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under scripts/test.sh (PYDEBUG_HOOK_NO_SKIPS=1) a skipped test fails: a test that
    quietly does not run in CI (a missing client, no root, a busy port) is a defect.
    Tests that cannot run on a Python are deselected by marker instead, visibly."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get("PYDEBUG_HOOK_NO_SKIPS") == "1":
        report.outcome = "failed"
        report.longrepr = f"skipped in a run that allows no skips: {report.longrepr}"


def pytest_sessionstart(session: pytest.Session) -> None:
    import pydebug_hook

    where = Path(pydebug_hook.__file__).resolve()
    if REPO / "pydebug_hook" in where.parents:
        raise pytest.UsageError(
            f"pydebug_hook is imported from the source tree ({where}); run the suite with "
            "./scripts/test.sh so that it tests the installed wheel"
        )


@pytest.fixture(scope="session")
def python() -> str:
    """The interpreter with pydebug-hook installed from the wheel."""
    return sys.executable


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The same interpreter version in a venv without pydebug-hook: plain Python."""
    where = tmp_path_factory.mktemp("bare") / "venv"
    venv.EnvBuilder(with_pip=False).create(where)
    return str(where / "bin" / "python")


@pytest.fixture(scope="session")
def editable_python() -> str:
    """A venv with ``pip install -e <repo>`` (PEP 660), kept between runs for its deps."""
    where = VENVS / f"editable-{TAG}"
    py = where / "bin" / "python"
    if not py.exists():
        venv.EnvBuilder(with_pip=True).create(where)
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "-e", str(REPO)],
        check=True,
        stdout=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if not k.startswith("IPDB_")},
    )
    return str(py)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel under test: the one scripts/test.sh built (dist/), else one built now."""
    built = sorted((REPO / "dist").glob("pydebug_hook-*.whl"))
    if built:
        return built[-1]
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "build", "-q", "--wheel", "--outdir", str(out), str(REPO)], check=True, stdout=subprocess.DEVNULL)
    return next(out.glob("pydebug_hook-*.whl"))


@pytest.fixture
def throwaway_venv(tmp_path: Path) -> Iterator[str]:
    """A new venv without pip or pydebug-hook; install into it with ``pip_into``."""
    where = tmp_path / "throwaway"
    venv.EnvBuilder(with_pip=False).create(where)
    yield str(where / "bin" / "python")


@pytest.fixture
def pip_into():
    """``pip_into(python, *args)``: this venv's pip acting on another interpreter's
    environment (``pip --python``), so a throwaway venv needs no pip of its own."""

    def pip(target: str, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IPDB_", "PIP_PYTHON"))}
        return subprocess.run(
            [sys.executable, "-m", "pip", "--python", target, "--disable-pip-version-check", "-q", *args],
            env=env, capture_output=True, text=True, timeout=300, check=True,
        )

    return pip


@pytest.fixture
def env(tmp_path: Path) -> Dict[str, str]:
    """A clean environment for a subprocess: no inherited IPDB_*, private HOME/runtime dir,
    and socket paths inside the test's own directory."""
    return base_env(tmp_path / "home", IPDB_SOCKET_PATH=str(tmp_path / "pdb.sock.{rank}"))


class Processes:
    """Starts processes in their own process group and kills every group at teardown."""

    def __init__(self) -> None:
        self.groups: List[int] = []
        self.children: List[pexpect.spawn] = []

    def popen(self, cmd: List[str], env: Dict[str, str], **kw) -> subprocess.Popen:
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, **kw)
        self.groups.append(proc.pid)
        return proc

    def spawn(self, cmd: List[str], env: Dict[str, str], timeout: float = 30, **kw) -> pexpect.spawn:
        """A program on a real pseudo-terminal, driven with expect/sendline.
        ``child.logfile_read`` keeps the whole output (``helpers.transcript``)."""
        child = pexpect.spawn(
            cmd[0], cmd[1:], env=env, timeout=timeout, encoding="utf-8", codec_errors="replace", dimensions=(50, 200), **kw
        )
        child.logfile_read = io.StringIO()
        self.children.append(child)
        self.groups.append(child.pid)
        return child

    def cleanup(self) -> None:
        for child in self.children:
            try:
                child.close(force=True)
            except Exception:
                pass
        for pid in self.groups:
            kill_group(pid)


@pytest.fixture
def procs() -> Iterator[Processes]:
    p = Processes()
    try:
        yield p
    finally:
        p.cleanup()


@pytest.fixture(scope="session")
def dap():
    """A real DAP client (tests/dap_client.js on node), its npm package installed once."""
    from dap_client import DapClient, install

    return DapClient(install())


@pytest.fixture(scope="session")
def has_tool():
    return lambda name: shutil.which(name) is not None
