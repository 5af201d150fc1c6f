"""A job without torch on two hosts (issue 14), simulated on one machine (tests/hosts.py):
four plain processes with Slurm's variables, ranks 0 and 1 on hostA, 2 and 3 on hostB,
meeting in the directory ``IPDB_JOB_DIR`` names (the cluster's shared home).  Also: ``ls``
from a login node outside the job, the checks on that directory, and how ``attach``
builds its ssh command.
"""

import json
import os
import socket
import stat
import sys
import time

import internals
import pytest
from distributed import PYDEBUG_HOOK, RANK_PROGRAM
from helpers import AS_NOBODY, NOBODY, header_lines, run, wait_for
from hosts import Hosts, private_tmp

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def hosts(procs):
    h = Hosts(procs)
    try:
        yield h
    finally:
        h.close()


class SlurmJob:
    """Four ranks of Slurm job 4242 (step 0), two per host, each failing on demand."""

    def __init__(self, hosts: Hosts, prelude: str = "", **extra: str) -> None:
        self.hosts = hosts
        self.script = hosts.shared / "rank_program.py"
        self.script.write_text(prelude + RANK_PROGRAM)  # before any rank starts, which reads it
        self.job_dir = hosts.shared / "jobs"
        self.env = hosts.env(IPDB_DEBUG="1", IPDB_MODE="socket", IPDB_JOB_DIR=str(self.job_dir), **extra)
        self.procs = {}
        for rank in range(4):
            host = "hostA" if rank < 2 else "hostB"
            env = dict(self.env, SLURM_JOB_ID="4242", SLURM_STEP_ID="0", SLURM_NTASKS="4", SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank % 2))
            self.procs[rank] = hosts.popen(host, [sys.executable, str(self.script), "SLURM_PROCID", str(hosts.shared)], env, log=f"rank{rank}")

    def fail(self, rank: int, kind: str = "error") -> None:
        path = self.hosts.shared / f"go-{rank}"
        path.with_suffix(".tmp").write_text(kind)
        path.with_suffix(".tmp").rename(path)

    def stderr(self, rank: int) -> str:
        return self.hosts.log(f"rank{rank}.err")

    def wait_stderr(self, rank: int, needle: str, timeout: float = 60) -> str:
        try:
            return wait_for(lambda: needle in self.stderr(rank) and self.stderr(rank), timeout, f"{needle!r} from rank {rank}")
        except AssertionError:
            raise AssertionError(f"rank {rank}: {self.stderr(rank)}") from None

    def entries(self):
        found = []
        for path in self.job_dir.glob("*/e-*.json"):
            found.append(json.loads(path.read_text()))
        return found


def ls_rows(text: str):
    found = []
    for line in text.splitlines()[1:]:
        if not line.strip() or line.startswith("dumps"):
            break
        cells = line.split()
        found.append((int(cells[1].split("/")[0]), cells[3], line))
    return found


