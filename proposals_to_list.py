"""Proposals of BMN, BSN or any method (ActivityNet proposal JSON) into a labelled SSN proposal list.

Example::

    python proposals_to_list.py work/bmn/proposals_test.json work/bmn_test_normalized.txt \\
        --dataset activitynet1.3 --subset validation --annotations activity_net.v1-3.min.json --top_n 100

Reads a proposal file: ActivityNet JSON ``{"results": {video: [{"score", "segment": [s, e]}]}}`` in seconds
(ours from bmn_test.py / bsn_test.py, or the published BMN/BSN results; video ids with or without ``v_``),
or BSN/BMN CSV in fractions (one file with a ``video`` column or a folder of ``<video>.csv``).  Keeps the
``--top_n`` best proposals of every video, turns seconds into fractions of the video's duration (from the
annotations, or ``--video_info``), clips them to [0, 1], labels each proposal against the ground truth (best IoU, overlap over
the proposal; ``ops.formats.proposal_list.make_video_proposals``, as gen_bottom_up_proposals.py does for TAG)
and writes a *normalized* proposal list, with the annotations' video ids, in database order.  Then, as for
TAG: ``gen_proposal_list.py`` (frame-based list), ``ssn_train.py`` / ``ssn_test.py``, evaluation.  Prints
the SSN recall and AR@AN of the list.  Videos: those of the subset with ground truth (``--all_videos``: every
one) minus the avoid list; a video without proposals is left out with a warning.  See
``docs/proposals_to_detections.md``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from ops.errors import InputError, run_main
from ops.evaluation.label_proposals import align_video_ids, top_n_per_video
from ops.evaluation.proposal_eval import recall_report
from ops.formats.annotations import AnnotationDB, add_video_dir_arg, load_dataset_annotations
from ops.formats.detections import Detections, read_activitynet_json, read_proposal_csv
from ops.formats.features import lookup_video, read_video_info
from ops.formats.presets import load_preset
from ops.formats.proposal_list import ProposalList, make_video_proposals, write_proposal_list
from ops.log import setup_logging
from ops.temporal import seconds_to_fraction

logger = logging.getLogger("proposals_to_list")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("proposals", type=Path, help="ActivityNet proposal .json (seconds), or BSN/BMN .csv / folder")
    p.add_argument("output", type=Path, help="normalized proposal list to write")
    p.add_argument("--dataset", required=True, help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("--subset", default=None, help="annotation subset (default: the preset's test subset)")
    p.add_argument("--annotations", type=Path, required=True, help="THUMOS14 folder, ActivityNet JSON or CSV")
    add_video_dir_arg(p)
    p.add_argument("--video_info", type=Path, default=None,
                   help="durations from BSN's video_info_new.csv or anet_anno_action.json (duration_second: the "
                        "video files' own) instead of the annotations'")
    p.add_argument("--top_n", type=int, default=100,
                   help="best proposals kept per video, <= 0: all (BMN/BSN write 100; TAG's lists hold ~50)")
    p.add_argument("--all_videos", action="store_true",
                   help="also videos without ground truth (default: annotated videos only, as TAG's lists)")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def read_proposals(path: Path) -> Detections:
    """Class-agnostic proposals: ActivityNet JSON (seconds) or BSN/BMN CSV (fractions)."""
    if not path.exists():
        raise FileNotFoundError(f"proposal file {path} does not exist")
    if path.is_file() and path.suffix.lower() == ".json":
        return read_activitynet_json(path)
    return read_proposal_csv(path)


def select_videos(db: AnnotationDB, props: Detections, all_videos: bool, source: str) -> dict[str, str]:
    """Videos of the list, in database order: {database id: id in the proposal file}.

    Annotated videos (every video with ``all_videos``) minus the avoid list; those without proposals are
    left out with a warning; InputError when no video matches (wrong file or subset).
    """
    annotated = set(db.instances["video"])
    wanted = [v for v in db.video_ids if (all_videos or v in annotated) and v not in db.avoid]
    ids = np.unique(props.video.astype(str)).tolist()
    to_db = align_video_ids(ids, wanted)
    if not to_db:
        raise InputError(f"{source}: none of its videos is a video of {db.name} (e.g. "
                         f"{props.video[:3].tolist()}); check --annotations and --subset")
    from_db = {d: p for p, d in to_db.items()}
    missing = [v for v in wanted if v not in from_db]
    if missing:
        logger.warning("%s: %d of %d video(s) of %s have no proposals and are left out, e.g. %s", source,
                       len(missing), len(wanted), db.name, missing[:5])
    if len(ids) > len(to_db):
        logger.info("%s: %d video(s) are not in %s; ignored", source, len(ids) - len(to_db), db.name)
    return {v: from_db[v] for v in wanted if v in from_db}


def clipped_proposals(props: Detections, videos: dict[str, str], durations: dict[str, float], top_n: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The proposals of ``videos`` clipped to their video (``[0, duration]`` seconds, or ``[0, 1]`` for
    fractions), empty ones (after clipping) dropped, then the ``top_n`` best of each video.

    Returns (codes (M,) index into ``videos``, bounds (M, 2) in ``props.unit``), grouped by video in
    ``videos`` order, best first.
    """
    code_of = {p: k for k, p in enumerate(videos.values())}
    uniq, inverse = np.unique(props.video.astype(str), return_inverse=True)
    codes = np.array([code_of.get(u, -1) for u in uniq.tolist()], dtype=np.int64)[inverse]
    rows = np.flatnonzero(codes >= 0)
    ends = np.array([durations[v] for v in videos])[codes[rows]] if props.unit == "seconds" else 1.0
    bounds = np.clip(props.bounds[rows], 0.0, np.reshape(ends, (-1, 1)))
    keep = bounds[:, 1] > bounds[:, 0]
    if not keep.all():
        logger.info("%d proposal(s) empty once clipped to the video; dropped", int((~keep).sum()))
    rows, bounds = rows[keep], bounds[keep]
    best = top_n_per_video(codes[rows], props.score[rows], top_n)
    return codes[rows][best], bounds[best]


