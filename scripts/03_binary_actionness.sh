#!/usr/bin/env bash
# Stage 3: train the binary actionness classifier per modality (stage 6 starts each SSN from it), then score every
# frame of both subsets with RGB's and Flow's (TAG's input).  SIDE_BY_SIDE=1: the streams at the same time.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
actionness() {
  local MOD="$1" SUBSET
  timed "binary_train_$MOD" "$PY" "$REPO/binary_train.py" "$DATASET" "$MOD" --train_list "$WORK/sw_$TRAIN_SUBSET.txt" \
      --output "$WORK/binary_$MOD" --arch "$ARCH" $(arch_args "$MOD") $PRETRAINED_ARG -j "$JOBS" $BINARY_ARGS $SEED_ARG $RESTART_ARG
  tag_stream "$MOD" || return 0   # TAG reads RGB and Flow actionness; RGBDiff's only initialises its SSN
  for SUBSET in "$TRAIN_SUBSET" "$TEST_SUBSET"; do
    timed "binary_test_${MOD}_$SUBSET" "$PY" "$REPO/binary_test.py" "$DATASET" "$MOD" "$WORK/sw_$SUBSET.txt" "$WORK/binary_$MOD/checkpoint_last.pth" \
        "$WORK/actionness_${MOD}_$SUBSET.npz" --frame_interval "$TEST_INTERVAL" -j "$JOBS"
  done
}
each_stream actionness "${STREAMS[@]}"
