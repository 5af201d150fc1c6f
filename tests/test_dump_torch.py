"""Dump mode with torch: tensors saved and back as tensors, a DataLoader worker's crash
site, and a torchrun job whose two failing ranks each leave a loadable dump."""

import os

import pytest
from distributed import EXAMPLE, Torchrun
from dumps import NAME, dump_dir, dump_env, dumps_in, header_of, load, ours, saved_paths
from helpers import TRACEBACK, header_lines, run, without_tool_lines, write_script
from workers import framework_noise

pytestmark = [pytest.mark.torch]


@pytest.fixture
def quiet_env(env):
    # torch's import warns that numpy is missing, in an order that varies
    return dict(env, PYTHONWARNINGS="ignore")


TRAINING = """
import torch

def step(model, batch, target):
    out = model(batch)
    loss = torch.nn.functional.cross_entropy(out, target)
    huge = torch.zeros(20_000_000)  # 80 MB: over the limit of one tensor
    window = huge[5:9] + 1  # a view's values alone, not the storage it looks into
    raise FloatingPointError(f"loss {loss.item():.6f}")

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
batch = torch.randn(16, 32)
target = torch.randint(0, 4, (16,))
print(f"sum {batch.sum().item():.6f}", flush=True)
step(model, batch, target)
"""


def test_tensors_come_back_as_tensors(python, quiet_env, tmp_path):
    script = write_script(tmp_path, TRAINING)
    result = run([python, str(script)], dump_env(quiet_env), timeout=120)
    assert result.returncode == 1 and result.stderr.count(TRACEBACK) == 1
    [path] = saved_paths(result.stderr)
    meta = header_of(dump_dir(quiet_env) / os.path.basename(path))
    assert meta["left_out"] == {"tensors not saved": 1}
    assert os.path.getsize(path) < 1_000_000  # the model, the batch: not the 80 MB
    commands = (
        "p type(batch).__name__, tuple(batch.shape), batch.dtype\n"
        "p f'sum {batch.sum().item():.6f}'\n"
        "p window\n"
        "p huge\n"
        "p model._modules['2'].weight.shape\n"
        "up\n"
        "p model\n"
    )
    opened = load(path, quiet_env, commands, timeout=120)
    out = opened.stdout
    assert opened.returncode == 0, opened.stderr
    assert "('Tensor', (16, 32), torch.float32)" in out
    assert result.stdout.strip() in out  # the same values: "sum ..." as the program printed it
    assert "tensor([1., 1., 1., 1.])" in out
    assert "<not saved: tensor of shape (20000000,), torch.float32, on cpu: 76.3 MiB, over the 64.0 MiB limit>" in out
    assert "torch.Size([4, 64])" in out
    assert "<torch.nn.modules.container.Sequential object at 0x" in out  # kept as its attributes


DATALOADER = """
import torch
from torch.utils.data import DataLoader, Dataset

class Rows(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        secret = index * 3
        row = torch.full((3,), float(index))
        if index == 5:
            raise ValueError(f"bad row {{index}}")
        return row

if __name__ == "__main__":
    loader = DataLoader(Rows(), batch_size=1, num_workers=2, multiprocessing_context="{method}")
    for batch in loader:
        print(int(batch[0][0]), flush=True)
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_dataloader_worker(python, quiet_env, tmp_path, method):
    script = write_script(tmp_path, DATALOADER.format(method=method))
    result = run([python, str(script)], dump_env(quiet_env), timeout=120, cwd=tmp_path)
    baseline = run([python, str(script)], quiet_env, timeout=120, cwd=tmp_path)
    # the parent's own report as before, after the worker's lines
    assert result.returncode == baseline.returncode == 1
    assert result.stdout == baseline.stdout == "0\n1\n2\n3\n4\n"
    assert framework_noise(without_tool_lines(result.stderr)).endswith(framework_noise(baseline.stderr))
    assert "Caught ValueError in DataLoader worker process 1" in result.stderr
    assert result.stderr.count("debugged there; no second session here") == 1
    [header] = header_lines(result.stderr)
    assert "dataloader worker 1 of pid " in header and header.endswith("-> dump session")
    [path] = saved_paths(result.stderr)  # the worker's alone
    assert NAME.match(os.path.basename(path)).group(3) == "-dataloader-w1"
    assert len(dumps_in(dump_dir(quiet_env))) == 1
    opened = load(path, quiet_env, "p secret\np row\n", timeout=120)
    assert "15" in opened.stdout and "tensor([5., 5., 5.])" in opened.stdout
    assert "dataloader worker 1 of pid" in ours(opened.stderr)[0]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_torchrun_two_failing_ranks_two_dumps(procs, quiet_env, tmp_path):
    env = dump_env(quiet_env)
    job = Torchrun(procs, env, tmp_path, EXAMPLE, "--fail_ranks", "0", "1")
    try:
        assert job.wait(120) != 0
        text = job.stderr()
        paths = saved_paths(text)
        ranks = sorted(int(NAME.match(os.path.basename(p)).group(1)) for p in paths)
        assert ranks == [0, 1], text
        assert sorted(dumps_in(dump_dir(env))) == sorted(map(type(dump_dir(env)), paths))
        for path in paths:
            rank = int(NAME.match(os.path.basename(path)).group(1))
            opened = load(path, env, "p rank\np local_tensor\nup\np args.fail_ranks\n", timeout=120)
            assert f"ipdb> {rank}\n" in opened.stdout
            assert f"tensor([{rank + 1}., {rank + 1}., {rank + 1}., {rank + 1}.])" in opened.stdout
            assert "[0, 1]" in opened.stdout
            meta = header_of(dump_dir(env) / os.path.basename(path))
            assert (meta["rank"], meta["world_size"]) == (rank, 3) and meta["job_id"]
        job.leftovers.assert_none()
    finally:
        job.kill()
