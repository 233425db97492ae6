#!/usr/bin/env bash
# Stage 13: BMN and BSN proposals into detections, two ways, each evaluated (docs/proposals_to_detections.md).
#  (a) SSN: proposals -> labelled normalized list -> frame-based list -> ssn_test.py with stage 6's SSN models;
#  (b) a video-level classifier on snippet features (trained on TRAIN_SUBSET): every proposal takes its video's
#      best class (score kept, MMAction2's report_map.py) and its two best (score x class score).
# Inputs: $WORK/<method>/proposals_test.json (TEST_SUBSET's proposals, seconds; bmn_test.py / bsn_test.py),
# $FEATURES (stage 9), stage 6's SSN models (common.sh `trained`).  METHODS picks the methods.
# SIDE_BY_SIDE=1 (common.sh): the methods at the same time after the classifier, logs $WORK/logs/13_<method>.log.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
FEATURES="${FEATURES:-$WORK/features}"
METHODS="${METHODS:-bmn bsn}"
CLS_STREAMS="${CLS_STREAMS:-RGB+Flow}"      # features the video-level classifier reads
CLS_ARGS="${CLS_ARGS:-}"                    # more classify_videos.py flags, e.g. --epochs 30 --num_rows 0
SCORES="$WORK/video_scores_$TEST_SUBSET.json"
timed video_classifier "$PY" "$REPO/classify_videos.py" "$DATASET" --features "$FEATURES" --streams "$CLS_STREAMS" \
    --annotations "$ANNOTATIONS" --train_subset "$TRAIN_SUBSET" --subset "$TEST_SUBSET" \
    --output "$WORK/video_classifier" --write_scores "$SCORES" -j "$JOBS" $CLS_ARGS $SEED_ARG $RESTART_ARG
# proposal_method M: both ways for method M's proposals
proposal_method() {
  local M="$1" MOD K PROPOSALS="$WORK/$1/proposals_test.json" FUSION_ARGS RESULTS
  # (a) SSN on the method's proposals
  "$PY" "$REPO/proposals_to_list.py" "$PROPOSALS" "$WORK/$M/${M}_${TEST_SUBSET}_normalized.txt" \
      --dataset "$DATASET" --subset "$TEST_SUBSET" --annotations "$ANNOTATIONS"
  "$PY" "$REPO/gen_proposal_list.py" "$DATASET" "$FRAME_ROOT" --input "$WORK/$M/${M}_${TEST_SUBSET}_normalized.txt" \
      --output "$WORK/$M/${M}_$TEST_SUBSET.txt" --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET"
  for MOD in $MODALITIES; do
    timed "ssn_test_${M}_${MOD}_$TEST_SUBSET" "$PY" "$REPO/ssn_test.py" "$DATASET" "$MOD" "$WORK/$M/${M}_$TEST_SUBSET.txt" "$(trained "$WORK/ssn_$MOD")" \
        "$WORK/$M/ssn_${MOD}_$TEST_SUBSET.pkl" --frame_interval "$TEST_INTERVAL" -j "$JOBS"
    "$PY" "$REPO/eval_detection_results.py" "$DATASET" "$WORK/$M/ssn_${MOD}_$TEST_SUBSET.pkl" \
        --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET" --json_out "$WORK/$M/eval_ssn_$MOD.json"
  done
  if [ ${#STREAMS[@]} -ge 2 ]; then   # every stream, with stage 8's fusion weights
    FUSION_ARGS=(--score_weights $FUSION_WEIGHTS)
    [ "$FUSION_WEIGHTS" = search ] && FUSION_ARGS=(--fusion_weights "$WORK/fusion_weights.json")
    stream_paths RESULTS "$WORK/$M/ssn_" "_$TEST_SUBSET.pkl"
    "$PY" "$REPO/eval_detection_results.py" "$DATASET" "${RESULTS[@]}" "${FUSION_ARGS[@]}" --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET" \
        --json_out "$WORK/$M/eval_ssn_fused.json"
  fi
  # (b) the video-level classifier's classes: top 1 (score kept), top 2 (score x class score)
  for K in 1 2; do
    "$PY" "$REPO/proposals_to_detections.py" "$PROPOSALS" "$SCORES" "$WORK/$M/detections_cls_top$K.json" \
        --dataset "$DATASET" --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET" --top_k_classes "$K"
    "$PY" "$REPO/eval_detection_results.py" "$DATASET" --detections "$WORK/$M/detections_cls_top$K.json" \
        --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET" --json_out "$WORK/$M/eval_cls_top$K.json"
  done
}
read -r -a METHOD_LIST <<< "$METHODS"
side_by_side 13_ proposal_method "${METHOD_LIST[@]}"
