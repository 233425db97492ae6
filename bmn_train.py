"""Train BMN (Boundary-Matching Network) on snippet features.

Example::

    python bmn_train.py activitynet1.3 --features work/features --annotations anet_anno_action.json \\
        --val_subset validation --output work/bmn

Reads ``ROOT/<stream>/<video>.npy`` + records (``ops/formats/features.py``; ``convert_features.py`` turns the
released csv_mean_100 folders into them), the streams joined (``--streams``, RGB first).  What BMN sees of a
video comes from the preset's ``bmn`` section: the whole sequence rescaled to ``temporal_dim`` rows (BSN's
recipe: ActivityNet, the synthetic demo), or windows of ``temporal_dim`` rows every ``window_stride`` rows
(THUMOS14; a training window is kept when it holds at least half of some instance).  Network, targets,
losses and schedule as ``../shared/specs/bmn_bsn.md`` (``ops/proposals/bmn.py``, ``ops/models/bmn.py``),
on the shared engine (resume, settings check, DDP, mixed precision on CUDA).  With ``--val_subset`` or
``--holdout`` each epoch is validated by AR@AN on those videos and checkpoint_best.pth has the best AUC.
The checkpoint stores the model config, the windowing, the streams and the features' geometry:
``bmn_test.py`` rebuilds everything from it.  See docs/bmn.md.
"""
from __future__ import annotations

import argparse
import functools
import logging
import sys

import torch

from ops.errors import run_main
from ops.evaluation.detection_eval import ground_truth_from_db
from ops.evaluation.proposal_eval import ar_an
from ops.formats.annotations import AnnotationDB
from ops.formats.presets import load_preset
from ops.log import setup_logging
from ops.models.bmn import BMN, bmn_loss, bmn_proposals
from ops.proposals.bmn import bmn_targets
from ops.train.engine import Trainer, seed_everything, train_config_from_args
from ops.train.feature_dataset import FeatureDataset, WindowTruth
from ops.train.feature_stage import add_feature_training_args, training_data, window_fractions_kept

logger = logging.getLogger("bmn_train")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    add_feature_training_args(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


# --------------------------------------------------------------------------- targets and loss


def window_targets(truth: WindowTruth, temporal_dim: int, windowed: bool):
    """``target_fn``: start (T,), end (T,), iou_map (T, T) tensors of an item (instances clipped to the window;
    in windows only those at least half inside: ``ops.train.feature_stage.window_fractions_kept``)."""
    start, end, iou = bmn_targets(window_fractions_kept(truth, windowed), temporal_dim)
    return torch.from_numpy(start), torch.from_numpy(end), torch.from_numpy(iou)


def bmn_loss_fn(model, batch, device):
    """The engine's loss: batch = (x, start, end, iou_map, index)."""
    x, gt_start, gt_end, gt_iou, _ = batch
    maps, start, end = model(x.to(device, non_blocking=True))
    core = model.module if hasattr(model, "module") else model
    return bmn_loss(maps, start, end, gt_iou.to(device), gt_start.to(device), gt_end.to(device), core.valid)


# --------------------------------------------------------------------------- validation


def validation_metrics(model, dataset: FeatureDataset, db: AnnotationDB, settings: dict, batch_size: int) -> dict:
    """The engine's ``val_fn``: AR@1/10/100 and AUC (ActivityNet's AR@AN, %) of the validation videos."""
    props = bmn_proposals(model, dataset, settings["post"], batch_size, next(model.parameters()).device)
    curve = ar_an(props, ground_truth_from_db(db))
    return {"auc": curve.as_dict()["AUC_percent"], "ar100": 100 * (curve.at(100) or 0.0),
            "ar10": 100 * (curve.at(10) or 0.0)}


# --------------------------------------------------------------------------- main


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    data = training_data(preset, "bmn", args, window_targets, val_targets=False)
    settings, subset, db, vdb, held = data.settings, data.subset, data.db, data.val_db, data.held_out
    train_set, val_set = data.train_set, data.val_set
    cfg = train_config_from_args(args)
    seed_everything(cfg.seed)
    model = BMN(temporal_dim=settings["temporal_dim"], feat_dim=train_set.geometry["dim"], **settings.get("model", {}))
    extra = {"dataset": preset["name"], "bmn": {k: settings.get(k) for k in ("temporal_dim", "rescale",
                                                                           "window_stride", "streams", "post")},
             "feature_record": train_set.geometry, "classes": list(db.classes),
             "data": {"train_subset": subset, "train_items": len(train_set), "held_out": held,
                      "val_subset": args.val_subset},
             "paths": {"features": str(args.features), "annotations": str(args.annotations)}}
    val_fn = functools.partial(validation_metrics, dataset=val_set, db=vdb, settings=settings,
                               batch_size=args.batch_size) if val_set is not None else None
    trainer = Trainer(model, bmn_loss_fn, cfg, args.output, model.config(), extra, val_fn=val_fn,
                      best_metric="auc" if val_fn else "val_loss", best_mode="max" if val_fn else "min")
    trainer.resume_default(args.resume, args.restart)
    logger.info("%d training items of %d videos, %s features (%d-d), T = %d, %d epochs", len(train_set),
                len(train_set.records), settings["streams"], train_set.geometry["dim"], settings["temporal_dim"],
                cfg.epochs)
    trainer.fit(train_set)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
