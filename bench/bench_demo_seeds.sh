#!/usr/bin/env bash
# Benchmark: how much the demo's figures move with the training seed (same videos, frames and flow).
#
# Example (after ./run_demo.sh has filled work_dirs/synthetic_demo, which used the default seed 0):
#
#   BASE=work_dirs/synthetic_demo bash bench/bench_demo_seeds.sh 1 2
#
# For each seed S, in BASE/seed_S/: stages 2-14 of the numbered scripts with TRAIN_SEED=S on BASE's dataset and
# frames, i.e. actionness classifiers, TAG proposals, SSN RGB and Flow, scoring, fusion search and evaluation,
# snippet features (of that seed's SSN backbones), BMN, BSN, SSAD, the video classifier and the comparison, all
# retrained or recomputed under that seed.  STAGES="02 03 04 05 06 07 08" limits it to SSN (scripts/run_stages.sh).
# Other variables (CONFIG, SSN_ARGS, ...) pass through as for run_demo.sh.  Re-running resumes (each stage
# reuses what it finished).  Prints one row per run, BASE first, then the mean and standard deviation: mAP@0.5
# and average mAP of RGB, Flow and the fusion, and the TAG proposals' recall; then, when stage 14 ran, every
# comparison row's mean ± std over the runs (bench/compare_seeds.py).  About 25 min per seed on 2 CPU cores.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/setup_venv.sh"
BASE="$(cd "${BASE:?set BASE to a finished demo WORK folder}" && pwd)"
[ $# -gt 0 ] || { echo "usage: BASE=WORK bash $0 SEED..." >&2; exit 2; }
WORKS=("$BASE")
for SEED in "$@"; do
  export WORK="$BASE/seed_$SEED" DATA_ROOT="$BASE/data" FRAME_ROOT="$BASE/frames" TRAIN_SEED="$SEED" PY
  mkdir -p "$WORK"
  echo "=== seed $SEED" >&2
  bash "$REPO/scripts/run_stages.sh" ${STAGES:-02 03 04 05 06 07 08 09 10 11 12 13 14}
  WORKS+=("$WORK")
done
"$PY" "$REPO/bench/demo_runs_table.py" "${WORKS[@]}" --labels BASE $(printf 'seed_%s ' "$@") --summary
COMPARISONS=()
for W in "${WORKS[@]}"; do [ -f "$W/comparison.json" ] && COMPARISONS+=("$W/comparison.json"); done
[ ${#COMPARISONS[@]} -lt 2 ] || "$PY" "$REPO/bench/compare_seeds.py" "${COMPARISONS[@]}"
