"""Two simulated hosts on one machine, for jobs that span hosts (issue 14).

Each host is a process tree in UTS and mount namespaces of its own (``unshare --uts
--mount``): its own host name, and a private ``/tmp`` (a tmpfs), where its sockets,
records and runtime directory live.  They share the network (loopback) and a directory
outside ``/tmp`` that plays the cluster's shared home: the scripts, the logs, the job
directory.  A stand-in ``ssh`` on ``PATH`` runs its command on the named host with
``nsenter``, in a fresh environment as ssh would (so the remote ``PATH`` has no venv).

A host is held by one anchor process (``sleep``); everything "on" the host is started
with ``nsenter --target ANCHOR``.  What a host keeps in its ``/tmp`` is read from outside
through ``/proc/ANCHOR/root/tmp``.  Every process started here carries the test's
marker (tests/distributed.py): teardown kills them all, on both hosts, then the anchors.
"""

import os
import shlex
import shutil
import socket
import subprocess
import uuid
from pathlib import Path
from typing import Dict, List, Optional

from distributed import MARKER, kill_marked, marked
from helpers import ARTIFACTS, REPO, base_env, wait_for


def private_tmp() -> str:
    """Shell commands that give this mount namespace a /tmp of its own (a tmpfs) and end in
    /.  The checkout (its venvs, the shared directory) stays visible when it lives under
    /tmp, as a CI clone may: the shell's working directory keeps the /tmp below the tmpfs
    reachable, and the checkout is bound back from it (by a relative path, which mount
    must not canonicalize: that would name the new /tmp)."""
    commands = "cd /tmp && mount -t tmpfs -o mode=1777 tmpfs /tmp"
    real = os.path.realpath(REPO)
    if real.startswith("/tmp/"):
        keep = shlex.quote(os.path.relpath(real, "/tmp"))
        commands += f" && mkdir -p /tmp/{keep} && mount --no-canonicalize --bind ./{keep} /tmp/{keep}"
    return commands + " && cd /"


# What `ssh [options] HOST COMMAND...` does here: COMMAND, through sh, on HOST.
SSH = """#!/bin/sh
while [ $# -gt 0 ]; do
  case "$1" in
    -o|-p|-l|-i|-J|-L|-R) shift 2 ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
host=$1; shift
pid=$(cat "{hosts}/$host.pid" 2>/dev/null) || {{ echo "ssh: Could not resolve hostname $host" >&2; exit 255; }}
printf '%s\\n' "$host $*" >> "{hosts}/ssh.log"
exec nsenter --target "$pid" --uts --mount -- env -i PATH=/usr/bin:/bin HOME="$HOME" TERM="${{TERM:-dumb}}" {marker}="${marker}" sh -c "$*"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Host:
    """One simulated host: a name, an anchor process holding its namespaces."""

    def __init__(self, name: str, anchor: subprocess.Popen) -> None:
        self.name = name
        self.anchor = anchor
        self.pid = anchor.pid

    def command(self, cmd: List[str]) -> List[str]:
        """*cmd* as run on this host."""
        return ["nsenter", "--target", str(self.pid), "--uts", "--mount", "--", *cmd]

    @property
    def tmp(self) -> Path:
        """This host's /tmp, seen from outside."""
        return Path(f"/proc/{self.pid}/root/tmp")

    def runtime(self) -> Path:
        return self.tmp / f"pydebug_hook-{os.getuid()}"

    def leftovers(self) -> Dict[str, List[str]]:
        def names(pattern: str, base: Path) -> List[str]:
            try:
                return sorted(p.name for p in base.glob(pattern))
            except OSError:
                return []

        return {
            "sockets": names("pdb.sock.*", self.tmp),
            "records": names("session-*.json", self.runtime()),
            "tickets": names("tty-*/*", self.runtime()),
            "live sessions": names("jobs/*/live-*", self.runtime()),
        }