def test_a_slurm_job_on_two_hosts_shares_its_sessions_through_the_job_directory(hosts):
    job = SlurmJob(hosts)
    job.fail(3)
    job.wait_stderr(3, "waits for a debugger on /tmp/pdb.sock.3")
    job.fail(0, "peer")  # on hostA, the fallout of rank 3's failure
    job.wait_stderr(0, "waits for a debugger on /tmp/pdb.sock.0")
    [header] = header_lines(job.stderr(0))
    assert header.endswith("[consequence of rank 3's failure on hostB] -> socket session"), header

    # The directory: ours alone, the job's folder and files too.
    assert stat.S_IMODE(job.job_dir.stat().st_mode) == 0o700
    for path in job.job_dir.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path

    listing = hosts.run("hostA", [PYDEBUG_HOOK, "ls"], job.env).stdout
    assert [(r, h) for r, h, _ in ls_rows(listing)] == [(3, "hostB"), (0, "hostA")], listing
    assert "consequence of rank 3's failure on hostB" in ls_rows(listing)[1][2]

    # From a login node: another machine that runs nothing of the job (its own process
    # table, its own /tmp), where only IPDB_JOB_DIR says where to look.
    login = run(["unshare", "--uts", "--mount", "--pid", "--fork", "--mount-proc", "--", "sh", "-c",
                 f'hostname login && {private_tmp()} && exec "$0" ls --json', PYDEBUG_HOOK], job.env, timeout=60)
    assert login.returncode == 0, login.stderr
    sessions = [s for s in json.loads(login.stdout) if s["mode"] != "dump"]
    assert [(s["rank"], s["host"], s["endpoint"]) for s in sessions] == [(3, "hostB", "/tmp/pdb.sock.3"), (0, "hostA", "/tmp/pdb.sock.0")]
    assert all(s["interpreter"] == sys.executable for s in sessions)

    client = hosts.spawn("hostA", [PYDEBUG_HOOK, "attach", "3"], job.env)
    client.expect("attaching to rank 3 .* on hostB: ssh -t hostB ")
    client.expect_exact("(Pdb) ")
    client.sendline("p secret")
    client.expect_exact("33")
    client.expect_exact("(Pdb) ")
    client.sendline("q")
    job.wait_stderr(3, "rank 3: session ended; waiting for the sessions of rank 0 before exiting")
    assert job.procs[3].poll() is None

    out = hosts.run("hostA", ["nc", "-N", "-U", "/tmp/pdb.sock.0"], job.env, input="q\n").stdout
    assert "session ended" in out
    for rank in (0, 3):
        assert job.procs[rank].wait(30) == 1
    # later fallout on either host: the root cause was debugged, no session
    for rank in (1, 2):
        job.fail(rank, "peer")
        assert job.procs[rank].wait(30) == 1
        [header] = header_lines(job.stderr(rank))
        where = "" if rank == 2 else " on hostB"
        assert header.endswith(f"[consequence of rank 3's failure{where}] (root cause already debugged; not opening a session)"), header
    hosts.assert_nothing_left()
    assert not list(job.job_dir.glob("*/open/*"))
    assert all(e["ended_at"] is not None for e in job.entries())


def test_a_job_directory_open_to_others_is_not_used(hosts):
    job_dir = hosts.shared / "open-jobs"
    job_dir.mkdir(mode=0o755)
    job_dir.chmod(0o755)
    env = hosts.env(IPDB_DEBUG="1", IPDB_MODE="socket", IPDB_JOB_DIR=str(job_dir), IPDB_WAIT_TIMEOUT="0",
                    SLURM_JOB_ID="7", SLURM_PROCID="1", SLURM_NTASKS="2")
    result = hosts.run("hostA", [sys.executable, "-c", "raise KeyError('k')"], env)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "IPDB_JOB_DIR" in line]
    said = (
        f"pydebug_hook: sessions on the job's other hosts are not coordinated: IPDB_JOB_DIR: {job_dir} is open to other users (mode 755); "
        "not using it (it must be a directory of yours that only you can enter: chmod 700)"
    )
    assert lines == [said], result.stderr
    assert "KeyError: 'k'" in result.stderr and os.listdir(job_dir) == []


def test_files_in_the_job_directory_that_are_not_ours_are_not_listed(hosts):
    job_dir = hosts.shared / "jobs"
    job_dir.mkdir(mode=0o700)
    folder = job_dir / "4242.0_0-00000000"
    folder.mkdir(mode=0o700)

    def entry(rank: int, text: str) -> str:
        record = {"rank": rank, "local_rank": 0, "world_size": 8, "host": "hostB", "pid": 4242 + rank, "mode": "socket",
                  "endpoint": f"/tmp/pdb.sock.{rank}", "exception": text, "failed_at": 1.0 + rank}
        return json.dumps({"id": str(rank), "rank": rank, "host": "hostB", "pid": 4242 + rank, "failed_at": 1.0 + rank,
                           "ended_at": None, "counts": True, "beat_at": time.time(), "record": record})

    (folder / "e-6.json").write_text(entry(6, "ValueError: ours"))
    planted = folder / "e-5.json"
    planted.write_text(entry(5, "ValueError: planted"))
    os.chown(planted, 65534, 65534)  # another user's file in our folder (root put it there)
    (folder / "e-7.json").symlink_to(planted)
    (folder / "e-8.json").write_text(entry(8, "ValueError: \x1b]0;retitled\x07"))
    env = hosts.env(IPDB_JOB_DIR=str(job_dir))
    result = hosts.run("hostA", [PYDEBUG_HOOK, "ls"], env)
    assert [(r, h) for r, h, _ in ls_rows(result.stdout)] == [(6, "hostB"), (8, "hostB")], result.stdout
    assert "planted" not in result.stdout
    assert "\x1b" not in result.stdout and "\\x1b]0;retitled\\x07" in result.stdout  # escaped, as every record


