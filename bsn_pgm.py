"""BSN's proposal generation module (PGM): TEM curves -> candidate proposals and their BSP features, per video.

Example::

    python bsn_pgm.py activitynet1.3 --tem work/bsn/tem_results --annotations anet_anno_action.json \\
        --output work/bsn/pgm --subset training validation

For every window of every video: boundary candidates of the start and end curves, every start-before-end pair
scored ``start x end`` (``ops.proposals.bsn.pgm_candidates``), each labelled with its best IoU and IoA against
the ground truth (``match_ground_truth``; PEM's targets), and its 32 boundary-sensitive features
(``bsp_features``), all vectorised over a video's proposals.  Writes ``OUTPUT/<video>.npz``
(``ops/formats/bsn_outputs.py``) atomically; a re-run redoes only videos whose TEM file is newer than their PGM
file.  ``--csv DIR`` also writes the original's CSV per video (whole videos only).  A TEM file of another length
than the first one read, or a video without one, is an error naming the file.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from ops.errors import InputError, run_main
from ops.formats.annotations import load_dataset_annotations
from ops.formats.bsn_outputs import pgm_path, read_tem, tem_path, write_pgm, write_pgm_csv
from ops.formats.presets import load_preset
from ops.log import progress, setup_logging
from ops.proposals.bsn import bsp_features, match_ground_truth, pgm_candidates

logger = logging.getLogger("bsn_pgm")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("--tem", type=Path, required=True, help="folder of bsn_tem_test.py's curves")
    p.add_argument("--annotations", type=Path, required=True, help="annotations (videos and ground truth)")
    p.add_argument("--output", type=Path, required=True, help="folder of the proposals (one .npz per video)")
    p.add_argument("--subset", nargs="+", default=None, help="subsets to run (default: training and test)")
    p.add_argument("--csv", type=Path, default=None, help="also write the original's CSV per video here")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def video_proposals(curves: np.ndarray, spans: np.ndarray, gt_seconds: np.ndarray) -> tuple:
    """(proposals (N, 7), window (N,), features (N, 32)) of one video's windows."""
    rows, windows, feats = [], [], []
    for w, (curve, (t0, t1)) in enumerate(zip(curves, spans)):
        cand = pgm_candidates(curve)
        gt = (np.asarray(gt_seconds, np.float64).reshape(-1, 2) - t0) / (t1 - t0)
        iou, ioa = match_ground_truth(cand[:, :2], gt)
        rows.append(np.column_stack([cand, iou, ioa]))
        windows.append(np.full(len(cand), w, np.int64))
        feats.append(bsp_features(curve[:, 0], cand))
    return np.concatenate(rows), np.concatenate(windows), np.concatenate(feats)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    gt, videos = {}, []
    for subset in args.subset or [preset["train_subset"], preset["test_subset"]]:
        db = load_dataset_annotations(preset, args.annotations, subset)
        gt.update(db.ground_truth())
        videos += [v for v in db.video_ids if v not in db.avoid]
    videos = list(dict.fromkeys(videos))
    missing = [v for v in videos if not tem_path(args.tem, v).is_file()]
    if missing:
        raise InputError(f"{args.tem}: no TEM curves for {len(missing)} video(s), e.g. {tem_path(args.tem, missing[0])}; "
                         "run bsn_tem_test.py on these subsets first")
    todo = [v for v in videos if not pgm_path(args.output, v).is_file()
            or pgm_path(args.output, v).stat().st_mtime < tem_path(args.tem, v).stat().st_mtime]
    logger.info("%d videos, %d up to date, %d to do", len(videos), len(videos) - len(todo), len(todo))
    length, start, count = None, time.perf_counter(), 0
    for video in progress(todo, desc="PGM", unit="video", disable=len(todo) < 50):
        curves, spans = read_tem(args.tem, video, length)
        length = curves.shape[1]
        proposals, window, features = video_proposals(curves, spans, gt.get(video, (np.zeros((0, 2)),))[0])
        write_pgm(args.output, video, proposals, window, features, spans)
        if args.csv is not None and len(spans) == 1:
            write_pgm_csv(args.csv, video, proposals)
        count += len(proposals)
    logger.info("%s: %d proposals of %d videos in %.1f s", args.output, count, len(todo), time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