class Hosts:
    """hostA and hostB, the shared directory, the stand-in ssh; :meth:`close` ends it all."""

    def __init__(self, procs, names=("hostA", "hostB")) -> None:
        self.procs = procs
        self.shared = ARTIFACTS / f"hosts-{uuid.uuid4().hex[:12]}"
        self.dir = self.shared / "hosts"
        self.bin = self.shared / "bin"
        self.home = self.shared / "home"
        for path in (self.dir, self.bin, self.home):
            path.mkdir(parents=True)
        self.marker = uuid.uuid4().hex
        (self.bin / "ssh").write_text(SSH.format(hosts=self.dir, marker=MARKER))
        (self.bin / "ssh").chmod(0o755)
        self.hosts: Dict[str, Host] = {}
        for name in names:
            self.hosts[name] = self._start(name)

    def _start(self, name: str) -> Host:
        script = f'hostname "$1" && {private_tmp()} && echo ready && exec sleep 3600'
        env = {"PATH": os.environ["PATH"], MARKER: self.marker}
        anchor = self.procs.popen(["unshare", "--uts", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", name], env)
        line = anchor.stdout.readline()
        assert line.strip() == "ready", f"host {name} did not start: {line!r} {anchor.stderr.read() if anchor.poll() is not None else ''}"
        (self.dir / f"{name}.pid").write_text(str(anchor.pid))
        return Host(name, anchor)

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def env(self, **extra: str) -> Dict[str, str]:
        """The environment of a process on a host: the shared home, the stand-in ssh
        first on PATH; no runtime directory (each host's is in its own /tmp)."""
        env = base_env(self.home, **extra)
        for name in ("XDG_RUNTIME_DIR", "TMPDIR"):
            env.pop(name, None)
        env["PATH"] = f"{self.bin}:{env['PATH']}"
        env[MARKER] = self.marker
        return env

    def popen(self, host: str, cmd: List[str], env: Dict[str, str], log: Optional[str] = None, **kw) -> subprocess.Popen:
        """*cmd* on *host*, its output in ``shared/<log>.out`` and ``.err`` when *log*."""
        if log is not None:
            kw["stdout"] = open(self.shared / f"{log}.out", "w")
            kw["stderr"] = open(self.shared / f"{log}.err", "w")
        return self.procs.popen(self[host].command(cmd), env, cwd=str(self.shared), **kw)

    def run(self, host: str, cmd: List[str], env: Dict[str, str], timeout: float = 60, input: Optional[str] = None) -> subprocess.CompletedProcess:
        from helpers import run

        return run(self[host].command(cmd), env, timeout=timeout, input=input, cwd=self.shared)

    def spawn(self, host: str, cmd: List[str], env: Dict[str, str], timeout: float = 60):
        return self.procs.spawn(self[host].command(cmd), env, timeout=timeout, cwd=str(self.shared))

    def log(self, name: str) -> str:
        try:
            return (self.shared / name).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def ssh_log(self) -> List[str]:
        return self.log("hosts/ssh.log").splitlines()

    def processes(self) -> List[int]:
        """Our processes still running, anchors excepted."""
        anchors = {h.pid for h in self.hosts.values()}
        return [pid for pid in marked(self.marker) if pid not in anchors]

    def assert_nothing_left(self, timeout: float = 15) -> None:
        def found() -> Dict[str, object]:
            left: Dict[str, object] = {"processes": self.processes()}
            for name, host in self.hosts.items():
                left.update({f"{name} {kind}": v for kind, v in host.leftovers().items()})
            return left

        try:
            wait_for(lambda: not any(found().values()), timeout, "nothing left over on either host")
        except AssertionError:
            raise AssertionError(f"left over: {found()}") from None

    def close(self) -> None:
        kill_marked(self.marker)
        for host in self.hosts.values():
            try:
                host.anchor.kill()
            except OSError:
                pass
        if not os.environ.get("PYDEBUG_HOOK_KEEP_HOSTS"):  # set it to read the logs after a run
            shutil.rmtree(self.shared, ignore_errors=True)
