#!/usr/bin/env bash
# Stage 1: RGB frames and optical flow of every video (resumable).  Variables: FRAME_SIZE ("W H", "0 0" = keep),
# FLOW (flow algorithm; empty = the default for the device), DEVICE (auto|cpu|cuda), OVERWRITE (1: redo folders made
# with other settings, which are refused otherwise).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
read -r W H <<< "$FRAME_SIZE"
"$PY" "$REPO/extract_frames.py" "$VIDEO_DIR" "$FRAME_ROOT" --new_width "$W" --new_height "$H" \
    --device "${DEVICE:-auto}" ${FLOW:+--flow "$FLOW"} -j "$JOBS" $OVERWRITE_ARG
