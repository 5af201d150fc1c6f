"""Helpers for the distributed tests: torchrun jobs, and plain processes that look like
the ranks of a Slurm / Open MPI / PMI job.

Workers of torchrun run in sessions of their own, so killing torchrun's process group
does not reach them: every process started here carries a marker in its environment,
and :func:`kill_marked` finds them all through ``/proc`` (also what "no process left
over" is checked with).
"""

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Dict, List, Optional

from helpers import EXAMPLES, strip_ansi, wait_for

MARKER = "PYDEBUG_HOOK_TEST_JOB"
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
EXAMPLE = str(EXAMPLES / "debug_multi_torch_rank.py")
PLAIN_EXAMPLE = str(EXAMPLES / "plain_torch_ranks.py")
PYDEBUG_HOOK = str(Path(sys.executable).with_name("pydebug-hook"))


def mark(env: Dict[str, str]) -> str:
    marker = uuid.uuid4().hex
    env[MARKER] = marker
    return marker


def marked(marker: str) -> List[int]:
    """Live (non-zombie) processes whose environment carries *marker*."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in (b"Z", b"X"):
            found.append(int(name))
    return found


def kill_marked(marker: str) -> None:
    for pid in marked(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


class Leftovers:
    """What a finished job must not leave: processes, sockets, records, tickets, open
    sessions of the job."""

    def __init__(self, env: Dict[str, str], socket_dir: Path, marker: str) -> None:
        self.runtime = Path(env["XDG_RUNTIME_DIR"]) / "pydebug_hook"
        self.socket_dir = socket_dir
        self.marker = marker

    def found(self) -> Dict[str, List[str]]:
        def names(pattern: str, base: Path) -> List[str]:
            return sorted(str(p) for p in base.glob(pattern)) if base.is_dir() else []

        return {
            "processes": [str(p) for p in marked(self.marker)],
            "sockets": names("pdb.sock.*", self.socket_dir),
            "records": names("session-*.json", self.runtime),
            "tickets": names("tty-*/*", self.runtime),
            "live sessions": names("jobs/*/live-*", self.runtime),
        }

    def none(self) -> bool:
        return not any(self.found().values())

    def assert_none(self, timeout: float = 10) -> None:
        try:
            wait_for(self.none, timeout, "nothing left over")
        except AssertionError:
            raise AssertionError(f"left over: {self.found()}") from None


def records(env: Dict[str, str]) -> List[dict]:
    directory = Path(env["XDG_RUNTIME_DIR"]) / "pydebug_hook"
    found = []
    for path in sorted(directory.glob("session-*.json")) if directory.is_dir() else []:
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return found


def ls(env: Dict[str, str]) -> str:
    return subprocess.run([PYDEBUG_HOOK, "ls"], env=env, capture_output=True, text=True, timeout=30).stdout


class Torchrun:
    """``torchrun --standalone --nproc_per_node=N script ARGS`` with its output in files
    (or on a pty with ``pty=True``: ``self.child`` is the pexpect child)."""

    def __init__(self, procs, env: Dict[str, str], tmp_path: Path, script: str, *args: str, nproc: int = 3, pty: bool = False) -> None:
        self.env = env
        self.marker = mark(env)
        self.dir = tmp_path
        self.leftovers = Leftovers(env, tmp_path, self.marker)
        cmd = [TORCHRUN, "--standalone", f"--nproc_per_node={nproc}", "--monitor-interval=0.1", script, *args]
        self.child = None
        self.proc: Optional[subprocess.Popen] = None
        self.stderr_path = tmp_path / "torchrun.stderr"
        if pty:
            self.child = procs.spawn(cmd, env, timeout=90)
            self.pid = self.child.pid
        else:
            self._out = open(tmp_path / "torchrun.stdout", "w")
            self._err = open(self.stderr_path, "w")
            self.proc = procs.popen(cmd, env, stdout=self._out, stderr=self._err, cwd=str(tmp_path))
            self.pid = self.proc.pid

    def stderr(self) -> str:
        if self.child is not None:
            return strip_ansi(self.child.logfile_read.getvalue())
        return self.stderr_path.read_text(errors="replace")

    def wait_stderr(self, needle: str, timeout: float = 90) -> str:
        def seen() -> Optional[str]:
            text = self.stderr()
            if needle in text:
                return text
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"torchrun exited ({self.proc.returncode}) before {needle!r}:\n{text}")
            return None

        return wait_for(seen, timeout, repr(needle), interval=0.1)

    def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"torchrun did not exit in {timeout}s; stderr:\n{self.stderr()}") from None
        finally:
            self._out.close()
            self._err.close()

    def kill(self) -> None:
        kill_marked(self.marker)


# -- plain processes that look like ranks ---------------------------------------------------

# Waits until the test writes go-<rank> (its content says how to fail), then raises.
RANK_PROGRAM = """
import os, sys, time
rank = int(os.environ[sys.argv[1]])
go = os.path.join(sys.argv[2], "go-%d" % rank)
while not os.path.exists(go):
    time.sleep(0.02)
