#!/usr/bin/env bash
# Install pydebug-hook into a fresh venv (.venv-demo) and run an unmodified crashing
# program with IPDB_DEBUG=1: it stops in ipdb at the line that raised.
# Try `p row`, `up`, `p totals`, `where`, then `q`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv-demo/bin/python ] || "$PY" -m venv .venv-demo
.venv-demo/bin/python -m pip install -q --disable-pip-version-check .
echo "== IPDB_DEBUG=1 IPDB_MODE=console python examples/py_debug/plain_crash.py"
IPDB_DEBUG=1 IPDB_MODE=console exec .venv-demo/bin/python examples/py_debug/plain_crash.py
