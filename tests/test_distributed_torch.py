"""Distributed jobs with the real thing: torch 2.13 CPU, gloo, torchrun, 3 ranks.

Each test is one torchrun job (``--standalone``: its own rendezvous port and run id)
of examples/py_debug/debug_multi_torch_rank.py or of the unmodified
plain_torch_ranks.py, driven through real clients (nc, pydebug-hook attach, a
WebSocket, a pty for the console), and ends with the check that nothing is left over:
no worker process, socket, registry record, terminal ticket or open job session.

The DESIGN's traps are reproduced here: torch's excepthook wrapper capturing
sys.stderr (test_unmodified_script...), the launcher inheriting IPDB_DEBUG (every job:
torchrun's agent raises ChildFailedError and must not open a session), teardown at the
first exit (test_console..., test_consequence...), worker stdio being the launcher's
terminal (test_console...).
"""

import os
import re
import signal

import pexpect
import pytest
from distributed import (
    EXAMPLE,
    PLAIN_EXAMPLE,
    PYDEBUG_HOOK,
    Torchrun,
    ls,
    mark_output,
    records,
    wait_output,
)
from helpers import PROMPT, TRACEBACK, command, header_lines, run, wait_for
from sockets import Raw

pytestmark = [pytest.mark.torch, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def torchrun(procs, env, tmp_path):
    jobs = []

    def start(script, *args, **kw):
        job = Torchrun(procs, env, tmp_path, script, *args, **kw)
        jobs.append(job)
        return job

    yield start
    for job in jobs:
        job.kill()


def no_session_in_the_launcher(job: Torchrun, text: str) -> None:
    """Trap 2: torchrun's agent inherits IPDB_DEBUG and raises ChildFailedError at its
    top level; it must print it as usual, without a session."""
    assert "ChildFailedError" in text
    assert not [h for h in header_lines(text) if f"(pid {job.pid}," in h], header_lines(text)
    # ... and says so in one line (issue 10: a skipped launcher failure is not silent)
    assert text.count(f"pydebug_hook: ChildFailedError in the launcher torchrun (pid {job.pid}) is not debugged") == 1, text


def worker_headers(text: str, rank: int):
    return [h for h in header_lines(text) if f" on rank {rank}/3 " in h]


def test_socket_mode_rank_1(torchrun, env, tmp_path):
    env.update(IPDB_DEBUG="1", IPDB_MODE="socket")
    job = torchrun(EXAMPLE, "--fail_ranks", "1")
    job.wait_stderr("waits for a debugger on")
    path = tmp_path / "pdb.sock.1"
    assert path.is_socket()
    [record] = records(env)
    assert (record["rank"], record["world_size"], record["mode"], record["endpoint"]) == (1, 3, "socket", str(path))
    assert record["label"] is None and record["job_id"]

    out = run(["nc", "-N", "-U", str(path)], env, input="p rank\np local_tensor\nq\n", timeout=30).stdout
    assert "(Pdb) 1\n" in out
    assert "tensor([2., 2., 2., 2.])" in out  # the mean of the ranks after 3 all_reduces, plus 1
    assert "session ended" in out

    assert job.wait(30) != 0
    job.leftovers.assert_none()
    text = job.stderr()
    [header] = worker_headers(text, 1)
    assert header.startswith("pydebug_hook: IndexError on rank 1/3") and header.endswith("-> socket session")
    no_session_in_the_launcher(job, text)
    # Ranks 0 and 2 fail in their all_reduce when rank 1 exits: consequences, no session.
    for rank in (0, 2):
        for line in worker_headers(text, rank):
            assert "[consequence of rank 1's failure] (root cause already debugged; not opening a session)" in line


def test_web_mode_rank_1_on_port_4445(torchrun, env):
    # The default ports, as the seed documents them: rank r on 4444 + r.
    from web_client import WebSocket, request, wait_history

    env.update(IPDB_DEBUG="1", IPDB_MODE="web")
    job = torchrun(EXAMPLE, "--fail_ranks", "1")
    job.wait_stderr("web debugger at http://127.0.0.1:4445/")
    status, _, body = request(4445)
    assert status == 200 and b"<html" in body.lower()
    ws = WebSocket(4445)
    ws.send("p rank\n")
    wait_history(4445, "p rank\n1\n")
    ws.send("q\n")
    assert job.wait(30) != 0
    job.leftovers.assert_none()
    no_session_in_the_launcher(job, job.stderr())


def test_console_ranks_0_and_2_share_the_terminal(torchrun, env, tmp_path):
    """Trap 4: the workers' stdin is torchrun's terminal; `auto` is console there, and the
    two failing ranks take the terminal in turn.  Trap 3: the first to finish does not
    exit (torchrun would SIGTERM the other) until the other's session is over."""
    env.update(IPDB_DEBUG="1")  # IPDB_MODE unset: auto
    job = torchrun(EXAMPLE, "--fail_ranks", "0", "2", pty=True)
    child = job.child
    child.expect(r"IndexError on rank (\d)/3 \(pid \d+, host [^)]+\) -> console session")
    first = int(child.match.group(1))
    second = 2 - first
    assert first in (0, 2)
    waiting = re.compile(rf"pydebug_hook: rank {second} \(pid \d+, IndexError: list index out of range\) waits for the terminal (\S+), "
                         rf"which rank {first} \(pid \d+\) has; meanwhile attach with: pydebug-hook attach {second}  or  nc -U (\S+)\n")

    def both_there():
        try:
            child.expect([PROMPT, "waits for the terminal"], timeout=1)
        except pexpect.TIMEOUT:
            pass
        text = job.stderr()
        found = waiting.search(text)
        return found if found and PROMPT in text else None

    try:
        found = wait_for(both_there, 60, "the first prompt and the other rank's waiting line", interval=0)
    except AssertionError:
        raise AssertionError(job.stderr()) from None
    path = found.group(2)
    assert path == str(tmp_path / f"pdb.sock.{second}")

    # While it waits for the terminal, the second rank is served on its socket.
    out = run(["nc", "-N", "-U", path], env, input="p rank\n", timeout=30).stdout
    assert f"(Pdb) {second}\n" in out
    listing = ls(env)
    assert re.search(rf"{first}/3 .* console +console +\S+ +/dev/pts/\d+ ", listing), listing
    assert re.search(rf"{second}/3 .* console +waiting +\S+ +{re.escape(path)} ", listing), listing

    assert f"\n{first}\n" in command(child, "p rank")
    start = mark_output(child)
    child.sendline("q")
    wait_output(  # in either order: two processes write to the terminal
        child, start,
        rf"rank {first}: session ended; waiting for the sessions of rank {second} before exiting",
        rf"IndexError on rank {second}/3 \(pid \d+, host [^)]+\) -> console session(.|\n)*{PROMPT}",
    )
    assert f"\n{second}\n" in command(child, "p rank")
    child.sendline("q")
    child.expect(r"ChildFailedError", timeout=60)
    child.expect(pexpect.EOF, timeout=30)
    child.close()
    assert child.exitstatus not in (0, None)
    job.leftovers.assert_none()
    text = job.stderr()
    for rank in (first, second):
        assert len(worker_headers(text, rank)) == 1
    no_session_in_the_launcher(job, text)
    # Each traceback once, just before its session: first the holder's, then the other's.
    assert text.count("IndexError: list index out of range\n") == 2


def test_unmodified_script_through_the_pth(torchrun, env, tmp_path):
    """No import of pydebug_hook: the .pth opens the session.  The process-group rank is
    the one that counts (--permute makes it differ from RANK).  Trap 1: torch wraps
    sys.excepthook and captures sys.stderr while ours runs: the header and the traceback
    still come before the session, once, unprefixed."""
    env.update(IPDB_DEBUG="1", IPDB_MODE="socket")
    job = torchrun(PLAIN_EXAMPLE, "--fail_ranks", "1", "--permute")
    text = job.wait_stderr("waits for a debugger on")
    path = tmp_path / "pdb.sock.1"
    assert path.is_socket() and not (tmp_path / "pdb.sock.0").exists()
    [header] = header_lines(text)
    assert header.startswith("pydebug_hook: ValueError on rank 1/3 ") and header.endswith("-> socket session")
    # before the session: header, traceback, waiting line, in that order, each once
    lines = text.splitlines()
    error = "ValueError: 99.0 is not in list"
    at = [[i for i, line in enumerate(lines) if test(line)] for test in (
        lambda line: line == header,
        lambda line: TRACEBACK in line,
        lambda line: line == error,  # the traceback's last line
        lambda line: "waits for a debugger on" in line,
    )]
    assert [len(v) for v in at] == [1, 1, 1, 1], text
    assert at[0][0] < at[1][0] < at[2][0] < at[3][0], text
    assert "[rank1]:" not in text
    [record] = records(env)
    assert record["rank"] == 1

    out = run(["nc", "-N", "-U", str(path)], env, input="p dist.get_rank(), os.environ['RANK']\np shard\nq\n", timeout=30).stdout
    assert "(1, '0')" in out  # process-group rank 1 is launcher rank 0
    assert "[1.0, 2.0, 3.0, 4.0]" in out
    assert job.wait(30) != 0
    job.leftovers.assert_none()
    after = job.stderr()
    assert after.splitlines().count("ValueError: 99.0 is not in list") == 1  # not printed again by torch's hook
    no_session_in_the_launcher(job, after)


def test_consequence_is_labelled_and_attach_goes_to_the_root_cause(torchrun, env, tmp_path, procs):
    env.update(IPDB_DEBUG="1", IPDB_MODE="socket")
    job = torchrun(EXAMPLE, "--fail_ranks", "1", "--collective_timeout", "3")
    wait_for(lambda: len(records(env)) == 3, 90, "three sessions (rank 1, and ranks 0 and 2 timing out)", interval=0.1)
    by_rank = {r["rank"]: r for r in records(env)}
    assert by_rank[1]["label"] is None
    for rank in (0, 2):
        assert by_rank[rank]["label"] == "consequence of rank 1's failure"
        assert "Timed out waiting 3000ms" in by_rank[rank]["exception"]
    listing = ls(env)
    assert listing.count("[consequence of rank 1's failure]") == 2, listing
    assert listing.splitlines()[1].split()[1] == "1/3", listing  # first failure first
    text = job.stderr()
    for rank in (0, 2):
        [header] = worker_headers(text, rank)
        assert header.startswith(f"pydebug_hook: RuntimeError on rank {rank}/3 ")
        assert header.endswith("[consequence of rank 1's failure] -> socket session")

    attach = procs.spawn([PYDEBUG_HOOK, "attach"], env, timeout=30)
    attach.expect("attaching to rank 1 ")
    attach.expect_exact("(Pdb) ")
    attach.sendline("p rank")
    attach.expect_exact("1\r\n")
    attach.expect_exact("(Pdb) ")
    attach.sendline("q")
    attach.expect(pexpect.EOF)
    # Rank 1 is done, but its exit would make torchrun kill the others: it waits.
    job.wait_stderr("rank 1: session ended; waiting for the sessions of ranks 0, 2 before exiting")
    assert job.proc.poll() is None
    for rank in (0, 2):
        # at the deepest frame: in torch's all_reduce, where get_rank() is a global
        out = run(["nc", "-N", "-U", str(tmp_path / f"pdb.sock.{rank}")], env, input="p get_rank()\nq\n", timeout=30).stdout
        assert f"(Pdb) {rank}\n" in out
    assert job.wait(30) != 0
    job.leftovers.assert_none()
    no_session_in_the_launcher(job, job.stderr())


def test_sigterm_from_the_launcher_ends_an_open_session(torchrun, env, tmp_path):
    env.update(IPDB_DEBUG="1", IPDB_MODE="socket")
    job = torchrun(EXAMPLE, "--fail_ranks", "1")
    job.wait_stderr("waits for a debugger on")
    client = Raw(str(tmp_path / "pdb.sock.1"), timeout=30)
    client.expect("(Pdb) ")
    os.kill(job.pid, signal.SIGTERM)  # as when the job is cancelled: the agent SIGTERMs its workers
    told = client.read_to_eof()
    assert "pydebug_hook: SIGTERM: the process is being ended; the debug session is over" in told
    assert job.wait(30) != 0
    job.leftovers.assert_none()
    assert re.search(r"exitcode\s*: -15 \(pid \d+\)", job.stderr()) or "SIGTERM" in job.stderr()


# -- the rank from the process group, with the real torch, one process --------------------

RANKED = """
import os
from datetime import timedelta
import torch
import torch.distributed as dist
import pydebug_hook

dist.init_process_group("gloo", rank=0, world_size=1, store=dist.HashStore(), timeout=timedelta(seconds=42))

def timeout():
    group = dist.distributed_c10d._get_default_group()
    return group._get_backend(torch.device("cpu")).options._timeout

def fail():
    raise KeyError("missing")

if os.environ.get("SCENARIO") == "post_mortem":
    try:
        fail()
    except KeyError:
        pydebug_hook.Debugger.post_mortem()
    print("after the session:", timeout(), flush=True)
elif os.environ.get("SCENARIO") == "destroyed":
    try:
        fail()
    finally:
        dist.destroy_process_group()
else:
    fail()
"""


def _ranked(tmp_path, env, python, scenario, procs):
    script = tmp_path / "ranked.py"
    script.write_text(RANKED)
    env.update(IPDB_DEBUG="1", IPDB_MODE="socket", RANK="5", LOCAL_RANK="1", WORLD_SIZE="8", SCENARIO=scenario)
    err = open(tmp_path / "err", "w")
    out = open(tmp_path / "out", "w")
    proc = procs.popen([python, str(script)], env, stdout=out, stderr=err)
    return proc, lambda: (tmp_path / "err").read_text(), lambda: (tmp_path / "out").read_text()


def test_rank_comes_from_the_process_group_and_its_timeout_is_raised(tmp_path, env, python, procs):
    proc, err, out = _ranked(tmp_path, env, python, "post_mortem", procs)
    wait_for(lambda: "waits for a debugger on" in err(), 60, "the session")
    [header] = header_lines(err())
    assert " on rank 0/1 " in header  # the process group's, not RANK=5 WORLD_SIZE=8
    path = tmp_path / "pdb.sock.0"
    result = run(["nc", "-N", "-U", str(path)], env, input="p str(timeout())\nq\n", timeout=30).stdout
    assert "'1 day, 0:00:00'" in result  # raised while the session is open
    assert proc.wait(30) == 0
    assert "after the session: 0:00:42" in out()  # and put back


def test_rank_comes_from_the_environment_once_the_group_is_destroyed(tmp_path, env, python, procs):
    env["IPDB_WAIT_TIMEOUT"] = "0"
    proc, err, _ = _ranked(tmp_path, env, python, "destroyed", procs)
    assert proc.wait(60) == 1
    [header] = header_lines(err())
    assert " on rank 5/8 " in header
    assert str(tmp_path / "pdb.sock.5") in err()
    assert err().count(TRACEBACK) == 1


def test_launcher_never_opens_a_session_even_when_its_workers_do_not(torchrun, env, tmp_path):
    # A worker that exits non-zero without an exception: only the agent raises.
    env.update(IPDB_DEBUG="1", IPDB_MODE="socket")
    script = tmp_path / "exit3.py"
    script.write_text("import sys\nsys.exit(3)\n")
    job = torchrun(str(script), nproc=1)
    assert job.wait(60) != 0
    text = job.stderr()
    assert "ChildFailedError" in text and header_lines(text) == []
    job.leftovers.assert_none()

