#!/usr/bin/env bash
# Stage 6: train SSN per modality, the backbone initialised from the actionness classifier.
# SIDE_BY_SIDE=1: the streams at the same time.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ssn_train() {
  local MOD="$1" MOD_ARGS="SSN_ARGS_$1"   # SSN_ARGS_RGB / SSN_ARGS_Flow: per-stream flags after SSN_ARGS (later flags win)
  timed "ssn_train_$MOD" "$PY" "$REPO/ssn_train.py" "$DATASET" "$MOD" --train_list "$WORK/tag_$TRAIN_SUBSET.txt" \
      --output "$WORK/ssn_$MOD" --arch "$ARCH" $(arch_args "$MOD") --init_from "$WORK/binary_$MOD/checkpoint_last.pth" \
      -j "$JOBS" $SSN_ARGS ${!MOD_ARGS:-} $SEED_ARG $RESTART_ARG
}
each_stream ssn_train "${STREAMS[@]}"
