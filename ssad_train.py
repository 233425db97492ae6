"""Train main-stream SSAD or Decouple-SSAD on one stream's snippet features.

Example::

    python ssad_train.py thumos14 RGB --features work/features --annotations data/annotations \\
        --model decouple --output work/ssad/decouple_RGB

Windows of the preset's ``ssad`` section over each training video (``ops/train/ssad_windows.py``; only windows
holding an instance more than 90 % inside), the network of ``ops/models/ssad.py``, the loss of
``ops.proposals.ssad.ssad_loss`` (matching against the decoded predictions), Adam without weight decay and the
preset's per-epoch learning rates (THUMOS14: 1e-4 for 30 epochs, then 1e-5), on the shared engine.  The last
checkpoint is the one scored (as the release).  The checkpoint stores the model config, the windowing and the
features' geometry; ``ssad_test.py`` rebuilds everything from it.  See docs/ssad.md.
"""
from __future__ import annotations

import argparse
import functools
import logging
import sys
from pathlib import Path

import torch

from ops.errors import InputError, run_main
from ops.formats.annotations import load_dataset_annotations
from ops.formats.presets import load_preset
from ops.log import setup_logging
from ops.models.ssad import ssad_model
from ops.proposals.ssad import ssad_anchors, ssad_loss
from ops.train.engine import Trainer, add_train_args, seed_everything, train_config_from_args
from ops.train.feature_dataset import FeatureDataset, videos_with_features
from ops.train.feature_stage import annotated_videos
from ops.train.ssad_windows import collate, ssad_item_targets, window_items

logger = logging.getLogger("ssad_train")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("modality", choices=["RGB", "Flow"], help="the stream whose features are read")
    p.add_argument("--features", type=Path, required=True, help="feature root (ROOT/<stream>/<video>.npy)")
    p.add_argument("--annotations", type=Path, required=True, help="THUMOS14 folder, ActivityNet JSON or CSV")
    p.add_argument("--output", type=Path, required=True, help="folder for checkpoints and logs")
    p.add_argument("--model", choices=["main", "decouple"], default="decouple")
    p.add_argument("--train_subset", default=None, help="default: the preset's training subset")
    add_train_args(p, epochs=None, lr=0.0001, batch_size=None, optimizer="adam", weight_decay=0.0,
                   clip_gradient=0.0)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def ssad_loss_fn(model, batch, device, kind: str, anchors: torch.Tensor):
    """The engine's loss: batch = (x, [boxes], [labels], index)."""
    x, boxes, labels, _ = batch
    out = model(x.to(device, non_blocking=True))
    return ssad_loss(out, kind, [b.to(device) for b in boxes], [lab.to(device) for lab in labels],
                     anchors.to(device))


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    if "ssad" not in preset:
        raise InputError(f"dataset preset {preset['name']!r} has no 'ssad' section")
    settings = preset["ssad"]
    if args.epochs is None:
        args.epochs = settings["train"]["epochs"]
    if args.batch_size is None:
        args.batch_size = settings["train"]["batch_size"]
    if not args.lr_list:
        args.lr_list = settings["train"]["lr_list"]
    subset = args.train_subset or preset["train_subset"]
    db = load_dataset_annotations(preset, args.annotations, subset)
    streams = (args.modality,)
    videos = videos_with_features(args.features, annotated_videos(db), streams, f"{subset} (training)")
    gt = db.ground_truth()
    items = window_items(args.features, args.modality, videos, gt, settings, training=True)
    if not items:
        raise InputError(f"{args.features}: no training window holds an instance more than 90 % inside")
    train_set = FeatureDataset(args.features, streams, items, ssad_item_targets, ground_truth=gt).preload()
    cfg = train_config_from_args(args)
    seed_everything(cfg.seed)
    model = ssad_model(args.model, train_set.geometry["dim"], db.num_classes)
    extra = {"dataset": preset["name"], "modality": args.modality, "ssad": settings, "classes": list(db.classes),
             "feature_record": train_set.geometry,
             "data": {"train_subset": subset, "windows": len(train_set), "videos": len(videos)}}
    anchors = torch.from_numpy(ssad_anchors()).float()
    trainer = Trainer(model, functools.partial(ssad_loss_fn, kind=args.model, anchors=anchors), cfg, args.output,
                      model.config(), extra, collate_fn=collate)
    trainer.resume_default(args.resume, args.restart)
    logger.info("%s SSAD, %s: %d training windows of %d videos, %d-d features, %d epochs", args.model, args.modality,
                len(train_set), len(videos), train_set.geometry["dim"], cfg.epochs)
    trainer.fit(train_set)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