def test_an_attach_command_from_another_host_is_built_from_checked_words(hosts):
    """What `attach` runs for a session elsewhere: IPDB_SSH split (never by a shell), the
    host, and the remote command quoted word by word; a record naming a host that is not
    a host name, or an interpreter this host's ranks do not run (from a store anyone can
    write to), is refused with one line."""
    Record = internals.Record
    settings = internals.settings.read({"IPDB_SSH": "ssh -t -o 'ProxyJump=gw 1'"})
    record = Record(rank=3, local_rank=1, world_size=4, host="node-7.cluster", pid=42, mode="socket",
                    endpoint="/tmp/pdb sock.3", exception="E", failed_at=1.0, interpreter="/opt/venv/bin/python3")
    argv, line = internals.jobwide.remote_attach(record, settings)
    assert argv == ["ssh", "-t", "-o", "ProxyJump=gw 1", "node-7.cluster", "/opt/venv/bin/python3 -m pydebug_hook attach '/tmp/pdb sock.3'"]
    assert line.startswith("attaching to rank 3 (pid 42) on node-7.cluster: ssh -t -o 'ProxyJump=gw 1' node-7.cluster ")

    bad = internals.settings.read({"IPDB_SSH": "ssh 'unclosed"})
    assert internals.jobwide.remote_attach(record, bad)[0][:2] == ["ssh", "-t"]

    for field, value in (("host", "-oProxyCommand=touch /tmp/x"), ("host", "a b"), ("endpoint", "relative"), ("interpreter", None),
                         ("interpreter", "/usr/bin/python3\x1b[2J")):
        forged = Record(**{**record.to_json(), field: value})
        argv, line = internals.jobwide.remote_attach(forged, settings)
        assert argv is None and line.startswith("rank 3 (pid 42) "), (field, value, line)

    class Store:  # what a record read from a torch job's store comes with
        describe = "the job's store at 10.0.0.1:29500"
        trusted = False
        interpreters = frozenset({"/opt/venv/bin/python3"})

    internals.jobwide._places[Store.describe] = Store
    record.origin = Store.describe
    assert internals.jobwide.remote_attach(record, settings)[0] is not None
    record.interpreter = "/home/mallory/bin/python3"
    argv, line = internals.jobwide.remote_attach(record, settings)
    assert argv is None and "is not one this host's ranks of the job run; not running it" in line


def test_a_rank_stops_waiting_for_a_session_on_another_host_whose_process_is_gone(hosts):
    """SIGKILL (the OOM killer, a host going down) ends a session without a word: the
    job's pulse stops, and after the lease the exit hold on the other host is over.  (The
    beat and the lease are shortened here, through the program's own copy of the module.)"""
    job = SlurmJob(hosts, prelude=internals.PRELUDE + "internals.job_board.BEAT_S = 0.2\ninternals.job_board.LEASE_S = 2.0\n")
    job.fail(3)
    job.wait_stderr(3, "waits for a debugger on /tmp/pdb.sock.3")
    job.fail(0, "peer")
    job.wait_stderr(0, "waits for a debugger on /tmp/pdb.sock.0")
    hosts.run("hostA", ["nc", "-N", "-U", "/tmp/pdb.sock.0"], job.env, input="q\n")
    job.wait_stderr(0, "rank 0: session ended; waiting for the sessions of rank 3 before exiting")
    # rank 3's beats keep rank 0 waiting past the lease (2 s)
    since = time.time()
    wait_for(lambda: any(e["rank"] == 3 and e["beat_at"] > since + 3 for e in job.entries()), 30, "rank 3 beating for 3 s")
    assert job.procs[0].poll() is None, job.stderr(0)
    os.kill(job.procs[3].pid, 9)
    try:
        assert job.procs[0].wait(30) == 1
    except Exception:
        raise AssertionError(f"rank 0 still waits:\n{job.stderr(0)}\nrank 3:\n{job.stderr(3)}\nentries: {job.entries()}") from None
    assert "pydebug_hook: the job's open sessions have not been heard from for 2s (their processes are gone?): not waiting for them" in job.stderr(0)


