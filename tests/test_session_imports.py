"""What a socket session imports on its way to the waiting line: the standard library's
modules it needs (socket, select, signal, threading and what they bring), nothing
for convenience (dataclasses, typing, pathlib, tempfile, shlex...), and nothing it
needs later (pdb once a client is there, the dump code when nobody came).  The list is
exact, so that it cannot grow back unnoticed (docs/costs.md: what each module costs)."""

import re
import signal
import sys

import pytest
from helpers import run, write_script

# The program: a marker on stderr right before the exception, so that `-X importtime`
# shows what was imported from the exception on.
CRASH = """
    import os
    os.write(2, b"--raising--\\n")
    def inner(n):
        secret = n * 2
        return 10 / (n - n)
    inner(21)
"""
WAITING = re.compile(r"waits for a debugger on")

# What the session imports itself: the socket and its poll, its clean-up on SIGTERM
# (signal), the threads it may run in (threading), a peer's credentials (array: already
# imported by socket), errno, the C function that checks the socket path's template
# (_string: string itself compiles a regex) and json's C string escaping, with which the
# record is written (json itself brings re: core/files.json_text says why).
SESSION = {"socket", "_socket", "select", "signal", "threading", "array", "errno", "_string", "_json"}
# What those import on their way, on every Python we test: socket brings selectors, math,
# enum and with it collections and functools.
BROUGHT = {
    "selectors", "math", "collections", "collections.abc", "_collections", "enum", "functools", "_functools",
    "types", "operator", "_operator", "itertools", "keyword", "reprlib", "_weakrefset",
}
# What differs from one Python to the next.  A Python not listed is held to the closest
# one below it: if it differs, add its line here.
# Python's own: from 3.13 on, the excepthook we chain (which prints the traceback before
# the session, with or without the tool) imports traceback and what colours its output.
PYTHONS_OWN_313 = {"traceback", "_colorize", "linecache", "tokenize", "_tokenize", "token", "textwrap", "contextlib", "ast", "_ast", "warnings"}
RE = {"re", "_sre", "re._casefix", "re._compiler", "re._constants", "re._parser", "copyreg"}  # what textwrap and tokenize bring
BY_VERSION = {
    (3, 10): set(),
    (3, 13): PYTHONS_OWN_313 | RE,
}


def allowed(version=sys.version_info[:2]):
    known = max(v for v in BY_VERSION if v <= version)
    return SESSION | BROUGHT | BY_VERSION[known]


def imported_after_marker(stderr_lines, until=None):
    """The modules `-X importtime` reports after the marker (and before *until*)."""
    found, on = [], False
    for line in stderr_lines:
        if "--raising--" in line:
            on = True
        elif on and until is not None and until.search(line):
            return found
        elif on and line.startswith("import time:"):
            name = line.rsplit("|", 1)[-1].strip()
            if name != "imported package":  # the header row
                found.append(name)
    assert until is None, f"no line matching {until.pattern!r} on stderr"
    return found


def split(modules):
    """``(standard library, ours, others)``, each a set."""
    std = {m for m in modules if m.partition(".")[0] in sys.stdlib_module_names}
    ours = {m for m in modules if m.partition(".")[0] == "pydebug_hook"}
    return std, ours, set(modules) - std - ours


def session_imports(procs, python, env, script, mode="socket", waiting=WAITING):
    """Start the program in *mode*; what it imported until its waiting line."""
    env.update(IPDB_DEBUG="1", IPDB_MODE=mode)
    proc = procs.popen([python, "-X", "importtime", str(script)], env)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if waiting.search(line):
            break
    proc.send_signal(signal.SIGTERM)  # the session removes its socket and record, and the program ends
    proc.communicate(timeout=30)
    return imported_after_marker(lines, until=waiting)


def _plain_imports(python, env, script):
    result = run([python, "-X", "importtime", str(script)], env)  # IPDB_DEBUG unset: no tool
    assert result.returncode == 1 and "ZeroDivisionError" in result.stderr
    return imported_after_marker(result.stderr.splitlines())


def test_a_socket_session_imports_only_what_it_needs(procs, python, env, tmp_path):
    script = write_script(tmp_path, CRASH)
    std, ours, others = split(session_imports(procs, python, env, script))
    assert "pydebug_hook.modes.socket.listener" in ours  # what was read is the session's way
    expected = allowed()
    added, gone = sorted(std - expected), sorted(expected - std)
    version = ".".join(map(str, sys.version_info[:2]))
    assert not added, (
        f"a socket session on Python {version} now imports {added} before its waiting line: what it needs "
        "later loads when needed (pdb, dumps), conveniences have cheap equivalents (see docs/costs.md); "
        "if it is needed, add it to the allowlist in this file with the reason"
    )
    assert not gone, f"a socket session on Python {version} no longer imports {gone}: remove it from the allowlist in this file"
    assert others == set(), f"modules of other packages imported before the waiting line: {sorted(others)}"
    # Nothing that a client, a dump, a job or another mode needs.
    later = (
        "pydebug_hook.modes.socket.debugger", "pydebug_hook.modes.socket.channel", "pydebug_hook.modes.socket.wire",
        "pydebug_hook.core.pdb_policy", "pydebug_hook.modes.dump", "pydebug_hook.job.sessions", "pydebug_hook.core.locks",
        "pydebug_hook.modes.console", "pydebug_hook.cli",
    )
    assert not [m for m in ours if m.startswith(later)]


