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
import hashlib
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from ops.errors import InputError, run_main
from ops.evaluation.detection_eval import ground_truth_from_db
from ops.evaluation.proposal_eval import ar_an
from ops.formats.annotations import AnnotationDB, load_dataset_annotations
from ops.formats.presets import load_preset
from ops.log import setup_logging
from ops.models.bmn import BMN, bmn_loss, bmn_proposals
from ops.proposals.bmn import bmn_targets
from ops.train.engine import Trainer, add_train_args, seed_everything, train_config_from_args
from ops.train.feature_dataset import FeatureDataset, WindowTruth, sequence_items, streams_of, videos_with_features

logger = logging.getLogger("bmn_train")
TRAIN_KEYS = ("epochs", "batch_size", "lr", "lr_steps", "weight_decay")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("--features", type=Path, required=True, help="feature root (ROOT/<stream>/<video>.npy)")
    p.add_argument("--annotations", type=Path, required=True, help="THUMOS14 folder, ActivityNet JSON or CSV")
    p.add_argument("--output", type=Path, required=True, help="folder for checkpoints and logs")
    p.add_argument("--streams", default=None, help="RGB, Flow or RGB+Flow (default: the preset's)")
    p.add_argument("--train_subset", default=None, help="default: the preset's training subset")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--val_subset", default=None, help="validate AR@AN on this subset each epoch")
    g.add_argument("--holdout", type=float, default=0.0,
                   help="validate on this fraction of the training videos (chosen by name), trained without them")
    w = p.add_argument_group("windowing (default: the preset's bmn section)")
    w.add_argument("--temporal_dim", type=int, default=None, help="rows BMN sees (T)")
    w.add_argument("--window_stride", type=int, default=None,
                   help="windows of T rows every this many rows instead of whole rescaled videos")
    add_train_args(p, epochs=None, lr=None, batch_size=None, optimizer="adam", weight_decay=None)
    p.set_defaults(lr_steps=None)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


# --------------------------------------------------------------------------- settings


def bmn_settings(preset: dict, args) -> dict:
    """The preset's ``bmn`` section with the command line's overrides."""
    if "bmn" not in preset:
        raise InputError(f"dataset preset {preset['name']!r} has no 'bmn' section (temporal_dim, rescale, ...)")
    s = {**preset["bmn"]}
    if args.streams:
        s["streams"] = args.streams
    if args.temporal_dim:
        s["temporal_dim"] = args.temporal_dim
    if args.window_stride:
        s["window_stride"], s["rescale"] = args.window_stride, None
    if s.get("rescale") is None and not s.get("window_stride"):
        raise InputError("BMN needs either a rescale recipe (whole videos) or a window_stride (windows)")
    for k in TRAIN_KEYS:
        if getattr(args, k) is None:
            setattr(args, k, s["train"][k])
    return s


def held_out(videos: list[str], fraction: float) -> set[str]:
    """A stable ``fraction`` of ``videos`` chosen by the hash of their names (the same on every run)."""
    if not 0 <= fraction < 1:
        raise InputError(f"--holdout must be in [0, 1), got {fraction}")
    ranked = sorted(videos, key=lambda v: hashlib.sha256(v.encode()).hexdigest())
    return set(ranked[:int(round(fraction * len(videos)))])


# --------------------------------------------------------------------------- targets and loss


def window_targets(truth: WindowTruth, temporal_dim: int, windowed: bool):
    """``target_fn``: start (T,), end (T,), iou_map (T, T) tensors of an item.  Instances are clipped to the
    window; in windows only those with at least half of their length inside count."""
    fr = truth.fractions.reshape(-1, 2)
    clipped = np.clip(fr, 0.0, 1.0)
    keep = clipped[:, 1] > clipped[:, 0]
    if windowed:
        length = np.maximum(fr[:, 1] - fr[:, 0], 1e-12)
        keep &= (clipped[:, 1] - clipped[:, 0]) / length >= 0.5
    start, end, iou = bmn_targets(clipped[keep], temporal_dim)
    return torch.from_numpy(start), torch.from_numpy(end), torch.from_numpy(iou)


