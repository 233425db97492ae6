#!/usr/bin/env bash
# The main job: generate the synthetic demo dataset and run the whole pipeline on it, stage by stage.
# Creates or reuses .venv.  Variables: SYNTH_PRESET (demo | tiny | large), WORK (output folder), JOBS.
# Re-running resumes: finished stages' outputs are reused where the stage supports it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$ROOT/scripts/setup_venv.sh"
export PY CONFIG="${CONFIG:-synthetic_demo}"
START=$(date +%s)
for STAGE in 00_gen_synthetic_dataset 01_extract_frames 02_sliding_window_proposals 03_binary_actionness \
             04_tag_proposals 05_proposal_lists 06_ssn_train 07_ssn_test 08_evaluate 09_extract_features \
             10_bmn 11_bsn 12_ssad 13_proposal_methods_to_detections 14_compare; do
  T0=$(date +%s)
  echo "=== $STAGE" >&2
  bash "$ROOT/scripts/$STAGE.sh"
  echo "=== $STAGE done in $(( $(date +%s) - T0 )) s" >&2
done
echo "=== demo finished in $(( $(date +%s) - START )) s" >&2
W="$(source "$ROOT/scripts/common.sh" && echo "$WORK")"
echo "=== comparison of every method (table above): $W/comparison.md, .json, $W/comparison.png" >&2
echo "=== timeline picture (SSN on TAG, fused): $W/timeline_fused.png" >&2
