#!/usr/bin/env bash
# Benchmark: the Flow stream's detection mAP on the synthetic demo for each optical-flow algorithm.
#
# Example (after ./run_demo.sh has filled work_dirs/synthetic_demo):
#
#   BASE=work_dirs/synthetic_demo bash bench/bench_flow_map.sh dis_fast farneback
#   BASE=work_dirs/synthetic_demo TRAIN_SEEDS="0 1 2" bash bench/bench_flow_map.sh dis_medium dis_fast
#
# For each algorithm, in BASE/flow_<algorithm>/: frames and flow of BASE's videos (stage 1 with FLOW set),
# sliding windows, the Flow actionness classifier, proposal lists from BASE's TAG proposals (held fixed, so
# that only the Flow SSN's input changes), the Flow SSN trained and scored with the demo's settings, and its
# mAP on the test subset.  TRAIN_SEEDS (default "0"): training seeds of the actionness classifier and the
# SSN; seed S other than 0 runs in BASE/flow_<algorithm>_seedS/ on the same frames (a `frames` link).  The
# algorithm BASE itself was extracted with reuses BASE's frames, and BASE is its seed-0 run.  Re-running
# resumes (each stage reuses what it finished).  Prints one table per algorithm (bench/demo_runs_table.py):
# extraction time of RGB + flow (sum of per-video seconds, both cores busy) and the Flow stream's mAP at IoU
# 0.5 and averaged over 0.1:0.7, one row per seed, with mean and standard deviation over several seeds.
# Takes ~10 min per algorithm and seed on 2 CPU cores (~7 min when the frames exist), OpenCV tvl1 about an
# hour more for its frames.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$REPO/scripts/setup_venv.sh"
BASE="$(cd "${BASE:?set BASE to a finished demo WORK folder}" && pwd)"
[ $# -gt 0 ] || { echo "usage: BASE=WORK [TRAIN_SEEDS=\"0 1 2\"] bash $0 FLOW_ALGORITHM..." >&2; exit 2; }
read -r -a SEEDS <<< "${TRAIN_SEEDS:-0}"
BASE_ALGO="$(PYTHONPATH="$REPO" "$PY" -c 'import sys; from ops.formats.frames import list_video_dirs, read_meta
metas = [read_meta(d) for d in list_video_dirs(sys.argv[1]).values()]
print(next((m["flow_algorithm"] for m in metas if m), ""))' "$BASE/frames")"
flow_stages() {   # WORK, FRAME_ROOT, TRAIN_SEED, ... exported by the caller; BASE's TAG proposals (no stage 4)
  bash "$REPO/scripts/run_stages.sh" 01 02 03
  cp "$BASE"/tag_*_normalized.txt "$WORK"/
  bash "$REPO/scripts/run_stages.sh" 05 06 07 08
}
for ALGO in "$@"; do
  FRAMES="$BASE/flow_$ALGO/frames"
  [ "$ALGO" = "$BASE_ALGO" ] && FRAMES="$BASE/frames"
  WORKS=() LABELS=()
  for SEED in "${SEEDS[@]}"; do
    export DATA_ROOT="$BASE/data" FLOW="$ALGO" MODALITIES=Flow FUSION_WEIGHTS="1 1" TRAIN_SEED="$SEED" PY
    if [ "$SEED" = 0 ]; then export WORK="$BASE/flow_$ALGO"; else export WORK="$BASE/flow_${ALGO}_seed$SEED"; fi
    if [ "$SEED" = 0 ] && [ "$ALGO" = "$BASE_ALGO" ]; then
      WORK="$BASE"                    # BASE's own Flow stream: the same frames, TAG proposals and seed
    else
      mkdir -p "$WORK" "$FRAMES"
      [ "$WORK/frames" = "$FRAMES" ] || ln -sfn "$FRAMES" "$WORK/frames"
      export FRAME_ROOT="$WORK/frames"
      echo "=== $ALGO, seed $SEED: $WORK" >&2
      flow_stages
    fi
    WORKS+=("$WORK") LABELS+=("${ALGO}_seed$SEED")
  done
  "$PY" "$REPO/bench/demo_runs_table.py" "${WORKS[@]}" --labels "${LABELS[@]}" --streams Flow --no_proposals \
      --extract_seconds --summary
done
