"""TAG proposals: temporal actionness grouping of per-frame actionness into a labelled proposal list.

Example::

    python gen_bottom_up_proposals.py work/thumos14_rgb_actionness_test.npz work/thumos14_flow_actionness_test.npz \\
        --dataset thumos14 --subset test --annotations /data/thumos14 \\
        --score_weights 1 1.5 --write_proposals work/thumos14_tag_test_normalized_proposal_list.txt

Reads actionness files written by ``binary_test.py`` (``.npz``, one per
modality) or the original SSN's score pickles (``.pkl``, ``{video: (snippets,
crops, 2)}``, loaded safely); with several, the raw scores are summed with
``--score_weights`` as the original; runs the temporal actionness grouping of
SSN on every video (``ops/proposals/tag.py``: softmax "action" curve, Gaussian
smoothing, thresholds x tolerances watershed search, boxes ranked by their raw
"action" sum, NMS at IoU 0.9), drops
proposals not longer than ``--min_length_seconds``, labels them against the
ground truth and writes a *normalized* proposal list (fractions of each
video; convert it with ``gen_proposal_list.py``).  Prints the SSN recall at
IoU 0.5 / 0.7 / 0.9, their average and ActivityNet AR@AN.  Videos: those of the
subset with ground truth (as the original; ``--all_videos`` for every one),
minus the avoid list of the annotations.  Algorithm, defaults and figures:
``docs/tag.md``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


from ops.errors import InputError, run_main
from ops.evaluation.proposal_eval import recall_report
from ops.formats.actionness import load_actionness
from ops.formats.annotations import AnnotationDB, add_video_dir_arg, load_dataset_annotations
from ops.formats.presets import load_preset
from ops.formats.proposal_list import ProposalList, make_video_proposals, write_proposal_list
from ops.log import progress, setup_logging
from ops.proposals import tag
from ops.temporal import seconds_to_fraction

logger = logging.getLogger("gen_bottom_up_proposals")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("actionness", nargs="+", type=Path, help="actionness files: .npz of binary_test.py or the original's .pkl, e.g. RGB and Flow")
    p.add_argument("--dataset", required=True, help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("--subset", default=None, help="annotation subset (default: the preset's test subset)")
    p.add_argument("--annotations", type=Path, required=True, help="THUMOS14 folder, ActivityNet JSON or CSV")
    add_video_dir_arg(p)
    p.add_argument("--write_proposals", type=Path, default=None, help="normalized proposal list to write")
    p.add_argument("--score_weights", type=float, nargs="+", default=None,
                   help="weight of each file's raw scores in the sum (default: all 1, as the original)")
    p.add_argument("--smooth", type=float, default=tag.DEFAULT_SIGMA,
                   help="Gaussian smoothing sigma in snippets, 0 = none (original: 3)")
    p.add_argument("--thresholds", type=float, nargs="+", default=list(tag.DEFAULT_THRESHOLDS),
                   help="actionness levels (original: 0.01 0.05 0.1 0.15 0.25 0.4 ... 0.9 0.95)")
    p.add_argument("--tolerances", type=float, nargs="+", default=list(tag.DEFAULT_TOLERANCES),
                   help="largest background fraction of a grouped box (original: 0.05 0.1 0.2 ... 0.8 1.0)")
    p.add_argument("--nms", type=float, default=tag.DEFAULT_NMS, help="NMS IoU threshold (original: 0.9)")
    p.add_argument("--min_length_seconds", "--minimum_len", type=float, default=0.0,
                   help="keep proposals longer than this many seconds (original: 0)")
    p.add_argument("--all_videos", action="store_true",
                   help="also videos without ground truth (default: annotated videos only, as the original)")
    p.add_argument("--frame_path", type=Path, default=None,
                   help="accepted for the original's command lines; unused (the list is normalized)")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def select_videos(db: AnnotationDB, all_videos: bool, available: dict) -> dict[str, float]:
    """Videos to cover, in database order, and their durations (s); InputError naming videos without
    actionness or duration."""
    annotated = set(db.instances["video"])
    videos = [v for v in db.video_ids if (all_videos or v in annotated) and v not in db.avoid]
    missing = [v for v in videos if v not in available]
    if missing:
        raise InputError(f"{db.name}: {len(missing)} video(s) have no actionness, e.g. {missing[:5]}; "
                         "run binary_test.py on this subset (or check --subset)")
    return db.require_durations(videos)


def build_list(db: AnnotationDB, durations: dict[str, float], actionness: dict, args) -> ProposalList:
    """Run TAG on every video of ``durations`` (id -> seconds) and label the proposals; a normalized list in
    that order."""
    gt = db.ground_truth()
    blocks = []
    for vid, duration in progress(durations.items(), desc="TAG", unit="video", disable=len(durations) < 50):
        rec = actionness[vid]
        bounds, scores = tag.tag_from_raw(rec.scores, args.smooth, args.thresholds, args.tolerances, args.nms)
        frac, _ = tag.boxes_to_fractions(bounds, scores, rec.frame_interval, rec.num_frames, duration,
                                         args.min_length_seconds, num_snippets=len(rec.scores))
        gt_bounds, gt_labels = gt[vid]
        blocks.append(make_video_proposals(vid, 1, seconds_to_fraction(gt_bounds, duration), gt_labels, frac))
    return ProposalList(blocks, normalized=True)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    subset = args.subset or preset["test_subset"]
    db = load_dataset_annotations(preset, args.annotations, subset, video_dir=args.video_dir)
    names = [str(p) for p in args.actionness]
    fused = tag.fuse_actionness([load_actionness(p) for p in args.actionness], args.score_weights, names)
    if args.frame_path is not None:
        logger.info("--frame_path is not needed: the list is normalized (gen_proposal_list.py makes frame lists)")
    durations = select_videos(db, args.all_videos, fused)
    extra = len(set(fused) - set(db.video_ids))
    if extra:
        logger.info("%d video(s) of the actionness are not in %s; ignored", extra, db.name)
    plist = build_list(db, durations, fused, args)
    if args.write_proposals is not None:
        write_proposal_list(args.write_proposals, plist)
        logger.info("%s: %d videos written", args.write_proposals, len(plist))
    print(recall_report(plist, preset["num_classes"]))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
