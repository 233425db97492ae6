#!/usr/bin/env bash
# Stage 8: detection mAP of each stream and of their fusion (every stream of MODALITIES); proposal recall of the TAG list.
# FUSION_WEIGHTS=search: per-output weights chosen on TRAIN_SUBSET (WORK/fusion_weights.json), applied to TEST_SUBSET.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$PY" "$REPO/eval_proposals.py" "$WORK/tag_${TEST_SUBSET}_normalized.txt" --json_out "$WORK/eval_proposals.json"
LOGS=()
for MOD in $MODALITIES; do
  LOGS+=("$WORK/binary_$MOD/log.json" "$WORK/ssn_$MOD/log.json")
  "$PY" "$REPO/eval_detection_results.py" "$DATASET" "$WORK/ssn_${MOD}_$TEST_SUBSET.pkl" \
      --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET" --json_out "$WORK/eval_$MOD.json"
done
"$PY" "$REPO/plot_training.py" "$WORK/training_curves.png" "${LOGS[@]}"   # losses and metrics per epoch
[ ${#STREAMS[@]} -ge 2 ] || exit 0   # one stream: nothing to fuse
if [ "$FUSION_WEIGHTS" = search ]; then
  stream_paths TRAIN_RESULTS "$WORK/ssn_" "_$TRAIN_SUBSET.pkl"
  "$PY" "$REPO/eval_detection_results.py" "$DATASET" "${TRAIN_RESULTS[@]}" \
      --annotations "$ANNOTATIONS" --subset "$TRAIN_SUBSET" --search_weights "$WORK/fusion_weights.json" \
      --json_out "$WORK/eval_fused_$TRAIN_SUBSET.json"
  FUSION_ARGS=(--fusion_weights "$WORK/fusion_weights.json")
else
  FUSION_ARGS=(--score_weights $FUSION_WEIGHTS)
fi
stream_paths TEST_RESULTS "$WORK/ssn_" "_$TEST_SUBSET.pkl"
"$PY" "$REPO/eval_detection_results.py" "$DATASET" "${TEST_RESULTS[@]}" \
    "${FUSION_ARGS[@]}" --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET" \
    --json_out "$WORK/eval_fused.json" --export_json "$WORK/detections_fused.json" --diagnose 0.5
"$PY" "$REPO/plot_timeline.py" "$DATASET" "$WORK/detections_fused.json" "$WORK/timeline_fused.png" --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET"
