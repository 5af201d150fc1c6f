"""PyTorch's workers: a DataLoader with num_workers=2 whose dataset raises on one index,
and torch.multiprocessing.spawn with a failing process.  As in test_workers.py: the
worker is debugged at its raising frame through its own socket, then the program goes
on as without the tool."""

import os
import textwrap

import pytest
from helpers import run, write_script
from sockets import Program
from workers import check_as_before, debug_worker, framework_noise, without_tool

pytestmark = [
    pytest.mark.torch,
    pytest.mark.skipif(not os.path.exists("/usr/bin/nc"), reason="needs netcat-openbsd (scripts/test.sh installs it)"),
]

DATALOADER = """
import torch
from torch.utils.data import DataLoader, Dataset

class Rows(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        secret = index * 3
        if index == 5:
            raise ValueError(f"bad row {{index}}")
        return torch.tensor(index)

if __name__ == "__main__":
    loader = DataLoader(Rows(), batch_size=1, num_workers=2, multiprocessing_context="{method}")
    for batch in loader:
        print(int(batch), flush=True)
"""

SPAWN = """
import torch.multiprocessing as mp

def work(index, done):
    secret = index * 10
    if index == 1:
        done.wait(30)  # process 0 has finished: torch has nobody to terminate
        raise ValueError(f"process {{index}} fails")
    done.set()

if __name__ == "__main__":
    done = mp.get_context("{method}").Event()
    if "{method}" == "spawn":
        mp.spawn(work, args=(done,), nprocs=2)
    else:
        mp.start_processes(work, args=(done,), nprocs=2, start_method="{method}")
"""


@pytest.fixture
def quiet_env(env):
    # torch's import warns that numpy is missing, in the parent and in spawned workers,
    # in an order that varies: not what these tests look at.
    return dict(env, PYTHONWARNINGS="ignore")


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_dataloader_worker(procs, python, quiet_env, tmp_path, method):
    prog = Program(procs, python, quiet_env, tmp_path, source=DATALOADER.format(method=method))
    # Index i goes to worker i % 2: worker 1 gets index 5.
    debugged = debug_worker(prog, python, "dataloader", "secret", "15", 'raise ValueError(f"bad row {index}")', worker=1)
    assert debugged.path == str(tmp_path / "pdb.sock.0.w1")
    baseline = without_tool(python, prog, quiet_env)
    assert "ValueError: Caught ValueError in DataLoader worker process 1." in baseline.stderr
    assert baseline.returncode == 1 and baseline.stdout == "0\n1\n2\n3\n4\n"
    check_as_before(debugged, baseline, quiet_env)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_torch_multiprocessing_spawn(procs, python, quiet_env, tmp_path, method):
    """torch.multiprocessing.spawn, and start_processes with another start method."""
    prog = Program(procs, python, quiet_env, tmp_path, source=SPAWN.format(method=method))
    debugged = debug_worker(prog, python, "spawn", "secret", "10", 'raise ValueError(f"process {index} fails")', worker=1)
    baseline = without_tool(python, prog, quiet_env)
    assert "torch.multiprocessing.spawn.ProcessRaisedException" in baseline.stderr
    assert "-- Process 1 terminated with the following error:" in baseline.stderr
    check_as_before(debugged, baseline, quiet_env)


def test_debugging_off_nothing_changes(python, quiet_env, tmp_path):
    """With IPDB_DEBUG unset, and with IPDB_DEBUG=1 but `Debugger.debug_flag = False`
    (hooks and patches in place, declining), both torch frameworks behave as without
    the package's hooks (there is no torch without the package in the bare venv)."""
    off = "from pydebug_hook import Debugger\nDebugger.debug_flag = False\n"
    same_lines = "import os\nimport sys\n"
    for name, source in (("dataloader", DATALOADER.format(method="fork")), ("spawn", SPAWN.format(method="spawn"))):
        plain_dir, off_dir = tmp_path / f"plain-{name}", tmp_path / f"off-{name}"
        plain_dir.mkdir()
        off_dir.mkdir()
        plain = run([python, str(write_script(plain_dir, same_lines + source))], quiet_env, timeout=120)
        patched = run([python, str(write_script(off_dir, off + source))], dict(quiet_env, IPDB_DEBUG="1"), timeout=120)
        assert plain.returncode == 1
        assert (patched.returncode, patched.stdout) == (plain.returncode, plain.stdout), name
        expected = framework_noise(plain.stderr.replace(str(plain_dir), str(off_dir)))
        assert framework_noise(patched.stderr) == expected, name


def test_breakpoint_in_a_dataloader_worker_gets_the_workers_socket(procs, python, quiet_env, tmp_path):
    source = textwrap.dedent(
        """
        import torch
        from torch.utils.data import DataLoader, Dataset

        class Rows(Dataset):
            def __len__(self):
                return 4

            def __getitem__(self, index):
                value = index * 7
                if index == 2:
                    breakpoint()
                return torch.tensor(value)

        if __name__ == "__main__":
            print([int(b) for b in DataLoader(Rows(), batch_size=1, num_workers=2)], flush=True)
        """
    )
    prog = Program(procs, python, quiet_env, tmp_path, source=source, PYTHONBREAKPOINT="pydebug_hook.set_trace")
    path = prog.socket_path()
    assert path == str(tmp_path / "pdb.sock.0.w0")  # index 2 goes to worker 0
    assert "breakpoint in __getitem__" in prog.waiting_line()
    from sockets import Raw

    client = Raw(path, timeout=20)
    client.expect("(Pdb) ")
    client.send("p value")
    client.expect("14")
    client.send("c")
    client.read_to_eof()
    assert prog.wait(60) == 0
    assert prog.stdout() == "[0, 7, 14, 21]\n"
