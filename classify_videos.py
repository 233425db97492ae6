"""Video-level classifier on snippet features: train on one subset, score every video of another.

Example::

    python classify_videos.py activitynet1.3 --features work/features --annotations activity_net.v1-3.min.json \\
        --output work/classifier --write_scores work/video_scores_validation.json

Trains ``ops/models/video_classifier.py`` (temporal conv, masked mean | max pooling, linear; multi-label:
one sigmoid per class) on the annotated videos of ``--train_subset`` with the shared engine (checkpoints,
resume, settings check as the other training stages), then scores every video of ``--subset`` and writes
the scores in the CUHK'17 layout (``ops/formats/video_scores.py``), which ``proposals_to_detections.py``
reads.  Features: ``ROOT/<stream>/<video>.npy`` + record (``ops/formats/features.py``), one stream or both
(``--streams RGB+Flow``, concatenated), each video's sequence rescaled to ``--num_rows`` rows (0: kept
whole, batches padded).  The checkpoint stores the model config, the classes, the streams, the rescaling and
the features' geometry; scoring with ``--checkpoint`` (no training) refuses features made another way.
Videos without features are left out with a warning.  See ``docs/proposals_to_detections.md``.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch

from ops.errors import InputError, run_main
from ops.formats.annotations import AnnotationDB, load_annotations, load_dataset_annotations
from ops.formats.presets import load_preset
from ops.formats.video_scores import VideoScores, write_video_scores
from ops.log import progress, setup_logging
from ops.models.video_classifier import (VideoClassifier, build_video_classifier, class_scores, classifier_loss,
                                         multi_hot, pad_batch, top1_hit_rate, video_map)
from ops.train.engine import (BEST, LAST, Trainer, add_train_args, load_checkpoint, load_weights,
                              seed_everything, setup_runtime, train_config_from_args)
from ops.train.feature_dataset import FeatureDataset, streams_of, videos_with_features

logger = logging.getLogger("classify_videos")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("--features", type=Path, required=True, help="feature root (ROOT/<stream>/<video>.npy)")
    p.add_argument("--annotations", type=Path, required=True, help="THUMOS14 folder, ActivityNet JSON or CSV")
    p.add_argument("--streams", default="RGB+Flow", help="RGB, Flow or RGB+Flow (concatenated, RGB first)")
    p.add_argument("--num_rows", type=int, default=100,
                   help="rows each video's sequence is rescaled to (BSN's recipe); 0 = keep every row")
    p.add_argument("--train_subset", default=None, help="default: the preset's training subset")
    p.add_argument("--val_subset", default=None,
                   help="subset for the validation loss and metrics; the best checkpoint has the best video mAP")
    p.add_argument("--subset", default=None, help="subset to score (default: the preset's test subset)")
    p.add_argument("--output", type=Path, default=None, help="folder for checkpoints and logs (training)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="score with this checkpoint, no training (default: OUTPUT's best, else last)")
    p.add_argument("--write_scores", type=Path, default=None, help="video-level scores to write (JSON)")
    p.add_argument("--write_top_k", type=int, default=None, help="classes written per video (default: all)")
    g = p.add_argument_group("model")
    g.add_argument("--hidden", type=int, default=256, help="channels of the temporal convolution")
    g.add_argument("--dropout", type=float, default=0.5)
    add_train_args(p, epochs=20, lr=0.001, batch_size=16, optimizer="adam", weight_decay=1e-4)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


# --------------------------------------------------------------------------- data


def video_targets(truth, num_classes: int) -> torch.Tensor:
    """``target_fn`` of the feature dataset: the video's classes, multi-hot (K,) float32."""
    return torch.from_numpy(multi_hot([truth.labels], num_classes)[0])


def collate(batch: list) -> tuple:
    """Items ``(x (C, T), [targets,] index)`` -> ``(x (B, C, T), mask (B, T), [targets (B, K),] index (B,))``."""
    x, mask = pad_batch([item[0] for item in batch])
    rest = [torch.stack([torch.as_tensor(item[k]) for item in batch]) for k in range(1, len(batch[0]))]
    return (x, mask, *rest)


def make_dataset(args, db: AnnotationDB, streams: tuple, rescale, what: str, annotated_only: bool,
                 geometry: dict | None = None, targets: bool = True) -> FeatureDataset:
    """Whole-video items of ``db`` (annotated ones only when ``annotated_only``; never the avoid list)."""
    annotated = set(db.instances["video"])
    videos = [v for v in db.video_ids if (v in annotated or not annotated_only) and v not in db.avoid]
    videos = videos_with_features(args.features, videos, streams, what)
    target_fn = functools.partial(video_targets, num_classes=db.num_classes) if targets else None
    return FeatureDataset(args.features, streams, [(v, 0, None) for v in videos], target_fn,
                          ground_truth=db.ground_truth(), rescale=rescale, geometry=geometry).preload()


def truth_digest(dataset: FeatureDataset) -> str:
    """Digest of the training videos and their classes: a re-run with other ground truth is not a resume."""
    rows = [[it.video, sorted(set(dataset.truth(i).labels.tolist()))] for i, it in enumerate(dataset.items)]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- training


def classifier_loss_fn(model, batch, device):
    """The engine's loss: batch = (x, mask, targets, index)."""
    x, mask, targets, _ = batch
    logits = model(x.to(device, non_blocking=True), mask.to(device))
    targets = targets.to(device)
    hit = targets.gather(1, logits.argmax(1, keepdim=True)).mean()
    return classifier_loss(logits, targets), {"top1_hit": float(hit)}


