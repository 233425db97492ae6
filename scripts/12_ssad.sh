#!/usr/bin/env bash
# Stage 12: main-stream SSAD and Decouple-SSAD on stage 9's snippet features (docs/ssad.md): per model and stream,
# train on TRAIN_SUBSET, score TEST_SUBSET's windows (prediction CSV), post-process each stream and the fusion,
# evaluate under the preset's protocol.  Writes $WORK/ssad/eval_<model>_<RGB|Flow|fused>.json.
# run_demo.sh runs it (about 2 min on 2 CPU cores: the synthetic preset narrows both networks, ssad.model).
# SIDE_BY_SIDE=1 (common.sh): the models at the same time, logs $WORK/logs/12_ssad_<model>.log.
# The release's own feature files: ssad_train.py / ssad_test.py --released_features (docs/ssad.md).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
FEATURES="${FEATURES:-$WORK/features}"
SSAD_MODELS="${SSAD_MODELS:-main decouple}"
SSAD_ARGS="${SSAD_ARGS:-}"
OUT="$WORK/ssad"
# ssad_model M: train and score model M on each stream, then post-process and evaluate each stream and the fusion
ssad_model() {
  local M="$1" MOD PAIR FILES
  for MOD in RGB Flow; do
    timed "ssad_${M}_train_$MOD" "$PY" "$REPO/ssad_train.py" "$DATASET" "$MOD" --features "$FEATURES" \
        --annotations "$ANNOTATIONS" --train_subset "$TRAIN_SUBSET" --model "$M" --output "$OUT/${M}_$MOD" \
        -j "$JOBS" $SSAD_ARGS $SEED_ARG $RESTART_ARG
    timed "ssad_${M}_test_$MOD" "$PY" "$REPO/ssad_test.py" "$DATASET" --features "$FEATURES" \
        --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET" --checkpoint "$OUT/${M}_$MOD/checkpoint_last.pth" \
        --output "$OUT/${M}_${MOD}_$TEST_SUBSET.csv"
  done
  for PAIR in RGB Flow fused; do
    FILES=("$OUT/${M}_RGB_$TEST_SUBSET.csv" "$OUT/${M}_Flow_$TEST_SUBSET.csv")
    [ "$PAIR" = RGB ] && FILES=("${FILES[0]}"); [ "$PAIR" = Flow ] && FILES=("${FILES[1]}")
    "$PY" "$REPO/ssad_postprocess.py" "$DATASET" "${FILES[@]}" --features "$FEATURES" \
        --output "$OUT/detections_${M}_$PAIR.json"
    "$PY" "$REPO/eval_detection_results.py" "$DATASET" --detections "$OUT/detections_${M}_$PAIR.json" \
        --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET" --json_out "$OUT/eval_${M}_$PAIR.json"
  done
}
read -r -a MODELS <<< "$SSAD_MODELS"
side_by_side 12_ssad_ ssad_model "${MODELS[@]}"
