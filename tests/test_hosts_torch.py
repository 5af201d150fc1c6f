"""A torch job on two hosts (issue 14), simulated on one machine (tests/hosts.py): torchrun
on hostA (node 0: ranks 0, 1, and the job's store) and on hostB (node 1: ranks 2, 3),
gloo over loopback.  Rank 3 on hostB fails; everything is looked at from hostA: ``ls``
lists it with its host, ``attach`` reaches it through ssh, its peers on hostA are
labelled consequences of it, and the job ends on both hosts with nothing left behind.
"""

import json
import os
import re
import signal

import pytest
from distributed import EXAMPLE, PYDEBUG_HOOK, TORCHRUN
from helpers import header_lines, run, wait_for
from hosts import Hosts, free_port
from internals import TESTS

pytestmark = [pytest.mark.torch, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def hosts(procs):
    h = Hosts(procs)
    try:
        yield h
    finally:
        h.close()


def start_job(hosts: Hosts, *args: str):
    """torchrun on each host, 2 ranks each, rank 3 failing; socket mode."""
    env = hosts.env(IPDB_DEBUG="1", IPDB_MODE="socket", GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    port = str(free_port())
    agents = {}
    for node, name in enumerate(("hostA", "hostB")):
        cmd = [TORCHRUN, "--nnodes=2", f"--node_rank={node}", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={port}", "--monitor-interval=0.1", EXAMPLE, "--fail_ranks", "3", *args]
        agents[name] = hosts.popen(name, cmd, env, log=name)
    return env, agents


def stderr_of(hosts: Hosts, name: str) -> str:
    return hosts.log(f"{name}.err")


def wait_stderr(hosts: Hosts, name: str, needle: str, timeout: float = 120) -> str:
    def seen():
        text = stderr_of(hosts, name)
        return text if needle in text else None

    try:
        return wait_for(seen, timeout, f"{needle!r} on {name}", interval=0.1)
    except AssertionError:
        raise AssertionError(f"{needle!r} not seen on {name}:\n{stderr_of(hosts, name)}\n--- other host:\n{stderr_of(hosts, 'hostB' if name == 'hostA' else 'hostA')}") from None


def ls_on(hosts: Hosts, name: str, env) -> str:
    result = hosts.run(name, [PYDEBUG_HOOK, "ls"], env, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def rows(listing: str):
    """(rank, host, state, exception column) of each session line of `ls`."""
    found = []
    for line in listing.splitlines()[1:]:
        if not line.strip() or line.startswith("dumps"):
            break
        cells = line.split()
        found.append((int(cells[1].split("/")[0]), cells[3], cells[5], line))
    return found


def test_a_rank_on_host_b_is_listed_and_attached_from_host_a_and_q_ends_the_job(hosts):
    env, agents = start_job(hosts)
    wait_stderr(hosts, "hostB", "waits for a debugger on /tmp/pdb.sock.3")

    listing = ls_on(hosts, "hostA", env)
    [(rank, host, state, line)] = rows(listing)
    assert (rank, host, state) == (3, "hostB", "waiting"), listing
    assert "/tmp/pdb.sock.3" in line and "IndexError" in line

    # attach with no argument: the root cause, on hostB, through the stand-in ssh, run by
    # that rank's interpreter (the remote PATH has no venv)
    client = hosts.spawn("hostA", [PYDEBUG_HOOK, "attach"], env)
    client.expect("attaching to rank 3 .* on hostB: ssh -t hostB ")
    client.expect_exact("(Pdb) ")
    client.sendline("p rank, __import__('socket').gethostname()")
    client.expect_exact("(3, 'hostB')")
    client.expect_exact("(Pdb) ")
    client.sendline("q")
    client.expect("session ended")
    [ssh] = hosts.ssh_log()
    assert re.fullmatch(r"hostB \S+/bin/python[0-9.]* -m pydebug_hook attach /tmp/pdb\.sock\.3", ssh), ssh

    for name, agent in agents.items():
        try:
            assert agent.wait(120) != 0, name
        except Exception:
            raise AssertionError(f"{name}'s torchrun did not end:\n{stderr_of(hosts, name)}") from None
    hosts.assert_nothing_left()

    # hostA's ranks fail when rank 3 exits (their peer closed the connection): labelled
    # with the job's root cause on the other host, and, as it was debugged, no session
    a = stderr_of(hosts, "hostA")
    for rank in (0, 1):
        headers = [h for h in header_lines(a) if f" on rank {rank}/4 " in h]
        assert headers and all("[consequence of rank 3's failure on hostB] (root cause already debugged; not opening a session)" in h for h in headers), a
    assert "waits for a debugger" not in a
    assert len(header_lines(stderr_of(hosts, "hostB"))) >= 1


def test_peers_on_host_a_that_time_out_are_consequences_of_rank_3_and_the_exit_hold_spans_hosts(hosts):
    env, agents = start_job(hosts, "--collective_timeout", "3")
    wait_stderr(hosts, "hostB", "waits for a debugger on /tmp/pdb.sock.3")
    for rank in (0, 1):
        wait_stderr(hosts, "hostA", f"waits for a debugger on /tmp/pdb.sock.{rank}")
    wait_stderr(hosts, "hostB", "waits for a debugger on /tmp/pdb.sock.2")

    a = stderr_of(hosts, "hostA")
    for rank in (0, 1):
        [header] = [h for h in header_lines(a) if f" on rank {rank}/4 " in h]
        assert header.endswith("[consequence of rank 3's failure on hostB] -> socket session"), header
    [header] = [h for h in header_lines(stderr_of(hosts, "hostB")) if " on rank 2/4 " in h]
    assert header.endswith("[consequence of rank 3's failure] -> socket session"), header

    # every session of the job, from either host, first failure first, with its host
    for name in ("hostA", "hostB"):
        found = rows(ls_on(hosts, name, env))
        assert found[0][:3] == (3, "hostB", "waiting"), found
        assert sorted((r, h) for r, h, _, _ in found) == [(0, "hostA"), (1, "hostA"), (2, "hostB"), (3, "hostB")], found
        assert all("consequence of rank 3's failure" in line for r, _, _, line in found if r != 3)

    client = hosts.spawn("hostA", [PYDEBUG_HOOK, "attach", "3"], env)
    client.expect_exact("(Pdb) ")
    client.sendline("q")
    client.expect("session ended")
    # rank 3's exit would make hostB's agent end rank 2; its peers on hostA are in sessions
    wait_stderr(hosts, "hostB", "rank 3: session ended; waiting for the sessions of ranks 0, 1, 2 before exiting")
    assert all(agent.poll() is None for agent in agents.values())

    for rank in (0, 1):  # on hostA, where the sockets are
        out = hosts.run("hostA", ["nc", "-N", "-U", f"/tmp/pdb.sock.{rank}"], env, input="p get_rank()\nq\n").stdout
        assert f"(Pdb) {rank}\n" in out
    client = hosts.spawn("hostA", [PYDEBUG_HOOK, "attach", "2"], env)
    client.expect_exact("(Pdb) ")
    client.sendline("q")

    for name, agent in agents.items():
        try:
            assert agent.wait(120) != 0, name
        except Exception:
            raise AssertionError(f"{name}'s torchrun did not end:\n{stderr_of(hosts, name)}") from None
    hosts.assert_nothing_left()


def test_a_store_that_does_not_answer_never_holds_up_a_session(procs, env, tmp_path, python):
    """The job's store stopped (its host frozen, SIGSTOP here): torch's client would wait
    for its answer forever; the session opens after a bounded wait, with one line."""
    server = procs.popen([python, "-c", STORE_SERVER], env)
    port = int(server.stdout.readline())
    os.kill(server.pid, signal.SIGSTOP)
    script = tmp_path / "prog.py"
    script.write_text("import torch.distributed\nraise ValueError('bad batch')\n")
    env.update(IPDB_DEBUG="1", IPDB_MODE="socket", RANK="1", LOCAL_RANK="1", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(port), TORCHELASTIC_RUN_ID="stopped-store", IPDB_WAIT_TIMEOUT="0")
    result = run([python, str(script)], env, timeout=60)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "the job's store" in line]
    assert lines == [f"pydebug_hook: sessions on the job's other hosts are not coordinated: the job's store at 127.0.0.1:{port}: no answer within 4s"], result.stderr
    assert "for a debugger on" in result.stderr and "ValueError: bad batch" in result.stderr


def test_ls_reads_a_torch_jobs_store_without_torch(procs, env, tmp_path, python):
    """`ls` reads the job's store with job/store_reader.py, not torch's client: it works
    where torch cannot be imported (a pipx or uv tool install) and costs no torch import."""
    server = procs.popen([python, "-c", STORE_SERVER], env)
    port = int(server.stdout.readline())
    put = tmp_path / "put.py"
    put.write_text(PUT_ENTRY.format(tests=str(TESTS), port=port))
    assert run([python, str(put)], env, timeout=60).returncode == 0
    rank_env = dict(env, RANK="0", LOCAL_RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                    TORCHELASTIC_RUN_ID="no-torch")
    procs.popen([python, "-c", "import time; time.sleep(600)"], rank_env)  # a rank of the job here: how ls finds the store
    blocker = tmp_path / "blocker" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('no torch in this install')\n")
    result = run([PYDEBUG_HOOK, "ls", "--json"], dict(env, PYTHONPATH=str(blocker.parent)), timeout=60)
    assert result.returncode == 0, result.stderr
    found = [(s["rank"], s["host"], s["endpoint"]) for s in json.loads(result.stdout) if s["mode"] != "dump"]
    assert found == [(1, "nodeB", "/tmp/pdb.sock.1")], result
    assert "torch" not in result.stderr, result.stderr


PUT_ENTRY = """
import sys, time
sys.path.append({tests!r})
import internals
import torch.distributed  # a rank's: the store is used only then
place = internals.job_store.StorePlace.connect("127.0.0.1", {port}, "no-torch#0")
record = dict(rank=1, local_rank=1, world_size=2, host="nodeB", pid=4243, mode="socket", endpoint="/tmp/pdb.sock.1",
              exception="IndexError: i", failed_at=time.time())
place.opened(dict(id="nodeB.4243.1", rank=1, world_size=2, host="nodeB", pid=4243, failed_at=record["failed_at"],
                  consequence=False, counts=True, label=None, exception=record["exception"], ended_at=None, record=record))
"""

STORE_SERVER = """
import time
from torch.distributed import TCPStore
store = TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
print(store.port, flush=True)
time.sleep(600)
"""
