"""What a session uses instead of a module it would have to import on its way (issue 15,
docs/costs.md) agrees with that module: the temporary directory with tempfile's, the
quoted path with shlex's, the value classes with what @dataclass gave them, a peer's
credentials with struct's reading of them."""

import json
import os
import shlex
import socket
import struct
import subprocess
import sys

import pytest
from internals import PRELUDE, ChildInfo, RankInfo, Session, Settings, listener, notice

BOTH = PRELUDE + """
import tempfile
from internals import files
print(files.temp_dir())
print(tempfile.gettempdir())
"""


@pytest.mark.parametrize("case", ["unset", "TMPDIR", "relative TMPDIR", "missing TMPDIR", "TMPDIR is a file", "empty TMPDIR", "TEMP", "TMP"])
def test_the_temporary_directory_is_the_one_tempfile_picks(tmp_path, case):
    env = {k: v for k, v in os.environ.items() if k not in ("TMPDIR", "TEMP", "TMP") and not k.startswith("PYTHON")}
    mine = tmp_path / "mine"
    mine.mkdir()
    (tmp_path / "a-file").write_text("")
    env.update({
        "unset": {},
        "TMPDIR": {"TMPDIR": str(mine)},
        "relative TMPDIR": {"TMPDIR": "mine"},
        "missing TMPDIR": {"TMPDIR": str(tmp_path / "missing"), "TMP": str(mine)},
        "TMPDIR is a file": {"TMPDIR": str(tmp_path / "a-file")},
        "empty TMPDIR": {"TMPDIR": "", "TEMP": str(mine)},
        "TEMP": {"TEMP": str(mine)},
        "TMP": {"TMP": str(mine)},
    }[case])
    out = subprocess.run([sys.executable, "-c", BOTH], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30, check=True)
    ours, theirs = out.stdout.splitlines()
    assert ours == theirs
    assert (ours == str(mine)) == (case not in ("unset", "TMPDIR is a file"))


@pytest.mark.parametrize("text", ["", "/tmp/pdb.sock.0", "a b", "it's", "$HOME", "-n", "a\nb", "~x", "é", "x*", "@%+=:,./-_", '"'])
def test_a_path_is_quoted_as_shlex_quotes_it(text):
    assert notice.shell_word(text) == shlex.quote(text)


def test_value_classes_compare_print_and_copy_as_dataclasses_did():
    info = RankInfo(1, 0, 4, "torchrun")
    assert info == RankInfo(rank=1, local_rank=0, world_size=4, source="torchrun") != RankInfo(1, 1, 4, "torchrun")
    assert repr(info) == "RankInfo(rank=1, local_rank=0, world_size=4, source='torchrun')"
    assert hash(info) == hash(RankInfo(1, 0, 4, "torchrun")) and RankInfo() == RankInfo(0, 0, 1, "single process")
    settings = Settings(wait_timeout=5.0)
    changed = settings.replace(wait_timeout=None)
    assert changed.wait_timeout is None and settings.wait_timeout == 5.0 and changed.replace(wait_timeout=5.0) == settings
    assert settings.as_dict()["wait_timeout"] == 5.0 and list(settings.as_dict())[:2] == ["enabled", "mode"]
    with pytest.raises(TypeError, match="no field 'nope'"):
        settings.replace(nope=1)
    session = Session(exc=None, tb=None, rank=info, settings=settings, mode="socket", origin="thread", child=ChildInfo("pool", 2, 7))
    queued = session.replace(settings=changed)
    assert queued.settings is changed and session.settings is settings
    assert (queued.pid, queued.failed_at, queued.thread, queued.child) == (session.pid, session.failed_at, session.thread, session.child)


def test_a_peers_credentials_are_read_as_struct_reads_them():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        peer = listener.peer_of(a)
        raw = a.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        assert (peer.pid, peer.uid, peer.gid) == struct.unpack("3i", raw) == (os.getpid(), os.getuid(), os.getgid())


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 2**70, 1.5, 1e-300, 1774000000.123456, "", "plain", "é ü 日本", "\udc80 lone surrogate",
    "quote \" backslash \\ tab \t nl \n nul \x00 esc \x1b", [], (), [1, "a", None], {},
    {"rank": 3, "host": "node-1", "endpoint": "/tmp/pdb.sock.3", "failed_at": 1.25, "child": None, "extra": {"url": "http://127.0.0.1:1/"}},
    {"nested": [{"a": [True, False]}, (1, 2)]},
])
def test_a_record_is_written_as_json_writes_it(value):
    from internals import files

    assert files.json_text(value) == json.dumps(value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1: 2}, object(), {"a": {3}}])
def test_what_is_not_strict_json_is_refused(value):
    from internals import files

    with pytest.raises((TypeError, ValueError)):
        files.json_text(value)


@pytest.mark.parametrize("text", ["", "torchrun-42", "a b", "a__b", "a_ b", "job/../x", "é日本", "x\ny\tz", "_-.", "  ", "a+b+c", "q_%_"])
def test_a_job_id_becomes_a_file_name_as_re_sub_makes_it(text):
    import re

    from internals import files

    assert files.safe_name(text) == re.sub(r"[^A-Za-z0-9._-]+", "_", text)
