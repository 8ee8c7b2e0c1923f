#!/usr/bin/env bash
# Create .venv on first use (torch first, pinned, then the package), reuse it afterwards.
# Sourced by run_tests.sh and train_production_pipeline.sh; sets VENV_PY.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.pidog-gaits-installed"
PY="${PYTHON:-python3}"
need_install=0
if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV with $($PY --version 2>&1)"
    "$PY" -m venv "$VENV"
    need_install=1
fi
# Reinstall when pyproject.toml changed since the last install.
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
    need_install=1
fi
pip_install() {
    # Hide pip's notes about unreadable local index folders some machines configure.
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 \
        | { grep -v "neither a file nor a directory" || true; }
}
if [ "$need_install" = 1 ]; then
    echo "[setup] installing torch==2.13.0 (CPU build where available), then pidog-gaits"
    pip_install --upgrade pip
    pip_install "torch==2.13.0"
    pip_install -e "$ROOT[dev]"
    touch "$STAMP"
    echo "[setup] done"
fi
VENV_PY="$VENV/bin/python"
export VENV_PY
export MUJOCO_GL="${MUJOCO_GL:-egl}"
