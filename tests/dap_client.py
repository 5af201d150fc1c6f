"""The dap-mode tests' side of tests/dap_client.js: install the npm client once, run a
script of DAP steps against a port, read what the client found."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

from helpers import REPO

# The package the VS Code team tests debug adapters with, pinned: a new release must not
# change what a test means.
PACKAGE = "@vscode/debugadapter-testsupport"
VERSION = "1.68.0"
NODE_DIR = REPO / ".venv-test" / "node"
DRIVER = Path(__file__).with_name("dap_client.js")


def installed_version(where: Path = NODE_DIR) -> Optional[str]:
    try:
        return json.loads((where / "node_modules" / PACKAGE / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def install(where: Path = NODE_DIR) -> Path:
    """``npm install`` the pinned client into *where* (once); returns its node_modules."""
    if installed_version(where) != VERSION:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is not installed (scripts/test.sh installs Debian's nodejs and npm)")
        where.mkdir(parents=True, exist_ok=True)
        (where / "package.json").write_text(json.dumps({"name": "pydebug-hook-dap-tests", "private": True}) + "\n")
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(where), f"{PACKAGE}@{VERSION}"],
            check=True, stdout=subprocess.DEVNULL, timeout=600,
        )
        if installed_version(where) != VERSION:
            raise RuntimeError(f"npm did not install {PACKAGE}@{VERSION} into {where}")
    # Readable by any user: a test runs the client as `nobody`.
    for path in [where, *where.rglob("*")]:
        try:
            mode = path.stat().st_mode
            path.chmod(mode | 0o444 | (0o111 if path.is_dir() else 0))
        except OSError:
            pass
    return where / "node_modules"


class DapClient:
    """Runs tests/dap_client.js; ``node_modules`` from :func:`install`."""

    def __init__(self, node_modules: Path) -> None:
        self.node_modules = node_modules
        self.node = shutil.which("node") or "node"

    def command(self, port: int) -> List[str]:
        return [self.node, str(DRIVER), str(port)]

    def env(self) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IPDB_", "NODE_"))}
        env["NODE_PATH"] = str(self.node_modules)
        return env

    def start(self, port: int, steps: List[Dict[str, Any]], uid: Optional[int] = None) -> subprocess.Popen:
        """The client running *steps* in the background (as user *uid*); :meth:`result`
        reads its answer."""
        as_user = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}
        proc = subprocess.Popen(
            self.command(port), env=self.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True, cwd="/", **as_user,
        )
        proc.stdin.write(json.dumps(steps))
        proc.stdin.close()
        proc.stdin = None  # for communicate()
        return proc

    @staticmethod
    def result(proc: subprocess.Popen, timeout: float = 90) -> Dict[str, Any]:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("the DAP client did not finish") from None
        try:
            return json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise AssertionError(f"the DAP client printed no result (status {proc.returncode})\nstdout:\n{out}\nstderr:\n{err}") from None

    def run(self, port: int, steps: List[Dict[str, Any]], uid: Optional[int] = None, timeout: float = 90) -> Dict[str, Any]:
        return self.result(self.start(port, steps, uid), timeout)


def step(result: Dict[str, Any], op: str, index: int = 0) -> Dict[str, Any]:
    """The *index*-th step named *op* of a client's result."""
    found = [s for s in result["steps"] if s["op"] == op]
    assert len(found) > index, f"no step {op!r} #{index} in {result}"
    return found[index]
