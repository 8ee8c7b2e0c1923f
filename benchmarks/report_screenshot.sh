#!/usr/bin/env bash
# benchmarks/report_screenshot.sh EXPERIMENT_DIR [OUT.png]
#
# Renders EXPERIMENT_DIR/report.html with headless Chromium into OUT.png (default:
# docs/report_screenshot.png, the picture in the README), 1200 px wide, the page's top
# 2350 px. benchmarks/pipeline_time.sh calls it after a run at the defaults, so the README
# shows the current defaults; run it by hand on any experiment:
#   benchmarks/report_screenshot.sh experiments/my_dog_20261202_101500
# Needs Chromium (Debian: apt-get install chromium; CHROMIUM=/path/to/chrome for another).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 EXPERIMENT_DIR [OUT.png]" >&2
    exit 2
fi
REPORT="$(realpath -m "$1")/report.html"
OUT="$(realpath -m "${2:-docs/report_screenshot.png}")"
WIDTH_PX="${SCREENSHOT_WIDTH_PX:-1200}"
HEIGHT_PX="${SCREENSHOT_HEIGHT_PX:-2350}"
if [ ! -f "$REPORT" ]; then
    echo "error: $REPORT not found (an experiment directory holds report.html)" >&2
    exit 2
fi
CHROME="${CHROMIUM:-}"
if [ -z "$CHROME" ]; then
    for name in chromium chromium-browser google-chrome; do
        if command -v "$name" > /dev/null; then CHROME="$name"; break; fi
    done
fi
if [ -z "$CHROME" ]; then
    echo "error: Chromium not found; install it (Debian: apt-get install chromium) or set CHROMIUM" >&2
    exit 2
fi
PROFILE="$(mktemp -d)"
TMP_PNG="$PROFILE/shot.png"
trap 'rm -rf "$PROFILE"' EXIT
# A fresh profile, nothing fetched from the network; the report is one self-contained file.
# The virtual time budget lets the page's images decode before the shot.
if ! "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$PROFILE" --hide-scrollbars --force-device-scale-factor=1 \
    --window-size="$WIDTH_PX,$HEIGHT_PX" --virtual-time-budget=5000 \
    --screenshot="$TMP_PNG" "file://$REPORT" > "$PROFILE/chromium.log" 2>&1 \
    || [ ! -s "$TMP_PNG" ]; then
    echo "error: Chromium made no screenshot of $REPORT:" >&2
    tail -n 5 "$PROFILE/chromium.log" >&2
    exit 1
fi
mkdir -p "$(dirname "$OUT")"
mv "$TMP_PNG" "$OUT"
echo "written: $OUT (${WIDTH_PX}x${HEIGHT_PX} px of $REPORT)"