def video_durations(db: AnnotationDB, videos: list[str], video_info: Path | None) -> dict[str, float]:
    """Seconds of each of ``videos``: ``duration_second`` of ``video_info`` (ids with or without ``v_``), else
    the annotations' durations; InputError naming a video without one."""
    if video_info is None:
        return db.require_durations(videos)
    info = read_video_info(video_info)
    durations = {v: lookup_video(info, v, str(video_info)).duration_second for v in videos}
    unknown = [v for v, d in durations.items() if d is None]
    if unknown:
        raise InputError(f"{video_info}: no duration_second for {len(unknown)} video(s), e.g. {unknown[:3]}")
    return durations


def build_list(db: AnnotationDB, props: Detections, videos: dict[str, str], durations: dict[str, float],
               top_n: int) -> ProposalList:
    """The labelled normalized list of ``videos`` ({database id: proposal file id}); ``durations`` in seconds."""
    codes, bounds = clipped_proposals(props, videos, durations, top_n)
    splits = np.searchsorted(codes, np.arange(1, len(videos)))
    gt = db.ground_truth()
    blocks = []
    for vid, own in zip(videos, np.split(bounds, splits)):
        gt_bounds, gt_labels = gt[vid]
        frac = seconds_to_fraction(own, durations[vid]) if props.unit == "seconds" else own
        blocks.append(make_video_proposals(vid, 1, seconds_to_fraction(gt_bounds, durations[vid]), gt_labels,
                                           frac))
    return ProposalList(blocks, normalized=True)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    subset = args.subset or preset["test_subset"]
    db = load_dataset_annotations(preset, args.annotations, subset, video_dir=args.video_dir)
    props = read_proposals(args.proposals)
    videos = select_videos(db, props, args.all_videos, str(args.proposals))
    plist = build_list(db, props, videos, video_durations(db, list(videos), args.video_info), args.top_n)
    write_proposal_list(args.output, plist)
    logger.info("%s: %d videos written", args.output, len(plist))
    print(recall_report(plist, preset["num_classes"]))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
