#!/usr/bin/env bash
# Stage 10: BMN proposals on stage 9's snippet features (docs/bmn.md): train on TRAIN_SUBSET (BMN_VAL:
# validation by AR@AN, best checkpoint by AUC), score TEST_SUBSET, evaluate (AR@AN, AUC, recall).
# Writes $WORK/bmn/checkpoint_*.pth, $WORK/bmn/proposals_test.json (TEST_SUBSET; stage 13 reads it)
# and $WORK/bmn/eval_proposals.json.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
FEATURES="${FEATURES:-$WORK/features}"
BMN_ARGS="${BMN_ARGS:-}"               # more bmn_train.py flags (defaults: the preset's bmn section)
BMN_VAL="${BMN_VAL---holdout 0.2}"     # or --val_subset SUBSET (ActivityNet: validation is the test subset); empty: none, the last checkpoint
timed bmn_train "$PY" "$REPO/bmn_train.py" "$DATASET" --features "$FEATURES" --annotations "$ANNOTATIONS" \
    --train_subset "$TRAIN_SUBSET" --output "$WORK/bmn" $BMN_VAL -j "$JOBS" $BMN_ARGS $SEED_ARG $RESTART_ARG
CKPT="$(trained "$WORK/bmn")"
timed "bmn_test_$TEST_SUBSET" "$PY" "$REPO/bmn_test.py" "$DATASET" --features "$FEATURES" \
    --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET" --checkpoint "$CKPT" --output "$WORK/bmn/proposals_test.json"
"$PY" "$REPO/eval_proposals.py" "$WORK/bmn/proposals_test.json" --annotations "$ANNOTATIONS" --dataset "$DATASET" \
    --subset "$TEST_SUBSET" --json_out "$WORK/bmn/eval_proposals.json"
