#!/usr/bin/env bash
# ./test_model_in_sim.sh MODEL.zip [EPISODES] [no]
#
# Test a trained policy on production physics. With a display (and without "no"), MuJoCo's
# viewer shows it walking, episode after episode. Headless, or with "no", it runs EPISODES
# evaluation episodes (default 10), prints their figures, and writes a video of the first
# one beside the model (MODEL_test.mp4) and the figures as JSON (MODEL_test.json).
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 3 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    echo "usage: $0 MODEL.zip [EPISODES] [no]" >&2
    echo "  no: do not open the viewer; record MODEL_test.mp4 and print the metrics" >&2
    exit 2
fi
if [ ! -f "$1" ]; then
    echo "error: model not found: $1" >&2
    exit 2
fi
MODEL="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
EPISODES="${2:-10}"
VIEW="${3:-yes}"
if ! [[ "$EPISODES" =~ ^[1-9][0-9]*$ ]]; then
    echo "error: EPISODES must be a whole number >= 1, not '$EPISODES'" >&2
    exit 2
fi
if [ "$VIEW" != "no" ] && [ "$VIEW" != "yes" ]; then
    echo "error: the third argument is 'no' (headless) or nothing, not '$VIEW'" >&2
    exit 2
fi
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
# One inference thread: one observation per step gains nothing from more, and two threads
# on a busy 2-core CPU made each step several times slower (measured).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
if [ "$VIEW" != "no" ] && [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    # The viewer's window is GLFW: EGL rendering in the same process crashed at exit (Xvfb).
    MUJOCO_GL=glfw exec "$VENV_PY" -m pidog_gaits.watch --model "$MODEL" --episodes "$EPISODES"
fi
if [ "$VIEW" != "no" ]; then
    echo "[test] no display found: recording a video instead of opening the viewer"
fi
STEM="${MODEL%.*}_test"
exec "$VENV_PY" -m pidog_gaits.evaluate --model "$MODEL" --episodes "$EPISODES" \
    --quality production --video "$STEM.mp4" --json "$STEM.json"
