"""A job on many hosts: ``ls`` of 1024 sessions over 128 hosts, and what one failing rank
costs as the job grows.

    python benchmarks/bench_hosts.py [--runs 10] [--no-store]

Run it with the interpreter that has pydebug-hook installed (``.venv-test/py3.11/bin/python``
after ``scripts/test.sh``; torch for the store's figures).  Simulated: the sessions are
entries in the job's shared place, as the ranks of 128 hosts (8 each) would leave them:

- the shared directory (``IPDB_JOB_DIR``, the Slurm / MPI path): 1024 entry files;
- the job's c10d store (the torch path): a ``TCPStore`` served by another process, as
  torchrun's agent serves it, filled with 1024 entries; a sleeping process with a rank's
  variables (``RANK``, ``MASTER_ADDR``, ``MASTER_PORT``...) is how ``ls`` finds it.

Measured: ``pydebug-hook ls`` (the whole command, in a subprocess: start-up, finding the
jobs in ``/proc``, reading the place, the table; the store is read without torch, whose
import alone is timed for comparison), and one failing rank's work with the place (finding it, the root
cause, its entry put, its record published, its end), with 1, 8 and 128 hosts' sessions
already there.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYDEBUG_HOOK = str(Path(sys.executable).with_name("pydebug-hook"))
HOSTS, PER_HOST = 128, 8


def entry(host: int, local: int, now: float) -> dict:
    rank = host * PER_HOST + local
    name = f"host{host:03d}"
    record = {
        "rank": rank, "local_rank": local, "world_size": HOSTS * PER_HOST, "host": name, "pid": 1000 + rank,
        "mode": "socket", "endpoint": f"/tmp/pdb.sock.{rank}", "exception": f"RuntimeError: rank {rank} timed out waiting",
        "failed_at": now - 60 + rank / 1000, "job_id": "4242.0", "label": "consequence of rank 0's failure" if rank else None,
        "kind": "post-mortem", "state": "waiting", "started_at": now - 60, "interpreter": sys.executable,
    }
    return {
        "id": f"{name}.{1000 + rank}.{rank}", "rank": rank, "world_size": HOSTS * PER_HOST, "host": name, "pid": 1000 + rank,
        "failed_at": record["failed_at"], "consequence": rank > 0, "counts": True, "label": record["label"],
        "exception": record["exception"], "ended_at": None, "record": record,
    }


def entries(hosts: int, now: float):
    return [entry(h, local, now) for h in range(hosts) for local in range(PER_HOST)]


def timed_ls(env: dict, runs: int, expect: int):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run([PYDEBUG_HOOK, "ls", "--json"], env=env, capture_output=True, text=True, check=True).stdout
        times.append(time.perf_counter() - start)
        # ours only: `ls` also lists the jobs that happen to run on this machine meanwhile
        found = [s for s in json.loads(out) if s["mode"] != "dump" and re.fullmatch(r"host[0-9]{3}", s["host"])]
        assert len(found) == expect, (len(found), expect)
    return times


def figures(times) -> str:
    return f"median {statistics.median(times) * 1000:7.1f} ms   worst {max(times) * 1000:7.1f} ms"


def base_env(base: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IPDB_", "PYTHON", "MASTER_", "RANK", "SLURM_", "TORCHELASTIC"))}
    runtime = base / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env.update(XDG_RUNTIME_DIR=str(runtime), HOME=str(base), IPDB_DUMP_DIR=str(base / "dumps"))
    return env


# -- one failing rank's work with the place -----------------------------------------------


def failing_rank(place_env: dict, runs: int) -> list:
    """Seconds of one failing rank's work with the place, *runs* times."""
    from pydebug_hook.core import rank, settings
    from pydebug_hook.core.session import Session
    from pydebug_hook.job import board

    os.environ.update(place_env)
    times = []
    for _ in range(runs):
        try:
            raise RuntimeError("Timed out waiting 1800000ms for recv operation to complete")
        except RuntimeError as exc:
            error = exc
        session = Session(exc=error, tb=error.__traceback__, rank=rank.detect(), settings=settings.current(),
                          mode="socket", origin="excepthook", job_id=rank.job_id())
        board._places.clear()  # a new process: it connects anew
        start = time.perf_counter()
        place = board.place_for(session)
        assert place is not None, "the rank found no place (said above)"
        root = board.root_cause(place, session, consequence=True)
        assert root is not None
        session.label = f"consequence of rank {root['rank']}'s failure"
        board.root_ended(place, root)
        shared = board.open_entry(place, session, consequence=True, counts=True)
        shared.publish({"rank": session.rank.rank, "endpoint": "/tmp/pdb.sock.x", "state": "waiting"})
        shared.end()
        times.append(time.perf_counter() - start)
    return times


