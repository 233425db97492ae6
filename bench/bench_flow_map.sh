#!/usr/bin/env bash
# Benchmark: the Flow stream's detection mAP on the synthetic demo for each optical-flow algorithm.
#
# Example (after ./run_demo.sh has filled work_dirs/synthetic_demo):
#
#   BASE=work_dirs/synthetic_demo bash bench/bench_flow_map.sh dis_fast farneback
#
# For each algorithm, in BASE/flow_<algorithm>/: frames and flow of BASE's videos (stage 1 with FLOW set),
# sliding windows, the Flow actionness classifier, proposal lists from BASE's TAG proposals (held fixed, so
# that only the Flow SSN's input changes), the Flow SSN trained and scored with the demo's settings, and its
# mAP on the test subset.  Re-running resumes (each stage reuses what it finished).  Prints one row per
# algorithm (bench/demo_runs_table.py): extraction time of RGB + flow (sum of per-video seconds, both cores
# busy) and the Flow stream's mAP at IoU 0.5 and averaged over 0.1:0.7.  Takes ~10 min per algorithm on 2 CPU
# cores, OpenCV tvl1 about an hour more.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/setup_venv.sh"
BASE="$(cd "${BASE:?set BASE to a finished demo WORK folder}" && pwd)"
[ $# -gt 0 ] || { echo "usage: BASE=WORK bash $0 FLOW_ALGORITHM..." >&2; exit 2; }
for ALGO in "$@"; do
  export WORK="$BASE/flow_$ALGO" DATA_ROOT="$BASE/data" FLOW="$ALGO" MODALITIES=Flow FUSION_WEIGHTS="1 1"
  export PY
  mkdir -p "$WORK"
  for STAGE in 01_extract_frames 02_sliding_window_proposals 03_binary_actionness; do
    bash "$REPO/scripts/$STAGE.sh"
  done
  cp "$BASE"/tag_*_normalized.txt "$WORK"/
  for STAGE in 05_proposal_lists 06_ssn_train 07_ssn_test 08_evaluate; do
    bash "$REPO/scripts/$STAGE.sh"
  done
done
"$PY" "$REPO/bench/demo_runs_table.py" $(printf "$BASE/flow_%s " "$@") --streams Flow --no_proposals --extract_seconds
