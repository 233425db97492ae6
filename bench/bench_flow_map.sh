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
# algorithm: flow extraction time (sum of per-video seconds, both cores busy) and mAP at IoU 0.1 / 0.5 / 0.7
# and averaged over 0.1:0.7.  Takes ~10 min per algorithm on 2 CPU cores, OpenCV tvl1 ~40 min more.
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
"$PY" - "$BASE" "$@" <<'PYEOF'
import json, sys
from pathlib import Path

base = Path(sys.argv[1])
print(f"{'flow':<14} {'extract s':>9} {'mAP@0.1':>8} {'mAP@0.5':>8} {'mAP@0.7':>8} {'avg':>8}")
for algo in sys.argv[2:]:
    work = base / f"flow_{algo}"
    seconds = sum(json.loads(m.read_text())["seconds"] for m in (work / "frames").glob("*/meta.json"))
    metrics = json.loads((work / "eval_Flow.json").read_text())["metrics"]
    by_iou = dict(zip((round(t, 2) for t in metrics["iou_thresholds"]), metrics["mAP"]))
    cells = [by_iou.get(t, float("nan")) for t in (0.1, 0.5, 0.7)] + [metrics["average_mAP"]]
    print(f"{algo:<14} {seconds:>9.0f} " + " ".join(f"{100 * v:>8.2f}" for v in cells))
PYEOF
