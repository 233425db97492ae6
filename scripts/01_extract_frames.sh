#!/usr/bin/env bash
# Stage 1: RGB frames and optical flow of every video (resumable).  Variables: FRAME_SIZE ("W H", "0 0" = keep),
# FLOW (flow algorithm; empty = the default for the device), FLOW_BOUND (flow clipped to +-FLOW_BOUND pixels before
# quantising; empty = extract_frames.py's 20), DEVICE (auto|cpu|cuda), OVERWRITE (1: redo folders made with other
# settings, which are refused otherwise).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
read -r W H <<< "$FRAME_SIZE"
"$PY" "$REPO/extract_frames.py" "$VIDEO_DIR" "$FRAME_ROOT" --new_width "$W" --new_height "$H" \
    --device "${DEVICE:-auto}" ${FLOW:+--flow "$FLOW"} ${FLOW_BOUND:+--bound "$FLOW_BOUND"} -j "$JOBS" $OVERWRITE_ARG
