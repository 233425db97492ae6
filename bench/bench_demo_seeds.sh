#!/usr/bin/env bash
# Benchmark: how much the demo's figures move with the training seed (same videos, frames and flow).
#
# Example (after ./run_demo.sh has filled work_dirs/synthetic_demo, which used the default seed 0):
#
#   BASE=work_dirs/synthetic_demo bash bench/bench_demo_seeds.sh 1 2
#
# For each seed S, in BASE/seed_S/: stages 2-8 of the numbered scripts with TRAIN_SEED=S on BASE's dataset and
# frames, i.e. actionness classifiers, TAG proposals, SSN RGB and Flow, scoring, fusion search and evaluation
# all retrained or recomputed under that seed.  Other variables (CONFIG, SSN_ARGS, ...) pass through as for
# run_demo.sh.  Re-running resumes (each stage reuses what it finished).  Prints one row per run, BASE first,
# then the mean and standard deviation: mAP@0.5 and average mAP of RGB, Flow and the fusion, and the TAG
# proposals' recall.  Takes ~15 min per seed on 2 CPU cores.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/setup_venv.sh"
BASE="$(cd "${BASE:?set BASE to a finished demo WORK folder}" && pwd)"
[ $# -gt 0 ] || { echo "usage: BASE=WORK bash $0 SEED..." >&2; exit 2; }
WORKS=("$BASE")
for SEED in "$@"; do
  export WORK="$BASE/seed_$SEED" DATA_ROOT="$BASE/data" FRAME_ROOT="$BASE/frames" TRAIN_SEED="$SEED" PY
  mkdir -p "$WORK"
  for STAGE in 02_sliding_window_proposals 03_binary_actionness 04_tag_proposals 05_proposal_lists \
               06_ssn_train 07_ssn_test 08_evaluate; do
    echo "=== seed $SEED: $STAGE" >&2
    bash "$REPO/scripts/$STAGE.sh"
  done
  WORKS+=("$WORK")
done
"$PY" "$REPO/bench/demo_runs_table.py" "${WORKS[@]}" --labels BASE $(printf 'seed_%s ' "$@") --summary