with open(go) as f:
    kind = f.read().strip()

def crash(rank):
    secret = rank * 11
    if kind == "peer":
        raise RuntimeError("[gloo/transport/tcp/pair.cc:553] Connection closed by peer [127.0.0.1]:4242")
    raise IndexError("rank %d failed" % rank)

crash(rank)
"""

# launcher -> (rank variable, {rank: env}) for 4 ranks on one host
LAUNCHERS = {
    "slurm": ("SLURM_PROCID", lambda r: {"SLURM_PROCID": str(r), "SLURM_LOCALID": str(r), "SLURM_NTASKS": "4", "SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0"}),
    "open mpi": ("OMPI_COMM_WORLD_RANK", lambda r: {"OMPI_COMM_WORLD_RANK": str(r), "OMPI_COMM_WORLD_LOCAL_RANK": str(r), "OMPI_COMM_WORLD_SIZE": "4", "OMPI_MCA_ess_base_jobid": "31337"}),
    # MPICH's hydra names no job: these ranks are not coordinated as a job (no exit hold)
    "pmi": ("PMI_RANK", lambda r: {"PMI_RANK": str(r), "PMI_SIZE": "4", "MPI_LOCALRANKID": str(r)}),
}


class Ranks:
    """Plain Python processes with a launcher's rank variables, failing on demand."""

    def __init__(self, tmp_path: Path, python: str, launcher: str, count: int = 4) -> None:
        self.dir = tmp_path
        self.python = python
        self.script = tmp_path / "rank_program.py"
        self.script.write_text(RANK_PROGRAM)
        self.variable, self.env_of = LAUNCHERS[launcher]
        self.count = count

    def command(self, rank: int) -> List[str]:
        return [self.python, str(self.script), self.variable, str(self.dir)]

    def shell_line(self, env: Dict[str, str]) -> str:
        """One bash line starting every rank with ``&`` on the same terminal, then
        waiting for them all."""
        import shlex

        parts = []
        for rank in range(self.count):
            assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env_of(rank).items())
            parts.append(f"{assignments} {' '.join(shlex.quote(c) for c in self.command(rank))} &")
        return " ".join(parts) + " wait; echo ALL RANKS DONE"

    def fail(self, rank: int, kind: str = "error") -> None:
        path = self.dir / f"go-{rank}"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(kind)
        tmp.rename(path)


def mark_output(child) -> int:
    """An offset in a pexpect child's output, for :func:`wait_output`."""
    return len(child.logfile_read.getvalue())


def wait_output(child, start: int, *patterns: str, timeout: float = 60):
    """Wait until every regex of *patterns* appears in the child's output after *start*,
    in any order (processes sharing a terminal write in whatever order they run); their
    matches.  Reads what it sees, so use :func:`mark_output` again before expecting."""
    import re
    import time

    import pexpect

    deadline = time.monotonic() + timeout
    while True:
        text = strip_ansi(child.logfile_read.getvalue()[start:])
        matches = [re.search(p, text) for p in patterns]
        if all(matches):
            return matches
        if time.monotonic() > deadline:
            missing = [p for p, m in zip(patterns, matches) if not m]
            raise AssertionError(f"not seen within {timeout:g}s: {missing}\n--- output:\n{text}")
        try:
            child.read_nonblocking(65536, timeout=0.2)
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            deadline = 0
