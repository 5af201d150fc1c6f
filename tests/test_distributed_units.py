"""Units of the distributed support, in-process: what counts as a consequence, the
terminal queue's tickets, the job's session files, and `attach`'s choice of the root
cause.  (The scenarios with real processes are in test_terminal_queue.py,
test_distributed_jobs.py and, with torch, test_distributed_torch.py.)"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import types

import internals
import pytest
from internals import (
    RankInfo,
    Record,
    Session,
    Settings,
    attach,
    is_consequence,
    job_sessions,
    locks,
    terminal_queue,
)


@pytest.fixture(autouse=True)
def private_runtime(tmp_path, monkeypatch):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return runtime


def _gloo(text):
    return RuntimeError(f"[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/{text}")


def _torch_error(name):
    cls = type(name, (RuntimeError,), {})
    cls.__module__ = "torch.distributed"
    return cls("store lost")


def _raised_from(outer, inner):
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except BaseException as exc:
        return exc


def _in_context(outer, inner):
    try:
        try:
            raise inner
        except BaseException:
            raise outer from None
    except BaseException as exc:
        return exc


CONSEQUENCES = [
    ("gloo peer closed", _gloo("pair.cc:553] Connection closed by peer [127.0.0.1]:58510. This is typically caused by a remote worker crashing."), True),
    ("gloo reset", _gloo("pair.cc:598] Connection reset by peer"), True),
    ("gloo recv timeout", _gloo("unbound_buffer.cc:78] Timed out waiting 3000ms for recv operation to complete"), True),
    ("nccl watchdog", RuntimeError("[Rank 1] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=5, OpType=ALLREDUCE)"), True),
    ("nccl abort", RuntimeError("NCCL communicator was aborted on rank 2."), True),
    ("DistBackendError", _torch_error("DistBackendError"), True),
    ("DistNetworkError", _torch_error("DistNetworkError"), True),
    ("DistStoreError", _torch_error("DistStoreError"), True),
    ("wrapped by the program", _raised_from(ValueError("step 7 failed"), _gloo("pair.cc:553] Connection closed by peer")), True),
    ("the program's own error", IndexError("list index out of range"), False),
    ("a plain RuntimeError", RuntimeError("CUDA out of memory"), False),
    ("the words, not from torch", TimeoutError("timed out waiting for the data loader"), False),
    ("a user class named like torch's", type("DistBackendError", (Exception,), {})("mine"), False),
    ("context suppressed", _in_context(ValueError("bad"), _gloo("pair.cc:553] Connection closed by peer")), False),
]


@pytest.mark.parametrize("name, exc, expected", CONSEQUENCES, ids=[c[0] for c in CONSEQUENCES])
def test_what_is_a_consequence(name, exc, expected):
    assert is_consequence(exc) is expected


def _session(rank=0, failed_at=None, exc=None, job_id=None, pid=None, world=4):
    s = Session(
        exc=exc or IndexError("boom"), tb=None, rank=RankInfo(rank, rank, world, "slurm"),
        settings=Settings(enabled=True, mode="console"), mode="console", origin="excepthook", job_id=job_id,
    )
    if failed_at is not None:
        s.failed_at = failed_at
    if pid is not None:
        s.pid = pid
    return s


TERMINAL = types.SimpleNamespace(device=os.makedev(250, 7), name="/dev/pts/7")


def test_the_first_failure_takes_the_terminal_and_the_next_waits():
    first = terminal_queue.Ticket.take(_session(0, failed_at=100.0, pid=11), TERMINAL)
    second = terminal_queue.Ticket.take(_session(1, failed_at=101.0, pid=12), TERMINAL)
    assert first.try_now() and not second.try_now()
    assert second.holder()["rank"] == 0
    assert [os.path.basename(p) for p in second.earlier()] == [os.path.basename(first.path)]
    first.close()
    assert second.earlier() == []
    assert second.try_now()
    second.close()
    assert not os.path.exists(first.directory)  # the last one out removes the queue


def test_an_earlier_failure_that_arrives_late_waits_for_the_holder():
    # Two processes failed at the same instant; the later one saw no ticket and took the
    # terminal: the earlier one must not take it too.
    later = terminal_queue.Ticket.take(_session(1, failed_at=101.0, pid=12), TERMINAL)
    assert later.try_now()
    earlier = terminal_queue.Ticket.take(_session(0, failed_at=100.0, pid=11), TERMINAL)
    assert earlier.earlier() == [] and not earlier.try_now()
    assert earlier.holder()["rank"] == 1
    waker = terminal_queue.Waker(earlier)
    time.sleep(0.1)
    assert not _readable(waker.fd)
    later.close()
    assert _wait_readable(waker.fd)
    assert earlier.terminal_fd >= 0
    waker.cancel()
    earlier.close()


def _readable(fd, timeout=0.0):
    import select

    return bool(select.select([fd], [], [], timeout)[0])


def _wait_readable(fd):
    return _readable(fd, timeout=10)


def test_a_cancelled_waker_gives_the_terminal_back():
    holder = terminal_queue.Ticket.take(_session(0, failed_at=100.0, pid=11), TERMINAL)
    assert holder.try_now()
    waiting = terminal_queue.Ticket.take(_session(1, failed_at=101.0, pid=12), TERMINAL)
    waker = terminal_queue.Waker(waiting)
    waker.cancel()  # its session ended through the socket first
    waiting.close()
    holder.close()
    third = terminal_queue.Ticket.take(_session(2, failed_at=102.0, pid=13), TERMINAL)
    deadline = time.monotonic() + 10
    while not third.try_now():  # the waker thread gets the lock, sees it is cancelled, lets go
        assert time.monotonic() < deadline
        time.sleep(0.01)
    third.close()


def test_a_ticket_left_by_a_dead_process_is_removed(tmp_path):
    code = (
        internals.PRELUDE
        + "import os, sys, time, types\n"
        "from internals import RankInfo, terminal_queue\n"
        "s = types.SimpleNamespace(failed_at=99.0, pid=os.getpid(), rank=RankInfo(3), summary='x', label=None)\n"
        f"t = terminal_queue.Ticket.take(s, types.SimpleNamespace(device={TERMINAL.device}))\n"
        "print(t.path, flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        path = proc.stdout.readline().strip()
        mine = terminal_queue.Ticket.take(_session(0, failed_at=100.0, pid=11), TERMINAL)
        assert [str(p) for p in mine.earlier()] == [path]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert os.path.exists(path)
        assert mine.earlier() == [] and not os.path.exists(path)
        assert mine.try_now()
        mine.close()
    finally:
        proc.kill()
        proc.wait()


def test_job_entries_count_only_this_run_and_expire(tmp_path):
    directory = tmp_path / "job"
    directory.mkdir()

    def write(name, **data):
        base = {"rank": 1, "pid": 1, "failed_at": 0.0, "failed_boot": 50.0, "consequence": False}
        (directory / name).write_text(json.dumps({**base, **data}))

    now = time.time()
    write("ended-00000000000000000001-1.json", ended_at=now, failed_boot=10.0)  # before we started
    write("ended-00000000000000000002-2.json", ended_at=now - 2 * job_sessions.TOMBSTONE_LIFETIME)  # expired
    write("ended-00000000000000000003-3.json", ended_at=now, rank=3)
    write("live-00000000000000000004-4.json", rank=4)  # not locked: its process died
    found = job_sessions.entries(directory, since=20.0, now=now)
    assert [(e.rank, e.live) for e in found] == [(3, False)]
    assert sorted(p.name for p in directory.iterdir()) == ["ended-00000000000000000001-1.json", "ended-00000000000000000003-3.json"]


def test_a_consequence_names_the_first_root_cause(tmp_path):
    live = _session(2, failed_at=time.time(), job_id="j1")
    job = job_sessions.begin(live)
    try:
        assert job is not None and not job.consequence and live.label is None
        peer = _session(0, failed_at=time.time(), exc=_gloo("pair.cc:553] Connection closed by peer"), job_id="j1")
        other = job_sessions.begin(peer)
        assert peer.label == "consequence of rank 2's failure" and not other.root_ended
        other.close()
    finally:
        job.close()
    late = _session(1, failed_at=time.time(), exc=_gloo("unbound_buffer.cc:78] Timed out waiting 3000ms"), job_id="j1")
    skipped = job_sessions.begin(late)
    assert late.label == "consequence of rank 2's failure" and skipped.root_ended
    assert skipped.path is None  # no session: no live file
    tombstones = sorted(name.split("-")[0] for name in os.listdir(job_sessions.job_dir("j1")))
    assert tombstones == ["ended", "ended"]


def test_outside_a_job_a_consequence_is_labelled_for_a_peer():
    s = _session(1, exc=_gloo("pair.cc:553] Connection closed by peer"), job_id=None)
    assert job_sessions.begin(s) is None and s.label == "consequence of a peer's failure"
    single = Session(exc=_gloo("pair.cc:553] Connection closed by peer"), tb=None, rank=RankInfo(), settings=Settings(), mode="socket", origin="excepthook")
    assert job_sessions.begin(single) is None and single.label is None  # one process has no peers


def test_the_header_says_when_no_session_opens():
    s = _session(1)
    s.label = "consequence of rank 0's failure"
    assert s.header().endswith("[consequence of rank 0's failure] -> console session\n")
    assert s.header(job_sessions.ROOT_ENDED).endswith("[consequence of rank 0's failure] (root cause already debugged; not opening a session)\n")


def _record(rank, failed_at, label=None, mode="socket", state="waiting"):
    return Record(rank=rank, local_rank=rank, world_size=4, host=socket.gethostname(), pid=100 + rank, mode=mode,
                  endpoint=f"/tmp/pdb.sock.{rank}" if state != "console" else "/dev/pts/3", exception="E",
                  failed_at=failed_at, label=label, state=state)


def test_attach_without_argument_goes_to_the_root_cause():
    consequence = _record(0, 1.0, label="consequence of rank 2's failure")
    root = _record(2, 2.0)
    assert attach.first_to_attach([consequence, root]) is root
    assert attach.first_to_attach([consequence]) is consequence  # else the first failure
    on_terminal = _record(2, 0.5, mode="console", state="console")
    queued = _record(1, 0.7, mode="console")
    assert attach.first_to_attach([on_terminal, queued, consequence]) is queued
    assert attach.endpoint_of(on_terminal)[0] == "none"
    assert attach.endpoint_of(queued) == ("socket", "/tmp/pdb.sock.1")


def test_held_files_are_released_with_their_owner(tmp_path):
    fd = locks.create_held(tmp_path, "x.json", b"{}")
    path = tmp_path / "x.json"
    assert not locks.released(path, blocking=False)
    locks.let_go(path, fd)
    assert locks.released(path, blocking=False) and not path.exists()


@pytest.mark.parametrize(
    ("env", "spans"),
    [
        ({"RANK": "1", "LOCAL_WORLD_SIZE": "4", "WORLD_SIZE": "4"}, False),  # torchrun, one node
        ({"RANK": "5", "LOCAL_WORLD_SIZE": "4", "WORLD_SIZE": "8"}, True),
        ({"OMPI_COMM_WORLD_LOCAL_SIZE": "2", "OMPI_COMM_WORLD_SIZE": "2"}, False),
        ({"OMPI_COMM_WORLD_LOCAL_SIZE": "2", "OMPI_COMM_WORLD_SIZE": "4"}, True),
        ({"MPI_LOCALNRANKS": "4", "PMI_SIZE": "4"}, False),
        ({"SLURM_NNODES": "1", "SLURM_NTASKS": "4"}, False),
        ({"SLURM_NNODES": "4", "SLURM_STEP_NUM_NODES": "1"}, False),  # a step on one node of the allocation
        ({"SLURM_NNODES": "2"}, True),
        ({"RANK": "1", "WORLD_SIZE": "2"}, True),  # nothing says: may span hosts
        ({"LOCAL_WORLD_SIZE": "x", "WORLD_SIZE": "2"}, True),
    ],
)
def test_whether_a_job_may_span_hosts(env, spans):
    assert internals.job_sessions.spans_hosts(env) is spans
