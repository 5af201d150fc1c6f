"""The code base stays ruff clean (configuration: ruff.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

from helpers import REPO


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    paths = ["pydebug_hook", "tests", "benchmarks", "examples", "sitecustomize_template", "setup.py"]
    result = subprocess.run([ruff, "check", "--no-cache", *paths], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
