"""Draw a timeline picture (PNG) of ground truth and detections for a few videos.

Example::

    python plot_timeline.py synthetic work_dirs/synthetic_demo/detections_fused.json \\
        work_dirs/synthetic_demo/timeline_fused.png --annotations work_dirs/synthetic_demo/data/annotations \\
        --subset test --num_videos 4 --min_score 0.05

Reads an ActivityNet-style detection JSON (seconds; what
``eval_detection_results.py --export_json`` and ``detect.py`` write) and, with
``--annotations``, the ground truth of ``--subset`` (default: the preset's test
subset).  One band per video: a GT lane (without ``--annotations`` none), a
detections lane with the ``--top_k`` best detections scoring at least
``--min_score`` (colour = class; height and opacity grow with the score) and a
time axis in seconds (``ops/evaluation/timeline.py``).  Videos: ``--videos``, else the
first ``--num_videos`` of the annotations (or of the detection file).
"""
from __future__ import annotations

import sys
from pathlib import Path

import argparse
import logging

import numpy as np

from ops.errors import InputError, run_main
from ops.evaluation.timeline import draw_timeline, timeline_videos
from ops.formats.annotations import load_annotations
from ops.formats.detections import read_activitynet_json
from ops.formats.presets import load_preset, resolve
from ops.log import setup_logging

logger = logging.getLogger("plot_timeline")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("detections", type=Path, help="ActivityNet-style detection JSON (seconds)")
    p.add_argument("output", type=Path, help="PNG to write")
    p.add_argument("--annotations", type=Path, default=None,
                   help="THUMOS14 folder, ActivityNet-style .json or custom .csv: GT lanes and durations")
    p.add_argument("--subset", default=None, help="annotation subset (default: the preset's test subset)")
    p.add_argument("--videos", nargs="+", default=None, help="video ids to draw (default: the first --num_videos)")
    p.add_argument("--num_videos", type=int, default=4, help="videos drawn without --videos")
    p.add_argument("--min_score", type=float, default=0.0, help="detections scoring less are not drawn")
    p.add_argument("--top_k", type=int, default=20, help="best detections drawn per video (<= 0: all)")
    p.add_argument("--width", type=int, default=1200, help="picture width in pixels")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def choose_videos(requested: list[str] | None, candidates: list[str], num: int, source: str) -> list[str]:
    """``requested`` (each must be a candidate) or the first ``num`` candidates."""
    if requested is None:
        return candidates[:max(num, 0)]
    known = set(candidates)
    unknown = [v for v in requested if v not in known]
    if unknown:
        raise InputError(f"video(s) {unknown} are not in {source}")
    return list(requested)


def durations_of(videos: list[str], db) -> dict[str, float]:
    """Duration (s) per video from the annotations; NaN where unknown (the picture then uses the last end)."""
    known = set(db.video_ids) if db is not None else set()
    return {v: db.duration(v) if v in known else np.nan for v in videos}


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    db = None
    if args.annotations is not None:
        db = load_annotations(args.annotations, resolve(args.subset, preset["test_subset"]),
                              classes=preset.get("classes"))
    classes = db.classes if db is not None else preset.get("classes")
    if not classes:
        raise InputError(f"preset {preset['name']} names no classes; give --annotations for the class names")
    dets = read_activitynet_json(args.detections, classes)
    in_file = list(dict.fromkeys(dets.video.tolist()))
    annotated = db.video_ids if db is not None else []
    seen = set(annotated)
    candidates = annotated + [v for v in in_file if v not in seen]
    videos = choose_videos(args.videos, candidates, args.num_videos,
                           f"{args.detections} or {args.annotations}" if db is not None else str(args.detections))
    entries = timeline_videos(dets, durations_of(videos, db), videos, db.ground_truth() if db is not None else None)
    draw_timeline(entries, classes, args.output, args.width, args.min_score, args.top_k,
                  title=f"{args.detections.name}: {len(videos)} video(s), {preset['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
