"""Generate the synthetic benchmark dataset (real mp4 videos, exact ground truth).

Example::

    python gen_synthetic_dataset.py /tmp/synth --preset tiny --seed 0 -j 2

Writes ``OUT/videos/*.mp4``, ``OUT/annotations/`` (THUMOS14 layout) and
``OUT/annotations.json`` (ActivityNet layout); see ``ops/video/synthetic.py`` for
what is drawn.  Re-running with the same seed and preset resumes: videos
already written are kept, and the same seed gives the same dataset.  Video
names do not depend on the seed, so an OUT made with another seed or preset
(``OUT/generation.json``, or ``OUT/videos/.seed.json`` written before the
first video) is refused, as are videos whose seed nothing records;
``--overwrite`` deletes them and generates anew.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

from joblib import Parallel, delayed

from ops.errors import InputError, positive_int, run_main
from ops.log import progress, setup_logging
from ops.video import synthetic

logger = logging.getLogger("gen_synthetic_dataset")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir", type=Path, help="output folder (created)")
    p.add_argument("--preset", default="tiny", choices=sorted(synthetic.SIZE_PRESETS), help="dataset size")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same dataset")
    p.add_argument("--overwrite", action="store_true",
                   help="when OUT holds a dataset of another seed or preset (or videos of unknown seed), "
                        "delete its videos and annotations and generate anew, instead of stopping")
    p.add_argument("-j", "--workers", type=positive_int, default=1, help="parallel video writers")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def _write_one(spec: synthetic.VideoSpec, out: Path, width: int, height: int) -> float:
    start = time.perf_counter()
    synthetic.write_video(spec, out, width, height)
    return time.perf_counter() - start


def _our_videos(video_dir: Path) -> list[Path]:
    """Videos ops.video.synthetic writes there (``video_<subset>_<index>.mp4``) and their temp files."""
    return sorted(video_dir.glob("video_*.mp4")) + sorted(video_dir.glob(".video_*.partial.mp4"))


def conflicts(out_dir: Path, seed: int, preset: str) -> list[str]:
    """Why ``out_dir`` cannot be resumed with ``seed`` and ``preset``: one line per problem, [] when it can.

    Its generation.json and seed marker must record the same seed and preset
    (either may be missing: a run killed before its annotations has only the
    marker, an older version's dataset only generation.json); videos without
    either may be of any seed.
    """
    problems, recorded = [], False
    for path in (out_dir / synthetic.GENERATION_NAME, out_dir / "videos" / synthetic.SEED_MARKER):
        try:
            stored = synthetic.recorded_origin(path)
        except ValueError as e:
            problems.append(f"{path} is unreadable ({e})")
            continue
        if stored is None:
            continue
        recorded = True
        if stored != (seed, preset):
            problems.append(f"{path} records seed {stored[0]}, preset {stored[1]}; this run asks for "
                            f"seed {seed}, preset {preset}")
    videos = [p for p in _our_videos(out_dir / "videos") if not p.name.startswith(".")]
    if videos and not recorded and not problems:
        problems.append(f"{out_dir / 'videos'} holds {len(videos)} video(s) but neither generation.json nor "
                        f"videos/{synthetic.SEED_MARKER} records their seed and preset (an older version killed before "
                        "writing its annotations?)")
    return problems


def clear(out_dir: Path) -> None:
    """Delete the videos, then the records and annotations, of the dataset in ``out_dir``.

    Videos first: a run killed half-way still has a record that refuses the new seed, or nothing left.
    """
    for path in _our_videos(out_dir / "videos"):
        path.unlink()
    for name in ("videos/" + synthetic.SEED_MARKER, synthetic.GENERATION_NAME, "annotations.json"):
        (out_dir / name).unlink(missing_ok=True)
    shutil.rmtree(out_dir / "annotations", ignore_errors=True)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    cfg = synthetic.SIZE_PRESETS[args.preset]
    specs = synthetic.dataset_specs(cfg, args.seed)
    video_dir = args.out_dir / "videos"
    video_dir.mkdir(parents=True, exist_ok=True)
    problems = conflicts(args.out_dir, args.seed, args.preset)
    if problems and not args.overwrite:
        raise InputError(f"{args.out_dir}: cannot resume, its videos may not match the ground truth of seed "
                         f"{args.seed}, preset {args.preset}:\n  " + "\n  ".join(problems) + "\nuse another output "
                         "folder, or pass --overwrite to delete its videos and annotations and generate anew")
    if problems:
        logger.warning("--overwrite: deleting the dataset in %s (%s)", args.out_dir, "; ".join(problems))
        clear(args.out_dir)
    synthetic.write_seed_marker(video_dir, args.seed, args.preset)  # before any video
    todo = [s for s in specs if not (video_dir / f"{s.video}.mp4").exists()]
    logger.info("%s preset, seed %d: %d videos (%d to write) in %s",
                args.preset, args.seed, len(specs), len(todo), video_dir)
    jobs = (delayed(_write_one)(s, video_dir / f"{s.video}.mp4", cfg.width, cfg.height) for s in todo)
    results = Parallel(n_jobs=args.workers, return_as="generator")(jobs) if todo else []
    # the results first: zip then runs joblib's generator to its end (a generator left open warns of cancelled tasks)
    for seconds, spec in zip(progress(results, total=len(todo), desc="videos", unit="video"), todo):
        logger.debug("%s: %d frames in %.2f s", spec.video, spec.num_frames, seconds)
    synthetic.write_annotations(args.out_dir, specs, cfg, args.seed, args.preset)
    n_act = sum(len(s.actions) for s in specs)
    logger.info("done: %d videos, %d action instances, %d distractors", len(specs), n_act,
                sum(len(s.events) for s in specs) - n_act)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
