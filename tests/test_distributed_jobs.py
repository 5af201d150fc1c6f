"""The sessions of one job with plain processes (Slurm variables, socket mode, no
torch): a peer's communication failure is labelled a consequence of the root cause,
`attach` goes to the root cause, a rank whose session ended waits for the job's other
sessions before exiting, and a consequence after the root cause was debugged opens
nothing.
"""

import os
import signal
import subprocess
from pathlib import Path

import pexpect
import pytest
from distributed import PYDEBUG_HOOK, Ranks, ls, records
from helpers import header_lines, run, wait_for

pytestmark = pytest.mark.slow


class Rank:
    def __init__(self, procs, ranks: Ranks, env, rank: int, **extra: str) -> None:
        self.rank = rank
        self.err_path = ranks.dir / f"rank{rank}.stderr"
        self._err = open(self.err_path, "w")  # closed in wait()
        child_env = dict(env, IPDB_DEBUG="1", IPDB_MODE="socket", **ranks.env_of(rank), **extra)
        self.proc = procs.popen(ranks.command(rank), child_env, stdout=subprocess.DEVNULL, stderr=self._err)

    def stderr(self) -> str:
        return self.err_path.read_text()

    def wait_stderr(self, needle: str, timeout: float = 30) -> str:
        def seen():
            text = self.stderr()
            if needle in text:
                return text
            assert self.proc.poll() is None, f"rank {self.rank} exited ({self.proc.returncode}):\n{text}"
            return None

        return wait_for(seen, timeout, f"rank {self.rank}: {needle!r}")

    def wait(self, timeout: float = 30) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._err.close()


def quit_via_socket(env, path: Path) -> str:
    return run(["nc", "-N", "-U", str(path)], env, input="q\n", timeout=30).stdout


def test_consequence_labelled_attach_to_the_root_cause_and_the_exit_held(procs, env, tmp_path, python):
    ranks = Ranks(tmp_path, python, "slurm")
    root, peer = Rank(procs, ranks, env, 2), Rank(procs, ranks, env, 0)
    ranks.fail(2)
    root.wait_stderr("waits for a debugger on")
    ranks.fail(0, "peer")
    text = peer.wait_stderr("waits for a debugger on")
    [header] = header_lines(text)
    assert header.startswith("pydebug_hook: RuntimeError on rank 0/4 ")
    assert header.endswith(") [consequence of rank 2's failure] -> socket session")
    assert "[consequence of rank 2's failure] waits for a debugger on" in text
    by_rank = {r["rank"]: r for r in records(env)}
    assert by_rank[0]["label"] == "consequence of rank 2's failure" and by_rank[2]["label"] is None
    assert by_rank[0]["job_id"] == by_rank[2]["job_id"] == "4242.0"
    listing = ls(env).splitlines()
    assert listing[1].split()[1] == "2/4" and listing[2].split()[1] == "0/4"
    assert listing[2].endswith("[consequence of rank 2's failure]")

    attach = procs.spawn([PYDEBUG_HOOK, "attach"], env, timeout=30)
    attach.expect("attaching to rank 2 ")
    attach.expect_exact("(Pdb) ")
    attach.sendline("p secret")
    attach.expect_exact("22\r\n")
    attach.sendline("q")
    attach.expect(pexpect.EOF)

    root.wait_stderr("rank 2: session ended; waiting for the sessions of rank 0 before exiting")
    assert root.proc.poll() is None
    assert "session ended" in quit_via_socket(env, tmp_path / "pdb.sock.0")
    assert peer.wait() == 1 and root.wait() == 1
    assert records(env) == []


def test_no_session_for_a_consequence_once_the_root_cause_was_debugged(procs, env, tmp_path, python):
    ranks = Ranks(tmp_path, python, "slurm")
    peer = Rank(procs, ranks, env, 1)  # started with the job, fails later
    root = Rank(procs, ranks, env, 3)
    ranks.fail(3)
    root.wait_stderr("waits for a debugger on")
    quit_via_socket(env, tmp_path / "pdb.sock.3")
    assert root.wait() == 1
    ranks.fail(1, "peer")
    assert peer.wait() == 1  # at once: no session
    [header] = header_lines(peer.stderr())
    assert header.endswith("[consequence of rank 3's failure] (root cause already debugged; not opening a session)")
    assert "Connection closed by peer" in peer.stderr()
    assert not (tmp_path / "pdb.sock.1").exists()


def test_the_previous_run_of_a_job_id_does_not_count(procs, env, tmp_path, python):
    ranks = Ranks(tmp_path, python, "slurm")
    root = Rank(procs, ranks, env, 3)
    ranks.fail(3)
    root.wait_stderr("waits for a debugger on")
    quit_via_socket(env, tmp_path / "pdb.sock.3")
    assert root.wait() == 1
    # Same job id, started after that session ended: another run (a restart, a reused port).
    later = Rank(procs, ranks, env, 1, IPDB_WAIT_TIMEOUT="0")
    ranks.fail(1, "peer")
    assert later.wait() == 1
    [header] = header_lines(later.stderr())
    assert header.endswith("[consequence of a peer's failure] -> socket session")


def test_the_exit_hold_ends_when_the_other_session_dies(procs, env, tmp_path, python):
    ranks = Ranks(tmp_path, python, "open mpi")
    first, second = Rank(procs, ranks, env, 0), Rank(procs, ranks, env, 1)
    ranks.fail(0)
    first.wait_stderr("waits for a debugger on")
    ranks.fail(1)
    second.wait_stderr("waits for a debugger on")
    quit_via_socket(env, tmp_path / "pdb.sock.0")
    first.wait_stderr("rank 0: session ended; waiting for the sessions of rank 1 before exiting")
    os.kill(second.proc.pid, signal.SIGKILL)
    assert first.wait() == 1
    assert second.wait() == -signal.SIGKILL


LAUNCHER = """
import subprocess
# what `accelerate launch` does with one process: run it, raise when it fails
subprocess.run(["false"], check=True)
"""


def test_a_launchers_summary_exception_is_skipped_with_one_line(tmp_path, env, python, bare_python):
    """accelerate's CalledProcessError (any exception of a process started as a
    launcher: torchrun, accelerate, deepspeed) opens no session, and one line says why."""
    script = tmp_path / "accelerate"
    script.write_text(LAUNCHER)
    env.update(IPDB_DEBUG="1", IPDB_MODE="socket")
    ours = run([python, str(script)], env, timeout=60)
    plain = run([bare_python, str(script)], env, timeout=60)
    assert ours.returncode == plain.returncode == 1
    lines = [line for line in ours.stderr.splitlines() if line.startswith("pydebug_hook:")]
    assert lines == [
        (f"pydebug_hook: CalledProcessError in the launcher accelerate (pid {_pid_in(ours.stderr)}) is not debugged: "
        "launchers report their workers' failures, which are debugged in the workers")
    ], ours.stderr
    assert "".join(line + "\n" for line in ours.stderr.splitlines() if not line.startswith("pydebug_hook:")) == plain.stderr


def _pid_in(text: str) -> str:
    import re

    return re.search(r"launcher accelerate \(pid (\d+)\)", text).group(1)
