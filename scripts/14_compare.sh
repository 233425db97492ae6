#!/usr/bin/env bash
# Stage 14: one table and one picture comparing every method on TEST_SUBSET (compare_methods.py): proposals
# (AR@100, AUC, recall@0.5) and detection mAP by IoU with the average, and wall times from $RUN_TIMES.
# Rows whose evaluation file is missing (a stage not run) are left out and named.  Writes
# $WORK/comparison.md, .json and .png.
# Times: "train" is every step a row needs before scoring the test videos, feature extraction of both
# subsets included; "infer" is scoring the test videos (proposals, then detections).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
T="$TEST_SUBSET"
FEAT="features_RGB+features_Flow"
TAG_TRAIN="binary_train_RGB+binary_train_Flow"
TAG_INFER="binary_test_RGB_$T+binary_test_Flow_$T+tag_$T"
BMN_TRAIN="$FEAT+bmn_train"
BSN_TRAIN="$FEAT+bsn_tem_train+bsn_tem_test_$TRAIN_SUBSET+bsn_pgm_$TRAIN_SUBSET+bsn_pem_train"
BSN_INFER="bsn_tem_test_$T+bsn_pgm_$T+bsn_pem_test_$T"
ROWS=()
MISSING=()
row() {   # row LABEL DET PROPS TRAIN INFER: a --row when its files exist
  local label="$1" det="$2" props="$3" train="$4" infer="$5" items=()
  if [ -n "$det" ] && [ ! -f "$det" ]; then MISSING+=("$label"); return; fi
  if [ -n "$props" ] && [ ! -f "$props" ]; then MISSING+=("$label"); return; fi
  items+=("$label")
  [ -n "$det" ] && items+=("det=$det")
  [ -n "$props" ] && items+=("props=$props")
  items+=("train=$train" "infer=$infer")
  ROWS+=(--row "${items[@]}")
}
# an SSN stream's training: TAG's actionness models are RGB's and Flow's; another stream's (RGBDiff) only
# initialises its SSN, so it counts as that stream's training
ssn_train_of() { if tag_stream "$1"; then echo "ssn_train_$1"; else echo "binary_train_$1+ssn_train_$1"; fi; }
joined() { local IFS=+; echo "$*"; }   # joined A B C -> A+B+C
SSN_TRAIN=(); SSN_INFER=(); for S in "${STREAMS[@]}"; do SSN_TRAIN+=("$(ssn_train_of "$S")"); SSN_INFER+=("ssn_test_${S}_$T"); done
SSN_TRAIN_fused="$(joined "${SSN_TRAIN[@]}")"; SSN_INFER_fused="$(joined "${SSN_INFER[@]}")"
for S in "${STREAMS[@]}" fused; do
  if [ "$S" = fused ]; then ST="$SSN_TRAIN_fused"; SI="$SSN_INFER_fused"; else ST="$(ssn_train_of "$S")"; SI="ssn_test_${S}_$T"; fi
  row "SSN on TAG, $S" "$WORK/eval_$S.json" "$WORK/eval_proposals.json" "$TAG_TRAIN+$ST" "$TAG_INFER+$SI"
done
for M in bmn bsn; do
  NAME=$(echo "$M" | tr a-z A-Z)
  if [ "$M" = bmn ]; then MT="$BMN_TRAIN"; MI="bmn_test_$T"; else MT="$BSN_TRAIN"; MI="$BSN_INFER"; fi
  row "$NAME proposals" "" "$WORK/$M/eval_proposals.json" "$MT" "$MI"
  for S in "${STREAMS[@]}" fused; do
    if [ "$S" = fused ]; then ST="$SSN_TRAIN_fused"; SI="$(joined "${SSN_INFER[@]/#ssn_test_/ssn_test_${M}_}")"
    else ST="$(ssn_train_of "$S")"; SI="ssn_test_${M}_${S}_$T"; fi
    row "SSN on $NAME, $S" "$WORK/$M/eval_ssn_$S.json" "$WORK/$M/eval_proposals.json" "$MT+$ST" "$MI+$SI"
  done
  for K in 1 2; do
    row "$NAME + video classifier, top-$K" "$WORK/$M/eval_cls_top$K.json" "$WORK/$M/eval_proposals.json" \
        "$MT+video_classifier" "$MI"
  done
done
for M in main decouple; do
  if [ "$M" = main ]; then NAME="main-stream SSAD"; else NAME="Decouple-SSAD"; fi
  for S in RGB Flow fused; do
    if [ "$S" = fused ]; then ST="$FEAT+ssad_${M}_train_RGB+ssad_${M}_train_Flow"; SI="ssad_${M}_test_RGB+ssad_${M}_test_Flow"
    else ST="$FEAT+ssad_${M}_train_$S"; SI="ssad_${M}_test_$S"; fi
    row "$NAME, $S" "$WORK/ssad/eval_${M}_$S.json" "" "$ST" "$SI"
  done
done
[ ${#MISSING[@]} -eq 0 ] || echo "14_compare: left out (their stage has not run): ${MISSING[*]}" >&2
"$PY" "$REPO/compare_methods.py" "${ROWS[@]}" --times "$RUN_TIMES" --output "$WORK/comparison" \
    --title "$DATASET ($CONFIG), $TEST_SUBSET videos; mAP under the preset's protocol; seconds on this machine"
