#!/usr/bin/env bash
# Stage 0 (synthetic demo only): generate the synthetic dataset.
# Variables: DATA_ROOT (output folder), PRESET (tiny|demo|large), SEED, JOBS, PY (python to use).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-python}"
DATA_ROOT="${DATA_ROOT:-$REPO/work_dirs/synthetic_demo/data}"
PRESET="${PRESET:-demo}"
SEED="${SEED:-0}"
JOBS="${JOBS:-2}"

"$PY" "$REPO/gen_synthetic_dataset.py" "$DATA_ROOT" --preset "$PRESET" --seed "$SEED" -j "$JOBS"
