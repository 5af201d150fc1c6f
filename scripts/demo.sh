#!/usr/bin/env bash
# Install pydebug-hook into a fresh venv (.venv-demo) and run an unmodified crashing
# program with IPDB_DEBUG=1: it stops in ipdb at the line that raised.
# Try `p row`, `up`, `p totals`, `where`, then `q`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv-demo/bin/python ]; then
  echo "== making a virtual environment in .venv-demo ($PY -m venv)"
  "$PY" -m venv .venv-demo
fi
# On a fresh clone this step takes a while (ipdb, IPython): pip shows its progress.
echo "== installing pydebug-hook and its dependencies into .venv-demo (pip install .)"
.venv-demo/bin/python -m pip install --disable-pip-version-check .
echo "== IPDB_DEBUG=1 IPDB_MODE=console python examples/py_debug/plain_crash.py"
IPDB_DEBUG=1 IPDB_MODE=console exec .venv-demo/bin/python examples/py_debug/plain_crash.py
