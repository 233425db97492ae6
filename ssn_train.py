"""Train a Structured Segment Network (SSN) on a frame-based proposal list.

Example::

    python ssn_train.py thumos14 RGB --train_list work/tag_val.txt --output work/ssn_rgb \\
        --arch bninception --init_from work/binary_rgb/checkpoint_last.pth -b 4 --lr_steps 20 40 --epochs 45

    # tiny backbone on the synthetic dataset, CPU:
    python ssn_train.py synthetic Flow --train_list work/tag_val.txt --output work/ssn_flow --arch tiny --epochs 5

Each training item is one video with ``proposals_per_video`` proposals drawn
foreground : incomplete : background (SSN: 1:6:1 of 8; thresholds from the
dataset preset, flags override).  Every proposal becomes 2 + 5 + 2 snippets
(starting, course, ending stages; ``--num_segments``) pooled by STPP
(``--stpp``, preset default).  Loss = activity + ``--comp_loss_weight`` x
completeness (hinge, OHEM ``--ohem_ratio``) + ``--reg_loss_weight`` x
regression.  The checkpoint stores the model config and the regression
statistics; ``ssn_test.py`` rebuilds the model from it.  With validation
videos (``--holdout F`` of the list's videos, or ``--val_list``) every epoch
logs their detection mAP (scored as ssn_test.py would, evaluated with the
preset's protocol); their mean over the last ``--best_window`` epochs (5)
chooses checkpoint_best.pth and ``--patience``.  Initialise the
backbone from ImageNet (``--pretrained``), or from a binary-classifier or SSN
checkpoint (``--init_from``).  Re-running the command (or ``--resume``)
continues exactly; a re-run whose settings, lists, frames or ``--init_from``
checkpoint differ from those of the checkpoint in OUTPUT stops with an error
listing them: pass ``--restart`` to train from scratch, or another ``--output``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from ops.errors import InputError, positive_int, run_main
from ops.evaluation.validation import ssn_validation
from ops.formats.presets import load_preset, preset_flip, resolve
from ops.formats.proposal_list import check_labels, read_frame_based_list
from ops.log import setup_logging
from ops.models.backbones import BackboneConfig, load_pretrained
from ops.models.builder import add_backbone_args, backbone_from_args
from ops.models.ssn import SSN, ssn_losses
from ops.train.dataset import SSNTrainDataset, collate_snippets, data_spec
from ops.train.engine import (Trainer, add_stage_args, add_train_args, data_extra, held_out, load_checkpoint,
                              seed_everything, train_config_from_args)
from ops.train.sampling import ProposalSampler, SamplingConfig

logger = logging.getLogger("ssn_train")
AUTO_HOLDOUT = 0.2           # --holdout auto on a small training list
SMALL_LIST = (10, 100)       # [from, to) videos: a small training list
SAMPLING_FLAGS = ("proposals_per_video", "fg_ratio", "incomplete_ratio", "bg_ratio", "fg_iou_thresh",
                  "incomplete_iou_thresh", "incomplete_overlap_thresh", "bg_iou_thresh", "bg_coverage_thresh")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_args(p, training=True)
    p.add_argument("--num_classes", type=int, default=None, help="default: the preset's")
    p.add_argument("--num_segments", type=int, nargs=3, default=None, help="snippets of starting, course, ending")
    p.add_argument("--stpp", type=json.loads, default=None,
                   help='pyramid per stage as JSON, e.g. "[1, [1, 2], 1]" (default: the preset\'s)')
    g = p.add_argument_group("proposal sampling (defaults: the preset's)")
    for name in SAMPLING_FLAGS:
        g.add_argument(f"--{name}", type=float if "thresh" in name or "ratio" in name else int, default=None)
    p.add_argument("--epoch_multiplier", type=int, default=1, help="passes over the videos per epoch")
    p.add_argument("--holdout", type=holdout_fraction, default=0.0,
                   help="fraction of the training list's videos held out (chosen by the hash of their names, the "
                        f"same on every run) as validation videos, instead of --val_list; 'auto': {AUTO_HOLDOUT} "
                        f"for a small list ({SMALL_LIST[0]} to {SMALL_LIST[1] - 1} videos), else 0; default 0, "
                        "every video trains (on the synthetic demo the held-out best checkpoint scored below the "
                        "last: docs/training.md)")
    p.add_argument("--val_frame_interval", type=positive_int, default=6,
                   help="validation videos are scored every k-th frame, as ssn_test.py --frame_interval")
    p.add_argument("--comp_loss_weight", type=float, default=0.1)
    p.add_argument("--reg_loss_weight", type=float, default=0.1)
    p.add_argument("--ohem_ratio", type=float, default=0.17, help="share of incomplete samples kept by OHEM")
    p.add_argument("--bg_completeness", action="store_true",
                   help="background samples are also completeness negatives (of the class the activity head ranks "
                        "first), so unannotated parts of actions are not scored complete (not in SSN; issue 21)")
    p.add_argument("--init_from", type=Path, default=None,
                   help="binary-classifier or SSN checkpoint (ours), or a published SSN/TSN state dict")
    add_backbone_args(p)
    # a held-out mAP on a few videos jumps from epoch to epoch: the best is the best mean of 5 epochs (issue 21)
    add_train_args(p, epochs=45, lr=0.001, batch_size=4, best_window=5)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def ssn_loss_fn(comp_w: float, reg_w: float, ohem_ratio: float, bg_completeness: bool = False):
    """The SSN loss for the shared engine: batch = (x, labels, kinds, reg_targets, scales), each (B, P, ...)."""

    def loss_fn(model, batch, device):
        x, labels, kinds, targets, scales = (t.to(device, non_blocking=True) for t in batch)
        b, p = labels.shape
        groups = torch.arange(b, device=device).repeat_interleave(p)
        outputs = model(x.flatten(0, 1), scales.flatten(0, 1))
        outputs = tuple(o.float() for o in outputs)
        losses = ssn_losses(outputs, labels.flatten(), kinds.flatten(), groups, targets.flatten(0, 1), ohem_ratio,
                            bg_completeness)
        total = losses["activity"] + comp_w * losses["completeness"] + reg_w * losses["regression"]
        return total, {k: float(v.detach()) for k, v in losses.items()}

    return loss_fn


def init_weights(model: SSN, path: Path) -> None:
    """Backbone (and matching heads) from one of our checkpoints or a published state dict."""
    from ops.models.ssn import load_reference_checkpoint

    try:
        state = load_checkpoint(path)["state_dict"]
    except ValueError:
        state = None    # not ours: an original SSN/TSN checkpoint, heads mapped to our layout
    if state is None:
        load_reference_checkpoint(model, path)
        return
    base = {k[len("base."):]: v for k, v in state.items() if k.startswith("base.")}
    load_pretrained(model.base, base, modality=model.backbone_cfg.modality)
    heads = {k: v for k, v in state.items() if not k.startswith("base.")}
    own = model.state_dict()
    usable = {k: v for k, v in heads.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    logger.info("initialised from %s: backbone + %d head tensors", path, len(usable))


def read_videos(list_path: Path, num_classes: int) -> list:
    """The blocks of a frame-based list, their labels checked against the model's classes."""
    plist = read_frame_based_list(list_path)
    check_labels(plist.videos, num_classes, list_path)
    return plist.videos


