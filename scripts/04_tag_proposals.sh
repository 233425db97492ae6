#!/usr/bin/env bash
# Stage 4: TAG proposals from the fused RGB + Flow actionness (normalized lists).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for SUBSET in "$TRAIN_SUBSET" "$TEST_SUBSET"; do
  timed "tag_$SUBSET" "$PY" "$REPO/gen_bottom_up_proposals.py" "$WORK/actionness_RGB_$SUBSET.npz" "$WORK/actionness_Flow_$SUBSET.npz" \
      --dataset "$DATASET" --subset "$SUBSET" --annotations "$ANNOTATIONS" \
      --write_proposals "$WORK/tag_${SUBSET}_normalized.txt"
done
