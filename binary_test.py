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
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ops.errors import run_main
from ops.formats.actionness import Actionness, load_actionness, save_actionness
from ops.formats.presets import load_preset
from ops.formats.proposal_list import read_frame_based_list
from ops.log import progress, setup_logging
from ops.models.builder import model_from_checkpoint
from ops.train.dataset import FrameSequenceDataset, checkpoint_input
from ops.io import atomic_write_json, read_json
from ops.train.engine import add_stage_args, file_digest, load_checkpoint, setup_runtime

logger = logging.getLogger("binary_test")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_args(p, training=False, output_help="actionness file (.npz) to write")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


@torch.no_grad()
def score_videos(model, dataset: FrameSequenceDataset, device, workers: int, on_video=None) -> dict[str, Actionness]:
    """Run ``model`` over every chunk; returns video id -> Actionness (``on_video(id, actionness)`` once each
    video is complete: the resume point)."""
    scores = [np.zeros((len(p), 2), np.float32) for p in dataset.positions]
    remaining = {v: -(-len(p) // dataset.chunk) for v, p in enumerate(dataset.positions)}
    loader = DataLoader(dataset, batch_size=None, num_workers=workers, pin_memory=device.type == "cuda")
    out = {}
    for x, video, first in progress(loader, desc="frames", unit="chunk"):
        t, crops = x.shape[:2]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model.frame_logits(x.to(device, non_blocking=True).flatten(0, 1)).float()
        scores[video][first:first + t] = logits.view(t, crops, 2).mean(1).cpu().numpy()
        remaining[video] -= 1
        if remaining[video] == 0:
            key = Path(dataset.videos[video].video).name
            out[key] = Actionness(scores[video], dataset.counts[video], dataset.frame_interval)
            if on_video is not None:
                on_video(key, out[key])
    return out


def parts_folder(args, ckpt_path) -> tuple[Path, dict]:
    """Where finished videos wait (``OUTPUT.parts/``) and what they were made with; parts of other settings are
    discarded, so a killed run resumes only what this run would compute."""
    parts = args.output.with_name(args.output.name + ".parts")
    stamp = {"checkpoint": file_digest(ckpt_path), "list": file_digest(args.proposal_list),
             "frame_interval": args.frame_interval, "num_crops": args.num_crops, "modality": args.modality}
    if parts.is_dir() and (not (parts / "stamp.json").is_file() or read_json(parts / "stamp.json") != stamp):
        shutil.rmtree(parts)
    parts.mkdir(parents=True, exist_ok=True)
    atomic_write_json(parts / "stamp.json", stamp)
    return parts, stamp


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    load_preset(args.dataset)
    ckpt = load_checkpoint(args.checkpoint)
    backbone, spec = checkpoint_input(ckpt, args.checkpoint, "binary", args.modality, args.num_crops)
    rt = setup_runtime(args.device)
    model = model_from_checkpoint(ckpt, rt.device, args.checkpoint)
    plist = read_frame_based_list(args.proposal_list)
    parts, _ = parts_folder(args, args.checkpoint)
    done = {p.stem: load_actionness(p)[p.stem] for p in parts.glob("*.npz")}
    todo = [v for v in plist.videos if Path(v.video).name not in done]
    if done:
        logger.info("resuming: %d videos already scored, %d to score", len(done), len(todo))
    start = time.perf_counter()
    records = dict(done)
    if todo:
        dataset = FrameSequenceDataset(todo, backbone.modality, backbone.length, spec, args.frame_interval,
                                       args.num_crops, args.chunk)
        records.update(score_videos(model, dataset, rt.device, args.workers,
                                    lambda key, a: save_actionness(parts / f"{key}.npz", {key: a})))
    save_actionness(args.output, {Path(v.video).name: records[Path(v.video).name] for v in plist.videos})
    shutil.rmtree(parts)
    frames = sum(len(a.scores) for key, a in records.items() if key not in done)
    seconds = time.perf_counter() - start
    logger.info("%s: %d videos, %d frames x %d crops in %.1f s (%.1f frames/s)", args.output, len(records), frames,
                args.num_crops, seconds, frames / max(seconds, 1e-9))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
