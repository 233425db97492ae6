#!/usr/bin/env bash
# Stage 7: score every test proposal with each modality's SSN (resumable per video); with FUSION_WEIGHTS=search
# also the training subset, on which stage 8 chooses the fusion weights.  SIDE_BY_SIDE=1: the streams at
# the same time.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SUBSETS="$TEST_SUBSET"
[ "$FUSION_WEIGHTS" = search ] && SUBSETS="$TRAIN_SUBSET $TEST_SUBSET"
ssn_test() {
  local MOD="$1" SUBSET
  for SUBSET in $SUBSETS; do
    timed "ssn_test_${MOD}_$SUBSET" "$PY" "$REPO/ssn_test.py" "$DATASET" "$MOD" "$WORK/tag_$SUBSET.txt" "$(trained "$WORK/ssn_$MOD")" \
        "$WORK/ssn_${MOD}_$SUBSET.pkl" --frame_interval "$TEST_INTERVAL" -j "$JOBS"
  done
}
each_stream ssn_test "${STREAMS[@]}"
