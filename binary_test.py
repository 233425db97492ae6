"""Score per-frame actionness with a trained binary classifier.

Example::

    python binary_test.py thumos14 RGB work/sw_test.txt work/binary_rgb/checkpoint_last.pth \\
        work/actionness_rgb_test.npz --frame_interval 6 --num_crops 10

Every video folder named in the (frame-based) proposal list is scored at frames
0, k, 2k, ... (``k = --frame_interval``, 0-based) with 1, 5 or 10 crops; the
classifier's raw two-class scores (background, action), averaged over crops,
are written to an actionness file (``ops/formats/actionness.py``: per video a
(T, 2) float32 array, ``T = ceil(frames / k)``).  Raw, not probabilities: TAG
fuses the streams' raw scores as the original SSN (``docs/tag.md``).  The model is rebuilt from the config stored
in the checkpoint.  Works on CPU and GPU; frames are decoded by ``-j`` workers.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ops.errors import run_main
from ops.formats.actionness import Actionness, save_actionness
from ops.formats.presets import load_preset
from ops.formats.proposal_list import read_frame_based_list
from ops.log import progress, setup_logging
from ops.models.builder import model_from_checkpoint
from ops.train.dataset import FrameSequenceDataset, checkpoint_input
from ops.train.engine import add_stage_args, load_checkpoint, setup_runtime

logger = logging.getLogger("binary_test")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_args(p, training=False, output_help="actionness file (.npz) to write")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


@torch.no_grad()
def score_videos(model, dataset: FrameSequenceDataset, device, workers: int) -> dict[str, Actionness]:
    """Run ``model`` over every chunk; returns video id -> Actionness."""
    scores = [np.zeros((len(p), 2), np.float32) for p in dataset.positions]
    loader = DataLoader(dataset, batch_size=None, num_workers=workers, pin_memory=device.type == "cuda")
    for x, video, first in progress(loader, desc="frames", unit="chunk"):
        t, crops = x.shape[:2]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model.frame_logits(x.to(device, non_blocking=True).flatten(0, 1)).float()
        scores[video][first:first + t] = logits.view(t, crops, 2).mean(1).cpu().numpy()
    return {Path(v.video).name: Actionness(s, count, dataset.frame_interval)
            for v, s, count in zip(dataset.videos, scores, dataset.counts)}


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    load_preset(args.dataset)
    ckpt = load_checkpoint(args.checkpoint)
    backbone, spec = checkpoint_input(ckpt, args.checkpoint, "binary", args.modality, args.num_crops)
    rt = setup_runtime(args.device)
    model = model_from_checkpoint(ckpt, rt.device)
    plist = read_frame_based_list(args.proposal_list)
    dataset = FrameSequenceDataset(plist.videos, backbone.modality, backbone.length, spec, args.frame_interval,
                                   args.num_crops, args.chunk)
    start = time.perf_counter()
    records = score_videos(model, dataset, rt.device, args.workers)
    save_actionness(args.output, records)
    frames = sum(len(p) for p in dataset.positions)
    seconds = time.perf_counter() - start
    logger.info("%s: %d videos, %d frames x %d crops in %.1f s (%.1f frames/s)", args.output, len(records), frames,
                args.num_crops, seconds, frames / max(seconds, 1e-9))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
