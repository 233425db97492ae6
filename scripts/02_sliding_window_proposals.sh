#!/usr/bin/env bash
# Stage 2: sliding-window proposal lists (frame-based) for training and testing the actionness classifier.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for SUBSET in "$TRAIN_SUBSET" "$TEST_SUBSET"; do
  "$PY" "$REPO/gen_sliding_window_proposals.py" "$DATASET" "$SUBSET" "$WORK/sw_$SUBSET.txt" \
      --annotations "$ANNOTATIONS" --frame_path "$FRAME_ROOT"
done
