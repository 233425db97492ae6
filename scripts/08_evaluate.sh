#!/usr/bin/env bash
# Stage 8: detection mAP of each stream and of the RGB + Flow fusion; proposal recall of the TAG list.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$PY" "$REPO/eval_proposals.py" "$WORK/tag_${TEST_SUBSET}_normalized.txt" --json_out "$WORK/eval_proposals.json"
for MOD in RGB Flow; do
  "$PY" "$REPO/eval_detection_results.py" "$DATASET" "$WORK/ssn_${MOD}_$TEST_SUBSET.pkl" \
      --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET" --json_out "$WORK/eval_$MOD.json"
done
"$PY" "$REPO/eval_detection_results.py" "$DATASET" "$WORK/ssn_RGB_$TEST_SUBSET.pkl" "$WORK/ssn_Flow_$TEST_SUBSET.pkl" \
    --score_weights $FUSION_WEIGHTS --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET" \
    --json_out "$WORK/eval_fused.json" --export_json "$WORK/detections_fused.json"
"$PY" "$REPO/plot_timeline.py" "$DATASET" "$WORK/detections_fused.json" "$WORK/timeline_fused.png" --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET"
