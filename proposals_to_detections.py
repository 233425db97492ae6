"""Class-agnostic proposals (BMN, BSN, ...) + video-level class scores -> detections.

Example (MMAction2's report_map.py recipe: the video's best class, proposal score unchanged)::

    python proposals_to_detections.py work/bmn/proposals_test.json work/video_scores_validation.json \\
        work/bmn/detections_test.json --dataset activitynet1.3 --annotations activity_net.v1-3.min.json \\
        --subset validation
    python eval_detection_results.py activitynet1.3 --detections work/bmn/detections_test.json \\
        --annotations activity_net.v1-3.min.json --subset validation

Every proposal of a video takes that video's ``--top_k_classes`` best classes from the video-level scores
(CUHK'17 layout, ``ops/formats/video_scores.py``; e.g. written by ``classify_videos.py``).  Score
(``--score_mode``): ``proposal`` keeps the proposal's score, ``product`` multiplies it by the class score
(the later toolboxes' recipe, with ``--top_k_classes 2``); the default is ``proposal`` for one class and
``product`` for more.  Proposals: ActivityNet JSON (seconds) or BSN/BMN CSV (fractions, needs
``--annotations`` for the durations); the ``--top_n`` best per video are used.  With ``--annotations`` the
video ids are written as the annotations spell them (``v_`` added or dropped) and only that subset's videos
are kept.  Output by suffix: ``.json`` ActivityNet submission, ``.txt`` THUMOS14 evalkit text (official
class ids from the preset or the annotations), ``.csv`` detection CSV.  Then ``eval_detection_results.py
--detections``.  See ``docs/proposals_to_detections.md``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from ops.errors import InputError, run_main
from ops.evaluation.label_proposals import SCORE_MODES, align_video_ids, label_with_video_classes, top_n_per_video
from ops.formats.annotations import AnnotationDB, add_video_dir_arg, load_annotations
from ops.formats.detections import (Detections, read_activitynet_json, read_proposal_csv, write_activitynet_json,
                                    write_detection_csv, write_thumos14_txt)
from ops.formats.presets import load_preset
from ops.formats.video_scores import VideoScores, read_video_scores
from ops.log import setup_logging

logger = logging.getLogger("proposals_to_detections")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("proposals", type=Path, help="ActivityNet proposal .json (seconds), or BSN/BMN .csv / folder")
    p.add_argument("video_scores", type=Path, help="video-level class scores (CUHK'17 JSON layout)")
    p.add_argument("output", type=Path, help="detections: .json (ActivityNet), .txt (THUMOS14) or .csv")
    p.add_argument("--dataset", required=True, help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("--annotations", type=Path, default=None,
                   help="annotations: class names and ids, video ids and durations (needed for CSV proposals)")
    p.add_argument("--subset", default=None, help="annotation subset (default: the preset's test subset)")
    add_video_dir_arg(p)
    p.add_argument("--top_k_classes", type=int, default=1, help="classes given to each proposal")
    p.add_argument("--score_mode", choices=SCORE_MODES, default=None,
                   help="proposal: score unchanged; product: proposal x class score (default: proposal for "
                        "one class, product for more)")
    p.add_argument("--top_n", type=int, default=100, help="best proposals used per video, <= 0: all")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def class_names(preset: dict, db: AnnotationDB | None, scores_path: Path) -> list[str] | None:
    """The dataset's classes: the preset's, else the annotations', else None (taken from the score file)."""
    if preset.get("classes"):
        return list(preset["classes"])
    if db is not None:
        return list(db.classes)
    logger.info("%s: classes taken from the score file (give --annotations for the dataset's order)", scores_path)
    return None


