#!/usr/bin/env bash
# Stage 11: BSN proposals on stage 9's snippet features (docs/bsn.md): TEM (trained on TRAIN_SUBSET, run on
# both subsets) -> PGM (candidates + BSP features) -> PEM (trained on TRAIN_SUBSET's proposals) -> TEST_SUBSET's
# proposals -> evaluation.  Writes $WORK/bsn/proposals_test.json (stage 13 reads it) and eval_proposals.json.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
FEATURES="${FEATURES:-$WORK/features}"
BSN_TEM_ARGS="${BSN_TEM_ARGS:-}"       # more bsn_tem_train.py flags (defaults: the preset's bsn section)
BSN_PEM_ARGS="${BSN_PEM_ARGS:-}"
BSN_VAL="${BSN_VAL---holdout 0.2}"     # or --val_subset SUBSET; empty: none, the last checkpoints
OUT="$WORK/bsn"
timed bsn_tem_train "$PY" "$REPO/bsn_tem_train.py" "$DATASET" --features "$FEATURES" --annotations "$ANNOTATIONS" \
    --train_subset "$TRAIN_SUBSET" --output "$OUT/tem" $BSN_VAL -j "$JOBS" $BSN_TEM_ARGS $SEED_ARG $RESTART_ARG
TEM="$(trained "$OUT/tem")"
for SUBSET in "$TRAIN_SUBSET" "$TEST_SUBSET"; do   # one subset at a time: stage 14 times each apart
  timed "bsn_tem_test_$SUBSET" "$PY" "$REPO/bsn_tem_test.py" "$DATASET" --features "$FEATURES" \
      --annotations "$ANNOTATIONS" --checkpoint "$TEM" --output "$OUT/tem_results" --subset "$SUBSET" \
      ${RESTART:+--overwrite}
  timed "bsn_pgm_$SUBSET" "$PY" "$REPO/bsn_pgm.py" "$DATASET" --tem "$OUT/tem_results" --annotations "$ANNOTATIONS" \
      --output "$OUT/pgm" --subset "$SUBSET"
done
timed bsn_pem_train "$PY" "$REPO/bsn_pem_train.py" "$DATASET" --pgm "$OUT/pgm" --annotations "$ANNOTATIONS" \
    --train_subset "$TRAIN_SUBSET" --output "$OUT/pem" $BSN_VAL -j "$JOBS" $BSN_PEM_ARGS $SEED_ARG $RESTART_ARG
PEM="$(trained "$OUT/pem")"
timed "bsn_pem_test_$TEST_SUBSET" "$PY" "$REPO/bsn_pem_test.py" "$DATASET" --pgm "$OUT/pgm" \
    --annotations "$ANNOTATIONS" --subset "$TEST_SUBSET" --checkpoint "$PEM" --output "$OUT/proposals_test.json"
"$PY" "$REPO/eval_proposals.py" "$OUT/proposals_test.json" --annotations "$ANNOTATIONS" --dataset "$DATASET" \
    --subset "$TEST_SUBSET" --json_out "$OUT/eval_proposals.json"
