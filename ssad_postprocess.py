"""Decouple-SSAD's post-processing: one or two streams' prediction CSVs -> detections (seconds).

Example::

    python ssad_postprocess.py thumos14 work/ssad/decouple_RGB_test.csv work/ssad/decouple_Flow_test.csv \\
        --features work/features --output work/ssad/detections_decouple_fused.json

Two files (RGB first, then Flow; ours or the release's) fuse per anchor, ``2/3 Flow + 1/3 RGB``, rows aligned
(one line naming the first row that differs); then the filters, each anchor's 3 best classes, the CliffDiving
rule and NMS 0.2 per class (``ops/evaluation/ssad_post.py``); frames -> seconds by each video's own fps (from the
feature records, or ``--fps``: the preset's table of the release's frame rates, or one number).  Writes the
ActivityNet JSON detections ``eval_detection_results.py --detections`` reads, and with ``--thumos14 FILE`` the
evalkit's text lines.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ops.errors import InputError, positive_float, run_main
from ops.evaluation.ssad_post import fuse_predictions, predictions_to_detections
from ops.formats.detections import write_activitynet_json, write_thumos14_txt
from ops.formats.features import read_record
from ops.formats.presets import load_preset
from ops.formats.ssad_files import read_predictions
from ops.log import setup_logging

logger = logging.getLogger("ssad_postprocess")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("predictions", type=Path, nargs="+", help="one prediction CSV, or RGB then Flow")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--features", type=Path, help="feature root whose records give each video's fps")
    src.add_argument("--fps", default=None,
                     help="without feature records (the release's features): 'preset' for the preset's ssad.fps "
                          "table (THUMOS14: the release's frame rates, 30 except six test videos), or one number "
                          "for every video")
    p.add_argument("--output", type=Path, required=True, help="detections to write (ActivityNet JSON, seconds)")
    p.add_argument("--thumos14", type=Path, default=None, help="also write the THUMOS14 evalkit text")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def video_fps(args, preset: dict, videos: list[str]) -> dict[str, float]:
    """Each video's frame rate: its feature record's (Flow's, else RGB's), or ``--fps``."""
    if args.fps is None:
        fps = {}
        for v in videos:
            for stream in ("Flow", "RGB"):
                try:
                    fps[v] = read_record(args.features, stream, v).fps
                    break
                except InputError:
                    continue
        return fps
    if args.fps == "preset":
        table = preset.get("ssad", {}).get("fps")
        if not table:
            raise InputError(f"dataset preset {preset['name']!r} has no ssad.fps table; give --fps NUMBER")
        return {v: float(table["videos"].get(v, table["default"])) for v in videos}
    try:
        rate = positive_float(args.fps)
    except argparse.ArgumentTypeError:
        raise InputError(f"--fps {args.fps!r}: give 'preset' or a positive number") from None
    return dict.fromkeys(videos, rate)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    if len(args.predictions) > 2:
        raise InputError("give one prediction CSV, or two (RGB then Flow)")
    streams = [read_predictions(p) for p in args.predictions]
    videos, values = streams[0] if len(streams) == 1 else \
        fuse_predictions(streams[0], streams[1], tuple(str(p) for p in args.predictions))
    classes = preset.get("classes")
    if not classes or len(classes) != values.shape[1] - 5:
        raise InputError(f"{args.predictions[0]}: {values.shape[1] - 5} classes, but the preset "
                         f"{preset['name']!r} lists {len(classes or [])}")
    fps = video_fps(args, preset, sorted(set(videos)))
    dets = predictions_to_detections(videos, values, fps, classes)
    write_activitynet_json(args.output, dets, classes)
    if args.thumos14 is not None:
        write_thumos14_txt(args.thumos14, dets, preset["class_ids"])
    logger.info("%s: %d detections of %d videos", args.output, len(dets), len(set(dets.video)))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
