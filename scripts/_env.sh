# Shared setup for scripts/test and scripts/demo. Idempotent: each step is skipped when already done.
VENV="${TOPOACT_VENV:-.venv}"
PY="$VENV/bin/python"

_sudo() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_venv() {
  if [ ! -x "$PY" ]; then
    echo "== creating virtual environment in $VENV"
    if ! python3 -m venv "$VENV"; then
      _sudo apt-get update -qq && _sudo apt-get install -y -qq python3-venv
      python3 -m venv "$VENV"
    fi
    "$PY" -m pip install -q --upgrade pip
  fi
}

# True when the stamp $1 exists and is newer than what decides the dependencies.
_deps_fresh() { [ -f "$1" ] && [ ! pyproject.toml -nt "$1" ] && [ ! requirements-ci.txt -nt "$1" ]; }

# $1: the extra to install ("test" or "demo"). The test extra includes the demo's, so after scripts/test the
# demo installs nothing more.
ensure_python_deps() {
  local extra="$1" stamp="$VENV/.deps-$1"
  if ! _deps_fresh "$stamp" && ! { [ "$extra" = demo ] && _deps_fresh "$VENV/.deps-test"; }; then
    echo "== installing Python dependencies ($extra)"
    # torch first: by default the CI pin (on this project's machines, a CPU wheel on disk); TOPOACT_TORCH
    # lets a user pick another build for the demo, e.g. TOPOACT_TORCH="torch" for their platform's default.
    # Then the project, whose torch range the pin already satisfies.
    if [ -n "${TOPOACT_TORCH:-}" ]; then
      "$PY" -m pip install -q "$TOPOACT_TORCH"
    else
      "$PY" -m pip install -q -r requirements-ci.txt
    fi
    "$PY" -m pip install -q -e ".[$extra]"
    touch "$stamp"
  fi
}

CHROMIUM="${TOPOACT_CHROMIUM:-/usr/bin/chromium}"
ensure_chromium() {
  if [ ! -x "$CHROMIUM" ]; then
    echo "== installing Debian's chromium for the browser tests"
    _sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive _sudo apt-get install -y -qq chromium >/dev/null
  fi
  export TOPOACT_CHROMIUM="$CHROMIUM"
}

# The front end's lint (eslint) and unit tests (node --test, which lay graphs out with d3-force) need Node.js and
# the front end's own packages; the Python package itself needs neither (the bundle is committed).
FRONTEND=tb_plugin/frontend
ensure_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "== installing Node.js for the front end's lint and unit tests"
    _sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive _sudo apt-get install -y -qq nodejs npm >/dev/null
  fi
  # npm ci writes node_modules/.package-lock.json: older than the lock file means the packages changed since.
  if [ ! -f "$FRONTEND/node_modules/.package-lock.json" ] || [ "$FRONTEND/package-lock.json" -nt "$FRONTEND/node_modules/.package-lock.json" ]; then
    echo "== installing the front end's Node packages (npm ci)"
    (cd "$FRONTEND" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
