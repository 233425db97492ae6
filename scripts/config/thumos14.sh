# THUMOS14 (train on validation, test on test).  Set DATA_ROOT to a folder holding videos/ and annotations/
# (temporal_annotations_{validation,test}/, detclasslist.txt, {validation,test}_durations.txt).
DATASET="${DATASET:-thumos14}"
DATA_ROOT="${DATA_ROOT:-$REPO/data_thumos14}"
WORK="${WORK:-$REPO/work_dirs/thumos14}"
VIDEO_DIR="${VIDEO_DIR:-$DATA_ROOT/videos}"
ANNOTATIONS="${ANNOTATIONS:-$DATA_ROOT/annotations}"
FRAME_ROOT="${FRAME_ROOT:-$DATA_ROOT/frames}"
TRAIN_SUBSET="${TRAIN_SUBSET:-validation}"
TEST_SUBSET="${TEST_SUBSET:-test}"
FRAME_SIZE="${FRAME_SIZE:-340 256}"
ARCH="${ARCH:-bninception}"
PRETRAINED="${PRETRAINED:-}"              # path to ImageNet BN-Inception weights (strongly recommended)
BINARY_ARGS="${BINARY_ARGS:--b 16 --lr_steps 20 40 --epochs 45}"
SSN_ARGS="${SSN_ARGS:--b 4 --lr_steps 20 40 --epochs 45}"
TEST_INTERVAL="${TEST_INTERVAL:-6}"
FUSION_WEIGHTS="${FUSION_WEIGHTS:-1 1.2}"   # or "search": choose on TRAIN_SUBSET (scores it too)
JOBS="${JOBS:-8}"
