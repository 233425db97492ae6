"""Sliding-window proposals: exponential multi-scale windows labelled against ground truth.

Example::

    python gen_sliding_window_proposals.py thumos14 validation work/sw_val_normalized.txt \\
        --annotations /data/thumos14 --overlap 0.4 --max_level 8

    # frame-based list straight away (frame counts from the extracted folders):
    python gen_sliding_window_proposals.py synthetic validation work/sw_val.txt \\
        --annotations demo/annotations --frame_path demo/frames --modality RGB

Windows span ``2**k`` time steps (``k < --max_level``), start every
``ceil(2**k x (1 - overlap))`` steps and must have at least one second inside
the video (see ``ops/proposals/sliding_window.py``).  Each window is labelled with the
class of the ground truth it overlaps most, its best IoU and its overlap over
itself.  The list is normalized (fractions of the video) unless
``--frame_path`` is given; it then goes through the same pre-flight check as
``gen_proposal_list.py``.  Videos of the avoid list (``--avoid``, or the
``<subset>_avoid_videos.txt`` beside THUMOS14 annotations) are left out.
Prints recall at IoU 0.5 / 0.7 / 0.9 and the average number of windows.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from ops.errors import positive_float, run_main
from ops.evaluation.proposal_eval import recall_report
from ops.formats.annotations import AnnotationDB, add_video_dir_arg, load_dataset_annotations, read_avoid_list
from ops.formats.frames import add_preflight_args, preflight
from ops.formats.presets import load_preset
from ops.formats.proposal_list import ProposalList, make_video_proposals, to_frame_based, write_proposal_list
from ops.log import setup_logging
from ops.proposals.sliding_window import sliding_windows
from ops.temporal import seconds_to_fraction

logger = logging.getLogger("gen_sliding_window_proposals")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("subset", help="annotation subset, e.g. validation, test, training")
    p.add_argument("output", type=Path, help="proposal list to write")
    p.add_argument("--annotations", type=Path, required=True, help="THUMOS14 folder, ActivityNet JSON or CSV")
    p.add_argument("--frame_path", type=Path, default=None, help="frame root: write a frame-based list")
    p.add_argument("--modality", choices=["RGB", "Flow"], default="RGB", help="whose frame count (with --frame_path)")
    p.add_argument("--overlap", type=float, default=0.4, help="overlap of consecutive windows of one level")
    p.add_argument("--max_level", type=int, default=8, help="window spans 2**k time steps, k < max_level")
    p.add_argument("--time_step", type=positive_float, default=1.0, help="seconds per time step")
    p.add_argument("--min_seconds", type=float, default=1.0, help="least part of a window inside the video")
    p.add_argument("--avoid", type=Path, default=None, help="avoid list: videos left out")
    p.add_argument("--all_videos", action="store_true",
                   help="also videos without any annotation (default: annotated videos only, as the original)")
    add_video_dir_arg(p)
    add_preflight_args(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def select_videos(db: AnnotationDB, all_videos: bool, avoid: frozenset[str]) -> dict[str, float]:
    """Video ids to cover, in database order, and their durations (s)."""
    annotated = set(db.instances["video"]) | set(db.ambiguous["video"])
    videos = [v for v in db.video_ids if (all_videos or v in annotated) and v not in avoid]
    return db.require_durations(videos, leave_out="--avoid")


def build_list(db: AnnotationDB, durations: dict[str, float], args) -> ProposalList:
    """Normalized, labelled sliding-window list of the videos of ``durations`` (id -> seconds)."""
    gt = db.ground_truth()
    blocks = []
    for vid, duration in durations.items():
        windows = sliding_windows(duration, args.time_step, args.max_level, args.overlap, args.min_seconds)
        bounds, labels = gt[vid]
        blocks.append(make_video_proposals(vid, 1, seconds_to_fraction(bounds, duration), labels,
                                           seconds_to_fraction(windows, duration)))
    return ProposalList(blocks, normalized=True)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    db = load_dataset_annotations(preset, args.annotations, args.subset, video_dir=args.video_dir)
    avoid = db.avoid | (read_avoid_list(args.avoid) if args.avoid else frozenset())
    durations = select_videos(db, args.all_videos, avoid)
    plist = build_list(db, durations, args)
    if args.frame_path is not None:
        counts, problems = preflight(list(durations), args.frame_path, args.modality, durations, args.fps,
                                     args.count_tolerance)
        for p in problems:
            logger.warning("pre-flight: %s: %s", p.video, p.reason)
        if problems and not args.skip_bad:
            logger.error("%d problem video(s); nothing written. Fix them or pass --skip_bad.", len(problems))
            return 2
        plist = ProposalList([to_frame_based(b, counts[b.video_id], str(args.frame_path / b.video_id))
                              for b in plist if b.video_id in counts], normalized=False)
    write_proposal_list(args.output, plist)
    num = np.mean([b.num_proposals for b in plist]) if len(plist) else 0.0
    logger.info("%s: %d videos (%d avoided), %.1f windows per video", args.output, len(plist),
                len([v for v in db.video_ids if v in avoid]), num)
    print(recall_report(plist, preset["num_classes"]))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
