#!/usr/bin/env bash
# Stage 0 (synthetic dataset only): generate videos and annotations.  Variables: SYNTH_PRESET, SEED, OVERWRITE.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
"$PY" "$REPO/gen_synthetic_dataset.py" "$DATA_ROOT" --preset "$SYNTH_PRESET" --seed "${SEED:-0}" -j "$JOBS" $OVERWRITE_ARG
