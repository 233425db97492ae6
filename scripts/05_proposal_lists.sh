#!/usr/bin/env bash
# Stage 5: normalized TAG lists -> frame-based lists for SSN (pre-flight check of every frame folder).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for SUBSET in "$TRAIN_SUBSET" "$TEST_SUBSET"; do
  "$PY" "$REPO/gen_proposal_list.py" "$DATASET" "$FRAME_ROOT" --input "$WORK/tag_${SUBSET}_normalized.txt" \
      --output "$WORK/tag_$SUBSET.txt" --annotations "$ANNOTATIONS" --subset "$SUBSET"
done
