"""Plain helpers shared by the tests (fixtures live in conftest.py)."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, TypeVar

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / ".test-artifacts"
EXAMPLES = REPO / "examples" / "py_debug"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")

T = TypeVar("T")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def wait_for(predicate: Callable[[], T], timeout: float = 20.0, what: str = "condition", interval: float = 0.02) -> T:
    """Poll *predicate* until it returns something truthy; fail the test after *timeout*."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def base_env(home: Path, **extra: str) -> Dict[str, str]:
    """An environment without the caller's IPDB_* / PYTHON* settings, isolated in *home*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPDB_", "PYTHON", "PYDEBUG_HOOK"))}
    runtime = home / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        IPYTHONDIR=str(home / "ipython"),
        XDG_RUNTIME_DIR=str(runtime),
        PROMPT_TOOLKIT_NO_CPR="1",
        TERM="xterm",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


def kill_group(pid: int) -> None:
    """SIGKILL a process group we started (start_new_session / pexpect), ignoring the gone."""
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def run(cmd: Sequence[str], env: Dict[str, str], timeout: float = 60, input: Optional[str] = None, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Run to completion with a hard timeout; the whole process group dies on timeout."""
    proc = subprocess.Popen(
        list(cmd),
        env=env,
        cwd=str(cwd) if cwd else None,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, err = proc.communicate()
        raise AssertionError(f"{cmd!r} did not finish in {timeout}s\nstdout:\n{out}\nstderr:\n{err}")
    finally:
        kill_group(proc.pid)
    return subprocess.CompletedProcess(list(cmd), proc.returncode, out, err)


def python_version(python: str) -> List[int]:
    out = subprocess.check_output([python, "-c", "import sys; print(*sys.version_info[:2])"], text=True)
    return [int(x) for x in out.split()]


def this_python() -> str:
    return sys.executable
