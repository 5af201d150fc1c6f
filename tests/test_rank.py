"""Rank detection over the environments of the launchers we know (unit tests: the
environment is a mapping given to ``detect``; torch is never imported, a fake
``torch.distributed`` in ``sys.modules`` stands for an initialized process group)."""

import sys
import types

import internals
import pytest
from internals import RankInfo, notice, rank


@pytest.fixture(autouse=True)
def no_torch_and_fresh_warnings(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch.distributed", raising=False)
    monkeypatch.setattr(notice, "_warned", set())


MATRIX = [
    ("nothing", {}, RankInfo(0, 0, 1, "single process")),
    ("torchrun", {"RANK": "2", "LOCAL_RANK": "0", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2"}, RankInfo(2, 0, 4, "torchrun")),
    ("torchrun without local rank", {"RANK": "3", "WORLD_SIZE": "4"}, RankInfo(3, 3, 4, "torchrun")),
    ("torchrun without world size", {"RANK": "3"}, RankInfo(3, 3, 4, "torchrun")),
    ("slurm", {"SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NTASKS": "8"}, RankInfo(5, 1, 8, "slurm")),
    ("slurm old size variable", {"SLURM_PROCID": "1", "SLURM_NPROCS": "2"}, RankInfo(1, 1, 2, "slurm")),
    ("open mpi", {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_LOCAL_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"}, RankInfo(1, 1, 2, "open mpi")),
    ("mpich / pmi", {"PMI_RANK": "3", "PMI_SIZE": "6", "MPI_LOCALRANKID": "0"}, RankInfo(3, 0, 6, "pmi")),
    ("pmi local rank", {"PMI_RANK": "3", "PMI_SIZE": "6", "PMI_LOCAL_RANK": "1"}, RankInfo(3, 1, 6, "pmi")),
    # precedence: torchrun inside an srun step sets both; RANK is the one that counts
    ("torchrun in slurm", {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2", "SLURM_PROCID": "0", "SLURM_NTASKS": "1"}, RankInfo(1, 1, 2, "torchrun")),
    ("slurm before open mpi", {"SLURM_PROCID": "2", "SLURM_NTASKS": "4", "OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "1"}, RankInfo(2, 2, 4, "slurm")),
    ("open mpi before pmi", {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2", "PMI_RANK": "0", "PMI_SIZE": "1"}, RankInfo(1, 1, 2, "open mpi")),
    ("blank values are absent", {"RANK": " ", "SLURM_PROCID": "1", "SLURM_NTASKS": "2"}, RankInfo(1, 1, 2, "slurm")),
    ("spaces around numbers", {"RANK": " 1 ", "WORLD_SIZE": "2 "}, RankInfo(1, 1, 2, "torchrun")),
]


@pytest.mark.parametrize("name, environ, expected", MATRIX, ids=[m[0] for m in MATRIX])
def test_environment_matrix(name, environ, expected, capfd):
    assert rank.detect(environ) == expected
    assert capfd.readouterr() == ("", "")


BAD = [
    ("rank not a number falls through to the next source", {"RANK": "one", "SLURM_PROCID": "1", "SLURM_NTASKS": "2"}, RankInfo(1, 1, 2, "slurm"), "RANK='one'"),
    ("negative rank", {"RANK": "-1"}, RankInfo(), "RANK='-1'"),
    ("bad world size", {"RANK": "1", "WORLD_SIZE": "many"}, RankInfo(1, 1, 2, "torchrun"), "WORLD_SIZE='many'"),
    ("zero world size", {"RANK": "0", "WORLD_SIZE": "0"}, RankInfo(0, 0, 1, "torchrun"), "WORLD_SIZE='0'"),
    ("rank beyond the world", {"RANK": "4", "WORLD_SIZE": "2"}, RankInfo(4, 4, 5, "torchrun"), "RANK=4 is not below the world size 2"),
    ("bad local rank", {"RANK": "1", "LOCAL_RANK": "x", "WORLD_SIZE": "2"}, RankInfo(1, 1, 2, "torchrun"), "LOCAL_RANK='x'"),
]


@pytest.mark.parametrize("name, environ, expected, warning", BAD, ids=[b[0] for b in BAD])
def test_bad_values_warn_once_and_are_ignored(name, environ, expected, warning, capfd):
    assert rank.detect(environ) == expected
    assert rank.detect(environ) == expected
    out, err = capfd.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pydebug_hook: ") and warning in lines[0]


def _fake_dist(initialized=True, rank=3, world=8, available=True, fail=False):
    dist = types.ModuleType("torch.distributed")

    def get_rank():
        if fail:
            raise RuntimeError("process group torn down")
        return rank

    dist.is_available = lambda: available
    dist.is_initialized = lambda: initialized
    dist.get_rank = get_rank
    dist.get_world_size = lambda: world
    return dist


def test_initialized_process_group_wins_over_the_environment(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.distributed", _fake_dist())
    info = rank.detect({"RANK": "0", "LOCAL_RANK": "1", "WORLD_SIZE": "2"})
    assert info == RankInfo(3, 1, 8, "torch.distributed")


def test_process_group_local_rank_from_any_launcher(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.distributed", _fake_dist(rank=5, world=6))
    assert rank.detect({"SLURM_LOCALID": "2"}).local_rank == 2
    assert rank.detect({}) == RankInfo(5, 5, 6, "torch.distributed")


@pytest.mark.parametrize("fake", [{"initialized": False}, {"available": False}, {"fail": True}], ids=["not initialized", "not available", "torn down"])
def test_process_group_not_usable_falls_back_to_the_environment(monkeypatch, fake):
    monkeypatch.setitem(sys.modules, "torch.distributed", _fake_dist(**fake))
    assert rank.detect({"RANK": "1", "WORLD_SIZE": "2"}) == RankInfo(1, 1, 2, "torchrun")


def test_detect_never_imports_torch(tmp_path, env, python):
    from helpers import run

    result = run([python, "-c", internals.PRELUDE + "print(internals.rank.detect()); print('torch' in sys.modules)"], dict(env, RANK="1", WORLD_SIZE="2"))
    assert result.stdout.splitlines() == ["RankInfo(rank=1, local_rank=1, world_size=2, source='torchrun')", "False"]


def test_distributed_property():
    assert not RankInfo().distributed
    assert RankInfo(0, 0, 1, "torchrun").distributed
    assert RankInfo(1, 1, 2, "slurm").distributed


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, None),
        ({"TORCHELASTIC_RUN_ID": "abc"}, "abc"),
        ({"TORCHELASTIC_RUN_ID": "none", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}, "torchrun:127.0.0.1:29500"),
        ({"SLURM_JOB_ID": "77", "SLURM_STEP_ID": "3"}, "77.3"),
        ({"SLURM_JOB_ID": "77"}, "77"),
        ({"OMPI_MCA_ess_base_jobid": "12345"}, "12345"),
        ({"PMI_JOBID": "j1"}, "j1"),
        ({"MASTER_ADDR": "h", "MASTER_PORT": "1"}, None),  # no RANK: not a torchrun worker
    ],
)
def test_job_id(environ, expected):
    assert rank.job_id(environ) == expected


def test_module_reads_os_environ_by_default(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("SLURM_NTASKS", "3")
    monkeypatch.delenv("SLURM_LOCALID", raising=False)
    assert rank.detect() == RankInfo(1, 1, 3, "slurm")