def test_ranks_failing_together_read_neither_each_others_records_nor_json(procs, python, env, tmp_path):
    """Rank 1 of a job fails while rank 0 waits: it writes the job's file and its record
    without json, reads no record of rank 0 (its name says its rank) and says `attach 1`;
    another process of rank 1 (another job's) reads rank 1's record and says its pid."""
    script = write_script(tmp_path, CRASH)
    job = dict(env, IPDB_DEBUG="1", IPDB_MODE="socket", WORLD_SIZE="2", LOCAL_WORLD_SIZE="2", TORCHELASTIC_RUN_ID="job-1")
    first = procs.popen([python, str(script)], dict(job, RANK="0", LOCAL_RANK="0"))
    seen = []
    for line in first.stderr:
        seen.append(line)
        if WAITING.search(line):
            break
    else:
        raise AssertionError("rank 0 never waited:\n" + "".join(seen))
    rank1 = dict(job, RANK="1", LOCAL_RANK="1")
    proc = procs.popen([python, "-X", "importtime", str(script)], rank1)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if WAITING.search(line):
            break
    modules = set(imported_after_marker(lines, until=WAITING))
    assert "pydebug_hook.job.sessions" in modules  # a rank of a job: the job's files were used
    parsing = (modules & {"json", "re"}) - allowed()  # re: Python's own traceback from 3.13 on
    assert not parsing, sorted(parsing)
    assert lines[-1].rstrip().endswith("pydebug-hook attach 1")
    # The same rank in another job (its socket elsewhere): rank 1's record is read, the pid named.
    other = procs.popen([python, str(script)], dict(rank1, TORCHELASTIC_RUN_ID="job-2", IPDB_SOCKET_PATH=str(tmp_path / "other.{rank}")))
    for line in other.stderr:
        if WAITING.search(line):
            assert line.rstrip().endswith(f"pydebug-hook attach {other.pid}")
            break
    else:
        raise AssertionError("the other rank 1 never waited")
    for p in (first, proc, other):
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)


def test_a_web_session_loads_no_dump_code_and_no_token_maker_it_does_not_use(procs, python, env, tmp_path):
    """Web mode's way is web-pdb's (asyncio): on loopback no token is made (secrets and
    hmac stay out) and the dump code loads only when nobody came."""
    from web_client import free_port_block

    env["IPDB_WEB_PORT"] = str(free_port_block())
    script = write_script(tmp_path, CRASH)
    modules = set(session_imports(procs, python, env, script, mode="web", waiting=re.compile(r"web debugger at")))
    assert {"web_pdb", "pydebug_hook.modes.web.server"} <= modules  # what was read is the session's way
    assert not modules & {"secrets", "hmac", "pydebug_hook.modes.dump", "pydebug_hook.modes.dump.files", "coredumpy"}


def test_the_allowlist_names_only_what_python_itself_imports_as_pythons_own(python, env, tmp_path):
    """The modules listed as Python's own are imported by the same crash without the tool."""
    if sys.version_info < (3, 13):
        assert not PYTHONS_OWN_313 & allowed()  # nothing of the kind before 3.13
        return
    script = write_script(tmp_path, CRASH)
    assert PYTHONS_OWN_313 | RE <= set(_plain_imports(python, env, script))


def test_a_module_imported_for_convenience_fails_the_check():
    """The check itself: what the session imported before this issue would not pass."""
    before = {"dataclasses", "inspect", "typing", "tempfile", "shutil", "pathlib", "shlex", "string", "urllib.parse", "zlib", "json"}
    assert not before & allowed()
    lines = ["--raising--", "import time:       200 |        200 | dataclasses", "pydebug_hook: rank 0 ... waits for a debugger on /tmp/x"]
    std, _, _ = split(imported_after_marker(lines, until=WAITING))
    assert std - allowed() == {"dataclasses"}


@pytest.mark.parametrize("version", [(3, 10), (3, 11), (3, 12), (3, 13), (3, 14)])
def test_every_supported_python_has_an_allowlist(version):
    assert SESSION | BROUGHT <= allowed(version)
    assert ("re" in allowed(version)) == (version >= (3, 13))  # only as Python's own
