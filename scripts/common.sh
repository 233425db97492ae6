# Sourced by every numbered script: repository root, python, and the dataset config ($CONFIG).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-python}"
CONFIG="${CONFIG:-synthetic_demo}"
if [ -f "$REPO/scripts/config/$CONFIG.sh" ]; then source "$REPO/scripts/config/$CONFIG.sh"; else source "$CONFIG"; fi
PRETRAINED_ARG=${PRETRAINED:+--pretrained $PRETRAINED}
ARCH_ARGS="${ARCH_ARGS:-}"           # more backbone flags, e.g. --global_pool max
# arch_args MOD: the backbone flags of stream MOD's actionness and SSN models (stages 3 and 6): ARCH_ARGS, then
# ARCH_ARGS_<MOD> (later flags win), e.g. ARCH_ARGS_Flow="--new_length 10"; later stages read them from the checkpoints
arch_args() { local own="ARCH_ARGS_$1"; echo "$ARCH_ARGS ${!own:-}"; }
SEED_ARG=${TRAIN_SEED:+--seed $TRAIN_SEED}   # TRAIN_SEED: training seed of stages 3 and 6 (default: the scripts' own, 0)
# stages refuse to reuse outputs made with other settings; RESTART=1 retrains every training stage from scratch
# (and stage 9 remakes the features of the retrained backbones),
# OVERWRITE=1 redoes stage 0's dataset and stage 1's frame folders made with another seed/preset or other settings
RESTART_ARG=${RESTART:+--restart}
OVERWRITE_ARG=${OVERWRITE:+--overwrite}
# SSN streams trained, scored, evaluated and fused by stages 3, 6, 7, 8 and 13, in this order (the order of the fusion
# weights); TAG (stage 4) needs RGB and Flow, the features of stage 9 are RGB's and Flow's; RGBDiff (RGB differences,
# from the RGB frames) is a third stream on request: MODALITIES="RGB Flow RGBDiff"
MODALITIES="${MODALITIES:-RGB Flow}"
read -r -a STREAMS <<< "$MODALITIES"
# stream_paths ARRAY PREFIX SUFFIX: sets ARRAY to PREFIX<stream>SUFFIX for every stream (e.g. the SSN result files)
stream_paths() { local -n _paths="$1"; local m; _paths=(); for m in "${STREAMS[@]}"; do _paths+=("$2$m$3"); done; }
# SIDE_BY_SIDE=1: independent parts run at the same time: the streams' parts of stages 3, 6, 7 and 9, SSAD's two
# models in stage 12, stage 13's proposal methods, and the feature methods (stages 10, 11 and 12, which only read
# stage 9's features) when scripts/run_stages.sh runs them.  Each part gets cores / parts intra-op threads (at least 1; OMP_NUM_THREADS when
# set) and its output goes to $WORK/logs/<part>.log (the end of a failed part's log is printed).  Worth it on a few
# CPU cores, where the tiny models' small tensors gain little from a second thread, when the parts take similar time
# (Flow and RGBDiff; RGB's SSN is quick).  STREAMS_SIDE_BY_SIDE is its earlier name
SIDE_BY_SIDE="${SIDE_BY_SIDE:-${STREAMS_SIDE_BY_SIDE:-0}}"
# side_by_side PREFIX FUNC ARG...: FUNC ARG for every ARG, one after the other, or with SIDE_BY_SIDE=1 at the same
# time with the output of each in $WORK/logs/PREFIX<ARG>.log; fails when a part fails
side_by_side() {
  local prefix="$1" fn="$2" arg i failed=0; shift 2
  if [ "$SIDE_BY_SIDE" != 1 ] || [ $# -lt 2 ]; then
    for arg in "$@"; do "$fn" "$arg"; done
    return
  fi
  local cores threads parts=("$@") pids=() logs=()
  cores=$(nproc 2>/dev/null || echo 1); threads=$(( cores / $# )); [ "$threads" -ge 1 ] || threads=1
  local label="${prefix%_}"
  mkdir -p "$WORK/logs"
  echo "${label:+$label: }$* side by side, ${OMP_NUM_THREADS:-$threads} thread(s) each; logs: $WORK/logs/${prefix}<part>.log" >&2
  for arg in "$@"; do
    logs+=("$WORK/logs/${prefix}$arg.log")
    ( export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$threads}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-${OMP_NUM_THREADS:-$threads}}"
      "$fn" "$arg" ) > "${logs[-1]}" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then continue; fi
    failed=1
    echo "${label:+$label: }${parts[$i]} failed; the end of ${logs[$i]}:" >&2
    tail -n 20 "${logs[$i]}" >&2
  done
  return "$failed"
}
# each_stream FUNC STREAM...: a stage's FUNC STREAM for every STREAM (side_by_side, logs <stage>_<stream>.log)
each_stream() { side_by_side "$(basename "$0" .sh)_" "$@"; }
# tag_stream MOD: true for the streams TAG and the feature methods read (RGB, Flow); false for the others (RGBDiff),
# whose actionness model only initialises its SSN and which has no features (stages 3, 9 and 14)
tag_stream() { [ "$1" = RGB ] || [ "$1" = Flow ]; }
# trained DIR: the checkpoint a later stage uses, DIR/checkpoint_best.pth when the run validated on held-out data
# (the training stages write one only then, and a --restart removes the earlier run's), else DIR/checkpoint_last.pth
trained() { if [ -f "$1/checkpoint_best.pth" ]; then echo "$1/checkpoint_best.pth"; else echo "$1/checkpoint_last.pth"; fi; }
mkdir -p "$WORK"
RUN_TIMES="${RUN_TIMES:-$WORK/run_times.tsv}"
# timed KEY CMD...: run CMD and append "KEY<TAB>SECONDS" to $RUN_TIMES (ops/formats/run_times.py) for
# compare_methods.py; a re-run appends again and its line wins (a resumed step records the resumed time)
timed() {
  local key="$1" t0 dt; shift
  t0=${EPOCHREALTIME/./}                 # microseconds (bash 5)
  "$@"
  dt=$(( ${EPOCHREALTIME/./} - t0 ))
  printf '%s\t%d.%d\n' "$key" $(( dt / 1000000 )) $(( dt / 100000 % 10 )) >> "$RUN_TIMES"
}
