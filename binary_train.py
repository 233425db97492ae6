"""Train the binary actionness classifier (action vs background) for TAG proposals.

Example::

    python binary_train.py thumos14 RGB --train_list work/sw_val.txt --output work/binary_rgb \\
        --arch bninception --pretrained /models/bn_inception.pth -b 16 --lr_steps 20 40 --epochs 45

    # tiny backbone on the synthetic dataset, CPU:
    python binary_train.py synthetic Flow --train_list work/sw_val.txt --output work/binary_flow \\
        --arch tiny --epochs 3 -b 4

Windows come from a frame-based sliding-window proposal list: foreground =
best IoU above ``--fg_iou_thresh`` (ground truth included), background = IoU
below ``--bg_iou_thresh`` covering more than ``--bg_coverage_thresh`` of the
video; each training item is one video with ``--proposals_per_video`` windows
(half foreground, half background) of ``--num_segments`` snippets whose scores
are averaged (TSN).  The checkpoint (``OUTPUT/checkpoint_last.pth``) stores the
model config; re-running the command (or ``--resume``) continues exactly where a
run stopped.  A re-run whose settings, lists or frames differ from those of the
checkpoint in OUTPUT stops with an error listing them: pass ``--restart`` to
train from scratch, or another ``--output``.
"""
from __future__ import annotations

import argparse
import logging
import sys

import torch.nn.functional as F

from ops.errors import run_main
from ops.formats.presets import load_preset, preset_flip, resolve
from ops.formats.proposal_list import read_frame_based_list
from ops.log import setup_logging
from ops.models.backbones import BackboneConfig
from ops.models.builder import BinaryClassifier, add_backbone_args, backbone_from_args
from ops.train.dataset import BinaryTrainDataset, collate_snippets, data_spec
from ops.train.engine import (Trainer, add_stage_args, add_train_args, data_extra, seed_everything,
                              train_config_from_args)
from ops.train.sampling import ProposalSampler, SamplingConfig

logger = logging.getLogger("binary_train")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_args(p, training=True)
    p.add_argument("--num_segments", type=int, default=3, help="snippets per window (TSN)")
    p.add_argument("--proposals_per_video", type=int, default=8, help="windows per video and step")
    p.add_argument("--fg_iou_thresh", type=float, default=None, help="default: the preset's")
    p.add_argument("--bg_iou_thresh", type=float, default=None, help="default: the preset's")
    p.add_argument("--bg_coverage_thresh", type=float, default=None, help="default: the preset's")
    p.add_argument("--epoch_multiplier", type=int, default=1, help="passes over the videos per epoch")
    add_backbone_args(p)
    add_train_args(p, epochs=10, lr=0.001, batch_size=4)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def binary_loss(model, batch, device):
    """Cross-entropy over windows; batch = (x (B, P*S, C, H, W), labels (B, P))."""
    x, labels = batch
    b, p = labels.shape
    x = x.to(device, non_blocking=True).view(b * p, -1, *x.shape[2:])
    labels = labels.to(device).view(-1)
    logits = model(x).float()
    loss = F.cross_entropy(logits, labels)
    acc = (logits.argmax(1) == labels).float().mean()
    return loss, {"accuracy": float(acc)}


def make_dataset(videos: list, args, sampling: SamplingConfig, backbone: dict, flip: bool) -> BinaryTrainDataset:
    cfg = BackboneConfig.from_dict(backbone)
    return BinaryTrainDataset(videos, cfg.modality, cfg.length, data_spec(cfg, flip),
                              ProposalSampler(videos, sampling), args.num_segments, args.epoch_multiplier)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    s = preset["sampling"]
    sampling = SamplingConfig(proposals_per_video=args.proposals_per_video, fg_ratio=1, incomplete_ratio=0,
                              bg_ratio=1, fg_iou_thresh=resolve(args.fg_iou_thresh, s["fg_iou_thresh"]),
                              bg_iou_thresh=resolve(args.bg_iou_thresh, s["bg_iou_thresh"]),
                              bg_coverage_thresh=resolve(args.bg_coverage_thresh, s["bg_coverage_thresh"]))
    cfg = train_config_from_args(args)
    seed_everything(cfg.seed)
    train_videos = read_frame_based_list(args.train_list).videos
    backbone = backbone_from_args(args, args.modality, [v.video for v in train_videos])
    model = BinaryClassifier(backbone, dropout=args.dropout)
    flip = resolve(args.flip, preset_flip(preset))
    train_set = make_dataset(train_videos, args, sampling, backbone, flip)
    val_set = (make_dataset(read_frame_based_list(args.val_list).videos, args, sampling, backbone, flip)
               if args.val_list else None)
    extra = {"dataset": preset["name"], "modality": args.modality, "num_segments": args.num_segments,
             "epoch_multiplier": args.epoch_multiplier, "sampling": sampling.__dict__, "input_spec": train_set.spec,
             **data_extra(args.modality, train_set.videos, args.train_list, args.val_list)}
    trainer = Trainer(model, binary_loss, cfg, args.output, model.config(), extra, collate_fn=collate_snippets)
    trainer.resume_default(args.resume, args.restart)    # ConfigMismatchError: one line (ops.errors.run_main)
    logger.info("%d training videos, %s, %s backbone, %d epochs", len(train_set.videos), args.modality,
                args.arch, cfg.epochs)
    trainer.fit(train_set, val_set)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
