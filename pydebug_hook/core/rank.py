"""Which rank of which job this process is: from torch.distributed when it is imported and
initialized, else from the launcher's variables, else rank 0 of 1."""

import os
import sys

from . import notice
from .values import Value

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Iterable, Mapping, Optional, Tuple, Union


class RankInfo(Value):
    __slots__ = ("rank", "local_rank", "world_size", "source")  # noqa: RUF023 -- the fields' order

    def __init__(self, rank: int = 0, local_rank: int = 0, world_size: int = 1, source: str = "single process") -> None:
        self.rank = rank
        self.local_rank = local_rank
        self.world_size = world_size
        self.source = source

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or self.source != "single process"


# (source, rank variable, local rank variables, world size variables)
_ENV_SOURCES: "Tuple[Tuple[str, str, Tuple[str, ...], Tuple[str, ...]], ...]" = (
    ("torchrun", "RANK", ("LOCAL_RANK",), ("WORLD_SIZE",)),
    ("slurm", "SLURM_PROCID", ("SLURM_LOCALID",), ("SLURM_NTASKS", "SLURM_NPROCS")),
    ("open mpi", "OMPI_COMM_WORLD_RANK", ("OMPI_COMM_WORLD_LOCAL_RANK",), ("OMPI_COMM_WORLD_SIZE",)),
    ("pmi", "PMI_RANK", ("MPI_LOCALRANKID", "PMI_LOCAL_RANK"), ("PMI_SIZE",)),
)

# Variables naming the job, so that the ranks of one job can find each other's sessions.
_JOB_ID_VARS = (
    "TORCHELASTIC_RUN_ID",
    "SLURM_JOB_ID",
    "OMPI_MCA_ess_base_jobid",
    "PMI_JOBID",
    "PMIX_NAMESPACE",
)


def _int(env: "Mapping[str, str]", name: str, minimum: int) -> "Optional[int]":
    raw = env.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        value = minimum - 1
    if value < minimum:
        notice.warn_once((name, raw), f"{name}={raw!r} is not an integer >= {minimum}; ignoring it")
        return None
    return value


def _first_int(env: "Mapping[str, str]", names: "Tuple[str, ...]", minimum: int) -> "Optional[int]":
    for name in names:
        value = _int(env, name, minimum)
        if value is not None:
            return value
    return None


def _from_process_group(env: "Mapping[str, str]") -> "Optional[RankInfo]":
    dist = sys.modules.get("torch.distributed")
    if dist is None:
        return None
    try:
        if not (dist.is_available() and dist.is_initialized()):
            return None
        rank, world = int(dist.get_rank()), int(dist.get_world_size())
    except Exception:  # a half-torn-down group must not break the report
        return None
    local = _first_int(env, ("LOCAL_RANK", "SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK"), 0)
    return RankInfo(rank, rank if local is None else local, world, "torch.distributed")


def detect(environ: "Optional[Mapping[str, str]]" = None) -> RankInfo:
    env = os.environ if environ is None else environ
    info = _from_process_group(env)
    if info is not None:
        return info
    for source, rank_var, local_vars, world_vars in _ENV_SOURCES:
        rank = _int(env, rank_var, 0)
        if rank is None:
            continue
        local = _first_int(env, local_vars, 0)
        world = _first_int(env, world_vars, 1)
        if world is not None and rank >= world:
            notice.warn_once(
                (rank_var, "world"), f"{rank_var}={rank} is not below the world size {world}; ignoring the size"
            )
            world = None
        return RankInfo(rank, rank if local is None else local, rank + 1 if world is None else world, source)
    return RankInfo()


def selected(ranks: "Union[int, Iterable[int], None]") -> bool:
    """Whether this process is one of *ranks* (an int or several; None: every rank)."""
    if ranks is None:
        return True
    wanted = {ranks} if isinstance(ranks, int) else set(ranks)
    return detect().rank in wanted


def job_id(environ: "Optional[Mapping[str, str]]" = None) -> "Optional[str]":
    """An identifier shared by the ranks of one job, when the launcher gives one."""
    env = os.environ if environ is None else environ
    for name in _JOB_ID_VARS:
        value = (env.get(name) or "").strip()
        if value and value != "none":
            step = (env.get("SLURM_STEP_ID") or "").strip() if name == "SLURM_JOB_ID" else ""
            return f"{value}.{step}" if step else value
    # torchrun's default run id is "none": the rendezvous endpoint still names the job.
    master = (env.get("MASTER_ADDR") or "").strip(), (env.get("MASTER_PORT") or "").strip()
    if "RANK" in env and all(master):
        return f"torchrun:{master[0]}:{master[1]}"
    return None
