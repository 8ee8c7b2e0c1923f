#!/usr/bin/env bash
# The test command: creates .venv on first use, then runs the fast test suite.
# Extra arguments go to pytest (e.g. ./run_tests.sh -m slow, ./run_tests.sh -k gait).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
exec "$VENV_PY" -m pytest -q "$@"
