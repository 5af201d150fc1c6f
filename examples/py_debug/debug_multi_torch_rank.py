"""A torchrun job in which chosen ranks fail: the seed's distributed example.

    IPDB_DEBUG=1 torchrun --nproc_per_node=3 examples/py_debug/debug_multi_torch_rank.py --fail_ranks 1
    IPDB_DEBUG=1 torchrun --nproc_per_node=3 examples/py_debug/debug_multi_torch_rank.py --fail_ranks 0 2

Flags follow the seed: --fail_ranks N [N ...], --error_type indexerror|zerodivision|runtime,
--debug (same as IPDB_DEBUG=1), --debug_mode console|web|socket|dump|dap (same as IPDB_MODE),
--backend (gloo without CUDA).  The ranks that do not fail wait for the others in an
all_reduce; with --collective_timeout SECONDS that last all_reduce times out on them,
which shows a consequence of the failure next to its root cause.
"""

import argparse
from datetime import timedelta

import torch
import torch.distributed as dist

from pydebug_hook import Debugger


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fail_ranks", type=int, nargs="+", default=[1], metavar="N", help="ranks that raise (default: 1)")
    parser.add_argument("--error_type", choices=["indexerror", "zerodivision", "runtime"], default="indexerror")
    parser.add_argument("--debug", action="store_true", help="enable debugging (as IPDB_DEBUG=1)")
    parser.add_argument("--debug_mode", choices=["console", "web", "socket", "dump", "dap"], help="as IPDB_MODE")
    parser.add_argument("--backend", default="nccl" if torch.cuda.is_available() else "gloo")
    parser.add_argument("--steps", type=int, default=3, help="training steps before the failure")
    parser.add_argument(
        "--collective_timeout", type=float, metavar="SECONDS",
        help="timeout of the all_reduce the other ranks wait in (default: the process group's, 30 min for gloo)",
    )
    return parser.parse_args()


def fail(error_type: str, rank: int, local_tensor: torch.Tensor) -> None:
    """Raise on this rank; `local_tensor` is what `p local_tensor` shows in the debugger."""
    if error_type == "indexerror":
        values = [1, 2, 3]
        print(values[10 + rank])
    elif error_type == "zerodivision":
        print(local_tensor.sum().item() / 0)
    else:
        raise RuntimeError(f"rank {rank} hit a bad batch: {local_tensor.tolist()}")


@Debugger.attach_on_error()
def train(args: argparse.Namespace) -> None:
    rank = dist.get_rank()
    world = dist.get_world_size()
    tensor = torch.full((4,), float(rank))
    for _ in range(args.steps):
        dist.all_reduce(tensor)
        tensor /= world
    # Made by every rank before anyone fails (creating a group is itself collective).
    group = None
    if args.collective_timeout is not None:
        group = dist.new_group(timeout=timedelta(seconds=args.collective_timeout))
    if rank in args.fail_ranks:
        fail(args.error_type, rank, tensor + rank)
    dist.all_reduce(tensor, group=group)  # the ranks that did not fail wait here
    print(f"rank {rank}: done, {tensor.tolist()}", flush=True)


def main() -> None:
    args = parse_args()
    if args.debug:
        Debugger.debug_flag = True
    if args.debug_mode:
        Debugger.debug_mode = args.debug_mode
    dist.init_process_group(args.backend)
    try:
        train(args)
    finally:
        # Runs after the session: the decorator debugged the error inside train().
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
