#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine and run the whole suite:
# the full suite on Python 3.11 (torch 2.13.0 CPU, headless Chromium), and everything
# that needs neither on 3.10 and 3.13.  Usage: ./scripts/test.sh [extra pytest args]
# PYDEBUG_HOOK_TEST_PYTHONS="3.11 3.12" picks other interpreters (the first runs all).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENVS=$ROOT/.venv-test
mkdir -p "$VENVS" "$ROOT/.test-artifacts"

# --- Debian packages: real clients for the socket tests, a real browser for the web ones,
#     node for the dap ones
missing=()
dpkg -s netcat-openbsd >/dev/null 2>&1 || missing+=(netcat-openbsd)
dpkg -s socat >/dev/null 2>&1 || missing+=(socat)
dpkg -s chromium >/dev/null 2>&1 || missing+=(chromium)
# node + npm: the dap tests' DAP client (its npm package is installed by tests/dap_client.py)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "== apt-get install ${missing[*]}"
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || {
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  }
fi

find_python() {  # $1 = 3.11 -> an interpreter of that version
  local v=$1 p
  for p in "$(pyenv root 2>/dev/null)"/versions/"$v".*/bin/python"$v" "$(command -v "python$v" || true)"; do
    if [ -x "$p" ] && "$p" -c 'import venv' 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

read -r -a versions <<<"${PYDEBUG_HOOK_TEST_PYTHONS:-3.11 3.10 3.13}"
first=${versions[0]}

# --- one wheel, built once, tested everywhere
builder=$(find_python "$first") || { echo "no python$first found" >&2; exit 1; }
[ -x "$VENVS/build/bin/python" ] || "$builder" -m venv "$VENVS/build"
"$VENVS/build/bin/pip" install -q build
# setuptools reuses build/lib between builds: a module moved or removed since the last
# build would otherwise still be in the wheel.
rm -rf "$ROOT/dist" "$ROOT/build"
"$VENVS/build/bin/python" -m build -q --wheel --outdir "$ROOT/dist" "$ROOT" >/dev/null
wheel=$(ls "$ROOT"/dist/pydebug_hook-*.whl)
echo "== built $(basename "$wheel")"

status=0
ran=0
export PYDEBUG_HOOK_NO_SKIPS=1  # a skipped test fails here (see tests/conftest.py)
for v in "${versions[@]}"; do
  py=$(find_python "$v") || { echo "== python$v not found: this run does not cover it" >&2; status=1; continue; }
  venv=$VENVS/py$v
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  markers=()
  [ "$v" = "$first" ] || markers=(-m "not torch and not browser")
  # Dependencies once per venv and setup.cfg; the package itself every run.
  stamp="$venv/.deps-$(cat setup.cfg scripts/test.sh | sha1sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    "$venv/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
    "$venv/bin/pip" install -q "${wheel}[test]"
    if [ "$v" = "$first" ]; then
      # torch: the CPU build this machine kind keeps on disk (an unpinned torch pulls CUDA).
      "$venv/bin/pip" install -q torch==2.13.0
    fi
    touch "$stamp"
  fi
  "$venv/bin/pip" install -q --force-reinstall --no-deps "$wheel"
  [ "$v" = "$first" ] || echo "== python$v: torch and browser tests run on python$first only"
  echo "== pytest on $("$venv/bin/python" --version)"
  (cd "$ROOT" && "$venv/bin/pytest" -p no:cacheprovider -ra "${markers[@]}" "$@") || status=1
  ran=$((ran + 1))
done
if [ -z "${PYDEBUG_HOOK_TEST_PYTHONS:-}" ] && [ "$ran" -lt 2 ]; then
  echo "== fewer than two Python versions tested" >&2; status=1
fi
exit $status
