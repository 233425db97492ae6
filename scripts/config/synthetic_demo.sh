# Settings of the synthetic demo (sourced by the numbered scripts; every variable can be overridden).
DATASET="${DATASET:-synthetic}"
SYNTH_PRESET="${SYNTH_PRESET:-demo}"
WORK="${WORK:-$REPO/work_dirs/synthetic_$SYNTH_PRESET}"
DATA_ROOT="${DATA_ROOT:-$WORK/data}"
VIDEO_DIR="${VIDEO_DIR:-$DATA_ROOT/videos}"
ANNOTATIONS="${ANNOTATIONS:-$DATA_ROOT/annotations}"
FRAME_ROOT="${FRAME_ROOT:-$WORK/frames}"
TRAIN_SUBSET="${TRAIN_SUBSET:-validation}"
TEST_SUBSET="${TEST_SUBSET:-test}"
FRAME_SIZE="${FRAME_SIZE:-0 0}"          # keep the videos' own 160x120
# the actors move 0.7-3.3 px a frame at 160x120: flow clipped at +-10 px (not 20, the TSN/DenseFlow default for
# 340x256) gives them twice the grey levels (docs/training.md, issue 21)
FLOW_BOUND="${FLOW_BOUND-10}"
ARCH="${ARCH:-tiny}"
ARCH_ARGS="${ARCH_ARGS:---global_pool max}"   # the actor covers ~4 % of a frame: max pooling keeps it visible
# Flow snippets span a second whatever the videos' frame rate (TSN's 5 flow frames were chosen for 25-30 fps): 10
# frames at the demo's 10 fps, 20 at the wave family's 20, where 5 (a quarter second) barely show an action's fading
# end.  Over 3 seeds, fused mAP@0.5 on the wave family 77.61 +- 2.04 (half a second: 70.82 +- 2.50; a quarter:
# 66.95 +- 3.10), on the motion family 86.11 +- 4.17 (half a second: 86.24 +- 1.66); the demo 20.5 min on 2 cores
# (docs/training.md, "Sixth round").  Resolved at the training videos' median fps and stored in the checkpoints;
# empty: Flow's 5 frames
ARCH_ARGS_Flow="${ARCH_ARGS_Flow---snippet_seconds 1}"
PRETRAINED="${PRETRAINED:-}"
BINARY_ARGS="${BINARY_ARGS:---epochs 8 -b 4 --lr 0.01 --epoch_multiplier 2 --dropout 0.5}"
SSN_ARGS="${SSN_ARGS:---epochs 20 -b 4 --lr 0.01 --lr_steps 14 --epoch_multiplier 2 --dropout 0.5}"
# Flow carries the class (single RGB frames cannot show a direction of motion) and keeps improving past 20 epochs;
# two background samples per video (1:5:2): half the training list's background proposals cover a distractor
# (part of an action), which Flow's activity classifier must learn to reject
SSN_ARGS_Flow="${SSN_ARGS_Flow---epochs 40 --lr_steps 30 --incomplete_ratio 5 --bg_ratio 2}"   # empty: Flow as RGB
# MODALITIES="RGB Flow RGBDiff" adds a third stream, RGB differences (TSN's RGBDiff, from the RGB frames): it sees the
# actor grow and shrink, which one RGB frame of a per-video-sized actor cannot show, and it moves like Flow, so it
# trains as Flow.  Higher mAP on both synthetic families over 3 seeds (wave: 79.19 +- 2.64 against 75.60 +- 2.06;
# motion: 93.67 +- 3.27 against 86.11 +- 4.17), but the demo with it (every part side by side, SIDE_BY_SIDE=1) took
# 1,501-1,733 s (1,546 s with batches gathered once), over its 25-minute limit: not yet the default (issue 21:
# docs/training.md, "Fifth round" to "Ninth round")
SSN_ARGS_RGBDiff="${SSN_ARGS_RGBDiff---epochs 40 --lr_steps 30 --incomplete_ratio 5 --bg_ratio 2}"   # empty: as RGB
# RGB differences spanning half a second, as Flow's stacks span a second: 5 at the demo's 10 fps (TSN's), 10 at the
# wave family's 20, where RGBDiff alone rose from 61.99 to 69.35 (seed 0; docs/training.md, "Seventh round"); empty: 5
ARCH_ARGS_RGBDiff="${ARCH_ARGS_RGBDiff---snippet_seconds 0.5}"
TEST_INTERVAL="${TEST_INTERVAL:-2}"
# "search": stage 7 also scores TRAIN_SUBSET and stage 8 chooses per-output weights (activity, completeness,
# regression) on it; or fixed weights "RGB Flow" for every output, as the original SSN
FUSION_WEIGHTS="${FUSION_WEIGHTS:-search}"
JOBS="${JOBS:-2}"
