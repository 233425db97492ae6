"""Run a trained TEM over every video of the given subsets: BSN's action, start and end curves.

Example::

    python bsn_tem_test.py activitynet1.3 --features work/features --annotations anet_anno_action.json \\
        --checkpoint work/bsn/tem/checkpoint_best.pth --output work/bsn/tem_results --subset training validation

TEM runs on every video of every subset (PEM trains on the training videos' curves).  The checkpoint
(``bsn_tem_train.py``) gives the network, the windowing, the streams and the features' geometry; features made
another way are refused.  Writes ``OUTPUT/<video>.npz`` (curves of each window and the windows' spans in
seconds; ``ops/formats/bsn_outputs.py``), atomically per video: a re-run skips the videos written by the same
checkpoint and refuses to mix checkpoints (``--overwrite``).  ``--csv DIR`` also writes the original's
``action,start,end,tmin,tmax`` CSV per video (whole videos only).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from ops.device import DEVICE_HELP, device_arg
from ops.errors import InputError, run_main
from ops.formats.annotations import load_dataset_annotations
from ops.formats.bsn_outputs import tem_path, write_tem, write_tem_csv
from ops.formats.presets import load_preset
from ops.io import atomic_write_json, read_json
from ops.log import progress, setup_logging
from ops.models.bsn import checkpoint_bsn
from ops.train.engine import file_digest, setup_runtime
from ops.train.feature_dataset import window_seconds
from ops.train.feature_stage import feature_dataset

logger = logging.getLogger("bsn_tem_test")
STAMP = "tem_settings.json"


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("--features", type=Path, required=True, help="feature root (ROOT/<stream>/<video>.npy)")
    p.add_argument("--annotations", type=Path, required=True, help="annotations naming the subsets' videos")
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint of bsn_tem_train.py")
    p.add_argument("--output", type=Path, required=True, help="folder of the curves (one .npz per video)")
    p.add_argument("--subset", nargs="+", default=None, help="subsets to run (default: training and test)")
    p.add_argument("--csv", type=Path, default=None, help="also write the original's CSV per video here")
    p.add_argument("--overwrite", action="store_true", help="replace curves made by another checkpoint")
    p.add_argument("-b", "--batch_size", type=int, default=16)
    p.add_argument("--device", default="auto", type=device_arg, help=DEVICE_HELP)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def check_stamp(folder: Path, stamp: dict, overwrite: bool) -> None:
    """Outputs made by other settings are never mixed with these: refuse, or clear them with ``overwrite``."""
    path = folder / STAMP
    if path.is_file() and read_json(path) != stamp:
        if not overwrite:
            raise InputError(f"{folder} holds curves of another checkpoint or windowing; pass --overwrite to replace "
                             "them, or choose another --output")
        for f in folder.glob("*.npz"):
            f.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, stamp)


@torch.no_grad()
def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    rt = setup_runtime(args.device)
    model, extra = checkpoint_bsn(args.checkpoint, "bsn_tem", rt.device)
    settings = dict(extra["bsn"])
    check_stamp(args.output, {"checkpoint": file_digest(args.checkpoint), "bsn": settings}, args.overwrite)
    subsets = args.subset or [preset["train_subset"], preset["test_subset"]]
    videos = []
    for subset in subsets:
        db = load_dataset_annotations(preset, args.annotations, subset)
        videos += [v for v in db.video_ids if v not in db.avoid]
    todo = [v for v in dict.fromkeys(videos) if not tem_path(args.output, v).is_file()]
    logger.info("%d videos, %d already done, %d to run", len(set(videos)), len(set(videos)) - len(todo), len(todo))
    if not todo:
        return 0
    dataset = feature_dataset(args.features, db, settings, todo, "+".join(subsets), geometry=extra["feature_record"])
    windows: dict[str, list] = {}
    remaining = {v: 0 for v in dataset.records}
    for it in dataset.items:
        remaining[it.video] += 1
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=False)
    for x, index in progress(loader, desc="TEM", unit="batch", disable=len(loader) < 20):
        curves = model(x.to(rt.device)).float().cpu().numpy().transpose(0, 2, 1)     # (B, T, 3)
        for curve, i in zip(curves, index.tolist()):
            video, first, n = dataset.window(i)
            windows.setdefault(video, []).append((first, curve, window_seconds(dataset.records[video], first, n)))
            remaining[video] -= 1
            if remaining[video] == 0:
                parts = sorted(windows.pop(video), key=lambda w: w[0])
                write_tem(args.output, video, np.stack([p[1] for p in parts]), np.stack([p[2] for p in parts]))
                if args.csv is not None and len(parts) == 1:
                    write_tem_csv(args.csv, video, parts[0][1])
    logger.info("%s: TEM curves of %d videos", args.output, len(dataset.records))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
