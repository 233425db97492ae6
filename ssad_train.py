"""Train main-stream SSAD or Decouple-SSAD on one stream's snippet features.

Example::

    python ssad_train.py thumos14 RGB --features work/features --annotations data/annotations \\
        --model decouple --output work/ssad/decouple_RGB

    # the release's preprocessed features and annotation CSV, as they are (nothing extracted)
    python ssad_train.py thumos14 RGB --released_features data/THUMOS14/feature --backbone UCF101 \\
        --window_list data/thumos14/val/window_info.log --annotations data/thumos14/val/thumos14_val_annotation.csv \\
        --model decouple --output work/ssad/release_decouple_RGB

Windows of the preset's ``ssad`` section over each training video (``ops/train/ssad_windows.py``; only windows
holding an instance more than 90 % inside), the network of ``ops/models/ssad.py``, the loss of
``ops.proposals.ssad.ssad_loss`` (matching against the decoded predictions), Adam without weight decay and the
preset's per-epoch learning rates (THUMOS14: 1e-4 for 30 epochs, then 1e-5), on the shared engine.  The last
checkpoint is the one scored (as the release).  The checkpoint stores the model config, the windowing and the
features' geometry (or which released features it read); ``ssad_test.py`` rebuilds everything from it.  With
``--released_features`` the windows are the window list's lines (those holding an instance > 90 % inside, i.e. all
of the release's training list) and the targets come from the release's annotation CSV in frames.  The
preset's ``ssad.model`` may narrow the network (the synthetic demo does).  See docs/ssad.md.
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
from ops.formats.ssad_files import RELEASED_SNIPPET_FRAMES, annotation_csv_instances, read_window_list
from ops.train.ssad_windows import (ReleasedWindows, add_feature_source_args, collate, released_record,
                                    released_training_lines, ssad_item_targets, window_items)

logger = logging.getLogger("ssad_train")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("modality", choices=["RGB", "Flow"], help="the stream whose features are read")
    add_feature_source_args(p, split="val")
    p.add_argument("--annotations", type=Path, required=True,
                   help="THUMOS14 folder, ActivityNet JSON or CSV; with --released_features the release's CSV")
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


def _our_set(args, preset: dict, settings: dict):
    """Windows over our per-video features: (dataset, feature record, classes, data summary)."""
    subset = args.train_subset or preset["train_subset"]
    db = load_dataset_annotations(preset, args.annotations, subset)
    videos = videos_with_features(args.features, annotated_videos(db), (args.modality,), f"{subset} (training)")
    gt = db.ground_truth()
    items = window_items(args.features, args.modality, videos, gt, settings, training=True)
    if not items:
        raise InputError(f"{args.features}: no training window holds an instance more than 90 % inside")
    train_set = FeatureDataset(args.features, (args.modality,), items, ssad_item_targets, ground_truth=gt).preload()
    return train_set, train_set.geometry, list(db.classes), \
        {"train_subset": subset, "windows": len(train_set), "videos": len(videos)}


def _released_set(args, preset: dict, settings: dict):
    """The release's window files (module docstring): (dataset, feature record, classes, data summary)."""
    if args.window_list is None:
        raise InputError("--released_features needs --window_list (the release's window_info.log of that split)")
    windows = read_window_list(args.window_list)
    instances = annotation_csv_instances(args.annotations, preset["classes"], preset.get("class_ids"))
    keep = released_training_lines(windows, instances, settings["window_rows"] * RELEASED_SNIPPET_FRAMES)
    if not keep:
        raise InputError(f"{args.window_list}: no window holds an instance of {args.annotations} more than 90 % "
                         f"inside; are they the same split?")
    train_set = ReleasedWindows(args.released_features, args.split, args.modality, args.backbone, windows,
                                instances, keep, settings["window_rows"])
    if len(keep) < len(windows):
        logger.info("%s: %d of %d windows hold no instance more than 90 %% inside (skipped)", args.window_list,
                    len(windows) - len(keep), len(windows))
    return train_set, released_record(args.modality, args.backbone, train_set.dim), list(preset["classes"]), \
        {"window_list": str(args.window_list), "split": args.split, "windows": len(train_set),
         "videos": len({windows[i][1] for i in keep})}


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
    cfg = train_config_from_args(args)
    seed_everything(cfg.seed)
    train_set, record, classes, data = (_released_set if args.released_features else _our_set)(args, preset, settings)
    model = ssad_model(args.model, record["dim"], len(classes), **settings.get("model", {}))
    extra = {"dataset": preset["name"], "modality": args.modality, "ssad": settings, "classes": classes,
             "feature_record": record, "data": data}
    anchors = torch.from_numpy(ssad_anchors()).float()
    trainer = Trainer(model, functools.partial(ssad_loss_fn, kind=args.model, anchors=anchors), cfg, args.output,
                      model.config(), extra, collate_fn=collate)
    trainer.resume_default(args.resume, args.restart)
    logger.info("%s SSAD, %s: %d training windows of %d videos, %d-d features, %d epochs", args.model, args.modality,
                len(train_set), data["videos"], record["dim"], cfg.epochs)
    trainer.fit(train_set)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
