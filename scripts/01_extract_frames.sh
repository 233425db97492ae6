#!/usr/bin/env bash
# Stage 1: extract RGB frames and optical flow (TSN/DenseFlow layout) from every video.
# Variables: VIDEO_DIR (videos, or a list file), FRAME_ROOT (output), JOBS (parallel videos),
# FLOW (flow algorithm; empty = default for the device), DEVICE (auto|cpu|cuda), PY (python to use).
# Re-running resumes: complete videos are skipped, interrupted ones redone.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-python}"
DATA_ROOT="${DATA_ROOT:-$REPO/work_dirs/synthetic_demo/data}"
VIDEO_DIR="${VIDEO_DIR:-$DATA_ROOT/videos}"
FRAME_ROOT="${FRAME_ROOT:-$DATA_ROOT/frames}"
JOBS="${JOBS:-2}"
DEVICE="${DEVICE:-auto}"
FLOW="${FLOW:-}"

"$PY" "$REPO/extract_frames.py" "$VIDEO_DIR" "$FRAME_ROOT" \
    --new_width 340 --new_height 256 --jpeg_quality 95 --bound 20 \
    --device "$DEVICE" ${FLOW:+--flow "$FLOW"} -j "$JOBS"
