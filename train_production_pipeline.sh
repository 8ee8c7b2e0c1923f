#!/usr/bin/env bash
# ./train_production_pipeline.sh NAME : the whole pipeline into experiments/NAME_<timestamp>/.
# Creates .venv on first use. Configuration: environment variables (see README.md).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
exec "$VENV_PY" -m pidog_gaits.pipeline "$@"
