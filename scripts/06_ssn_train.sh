#!/usr/bin/env bash
# Stage 6: train SSN per modality, the backbone initialised from the actionness classifier.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for MOD in RGB Flow; do
  "$PY" "$REPO/ssn_train.py" "$DATASET" "$MOD" --train_list "$WORK/tag_$TRAIN_SUBSET.txt" \
      --output "$WORK/ssn_$MOD" --arch "$ARCH" --init_from "$WORK/binary_$MOD/checkpoint_last.pth" \
      -j "$JOBS" $SSN_ARGS
done