def bmn_loss_fn(model, batch, device):
    """The engine's loss: batch = (x, start, end, iou_map, index)."""
    x, gt_start, gt_end, gt_iou, _ = batch
    maps, start, end = model(x.to(device, non_blocking=True))
    core = model.module if hasattr(model, "module") else model
    return bmn_loss(maps, start, end, gt_iou.to(device), gt_start.to(device), gt_end.to(device), core.valid)


def keep_windows_with_instances(dataset: FeatureDataset, temporal_dim: int) -> FeatureDataset:
    """Training windows: only those holding at least half of some instance."""
    keep = [i for i in range(len(dataset))
            if window_targets(dataset.truth(i), temporal_dim, True)[2].max() > 0]
    dataset.items = [dataset.items[i] for i in keep]
    return dataset


# --------------------------------------------------------------------------- validation


def validation_metrics(model, dataset: FeatureDataset, db: AnnotationDB, settings: dict, batch_size: int) -> dict:
    """The engine's ``val_fn``: AR@1/10/100 and AUC (ActivityNet's AR@AN, %) of the validation videos."""
    props = bmn_proposals(model, dataset, settings["post"], batch_size, next(model.parameters()).device)
    curve = ar_an(props, ground_truth_from_db(db))
    return {"auc": curve.as_dict()["AUC_percent"], "ar100": 100 * (curve.at(100) or 0.0),
            "ar10": 100 * (curve.at(10) or 0.0)}


# --------------------------------------------------------------------------- main


def make_dataset(args, db: AnnotationDB, settings: dict, videos: list[str], what: str, training: bool,
                 geometry=None) -> FeatureDataset:
    streams = streams_of(settings["streams"])
    videos = videos_with_features(args.features, videos, streams, what)
    t, stride = settings["temporal_dim"], settings.get("window_stride")
    rescale = (t, settings["rescale"]) if settings.get("rescale") else None
    target_fn = functools.partial(window_targets, temporal_dim=t, windowed=stride is not None) if training else None
    dataset = FeatureDataset(args.features, streams, sequence_items(args.features, videos, streams, t, stride),
                             target_fn, ground_truth=db.ground_truth(), rescale=rescale, geometry=geometry)
    if training and stride is not None:
        keep_windows_with_instances(dataset, t)
    if not len(dataset):
        raise InputError(f"{args.features}: no {what} window holds half of an instance; check the annotations, "
                         "or give a larger --temporal_dim")
    return dataset.preload()


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    settings = bmn_settings(preset, args)
    subset = args.train_subset or preset["train_subset"]
    db = load_dataset_annotations(preset, args.annotations, subset)
    annotated = [v for v in db.video_ids if v in set(db.instances["video"]) and v not in db.avoid]
    held = held_out(annotated, args.holdout)
    train_set = make_dataset(args, db, settings, [v for v in annotated if v not in held], f"{subset} (training)", True)
    val_set, vdb = None, None
    if args.val_subset or held:
        vdb = load_dataset_annotations(preset, args.annotations, args.val_subset) if args.val_subset \
            else db.select_videos(sorted(held))
        val_videos = [v for v in vdb.video_ids if v in set(vdb.instances["video"])]
        val_set = make_dataset(args, vdb, settings, val_videos, "validation", False, train_set.geometry)
    cfg = train_config_from_args(args)
    seed_everything(cfg.seed)
    model = BMN(temporal_dim=settings["temporal_dim"], feat_dim=train_set.geometry["dim"], **settings.get("model", {}))
    extra = {"dataset": preset["name"], "bmn": {k: settings.get(k) for k in ("temporal_dim", "rescale",
                                                                           "window_stride", "streams", "post")},
             "feature_record": train_set.geometry, "classes": list(db.classes),
             "data": {"train_subset": subset, "train_items": len(train_set), "held_out": sorted(held),
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
