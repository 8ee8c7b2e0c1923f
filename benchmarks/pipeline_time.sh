#!/usr/bin/env bash
# benchmarks/pipeline_time.sh [--fresh-clone] [NAME]
#
# Runs ./train_production_pipeline.sh with the settings of the environment (the defaults
# when none are set) and reports the wall time of each stage as a table and as JSON in
# benchmarks/results/pipeline_time.json (PRESET=smoke writes pipeline_time_smoke.json).
# --fresh-clone: run in a fresh `git clone` of this checkout's HEAD in a temporary
# directory, .venv creation included (its time is reported as setup_s).
# At the defaults (no PRESET) it then renders the run's report.html into
# docs/report_screenshot.png (benchmarks/report_screenshot.sh; REPORT_SCREENSHOT=0: not).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
FRESH=0
if [ "${1:-}" = "--fresh-clone" ]; then FRESH=1; shift; fi
NAME="${1:-pipeline_time}"
RESULTS="$REPO/benchmarks/results"
mkdir -p "$RESULTS"
OUT="$RESULTS/pipeline_time.json"
if [ "${PRESET:-default}" != "default" ]; then OUT="$RESULTS/pipeline_time_${PRESET}.json"; fi

RUN_DIR="$REPO"
SETUP_MS=0
if [ "$FRESH" = 1 ]; then
    RUN_DIR="$(mktemp -d)/pidog-gaits"
    git clone --quiet "$REPO" "$RUN_DIR"
    echo "[bench] fresh clone of $(git rev-parse --short HEAD) in $RUN_DIR"
    t0=$(date +%s%3N)
    (cd "$RUN_DIR" && source scripts/ensure_venv.sh)
    SETUP_MS=$(( $(date +%s%3N) - t0 ))
fi

source scripts/ensure_venv.sh
LOG="$(mktemp)"
LOAD_START="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo nan)"
t0=$(date +%s%3N)
set +e
(cd "$RUN_DIR" && ./train_production_pipeline.sh "$NAME") 2>&1 | tee "$LOG"
CODE=${PIPESTATUS[0]}
set -e
WALL_MS=$(( $(date +%s%3N) - t0 ))
EXPERIMENT="$(sed -n 's/^experiment: //p' "$LOG" | head -n 1)"
rm -f "$LOG"
if [ -z "$EXPERIMENT" ]; then
    echo "[bench] the pipeline did not start (exit $CODE)" >&2
    exit 1
fi

"$VENV_PY" - "$EXPERIMENT" "$WALL_MS" "$SETUP_MS" "$CODE" "$OUT" "$FRESH" "$LOAD_START" <<'EOF'
import json, os, platform, sys
from pathlib import Path

from pidog_gaits import results
from pidog_gaits.experiment import load

root, wall_ms, setup_ms, code, out, fresh, load_start = sys.argv[1:]
exp = load(root)
cpu = "unknown"
for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
stages = {title: round(s, 1) for title, s in exp.stage_times_s.items()}
figures = {
    "experiment": str(exp.root),
    "exit_code": int(code),
    "fresh_clone": fresh == "1",
    "setup_s": round(int(setup_ms) / 1000, 1),
    "stage_s": stages,
    "total_stages_s": round(sum(stages.values()), 1),
    "wall_s": round(int(wall_ms) / 1000, 1),
    "settings": exp.settings,
    "device": exp.derived.get("device_resolved"),
    "cpu_count": os.cpu_count(),
    "cpu_model": cpu,
    "platform": platform.platform(),
    # The machine is shared: the load average says how much else ran at the time.
    "load_avg_1m_start": float(load_start),
    "load_avg_1m_end": os.getloadavg()[0],
    "git_commit": exp.versions.get("git_commit"),
    "evaluation": exp.eval_scalars(),
}
print()
print(
    f"pipeline wall time per stage ({os.cpu_count()} CPUs, {cpu}, device {figures['device']}, "
    f"load average {figures['load_avg_1m_start']:.1f} -> {figures['load_avg_1m_end']:.1f})"
)
for title, s in stages.items():
    print(f"  {title:34s} {s:7.1f} s  {s / 60:5.2f} min")
print(f"  {'total (stages)':34s} {figures['total_stages_s']:7.1f} s  {figures['total_stages_s'] / 60:5.2f} min")
print(f"  {'wall clock (incl. start-up)':34s} {figures['wall_s']:7.1f} s  {figures['wall_s'] / 60:5.2f} min")
if figures["fresh_clone"]:
    print(f"  {'.venv creation (fresh clone)':34s} {figures['setup_s']:7.1f} s")
results.write_json_atomic(out, figures)
print(f"written: {out}")
EOF
# A run at the defaults is what the README's picture shows: keep it current
# (REPORT_SCREENSHOT=0 leaves docs/report_screenshot.png alone).
if [ "$CODE" = 0 ] && [ "${PRESET:-default}" = "default" ] && [ "${REPORT_SCREENSHOT:-1}" = 1 ]; then
    "$REPO/benchmarks/report_screenshot.sh" "$EXPERIMENT" "$REPO/docs/report_screenshot.png" \
        || echo "[bench] docs/report_screenshot.png not updated (see above)" >&2
fi
exit "$CODE"
