#!/usr/bin/env bash
# Stage 9: snippet features of every TRAIN_SUBSET and TEST_SUBSET video, per stream, for BMN, BSN and SSAD
# (docs/features.md): the backbone of stage 6's SSN model of that stream (its held-out best when it has one;
# trained on these frames, so its features know the classes), rows every `stride` frames as the preset's
# "features" section says.
# Writes $FEATURES/<stream>/<video>.npy + .json; readers join RGB and Flow themselves.  SIDE_BY_SIDE=1:
# the streams at the same time.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
FEATURES="${FEATURES:-$WORK/features}"
FEATURE_ARGS="${FEATURE_ARGS:-}"      # more extract_features.py flags, e.g. --geometry ssad, --output_kind scores
features() {
  timed "features_$1" "$PY" "$REPO/extract_features.py" "$DATASET" "$FRAME_ROOT" "$FEATURES" --modality "$1" \
      --checkpoint "$(trained "$WORK/ssn_$1")" --annotations "$ANNOTATIONS" \
      --subset "$TRAIN_SUBSET" "$TEST_SUBSET" -j "$JOBS" $FEATURE_ARGS ${RESTART:+--overwrite}   # RESTART: new models, new features
}
FEATURE_STREAMS=()   # BMN, BSN and SSAD read RGB and Flow features (the published formats)
for MOD in "${STREAMS[@]}"; do tag_stream "$MOD" && FEATURE_STREAMS+=("$MOD"); done
each_stream features "${FEATURE_STREAMS[@]}"
