#!/usr/bin/env bash
# The main job: generate the synthetic demo dataset and run the whole pipeline on it, stage by stage.
# Creates or reuses .venv.  Variables: SYNTH_PRESET (demo | tiny | large), WORK (output folder), JOBS, SIDE_BY_SIDE
# (scripts/common.sh).
# Re-running resumes: finished stages' outputs are reused where the stage supports it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$ROOT/scripts/setup_venv.sh"
export PY CONFIG="${CONFIG:-synthetic_demo}"
START=$(date +%s)
bash "$ROOT/scripts/run_stages.sh"   # every stage, 00 to 14
echo "=== demo finished in $(( $(date +%s) - START )) s" >&2
W="$(source "$ROOT/scripts/common.sh" && echo "$WORK")"
echo "=== comparison of every method (table above): $W/comparison.md, .json, $W/comparison.png" >&2
echo "=== timeline picture (SSN on TAG, fused): $W/timeline_fused.png" >&2
