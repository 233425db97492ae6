"""Train BSN's proposal evaluation module (PEM) on the training videos' PGM proposals.

Example::

    python bsn_pem_train.py activitynet1.3 --pgm work/bsn/pgm --annotations anet_anno_action.json \\
        --output work/bsn/pem

Each training video's ``train_top_k`` (500) best PGM proposals, their 32 BSP features in and their best IoU with
the ground truth as the target (``ops.models.bsn.PEM``, ``pem_loss``: smooth L1, the plain mean as MMAction2's
weighting reduces to; docs/bsn.md), Adam with the preset's ``bsn.pem`` schedule (lr 0.01, weight decay 1e-5,
20 epochs, x 0.1 from epoch 10) on the shared engine.  ``--holdout`` / ``--val_subset`` give a validation loss
and ``checkpoint_best.pth``.  Next: ``bsn_pem_test.py``.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ops.errors import InputError, run_main
from ops.formats.annotations import load_dataset_annotations
from ops.formats.presets import load_preset
from ops.log import setup_logging
from ops.models.bsn import PEM, pem_loss
from ops.train.engine import Trainer, add_train_args, seed_everything, train_config_from_args
from ops.train.feature_dataset import ProposalFeatureDataset, proposal_dataset
from ops.train.feature_stage import validation_split

logger = logging.getLogger("bsn_pem_train")
PEM_KEYS = ("epochs", "batch_size", "lr", "lr_steps", "weight_decay")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("--pgm", type=Path, required=True, help="folder of bsn_pgm.py's proposals")
    p.add_argument("--annotations", type=Path, required=True, help="annotations naming the training videos")
    p.add_argument("--output", type=Path, required=True, help="folder for checkpoints and logs")
    p.add_argument("--train_subset", default=None, help="default: the preset's training subset")
    v = p.add_mutually_exclusive_group()
    v.add_argument("--val_subset", default=None, help="validation loss on this subset each epoch")
    v.add_argument("--holdout", type=float, default=0.0, help="validate on this fraction of the training videos")
    p.add_argument("--top_k", type=int, default=None, help="proposals per video (default: the preset's, 500)")
    add_train_args(p, epochs=None, lr=None, batch_size=None, optimizer="adam", weight_decay=None)
    p.set_defaults(lr_steps=None)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def pem_loss_fn(model, batch, device):
    """The engine's loss: batch = (features (N, 32), iou (N,), videos)."""
    x, iou, _ = batch
    return pem_loss(model(x.to(device, non_blocking=True)), iou.to(device)), {}


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    if "bsn" not in preset:
        raise InputError(f"dataset preset {preset['name']!r} has no 'bsn' section")
    pem = preset["bsn"]["pem"]
    for k in PEM_KEYS:
        if getattr(args, k) is None:
            setattr(args, k, pem[k])
    top_k = args.top_k or pem["train_top_k"]
    subset = args.train_subset or preset["train_subset"]
    db = load_dataset_annotations(preset, args.annotations, subset)
    train_videos, vdb, held = validation_split(
        preset, args, db, lambda s: load_dataset_annotations(preset, args.annotations, s))
    train_set = proposal_dataset(args.pgm, train_videos, top_k, "training")
    val_set = proposal_dataset(args.pgm, [v for v in vdb.video_ids if v in set(vdb.instances["video"])], top_k,
                           "validation") if vdb is not None else None
    cfg = train_config_from_args(args)
    seed_everything(cfg.seed)
    model = PEM(**preset["bsn"].get("pem_model", {}))
    extra = {"dataset": preset["name"], "post": preset["bsn"]["post"], "test_top_k": pem["test_top_k"],
             "data": {"train_subset": subset, "videos": len(train_set), "top_k": top_k, "held_out": held,
                      "val_subset": args.val_subset}, "paths": {"pgm": str(args.pgm)}}
    trainer = Trainer(model, pem_loss_fn, cfg, args.output, model.config(), extra,
                      collate_fn=ProposalFeatureDataset.collate)
    trainer.resume_default(args.resume, args.restart)
    logger.info("%d training videos, top %d proposals each, %d epochs", len(train_set), top_k, cfg.epochs)
    trainer.fit(train_set, val_set)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
