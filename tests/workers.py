"""Helpers for the worker-process tests: run a program whose worker fails, debug the
worker through its socket, and compare what the program did with a run without the tool."""

import re
from pathlib import Path
from typing import Dict, List, Optional

from helpers import TRACEBACK, header_lines, run, without_tool_lines
from sockets import Program, Raw, gone, records, runtime_dir

TAG = re.compile(r"\.(w\d+|p\d+)$")


def cli(python: str) -> List[str]:
    return [python, "-m", "pydebug_hook"]


# Frames whose line depends on timing, not on us: Future.result() raises from one line
# when the result was there at once, from another after waiting; the DataLoader's
# _next_data() from one line when the failed item arrived before it was due, from
# another when it came when due.
_TIMING_LINES = re.compile(r'((?:futures/_base\.py", line )\d+(?=, in result)|(?:data/dataloader\.py", line )\d+(?=, in _next_data))')


def framework_noise(text: str) -> str:
    """*text* without what differs from run to run for reasons of the framework's own:
    torch.multiprocessing.spawn logs the pid of a sibling it terminates; the lines of
    the frames above."""
    lines = (line for line in text.splitlines(keepends=True) if "Terminating process " not in line)
    return _TIMING_LINES.sub(lambda m: m.group(1).rstrip("0123456789") + "N", "".join(lines))


class Debugged:
    """What a debugged worker looked like: its socket path, header, ls line, session."""

    def __init__(self, prog: Program, path: str, header: str, listing: str, seen: str) -> None:
        self.prog = prog
        self.path = path
        self.header = header
        self.listing = listing
        self.seen = seen


def debug_worker(
    prog: Program,
    python: str,
    kind: str,
    local: str,
    value: str,
    where: str,
    worker: Optional[int] = None,
    end: str = "q",
) -> Debugged:
    """The worker of *prog* waits on its own socket: check its path, header and `ls`
    line, attach, find *where* (the raising line) and ``p local`` == *value*, end with *end*."""
    path = prog.socket_path()
    tag = TAG.search(path)
    assert tag, f"{path} does not name the worker"
    wid = int(tag.group(1)[1:]) if tag.group(1).startswith("w") else None
    if worker is not None:
        assert wid == worker, path
    headers = header_lines(prog.stderr())
    assert len(headers) == 1, prog.stderr()
    child = f"{kind} worker {wid} of pid {prog.pid}"
    assert child in headers[0], headers[0]
    assert headers[0].endswith("-> socket session")

    table = run([*cli(python), "ls"], prog.env, timeout=30)
    lines = [line for line in table.stdout.splitlines() if path in line]
    assert len(lines) == 1, table.stdout
    assert f"[{child}]" in lines[0]
    (record,) = records(runtime_dir(prog.env))
    assert record["child"] == child and record["endpoint"] == path and record["pid"] != prog.pid

    client = Raw(path, timeout=20)
    seen = client.expect("(Pdb) ")
    assert f"-> {where}" in seen, seen
    assert f"{prog.script}(" in seen, seen  # the frame that raised, in the program's file
    client.send(f"p {local}")
    assert value in client.expect("(Pdb) ")
    client.send(end)
    client.read_to_eof()
    client.close()
    return Debugged(prog, path, headers[0], lines[0], seen)


def without_tool(python: str, prog: Program, env: Dict[str, str], timeout: float = 60):
    """The same program run without the tool (IPDB_DEBUG unset): the baseline."""
    return run([python, str(prog.script)], env, timeout=timeout, cwd=Path(prog.dir))


def check_as_before(debugged: Debugged, baseline, env: Dict[str, str], printed_by_worker: bool = True) -> None:
    """After the session: same exit status and stdout as without the tool, the parent's
    own report at the end of stderr as before, the worker's traceback printed once more
    (under the header, by the worker) only where the framework itself prints none there."""
    prog = debugged.prog
    status = prog.wait(timeout=60)
    stderr = framework_noise(prog.stderr())
    plain = without_tool_lines(stderr)
    expected = framework_noise(baseline.stderr)
    assert status == baseline.returncode, stderr
    assert prog.stdout() == baseline.stdout
    assert plain.endswith(expected), f"with the tool:\n{plain}\nwithout:\n{expected}"
    extra = 1 if printed_by_worker else 0
    assert plain.count(TRACEBACK) == expected.count(TRACEBACK) + extra, plain
    if printed_by_worker:
        # The parent reported a failure debugged in the worker: said once, no second session.
        assert len(header_lines(stderr)) == 1
        assert stderr.count("debugged there; no second session here") == 1, stderr
    assert gone(debugged.path)
    assert records(runtime_dir(env)) == []
