"""Generate the synthetic benchmark dataset (real mp4 videos, exact ground truth).

Example::

    python gen_synthetic_dataset.py /tmp/synth --preset tiny --seed 0 -j 2

Writes ``OUT/videos/*.mp4``, ``OUT/annotations/`` (THUMOS14 layout) and
``OUT/annotations.json`` (ActivityNet layout); see ``ops/synthetic.py`` for
what is drawn.  Re-running resumes: videos already written are kept, and the
same seed gives the same dataset.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from joblib import Parallel, delayed  # noqa: E402
from tqdm import tqdm  # noqa: E402

from ops import synthetic  # noqa: E402
from ops.log import setup_logging  # noqa: E402

logger = logging.getLogger("gen_synthetic_dataset")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path, help="output folder (created)")
    p.add_argument("--preset", default="tiny", choices=sorted(synthetic.SIZE_PRESETS), help="dataset size")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same dataset")
    p.add_argument("-j", "--workers", type=int, default=1, help="parallel video writers")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def _write_one(spec: synthetic.VideoSpec, out: Path, width: int, height: int) -> float:
    start = time.perf_counter()
    synthetic.write_video(spec, out, width, height)
    return time.perf_counter() - start


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    cfg = synthetic.SIZE_PRESETS[args.preset]
    specs = synthetic.dataset_specs(cfg, args.seed)
    video_dir = args.out_dir / "videos"
    video_dir.mkdir(parents=True, exist_ok=True)
    todo = [s for s in specs if not (video_dir / f"{s.video}.mp4").exists()]
    logger.info("%s preset, seed %d: %d videos (%d to write) in %s",
                args.preset, args.seed, len(specs), len(todo), video_dir)
    jobs = (delayed(_write_one)(s, video_dir / f"{s.video}.mp4", cfg.width, cfg.height) for s in todo)
    results = Parallel(n_jobs=args.workers, return_as="generator")(jobs) if todo else []
    # the results first: zip then runs joblib's generator to its end (a generator left open warns of cancelled tasks)
    for seconds, spec in zip(tqdm(results, total=len(todo), desc="videos", unit="video"), todo):
        logger.debug("%s: %d frames in %.2f s", spec.video, spec.num_frames, seconds)
    synthetic.write_annotations(args.out_dir, specs, cfg, args.seed, args.preset)
    n_act = sum(len(s.actions) for s in specs)
    logger.info("done: %d videos, %d action instances, %d distractors", len(specs), n_act,
                sum(len(s.events) for s in specs) - n_act)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
