"""Helpers for the dump tests: programs run in dump mode, the files they leave, and
``pydebug-hook load`` driven through a pipe."""

import gzip
import json
import os
import re
import struct
import sys
from pathlib import Path
from typing import Dict, List

from helpers import run, strip_ansi

CLI = str(Path(sys.executable).with_name("pydebug-hook"))

# The program most tests dump: locals in the raising frame and in its caller.
CRASH = """
def inner(n):
    secret = n * 2
    numbers = list(range(5))
    return 10 / (n - n)

def outer():
    local_outer = "hello"
    inner(21)

print("program output")
outer()
"""

SAVED = re.compile(r"^pydebug_hook: rank (\d+) \(pid (\d+), (.*)\) (post-mortem|snapshot) saved to (\S+) -- open it with: pydebug-hook load (\S+)$", re.MULTILINE)
NAME = re.compile(r"^\d{8}T\d{6}Z-[A-Za-z0-9._]+-rank(\d+)-pid(\d+)(-[a-z]+(-w\d+)?)?-[0-9a-f]{6}\.dump$")


def dump_env(env: Dict[str, str], **extra: str) -> Dict[str, str]:
    return dict(env, IPDB_DEBUG="1", IPDB_MODE="dump", **extra)


def dump_dir(env: Dict[str, str]) -> Path:
    return Path(env["IPDB_DUMP_DIR"])


def dumps_in(directory: Path) -> List[Path]:
    """The finished dumps of *directory* (hidden files in the making are not)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.endswith(".dump") and not p.name.startswith("."))


def saved_paths(stderr: str) -> List[str]:
    """The paths the ``... saved to PATH -- open it with: pydebug-hook load PATH`` lines name."""
    found = []
    for match in SAVED.finditer(stderr):
        assert match.group(5) == match.group(6), match.group(0)
        found.append(match.group(5))
    return found


def ours(stderr: str) -> List[str]:
    return [line for line in stderr.splitlines() if line.startswith("pydebug_hook: ")]


def load(path: str, env: Dict[str, str], commands: str, timeout: float = 90, cwd=None):
    """``pydebug-hook load PATH`` with *commands* on a pipe; stdout as plain text (ipdb
    colours it)."""
    result = run([CLI, "load", str(path)], env, input=commands, timeout=timeout, cwd=cwd)
    result.stdout = strip_ansi(result.stdout)
    return result


def header_of(path: Path) -> dict:
    """Our metadata, from the gzip header's comment."""
    data = path.read_bytes()
    assert data[:2] == b"\x1f\x8b" and data[3] & 16, "no FCOMMENT"
    end = data.index(b"\x00", 10)
    return json.loads(data[10:end])


def with_header(path: Path, target: Path, **changes) -> Path:
    """A copy of the dump *path* whose header says *changes*."""
    data = path.read_bytes()
    end = data.index(b"\x00", 10)
    meta = json.loads(data[10:end])
    meta.update(changes)
    target.write_bytes(data[:10] + json.dumps(meta).encode() + data[end:])
    return target


def plain_gzip(target: Path, payload: bytes) -> Path:
    target.write_bytes(gzip.compress(payload))
    return target


def gzip_trailer(path: Path):
    crc, size = struct.unpack("<II", path.read_bytes()[-8:])
    return crc, size


def mode_of(path) -> int:
    return os.stat(path).st_mode & 0o777
