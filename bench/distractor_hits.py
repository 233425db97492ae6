"""Where a synthetic run's best detections lie: on actions, or on the generator's distractors (issue 21).

Example (a finished demo WORK folder; the wave family's the same way)::

    python bench/distractor_hits.py work_dirs/synthetic_demo --top 100

Reads ``WORK/data/generation.json`` (every drawn event, :func:`ops.video.synthetic.read_generation_events`)
and the detections ``WORK/detections_fused.json`` (``--detections``; ActivityNet layout, seconds).  Ground
truth: the ``--subset``'s actions; known negatives: its distractors (the first or last 25-45 % of an action,
then an abrupt cut; not ground truth).  Every detection gets its kind at ``--iou`` under the THUMOS14
protocol (:func:`ops.evaluation.detection_eval.false_positive_kinds`): true positive, duplicate, ``negative``
(on a distractor), localization, wrong class, background.  Prints the counts among the ``--top`` best
detections (by score, over all videos) and among all of them, and how many of the distractors, split by
kind (``start``: an action's beginning, ``end``: its end), one of the top detections covers.

With ``--train_list`` (a frame-based proposal list of the training videos, e.g. ``WORK/tag_validation.txt``),
also how SSN's sampling (:func:`ops.train.sampling.categorize`, default thresholds) sorts the training
proposals that lie on a distractor (IoU > ``--iou``): background teaches the activity head to reject them;
SSN's completeness head never sees background.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ops.evaluation.detection_eval import (FP_KINDS, IGNORED, TRUE_POSITIVE, GroundTruth,  # noqa: E402
                                           false_positive_kinds)
from ops.formats.detections import read_activitynet_json  # noqa: E402
from ops.formats.proposal_list import read_proposal_list  # noqa: E402
from ops.train.sampling import ProposalTable, SamplingConfig, categorize  # noqa: E402
from ops.temporal import pairwise_iou  # noqa: E402
from ops.video.synthetic import GENERATION_NAME, read_generation_events  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("work", type=Path, help="a finished WORK folder of a synthetic run (stage 8 done)")
    p.add_argument("--detections", type=Path, help="default: WORK/detections_fused.json")
    p.add_argument("--generation", type=Path, help=f"default: WORK/data/{GENERATION_NAME}")
    p.add_argument("--subset", default="test", help="the videos the detections are of")
    p.add_argument("--top", type=int, default=100, help="how many of the best detections to break down")
    p.add_argument("--iou", type=float, default=0.5)
    p.add_argument("--train_list", type=Path, help="frame-based proposal list of the training videos")
    return p


def segments(record: dict, subset: str, kinds: tuple) -> tuple[GroundTruth, np.ndarray]:
    """The subset's events of ``kinds`` as a GroundTruth in seconds (every video of the subset listed), and
    each event's kind."""
    ev = record["events"]
    keep = (ev["subset"] == subset) & np.isin(ev["kind"], kinds)
    videos = sorted(v for v, s in record["videos"].items() if s == subset)
    return GroundTruth(ev["video"][keep], ev["t_start"][keep], ev["t_end"][keep], ev["label"][keep], videos,
                       len(record["classes"]), classes=record["classes"]), ev["kind"][keep]


def covered(dets, negatives: GroundTruth, iou: float) -> np.ndarray:
    """(A,) True where one of ``dets`` meets ``iou`` (>, THUMOS14) with that negative segment."""
    out = np.zeros(len(negatives), dtype=bool)
    for video in np.unique(negatives.video.astype(str)):     # per video: a few dozen videos, not a hot path
        n, d = negatives.video == video, dets.video == video
        if d.any():
            iou_nd = pairwise_iou(np.c_[negatives.t_start[n], negatives.t_end[n]], np.c_[dets.t_start[d], dets.t_end[d]])
            out[n] = (iou_nd > iou).any(axis=1)
    return out


def training_kinds(record: dict, fps: dict, train_list: Path, iou: float) -> dict:
    """Counts of the training proposals on a distractor by SSN sampling kind, and of all background ones."""
    cfg, ev = SamplingConfig(), record["events"]
    counts = {"on_distractor": 0, "fg": 0, "incomplete": 0, "bg": 0, "bg_all": 0}
    for v in read_proposal_list(train_list):                 # per video: a few dozen videos, not a hot path
        table = ProposalTable.from_video(v, cfg.include_gt)
        kinds = categorize(table, v.num_frames, cfg)
        counts["bg_all"] += len(kinds["bg"])
        mine = (ev["video"] == v.video_id) & np.isin(ev["kind"], ("start", "end"))
        if not mine.any() or not len(table.bounds):
            continue
        frames = np.c_[ev["t_start"][mine], ev["t_end"][mine]] * fps[v.video_id]
        on = pairwise_iou(table.bounds, frames).max(axis=1) > iou
        counts["on_distractor"] += int(on.sum())
        for k in ("fg", "incomplete", "bg"):
            counts[k] += int(on[kinds[k]].sum())
    return counts


def main(args: argparse.Namespace) -> int:
    record = read_generation_events(args.generation or args.work / "data" / GENERATION_NAME)
    gt, _ = segments(record, args.subset, ("action",))
    negatives, negative_kind = segments(record, args.subset, ("start", "end"))
    dets = read_activitynet_json(args.detections or args.work / "detections_fused.json", record["classes"])
    kind = false_positive_kinds(dets, gt, "thumos14", args.iou, negatives)
    top = np.argsort(-dets.score, kind="stable")[:args.top]
    names = ["true_positive", *FP_KINDS, "ignored"]
    codes = [TRUE_POSITIVE, *range(len(FP_KINDS)), IGNORED]
    print(f"{args.work}: {len(gt)} actions, {len(negatives)} distractors, {len(dets)} detections "
          f"({args.subset}, IoU > {args.iou}; 'negative' = on a distractor)")
    print(f"{'kind':<14}{'top ' + str(len(top)):>10}{'all':>10}")
    for name, code in zip(names, codes):
        print(f"{name:<14}{int((kind[top] == code).sum()):>10}{int((kind == code).sum()):>10}")
    hit = covered(dets.take(top), negatives, args.iou)
    for k in ("start", "end"):
        print(f"distractors of kind {k!r} covered by a top detection: "
              f"{int(hit[negative_kind == k].sum())} of {int((negative_kind == k).sum())}")
    if args.train_list:
        c = training_kinds(record, record["fps"], args.train_list, args.iou)
        print(f"training proposals on a distractor ({args.train_list.name}): {c['on_distractor']}, of which "
              f"foreground {c['fg']}, incomplete {c['incomplete']}, background {c['bg']} "
              f"(of {c['bg_all']} background proposals in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
