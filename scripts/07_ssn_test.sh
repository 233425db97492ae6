#!/usr/bin/env bash
# Stage 7: score every test proposal with each modality's SSN (resumable per video).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
for MOD in RGB Flow; do
  "$PY" "$REPO/ssn_test.py" "$DATASET" "$MOD" "$WORK/tag_$TEST_SUBSET.txt" "$WORK/ssn_$MOD/checkpoint_last.pth" \
      "$WORK/ssn_${MOD}_$TEST_SUBSET.pkl" --frame_interval "$TEST_INTERVAL" -j "$JOBS"
done
