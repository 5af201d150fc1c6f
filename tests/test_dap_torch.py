"""Dap mode with the real thing: a torchrun job (torch 2.13 CPU, gloo) with failing ranks,
and a DataLoader worker, each attached to by a real DAP client (tests/dap_client.js)."""

import re
import subprocess
import textwrap

import pytest
from dap_client import step
from distributed import EXAMPLE, Torchrun, mark_output, records, wait_output
from helpers import header_lines
from web_client import Watched, free_port_block, refused

pytestmark = [pytest.mark.torch, pytest.mark.slow, pytest.mark.timeout(240)]

ATTACH = [{"op": "attach"}, {"op": "stackTrace"}]
CONTINUE = [{"op": "continue"}, {"op": "wait_closed"}]


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


def test_torchrun_rank_1_is_debugged_in_the_ide(torchrun, env, dap):
    base = free_port_block()
    env.update(IPDB_DEBUG="1", IPDB_MODE="dap", IPDB_DAP_PORT=str(base))
    job = torchrun(EXAMPLE, "--fail_ranks", "1")
    text = job.wait_stderr(f"for an IDE (DAP) on 127.0.0.1:{base + 1} ")
    [record] = records(env)
    assert (record["rank"], record["world_size"], record["mode"], record["endpoint"]) == (1, 3, "dap", f"127.0.0.1:{base + 1}")
    result = dap.run(base + 1, [
        *ATTACH,
        {"op": "evaluate", "expression": "rank", "frame": 0},
        {"op": "evaluate", "expression": "local_tensor.tolist()", "frame": 0},
        {"op": "evaluate", "expression": "dist.get_rank()", "frame": 1},
        *CONTINUE,
    ])
    assert result["error"] is None, result
    assert [f["name"] for f in step(result, "stackTrace")["frames"][:2]] == ["fail", "train"]
    assert [s["result"] for s in result["steps"] if s["op"] == "evaluate"] == ["1", "[2.0, 2.0, 2.0, 2.0]", "1"]
    assert job.wait(30) != 0
    job.leftovers.assert_none()
    assert refused(base + 1)
    text = job.stderr()
    [header] = [h for h in header_lines(text) if " on rank 1/3 " in h]
    assert header.startswith("pydebug_hook: IndexError on rank 1/3") and header.endswith("-> dap session")
    assert text.splitlines().count("IndexError: list index out of range") == 1  # the traceback once
    # torchrun's agent (ChildFailedError) opens no session of its own
    assert "ChildFailedError" in text and not [h for h in header_lines(text) if f"(pid {job.pid}," in h]


def test_ranks_sharing_a_terminal_each_wait_for_an_ide_at_once(torchrun, env, dap):
    """Under torchrun on a terminal, console mode takes turns on it; dap needs no terminal:
    both failing ranks are reachable at once, in any order."""
    base = free_port_block()
    env.update(IPDB_DEBUG="1", IPDB_MODE="dap", IPDB_DAP_PORT=str(base))
    job = torchrun(EXAMPLE, "--fail_ranks", "0", "2", pty=True)
    start = mark_output(job.child)
    wait_output(job.child, start, rf"rank 0/3 .*for an IDE \(DAP\) on 127\.0\.0\.1:{base} ", rf"rank 2/3 .*for an IDE \(DAP\) on 127\.0\.0\.1:{base + 2} ", timeout=90)
    for port, rank in ((base + 2, "2"), (base, "0")):
        result = dap.run(port, [*ATTACH, {"op": "evaluate", "expression": "rank", "frame": 0}, *CONTINUE])
        assert result["error"] is None, result
        assert step(result, "evaluate")["result"] == rank
    job.child.expect("ChildFailedError", timeout=60)
    job.leftovers.assert_none()
    text = job.stderr()
    for rank in (0, 2):
        [header] = [h for h in header_lines(text) if f" on rank {rank}/3 " in h]
        assert header.endswith("-> dap session")
    assert "waits for the terminal" not in text and "ipdb>" not in text


DATALOADER = """
import torch
from torch.utils.data import DataLoader, Dataset

class Rows(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        secret = index * 3
        if index == 5:
            raise ValueError(f"bad row {index}")
        return torch.tensor(index)

if __name__ == "__main__":
    loader = DataLoader(Rows(), batch_size=1, num_workers=2)
    for batch in loader:
        print(int(batch), flush=True)
"""


def test_dataloader_worker_gets_its_own_endpoint(tmp_path, python, env, procs, dap):
    base = free_port_block()
    env.update(IPDB_DEBUG="1", IPDB_MODE="dap", IPDB_DAP_PORT=str(base), PYTHONWARNINGS="ignore")
    script = tmp_path / "loader.py"
    script.write_text(textwrap.dedent(DATALOADER))
    prog = Watched(procs.popen([python, str(script)], env, cwd=str(tmp_path)))
    # Index i goes to worker i % 2: worker 1 gets index 5, on base + world_size * (1 + 1).
    line = prog.wait_err("for an IDE (DAP) on", timeout=90)
    assert "dataloader worker 1 of pid" in line
    port = int(re.search(r"for an IDE \(DAP\) on \S+:(\d+)", line).group(1))
    assert port == base + 2
    result = dap.run(port, [*ATTACH, {"op": "variables", "frame": 0}, *CONTINUE])
    assert result["error"] is None, result
    assert step(result, "stackTrace")["frames"][0]["name"] == "__getitem__"
    assert step(result, "variables")["variables"]["secret"] == "15"
    assert prog.finish(60) == 1
    baseline = subprocess.run([python, str(script)], env={k: v for k, v in env.items() if not k.startswith("IPDB_")}, capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert baseline.returncode == 1 and prog.stdout == baseline.stdout == "0\n1\n2\n3\n4\n"
    assert "ValueError: Caught ValueError in DataLoader worker process 1." in prog.stderr
    assert refused(port)
    assert records(env) == []
