#!/usr/bin/env bash
# The GPU benchmark run (issue #27) with the machine's python3, not the project's venv: bench/gpu_all.py
# (every section but the demo; flags are passed on, e.g. `bash bench/gpu_all.sh --demo`).
# Variables: PY (python, default python3), OUT (results folder; the device machine sets it).
# Needs .gpu_ref/flow_ref.npz (python bench/gpu_reference.py, where OpenCV has contrib) for the flow EPE vs OpenCV.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-python3}"
OUT="${OUT:-$ROOT/work_dirs/gpu_all_out}"
exec "$PY" "$ROOT/bench/gpu_all.py" --out "$OUT" "$@"