def holdout_fraction(text: str) -> float | str:
    """``--holdout``: ``auto`` or a number (checked against [0, 1) by :func:`held_out`)."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a fraction such as 0.2, got {text!r}") from None


def resolve_holdout(holdout: float | str, num_videos: int, val_list) -> float:
    """The held-out fraction: ``auto`` is AUTO_HOLDOUT for a list of SMALL_LIST videos without --val_list.

    Below SMALL_LIST[0] videos one or two held-out videos would choose the checkpoint by noise and cost a
    large share of the training data; from SMALL_LIST[1] up the dataset has its own validation split
    (``--val_list``) or enough videos for a fixed schedule.
    """
    if holdout != "auto":
        return holdout
    return AUTO_HOLDOUT if val_list is None and SMALL_LIST[0] <= num_videos < SMALL_LIST[1] else 0.0


def split_videos(args, num_classes: int) -> tuple[list, list | None, float]:
    """(training blocks, validation blocks or None) from --train_list and --val_list or --holdout.

    Also returns the held-out fraction used (``auto`` resolved)."""
    videos = read_videos(args.train_list, num_classes)
    holdout = resolve_holdout(args.holdout, len(videos), args.val_list)
    if args.val_list is not None:
        if holdout:
            raise InputError("--holdout and --val_list both choose validation videos: give one of them")
        return videos, read_videos(args.val_list, num_classes), 0.0
    held = held_out([v.video_id for v in videos], holdout)   # ids, not paths: the same wherever WORK is
    if holdout and not held:
        raise InputError(f"--holdout {args.holdout} of {len(videos)} videos holds out none: raise it or give "
                         "--val_list")
    train = [v for v in videos if v.video_id not in held]
    if held:
        logger.info("%d of the %d training videos held out (--holdout %g; 0 trains on every video) to choose "
                    "checkpoint_best.pth by their detection mAP", len(held), len(videos), holdout)
    return train, ([v for v in videos if v.video_id in held] or None), holdout


def make_dataset(videos: list, sampling: SamplingConfig, backbone: dict, num_segments, args, flip: bool,
                 reg_stats=None):
    cfg = BackboneConfig.from_dict(backbone)
    return SSNTrainDataset(videos, cfg.modality, cfg.length, data_spec(cfg, flip),
                           ProposalSampler(videos, sampling), num_segments, args.epoch_multiplier, reg_stats)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    sampling = SamplingConfig.from_preset(preset["sampling"], **{k: getattr(args, k) for k in SAMPLING_FLAGS})
    num_segments = resolve(args.num_segments, preset["model"]["num_segments"])
    stpp = resolve(args.stpp, preset["model"]["stpp"])
    cfg = train_config_from_args(args)
    seed_everything(cfg.seed)
    num_classes = resolve(args.num_classes, preset["num_classes"])
    train_videos, val_videos, holdout = split_videos(args, num_classes)
    backbone = backbone_from_args(args, args.modality, [v.video for v in train_videos])
    model = SSN(backbone, num_classes, num_segments, stpp, args.dropout)
    if args.init_from is not None:
        init_weights(model, args.init_from)
    flip = resolve(args.flip, preset_flip(preset))
    train_set = make_dataset(train_videos, sampling, backbone, num_segments, args, flip)
    val_set = make_dataset(val_videos, sampling, backbone, num_segments, args, flip,
                           train_set.reg_stats) if val_videos else None
    extra = {"dataset": preset["name"], "modality": args.modality, "sampling": sampling.__dict__,
             "reg_stats": train_set.reg_stats.tolist(), "input_spec": train_set.spec,
             "epoch_multiplier": args.epoch_multiplier,
             # bg_completeness only when set: checkpoints trained before the flag keep their fingerprint
             "loss": {"comp_loss_weight": args.comp_loss_weight, "reg_loss_weight": args.reg_loss_weight,
                      "ohem_ratio": args.ohem_ratio, **({"bg_completeness": True} if args.bg_completeness else {})},
             **data_extra(args.modality, train_set.videos, args.train_list, args.val_list, args.init_from)}
    if holdout:   # only when used: earlier checkpoints keep their fingerprint
        extra["holdout"] = holdout
    val_fn = None
    if val_set is not None:   # the best checkpoint is the one of the best validation mAP
        extra["validation"] = {"metric": "val_mAP", "frame_interval": args.val_frame_interval}
        val_fn = ssn_validation(val_videos, args.modality, BackboneConfig.from_dict(backbone).length,
                                train_set.spec, train_set.reg_stats, num_classes, preset, args.val_frame_interval,
                                args.workers)
    trainer = Trainer(model, ssn_loss_fn(args.comp_loss_weight, args.reg_loss_weight, args.ohem_ratio,
                                          args.bg_completeness), cfg,
                      args.output, model.config(), extra, collate_fn=collate_snippets, val_fn=val_fn,
                      best_metric="val_mAP" if val_fn else "val_loss", best_mode="max" if val_fn else "min")
    trainer.resume_default(args.resume, args.restart)    # ConfigMismatchError: one line (ops.errors.run_main)
    logger.info("%d training videos, %s, %s backbone, STPP %s, %d epochs", len(train_set.videos), args.modality,
                args.arch, stpp, cfg.epochs)
    trainer.fit(train_set, val_set)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
