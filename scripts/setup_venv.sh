#!/usr/bin/env bash
# Create or reuse the project's virtual environment and install requirements.txt into it.
# Sourced by run_demo.sh and run_tests.sh; sets PY to the venv's python.
# VENV overrides the location (default: .venv in the repository root).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtual environment in $VENV" >&2
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "installing requirements into $VENV (torch is large: about 80 s from the local wheel cache)" >&2
  "$PY" -m pip install -q --upgrade pip >&2
  "$PY" -m pip install -q -r "$ROOT/requirements.txt" >&2
  echo "$WANT" > "$STAMP"
fi
export PY
