"""Train BSN's temporal evaluation module (TEM) on snippet features.

Example::

    python bsn_tem_train.py activitynet1.3 --features work/features --annotations anet_anno_action.json \\
        --output work/bsn/tem

TEM reads what the preset's ``bsn`` section says of each video (the whole sequence rescaled to ``temporal_dim``
rows, or windows; ``ops/train/feature_stage.py``) and learns the action, start and end curves
(``ops.proposals.bsn.tem_targets``, ``ops.models.bsn.TEM``, loss ``2 action + start + end``), with Adam and the
spec's schedule on the shared engine.  ``--val_subset`` / ``--holdout`` give a validation loss each epoch and
``checkpoint_best.pth`` the lowest.  The checkpoint stores the model config, the windowing, the streams and the
features' geometry: ``bsn_tem_test.py`` rebuilds everything from it.  Next: ``bsn_tem_test.py``, ``bsn_pgm.py``,
``bsn_pem_train.py``, ``bsn_pem_test.py`` (docs/bsn.md).
"""
from __future__ import annotations

import argparse
import logging
import sys

import numpy as np
import torch

from ops.errors import run_main
from ops.formats.presets import load_preset
from ops.log import setup_logging
from ops.models.bsn import TEM, tem_loss
from ops.proposals.bsn import tem_targets
from ops.train.engine import Trainer, seed_everything, train_config_from_args
from ops.train.feature_dataset import WindowTruth
from ops.train.feature_stage import add_feature_training_args, training_data, window_fractions_kept

logger = logging.getLogger("bsn_tem_train")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    add_feature_training_args(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def tem_window_targets(truth: WindowTruth, temporal_dim: int, windowed: bool) -> torch.Tensor:
    """``target_fn``: (3, T) action, start, end targets of an item."""
    return torch.from_numpy(np.stack(tem_targets(window_fractions_kept(truth, windowed), temporal_dim)))


def tem_loss_fn(model, batch, device):
    """The engine's loss: batch = (x, targets (B, 3, T), index)."""
    x, targets, _ = batch
    return tem_loss(model(x.to(device, non_blocking=True)), targets.to(device))


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    data = training_data(preset, "bsn", args, tem_window_targets, val_targets=True)
    settings, subset, db, vdb, held = data.settings, data.subset, data.db, data.val_db, data.held_out
    train_set, val_set = data.train_set, data.val_set
    cfg = train_config_from_args(args)
    seed_everything(cfg.seed)
    model = TEM(feat_dim=train_set.geometry["dim"], **settings.get("model", {}))
    extra = {"dataset": preset["name"],
             "bsn": {k: settings.get(k) for k in ("temporal_dim", "rescale", "window_stride", "streams")},
             "feature_record": train_set.geometry,
             "data": {"train_subset": subset, "train_items": len(train_set), "held_out": held,
                      "val_subset": args.val_subset},
             "paths": {"features": str(args.features), "annotations": str(args.annotations)}}
    trainer = Trainer(model, tem_loss_fn, cfg, args.output, model.config(), extra)
    trainer.resume_default(args.resume, args.restart)
    logger.info("%d training items of %d videos, %s features (%d-d), T = %d, %d epochs", len(train_set),
                len(train_set.records), settings["streams"], train_set.geometry["dim"], settings["temporal_dim"],
                cfg.epochs)
    trainer.fit(train_set, val_set)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
