"""The session registry: private directory, one record per session, pruning of the dead."""

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from internals import ChildInfo, RankInfo, Session, SessionError, registry, settings


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    path = tmp_path / "run"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    return path / "pydebug_hook"


def session(rank=0, failed_at=None, child=None, mode="socket"):
    s = Session(
        exc=ValueError("boom"),
        tb=None,
        rank=RankInfo(rank, rank, 4, "test"),
        settings=settings.read({}),
        mode=mode,
        origin="excepthook",
        child=child,
        job_id="job-1",
    )
    if failed_at is not None:
        s.failed_at = failed_at
    return s


def test_directory_is_private(runtime):
    registry.register(session(), "/tmp/x")
    st = os.stat(runtime)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid()


def test_open_directory_is_refused(runtime):
    runtime.mkdir(mode=0o755)
    os.chmod(runtime, 0o755)
    with pytest.raises(SessionError, match="open to other users"):
        registry.register(session(), "/tmp/x")
    assert registry.records() == []


def test_register_update_remove(runtime):
    reg = registry.register(session(rank=2, child=ChildInfo("pool", 1, 99)), "/tmp/pdb.sock.2.w1")
    [record] = registry.records()
    assert (record.rank, record.local_rank, record.world_size, record.pid, record.mode) == (2, 2, 4, os.getpid(), "socket")
    assert (record.endpoint, record.exception) == ("/tmp/pdb.sock.2.w1", "ValueError: boom")
    assert (record.job_id, record.state) == ("job-1", "waiting")
    assert record.child == "pool worker 1 of pid 99"
    assert record.started_at >= record.failed_at
    reg.update(state="attached")
    assert registry.records()[0].state == "attached"
    reg.remove()
    reg.remove()  # idempotent
    assert registry.records() == []
    assert list(runtime.iterdir()) == []


def test_two_sessions_in_one_process_have_two_records(runtime):
    a = registry.register(session(rank=0), "/tmp/a")
    b = registry.register(session(rank=0), "/tmp/b")
    assert sorted(r.endpoint for r in registry.records()) == ["/tmp/a", "/tmp/b"]
    a.remove()
    assert [r.endpoint for r in registry.records()] == ["/tmp/b"]
    b.remove()


def test_only_the_registering_process_removes(runtime):
    reg = registry.register(session(), "/tmp/a")
    reg.pid = -1  # as seen from a forked child
    reg.remove()
    reg.update(state="attached")
    [record] = registry.records()
    assert record.state == "waiting"


def test_first_failure_first(runtime):
    now = time.time()
    for rank, at in ((0, now), (1, now - 5), (2, now - 1)):
        registry.register(session(rank=rank, failed_at=at), f"/tmp/{rank}")
    assert [r.rank for r in registry.records()] == [1, 2, 0]


def test_dead_and_reused_pids_are_pruned(runtime):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    reg = registry.register(session(rank=5), "/tmp/dead")
    reg.update(pid=dead.pid)
    reused = registry.register(session(rank=6), "/tmp/reused")
    reused.update(pid_start=(reused.record.pid_start or 0) + 12345)  # same pid, another process
    live = registry.register(session(rank=7), "/tmp/live")
    assert len(list(runtime.iterdir())) == 3
    assert [r.rank for r in registry.records(prune=False)] == [7]
    assert len(list(runtime.iterdir())) == 3
    assert [r.rank for r in registry.records()] == [7]
    assert sorted(p.name for p in runtime.iterdir()) == [os.path.basename(live.path)]


def test_garbage_files_are_ignored(runtime):
    runtime.mkdir(mode=0o700)
    (runtime / "session-x-1-1.json").write_text("{not json")
    (runtime / "session-x-2-1.json").write_text(json.dumps({"rank": 0}))
    (runtime / "other.txt").write_text("hello")
    assert registry.records() == []


def test_private_dirs_prefer_the_runtime_dir(runtime):
    first = next(iter(registry.private_dirs()))
    assert first == str(runtime)
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o700


def test_foreign_runtime_dir_is_not_used(tmp_path, monkeypatch):
    if os.getuid() != 0:
        pytest.skip("needs root to make a directory of another uid")
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, 65534, 65534)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(foreign))
    assert registry.runtime_dir(create=False) != str(foreign / "pydebug_hook")


def test_the_first_private_directory_next_to_a_squatted_name_is_used(tmp_path, monkeypatch):
    """Every process of the user picks the same directory: the first of its own (by name:
    made ones start with the time) next to the name another user holds; directories of
    another uid, links and open ones among them are not its own."""
    if os.getuid() != 0:
        pytest.skip("needs root to make directories of another uid")
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(shared))
    name = f"pydebug_hook-{os.getuid()}"
    squatted = shared / name
    squatted.mkdir()
    os.chown(squatted, 65534, 65534)
    strangers = shared / f"{name}.0"  # sorts first, but is not ours
    strangers.mkdir(mode=0o700)
    os.chown(strangers, 65534, 65534)
    (shared / f"{name}.1").symlink_to(tmp_path)  # a link to a directory of ours: not ours either
    open_one = shared / f"{name}.2"
    open_one.mkdir()
    os.chmod(open_one, 0o755)
    assert registry.records() == []  # nothing of ours yet: nothing made by listing
    made = Path(registry.runtime_dir())
    assert made.parent == shared and made.name.startswith(f"{name}.") and made not in (strangers, open_one)
    st = os.lstat(made)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o700
    later = shared / f"{name}.{'9' * 20}-aaaa"  # one more of ours, made later
    later.mkdir(mode=0o700)
    assert Path(registry.runtime_dir()) == made == Path(registry.runtime_dir(create=False))
    assert sorted(p.name for p in shared.iterdir()) == sorted([name, f"{name}.0", f"{name}.1", f"{name}.2", made.name, later.name])
