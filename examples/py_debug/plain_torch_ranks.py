"""A distributed training script that knows nothing about pydebug_hook.

    IPDB_DEBUG=1 torchrun --nproc_per_node=3 examples/py_debug/plain_torch_ranks.py --fail_ranks 1

No import, no decorator: the ``.pth`` start-up hook that ``pip install pydebug-hook``
puts in site-packages is what opens the session on the failing rank.

--permute gives every process the process-group rank after its launcher rank
((RANK + 1) % WORLD_SIZE), so that the two differ: the debugger names the process-group
rank.  --destroy_in_finally cleans the process group up in a ``finally:`` block, which
runs before an uncaught exception reaches the excepthook (the rank then comes from the
launcher's variables).
"""

import argparse
import os
from datetime import timedelta

import torch
import torch.distributed as dist


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fail_ranks", type=int, nargs="+", default=[1], metavar="N", help="process-group ranks that raise")
    parser.add_argument("--permute", action="store_true", help="process-group rank = (RANK + 1) %% WORLD_SIZE")
    parser.add_argument("--destroy_in_finally", action="store_true", help="destroy the process group in a finally block")
    return parser.parse_args()


def load_batch(step: int, rank: int) -> torch.Tensor:
    batch = torch.arange(4.0) + rank
    if step == 2 and rank in ARGS.fail_ranks:
        shard = batch.tolist()
        return batch[shard.index(99.0)]  # ValueError: 99.0 is not in list
    return batch


def train(rank: int) -> None:
    weights = torch.zeros(4)
    for step in range(4):
        batch = load_batch(step, rank)
        dist.all_reduce(batch)
        weights += batch


def main() -> None:
    world = int(os.environ["WORLD_SIZE"])
    rank = int(os.environ["RANK"])
    if ARGS.permute:
        rank = (rank + 1) % world
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(minutes=30))
    if not ARGS.destroy_in_finally:
        train(dist.get_rank())
        return
    try:
        train(dist.get_rank())
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    ARGS = parse_args()
    main()
