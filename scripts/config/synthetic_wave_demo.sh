# The synthetic generator's second family (issue 21): other motions, actor and background, 20 fps, 16-30 s videos,
# run with exactly the synthetic demo's settings (the point: defaults chosen on one family must hold on another).
# Use: CONFIG=synthetic_wave_demo ./run_demo.sh   (every variable can be overridden, as for synthetic_demo)
DATASET="${DATASET:-synthetic_wave}"
SYNTH_PRESET="${SYNTH_PRESET:-demo_wave}"
source "$REPO/scripts/config/synthetic_demo.sh"