def proposals_in_seconds(path: Path, db: AnnotationDB | None) -> Detections:
    """Proposals in seconds, with the annotations' video ids when ``db`` is given (other videos dropped)."""
    if not path.exists():
        raise FileNotFoundError(f"proposal file {path} does not exist")
    props = read_activitynet_json(path) if path.is_file() and path.suffix.lower() == ".json" \
        else read_proposal_csv(path)
    if db is None:
        if props.unit != "seconds":
            raise InputError(f"{path}: proposals in fractions of the video; give --annotations for durations")
        return props
    uniq, inverse = np.unique(props.video.astype(str), return_inverse=True)
    to_db = align_video_ids(uniq.tolist(), db.video_ids)
    if not to_db:
        raise InputError(f"{path}: none of its videos is a video of {db.name}; check --annotations and --subset")
    if len(to_db) < len(uniq):
        logger.info("%s: %d video(s) are not in %s; ignored", path, len(uniq) - len(to_db), db.name)
    known = np.array([u in to_db for u in uniq.tolist()])[inverse]
    db_ids = np.array([to_db.get(u, "") for u in uniq.tolist()], dtype=object)
    props = props.take(known)
    props.video = db_ids[inverse[known]]
    if props.unit != "seconds":
        durations = db.require_durations(np.unique(props.video.astype(str)).tolist())
        props = props.scaled(durations, "seconds", str(path))
    return props


def detections_from(props: Detections, vs: VideoScores, top_n: int, top_k: int, score_mode: str,
                    source: str) -> Detections:
    """Label the ``top_n`` best proposals of every video with its ``top_k`` classes (seconds, labels 1-based)."""
    uniq, inverse = np.unique(props.video.astype(str), return_inverse=True)
    to_scores = align_video_ids(uniq.tolist(), vs.videos)
    missing = [u for u in uniq.tolist() if u not in to_scores]
    if missing:
        logger.warning("%s: %d video(s) of the proposals have no video-level scores and get no detections, "
                       "e.g. %s", source, len(missing), missing[:5])
    row_of = vs.index()
    video_row = np.array([row_of[to_scores[u]] if u in to_scores else -1 for u in uniq.tolist()])[inverse]
    rows = np.flatnonzero(video_row >= 0)
    rows = rows[top_n_per_video(inverse[rows], props.score[rows], top_n)]
    picked, labels, scores = label_with_video_classes(video_row[rows], props.score[rows], vs.scores, top_k,
                                                      score_mode)
    rows = rows[picked]
    return Detections(props.video[rows], props.t_start[rows], props.t_end[rows], labels, scores, unit="seconds")


def write_detections(path: Path, dets: Detections, classes: list[str], class_ids: list[int] | None) -> None:
    """Write by suffix: .json ActivityNet, .txt THUMOS14 evalkit (needs class ids), .csv detection CSV."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        write_activitynet_json(path, dets, classes)
    elif suffix == ".txt":
        if not class_ids:
            raise InputError(f"{path}: THUMOS14 text needs official class ids (a preset with class_ids, or "
                             "THUMOS14 annotations with detclasslist.txt); write .json instead")
        write_thumos14_txt(path, dets, class_ids)
    elif suffix == ".csv":
        write_detection_csv(path, dets, classes)
    else:
        raise InputError(f"{path}: output must end in .json, .txt or .csv")


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    if args.top_k_classes < 1:
        raise InputError(f"--top_k_classes must be >= 1, got {args.top_k_classes}")
    preset = load_preset(args.dataset)
    db = None
    if args.annotations is not None:
        db = load_annotations(args.annotations, args.subset or preset["test_subset"], video_dir=args.video_dir,
                              classes=preset.get("classes"))
    classes = class_names(preset, db, args.video_scores)
    vs = read_video_scores(args.video_scores, classes)
    props = proposals_in_seconds(args.proposals, db)
    mode = args.score_mode or ("proposal" if args.top_k_classes == 1 else "product")
    dets = detections_from(props, vs, args.top_n, args.top_k_classes, mode, str(args.proposals))
    class_ids = preset.get("class_ids") or (db.class_ids if db is not None else None)
    write_detections(args.output, dets, vs.classes, class_ids)
    logger.info("%s: %d detections in %d videos (top %d class(es), score %s)", args.output, len(dets),
                len(set(dets.video.tolist())), args.top_k_classes, mode)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
