#!/usr/bin/env bash
# Run numbered stages in order, timing each: `bash scripts/run_stages.sh [STAGE...]`, a STAGE named as its script
# (10_bmn or 10_bmn.sh) or by its number (10); default: every numbered stage, 00 to 14 (./run_demo.sh runs them so).
# With SIDE_BY_SIDE=1 (common.sh) the feature methods among them, stages 10, 11 and 12, which only read stage 9's
# features, run at the same time, their output in $WORK/logs/<stage>.log.  Stops at the first failed stage.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
FEATURE_METHODS=" 10_bmn 11_bsn 12_ssad "
ALL_STAGES=()   # every numbered script, in order, without .sh: the default and the choices an error names
for SCRIPT in "$REPO"/scripts/[0-9][0-9]_*.sh; do ALL_STAGES+=("$(basename "$SCRIPT" .sh)"); done
# stage_script STAGE: the script of STAGE (a name or a number); an unknown STAGE is an error naming the choices
stage_script() {
  local found=("$REPO"/scripts/"${1%.sh}"*.sh)
  if [ "${#found[@]}" -ne 1 ] || [ ! -f "${found[0]}" ] || [[ ! "$(basename "${found[0]}")" =~ ^[0-9][0-9]_ ]]; then
    echo "run_stages.sh: error: no stage '$1'; stages: ${ALL_STAGES[*]}" >&2
    exit 2
  fi
  echo "${found[0]}"
}
run_stage() {
  local t0=$SECONDS
  echo "=== $1" >&2
  bash "$REPO/scripts/$1.sh"
  echo "=== $1 done in $(( SECONDS - t0 )) s" >&2
}
STAGES=()
for S in "${@:-${ALL_STAGES[@]}}"; do
  for S1 in $S; do SCRIPT="$(stage_script "$S1")"; STAGES+=("$(basename "$SCRIPT" .sh)"); done
done
GROUP=()   # consecutive feature methods, run together
flush_group() {
  [ "${#GROUP[@]}" -gt 0 ] || return 0
  local t0=$SECONDS
  side_by_side "" run_stage "${GROUP[@]}"
  [ "${#GROUP[@]}" -lt 2 ] || [ "$SIDE_BY_SIDE" != 1 ] || echo "=== ${GROUP[*]} done in $(( SECONDS - t0 )) s" >&2
  GROUP=()
}
for S in "${STAGES[@]}"; do
  if [[ "$FEATURE_METHODS" == *" $S "* ]]; then GROUP+=("$S"); continue; fi
  flush_group
  run_stage "$S"
done
flush_group