def test_attach_to_a_web_or_dap_session_on_another_host_prints_the_tunnel_to_open(hosts):
    job_dir = hosts.shared / "jobs"
    job_dir.mkdir(mode=0o700)
    folder = job_dir / "4242.0_0-00000000"
    folder.mkdir(mode=0o700)
    for rank, mode, endpoint in ((5, "web", "http://127.0.0.1:4449/"), (6, "dap", "127.0.0.1:5684")):
        record = {"rank": rank, "local_rank": 1, "world_size": 8, "host": "hostB", "pid": 4242 + rank, "mode": mode,
                  "endpoint": endpoint, "exception": "ValueError: v", "failed_at": 1.0 + rank}
        entry = {"id": str(rank), "rank": rank, "host": "hostB", "pid": 4242 + rank, "failed_at": 1.0 + rank,
                 "ended_at": None, "counts": True, "beat_at": time.time(), "record": record}
        (folder / f"e-{rank}.json").write_text(json.dumps(entry))
    env = hosts.env(IPDB_JOB_DIR=str(job_dir))
    web = hosts.run("hostA", [PYDEBUG_HOOK, "attach", "5"], env)
    assert web.returncode == 0 and web.stdout == "http://127.0.0.1:4449/\n", web
    assert ("pydebug_hook: rank 5 (pid 4247) is a web session: it is on hostB: from here, open a tunnel first "
            "(ssh -L 4449:127.0.0.1:4449 hostB), then open http://127.0.0.1:4449/") in web.stderr
    dap = hosts.run("hostA", [PYDEBUG_HOOK, "attach", "6"], env)
    assert dap.returncode == 0 and "The session is on hostB: from here, open a tunnel first" in dap.stdout
    assert "ssh -L 5684:127.0.0.1:5684 hostB" in dap.stdout
    assert hosts.ssh_log() == []  # printed, not run


def test_ls_follows_only_its_own_users_processes_to_a_jobs_store(procs, env):
    """`ls` finds the jobs running here in the environment of processes of its own uid:
    another user's process naming a store (RANK, MASTER_ADDR, MASTER_PORT) does not make
    `ls` connect there; the same process of ours does."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        job = dict(env, RANK="1", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(listener.getsockname()[1]),
                   TORCHELASTIC_RUN_ID="theirs")
        stranger = procs.popen([*AS_NOBODY, "sleep", "600"], job)
        wait_for(lambda: os.stat(f"/proc/{stranger.pid}").st_uid == NOBODY, 10, "the stranger's process")
        result = run([PYDEBUG_HOOK, "ls"], env)
        assert result.returncode == 0 and "theirs" not in result.stderr, result
        with pytest.raises(BlockingIOError):
            listener.accept()

        procs.popen(["sleep", "600"], job)
        result = run([PYDEBUG_HOOK, "ls"], env)
        assert "not listing the sessions of job theirs on other hosts: the job's store at 127.0.0.1:" in result.stderr, result
        listener.accept()[0].close()


@pytest.mark.parametrize("nodes", ["1", "2"])
def test_a_job_on_one_host_uses_no_shared_place(procs, env, tmp_path, python, nodes):
    """A job whose launcher says it runs on one host (SLURM_NNODES=1 here; torchrun's
    LOCAL_WORLD_SIZE = WORLD_SIZE, MPI's local size = world size) leaves nothing in
    IPDB_JOB_DIR and loads none of the job-wide code; on two nodes it does."""
    job_dir = tmp_path / "jobs"
    script = tmp_path / "prog.py"
    script.write_text("import atexit, os, sys\n"
                      "atexit.register(lambda: os.write(2, b'board loaded: %r\\n' % ('pydebug_hook.job.board' in sys.modules)))\n"
                      "raise KeyError('k')\n")
    env.update(IPDB_DEBUG="1", IPDB_MODE="socket", IPDB_WAIT_TIMEOUT="0", IPDB_JOB_DIR=str(job_dir),
               SLURM_JOB_ID="77", SLURM_STEP_ID="0", SLURM_PROCID="0", SLURM_NTASKS="2", SLURM_NNODES=nodes)
    result = run([python, str(script)], env)
    assert result.returncode == 1 and "KeyError: 'k'" in result.stderr, result.stderr
    spans = nodes != "1"
    assert f"board loaded: {spans}" in result.stderr, result.stderr
    assert (job_dir.exists() and len(os.listdir(job_dir)) == 1) == spans, result.stderr
