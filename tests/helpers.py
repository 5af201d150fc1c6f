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
    # Also without what makes `auto` or `run` depend on where the suite runs: CI (set in
    # CI) and an activated environment.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IPDB_", "PYTHON", "PYDEBUG_HOOK")) and k not in ("CI", "VIRTUAL_ENV", "CONDA_PREFIX", "JOURNAL_STREAM")
    }
    runtime = home / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        IPYTHONDIR=str(home / "ipython"),
        XDG_RUNTIME_DIR=str(runtime),
        PROMPT_TOOLKIT_NO_CPR="1",
        TERM="xterm",
        PYTHONDONTWRITEBYTECODE="1",
        # Dumps (dump mode, sessions that time out) go here, not into the working directory.
        IPDB_DUMP_DIR=str(home / "dumps"),
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


# Another user of the machine, for the tests that play one (they run as root in CI).
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]

PROMPT = "ipdb>"
TRACEBACK = "Traceback (most recent call last)"


def write_script(directory: Path, source: str, name: str = "prog.py", *, internals: bool = False) -> Path:
    """Write a scenario program (dedented) and return its path.  With *internals*, the
    program starts by importing tests/internals.py (see there)."""
    import textwrap

    text = textwrap.dedent(source).lstrip("\n")
    if internals:
        from internals import PRELUDE

        text = PRELUDE + text
    path = directory / name
    path.write_text(text)
    return path


def transcript(child) -> str:
    """Everything a pexpect child printed so far (it needs ``logfile_read``), without
    terminal control sequences."""
    return strip_ansi(child.logfile_read.getvalue())


def finish(child, timeout: float = 30) -> int:
    """Wait for a pexpect child to exit; its exit status (128+N for a signal)."""
    import pexpect

    child.expect(pexpect.EOF, timeout=timeout)
    child.close()
    if child.exitstatus is None:
        return 128 + (child.signalstatus or 0)
    return child.exitstatus


def header_lines(text: str) -> List[str]:
    """The session header lines (``pydebug_hook: X on rank ... -> MODE session``)."""
    return [line for line in text.splitlines() if line.startswith("pydebug_hook: ") and " session" in line and " on rank " in line]


def without_tool_lines(text: str) -> str:
    """*text* without the lines the tool adds (``pydebug_hook: ...``)."""
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("pydebug_hook: "))


def command(child, line: str, prompt: str = PROMPT, timeout: float = 30) -> str:
    """Send one debugger command and wait for the next prompt; what it printed (plain
    text: ipdb colours its output, so match on this rather than on the raw stream)."""
    start = len(child.logfile_read.getvalue())
    child.sendline(line)
    # First the line itself, up to its end: the terminal's echo, or prompt_toolkit's
    # redraw of "ipdb> <line>" when it accepts it (the next prompt comes after that).
    child.expect(re.escape(line) + r"[^\n]*\n", timeout=timeout)
    child.expect(prompt, timeout=timeout)
    return strip_ansi(child.logfile_read.getvalue()[start:])


def site_packages(python: str) -> Path:
    """The purelib directory of *python*'s environment (where the start-up files go)."""
    out = subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True)
    return Path(out.strip())


def base_python() -> str:
    """The interpreter this suite's venv was made from (not a venv: system or pyenv)."""
    return os.path.join(sys.base_prefix, "bin", f"python{sys.version_info[0]}.{sys.version_info[1]}")