def dataset_targets(dataset: FeatureDataset, num_classes: int) -> np.ndarray:
    """(V, K) multi-hot classes of every item of ``dataset``."""
    return multi_hot([dataset.truth(i).labels for i in range(len(dataset))], num_classes)


def validation_metrics(model, dataset: FeatureDataset, batch_size: int) -> dict:
    """The engine's ``val_fn``: video-level mAP over classes and top-1 hit rate on ``dataset``."""
    scores = score_videos(model, dataset, batch_size, next(model.parameters()).device)
    targets = dataset_targets(dataset, model.num_classes)
    return {"video_map": video_map(scores, targets), "video_top1": top1_hit_rate(scores, targets)}


def train(args, preset: dict, streams: tuple, rescale) -> Path:
    """Train (or resume) in ``--output``; returns the checkpoint to score with."""
    subset = args.train_subset or preset["train_subset"]
    db = load_dataset_annotations(preset, args.annotations, subset)
    train_set = make_dataset(args, db, streams, rescale, f"{subset} (training)", annotated_only=True)
    val_set = None
    if args.val_subset:
        vdb = load_annotations(args.annotations, args.val_subset, classes=db.classes)
        val_set = make_dataset(args, vdb, streams, rescale, f"{args.val_subset} (validation)", annotated_only=True,
                               geometry=train_set.geometry)
    cfg = train_config_from_args(args)
    seed_everything(cfg.seed)
    model = VideoClassifier(train_set.geometry["dim"], db.num_classes, args.hidden, args.dropout)
    extra = {"dataset": preset["name"], "classes": list(db.classes), "streams": "+".join(streams),
             "rescale": list(rescale) if rescale else None, "feature_record": train_set.geometry,
             "data": {"train_subset": subset, "train_truth": truth_digest(train_set),
                      "val_subset": args.val_subset, "val_truth": truth_digest(val_set) if val_set else None},
             "paths": {"features": str(args.features), "annotations": str(args.annotations)}}
    val_fn = functools.partial(validation_metrics, dataset=val_set, batch_size=args.batch_size) if val_set else None
    trainer = Trainer(model, classifier_loss_fn, cfg, args.output, model.config(), extra, collate_fn=collate,
                      val_fn=val_fn, best_metric="video_map" if val_set else "val_loss", best_mode="max" if val_set
                      else "min")
    trainer.resume_default(args.resume, args.restart)
    logger.info("%d training videos, %d classes, %s features (%d-d), %d epochs", len(train_set), db.num_classes,
                "+".join(streams), model.in_dim, cfg.epochs)
    trainer.fit(train_set, val_set)
    return args.output / BEST if (args.output / BEST).exists() else args.output / LAST


# --------------------------------------------------------------------------- scoring


def checkpoint_classifier(path: Path, device) -> tuple[torch.nn.Module, dict]:
    """The classifier a checkpoint stores (eval mode) and its ``extra`` (classes, streams, geometry)."""
    ckpt = load_checkpoint(path, map_location="cpu")
    extra = ckpt.get("extra", {})
    model = build_video_classifier(ckpt["model_config"])
    if "feature_record" not in extra or "classes" not in extra:
        raise InputError(f"{path}: no feature record or classes inside; give a checkpoint of classify_videos.py")
    load_weights(model, ckpt, path)
    return model.to(device).eval(), extra


@torch.no_grad()
def score_videos(model, dataset: FeatureDataset, batch_size: int, device) -> np.ndarray:
    """(V, K) sigmoid scores of every item of ``dataset``, in item order."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    out = []
    for x, mask, *_ in progress(loader, desc="scoring", unit="batch", disable=len(loader) < 20):
        out.append(class_scores(model(x.to(device), mask.to(device))).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.num_classes))


def score(args, preset: dict, checkpoint: Path) -> None:
    """Score every video of ``--subset`` with ``checkpoint`` and write ``--write_scores``."""
    rt = setup_runtime(args.device)
    if not rt.is_main:                    # under torchrun the other processes only helped to train
        return
    model, extra = checkpoint_classifier(checkpoint, rt.device)
    device = rt.device
    subset = args.subset or preset["test_subset"]
    db = load_annotations(args.annotations, subset, classes=extra["classes"])
    streams = streams_of(extra["streams"])
    dataset = make_dataset(args, db, streams, tuple(extra["rescale"]) if extra["rescale"] else None, subset,
                           annotated_only=False, geometry=extra["feature_record"], targets=False)
    scores = score_videos(model, dataset, args.batch_size, device)
    videos = [it.video for it in dataset.items]
    write_video_scores(args.write_scores, VideoScores(videos, extra["classes"], scores), top_k=args.write_top_k)
    targets = dataset_targets(dataset, len(extra["classes"]))
    annotated = targets.sum(1) > 0
    logger.info("%s: %d videos scored with %s", args.write_scores, len(videos), checkpoint)
    if annotated.any():
        print(f"{subset}: {int(annotated.sum())} annotated videos: video mAP "
              f"{100 * video_map(scores[annotated], targets[annotated]):.2f} %, best class one of the video's "
              f"for {100 * top1_hit_rate(scores[annotated], targets[annotated]):.2f} %")


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    if args.checkpoint is None and args.output is None:
        raise InputError("give --output (train, then score) or --checkpoint (score only)")
    if args.num_rows < 0:
        raise InputError(f"--num_rows must be >= 0, got {args.num_rows}")
    checkpoint = args.checkpoint
    if checkpoint is None:
        rescale = (args.num_rows, "bsn") if args.num_rows else None
        checkpoint = train(args, preset, streams_of(args.streams), rescale)
    if args.write_scores is not None:
        score(args, preset, checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
