#!/usr/bin/env bash
# The test suite: creates or reuses .venv, installs requirements.txt, runs pytest.
# Extra arguments go to pytest, e.g. ./run_tests.sh -k proposal_list
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$ROOT/scripts/setup_venv.sh"
cd "$ROOT"
exec "$PY" -m pytest -q tests "$@"