def fill_dir(folder: Path, hosts: int, now: float) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(mode=0o700, parents=True)
    (folder / "open").mkdir(mode=0o700)
    (folder / "root").write_text(json.dumps({"id": "host000.1000.0", "rank": 0, "host": "host000"}))
    for data in entries(hosts, now):
        path = folder / f"e-{data['id']}.json"
        path.write_text(json.dumps({**data, "beat_at": now}))
        path.chmod(0o600)
        (folder / "open" / data["id"]).touch(0o600)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-store", action="store_true", help="the shared directory only (no torch)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench_hosts-"))
    base.chmod(0o700)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, {args.runs} runs")
    try:
        from pydebug_hook.job import board, shared_dir

        now = time.time()
        # -- the shared directory
        jobs = base / "jobs"
        jobs.mkdir(mode=0o700)
        key = f"4242.0#{board.attempt({})}"
        folder = jobs / shared_dir._folder_name(key)
        fill_dir(folder, HOSTS, now)
        env = dict(base_env(base), IPDB_JOB_DIR=str(jobs))
        print(f"\nls, shared directory, {HOSTS * PER_HOST} sessions over {HOSTS} hosts:  {figures(timed_ls(env, args.runs, HOSTS * PER_HOST))}")
        print("one failing rank's work with the shared directory, by sessions already there:")
        for hosts in (1, 8, HOSTS):
            fill_dir(folder, hosts, time.time())
            place_env = {"IPDB_JOB_DIR": str(jobs), "SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_PROCID": "5", "SLURM_NTASKS": str(HOSTS * PER_HOST)}
            times = failing_rank(place_env, args.runs)
            print(f"  {hosts:4d} hosts ({hosts * PER_HOST:5d} sessions):  {figures(times)}")
        for name in list(os.environ):
            if name.startswith(("IPDB_", "SLURM_")):
                del os.environ[name]
        if not args.no_store:
            store_figures(base, args.runs)
    finally:
        shutil.rmtree(base, ignore_errors=True)


STORE_SERVER = """
import sys, time
from torch.distributed import TCPStore
store = TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False, multi_tenant=True)
print(store.port, flush=True)
sys.stdin.read()
"""


class Store:
    """A TCPStore served by another process, as torchrun's agent serves it.  One per
    measurement: torch's server here stops answering after some 50 connections in its
    lifetime (torch's own clients included: see docs/costs.md), and every ``ls`` and
    every simulated rank is a new connection."""

    def __init__(self, env: dict) -> None:
        self.server = subprocess.Popen([sys.executable, "-c", STORE_SERVER], env=env, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.port = int(self.server.stdout.readline())

    def fill(self, job: str, hosts: int) -> None:
        from pydebug_hook.job import store as store_place

        place = store_place.StorePlace.connect("127.0.0.1", self.port, f"{job}#0")
        place.claim_root({"id": "host000.1000.0", "rank": 0, "host": "host000"})
        for data in entries(hosts, time.time()):
            place.opened(data)

    def close(self) -> None:
        self.server.stdin.close()
        self.server.wait(10)


def store_figures(base: Path, runs: int) -> None:
    import torch.distributed  # noqa: F401 -- a rank has it: the store is used only then

    from pydebug_hook.job import store as store_place

    env = base_env(base)
    imports = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import torch.distributed"], env=env, check=True, capture_output=True)
        imports.append(time.perf_counter() - start)

    store = Store(env)
    try:
        store.fill("bench-hosts", HOSTS)
        rank_env = dict(env, RANK="7", LOCAL_RANK="7", WORLD_SIZE=str(HOSTS * PER_HOST), MASTER_ADDR="127.0.0.1",
                        MASTER_PORT=str(store.port), TORCHELASTIC_RUN_ID="bench-hosts")
        # a rank of the job on this host: how `ls` finds the job's store
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"], env=rank_env)
        try:
            print(f"\nls, the job's store, {HOSTS * PER_HOST} sessions over {HOSTS} hosts:  {figures(timed_ls(env, runs, HOSTS * PER_HOST))}")
        finally:
            sleeper.kill()
            sleeper.wait()
        print(f"  a python that only imports torch.distributed and exits:  {figures(imports)}")
        reads = []
        for _ in range(runs):
            start = time.perf_counter()
            place = store_place.StorePlace.connect("127.0.0.1", store.port, "bench-hosts#0", outsider=True)
            assert len(place.entries()) == HOSTS * PER_HOST
            reads.append(time.perf_counter() - start)
            place.client.close()
        print(f"  connecting to the store and reading the {HOSTS * PER_HOST} entries (in ls):  {figures(reads)}")
    finally:
        store.close()
    print("one failing rank's work with the store, by sessions already there:")
    for hosts in (1, 8, HOSTS):
        times: list = []
        while len(times) < runs:  # a new server every 10 ranks (its connection limit, above)
            store = Store(env)
            try:
                job = f"bench-hosts-{hosts}"
                store.fill(job, hosts)
                place_env = {"RANK": "5", "WORLD_SIZE": str(HOSTS * PER_HOST), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(store.port), "TORCHELASTIC_RUN_ID": job}
                times += failing_rank(place_env, min(10, runs - len(times)))
            finally:
                store.close()
        print(f"  {hosts:4d} hosts ({hosts * PER_HOST:5d} sessions):  {figures(times)}")


if __name__ == "__main__":
    main()
