"""What the feature-based training and scoring stages share (BMN, BSN's TEM): settings, windows, validation split.

A method's preset section (``bmn``, ``bsn``) says what the method sees of a video: ``temporal_dim`` rows, either
the whole sequence rescaled (``rescale``: ``bsn`` or ``mmaction``) or windows every ``window_stride`` rows, of
``streams``; ``train`` holds the schedule (``epochs``, ``batch_size``, ``lr``, ``lr_steps``, ``weight_decay``).
Flags override it.  In windows, an instance belongs to a window when at least half of it lies inside.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ops.errors import InputError
from ops.formats.annotations import AnnotationDB
from ops.train.feature_dataset import FeatureDataset, WindowTruth, sequence_items, streams_of, videos_with_features
from ops.train.engine import held_out

TRAIN_KEYS = ("epochs", "batch_size", "lr", "lr_steps", "weight_decay")


def add_window_args(parser, training: bool) -> None:
    """``--streams``, ``--temporal_dim``, ``--window_stride``; training: subsets and the validation split."""
    parser.add_argument("--streams", default=None, help="RGB, Flow or RGB+Flow (default: the preset's)")
    g = parser.add_argument_group("windowing (default: the preset's section)")
    g.add_argument("--temporal_dim", type=int, default=None, help="rows the method sees (T)")
    g.add_argument("--window_stride", type=int, default=None,
                   help="windows of T rows every this many rows instead of whole rescaled videos")
    if training:
        parser.add_argument("--train_subset", default=None, help="default: the preset's training subset")
        v = parser.add_mutually_exclusive_group()
        v.add_argument("--val_subset", default=None, help="validate on this subset each epoch")
        v.add_argument("--holdout", type=float, default=0.0,
                       help="validate on this fraction of the training videos (chosen by name), trained without them")


def method_settings(preset: dict, key: str, args, train: bool = True) -> dict:
    """The preset's ``key`` section with the command line's overrides (and, when ``train``, the schedule's
    defaults filled into ``args``)."""
    if key not in preset:
        raise InputError(f"dataset preset {preset['name']!r} has no {key!r} section (temporal_dim, rescale, ...)")
    s = {**preset[key]}
    if getattr(args, "streams", None):
        s["streams"] = args.streams
    if getattr(args, "temporal_dim", None):
        s["temporal_dim"] = args.temporal_dim
    if getattr(args, "window_stride", None):
        s["window_stride"], s["rescale"] = args.window_stride, None
    if s.get("rescale") is None and not s.get("window_stride"):
        raise InputError(f"{key}: give either a rescale recipe (whole videos) or a window_stride (windows)")
    if train:
        for k in TRAIN_KEYS:
            if getattr(args, k, None) is None:
                setattr(args, k, s["train"][k])
    return s


def annotated_videos(db: AnnotationDB) -> list[str]:
    """Videos of ``db`` with at least one instance, not on its avoid list."""
    annotated = set(db.instances["video"])
    return [v for v in db.video_ids if v in annotated and v not in db.avoid]


def window_fractions_kept(truth: WindowTruth, windowed: bool) -> np.ndarray:
    """(G', 2) the item's instances in window fractions, clipped to [0, 1]; in windows only those with at least
    half of their length inside."""
    fr = truth.fractions.reshape(-1, 2)
    clipped = np.clip(fr, 0.0, 1.0)
    keep = clipped[:, 1] > clipped[:, 0]
    if windowed:
        keep &= (clipped[:, 1] - clipped[:, 0]) / np.maximum(fr[:, 1] - fr[:, 0], 1e-12) >= 0.5
    return clipped[keep]


def feature_dataset(features, db: AnnotationDB, settings: dict, videos: list[str], what: str,
                    target_fn: Callable | None = None, geometry: dict | None = None,
                    training: bool = False) -> FeatureDataset:
    """The items of ``videos`` (whole rescaled sequences or windows) with ``target_fn``; training windows hold
    at least half of some instance (``InputError`` when none does)."""
    streams = streams_of(settings["streams"])
    videos = videos_with_features(features, videos, streams, what)
    t, stride = settings["temporal_dim"], settings.get("window_stride")
    rescale = (t, settings["rescale"]) if settings.get("rescale") else None
    dataset = FeatureDataset(features, streams, sequence_items(features, videos, streams, t, stride), target_fn,
                             ground_truth=db.ground_truth(), rescale=rescale, geometry=geometry)
    if training and stride is not None:
        dataset.items = [it for i, it in enumerate(dataset.items)
                         if len(window_fractions_kept(dataset.truth(i), True))]
        if not dataset.items:
            raise InputError(f"{features}: no {what} window holds half of an instance; check the annotations, or "
                             "give a larger --temporal_dim")
    return dataset.preload()


def validation_split(preset: dict, args, db: AnnotationDB, load) -> tuple[list[str], AnnotationDB | None, list]:
    """(training videos, validation database or None, held-out videos) from ``--val_subset`` / ``--holdout``;
    ``load(subset)`` loads another subset's annotations."""
    annotated = annotated_videos(db)
    held = held_out(annotated, args.holdout)
    train = [v for v in annotated if v not in held]
    if args.val_subset:
        return train, load(args.val_subset), []
    return train, (db.select_videos(sorted(held)) if held else None), sorted(held)


def add_scoring_args(parser, trainer: str, output_help: str, source: str = "features") -> None:
    """The flags every feature-based scoring stage shares: ``dataset``, ``--features`` (or ``--pgm`` for BSN's
    PEM), ``--annotations``, ``--checkpoint`` (of ``trainer``), ``--output`` and ``--subset``."""
    parser.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    if source == "features":
        parser.add_argument("--features", type=Path, required=True, help="feature root (ROOT/<stream>/<video>.npy)")
    elif source == "ssad":
        from ops.train.ssad_windows import add_feature_source_args
        add_feature_source_args(parser, split="test")
    else:
        parser.add_argument("--pgm", type=Path, required=True, help="folder of bsn_pgm.py's proposals")
    parser.add_argument("--annotations", type=Path, required=source != "ssad",
                        help="annotations naming the subset's videos" + (" (with --features)" if source == "ssad" else ""))
    parser.add_argument("--checkpoint", type=Path, required=True, help=f"checkpoint of {trainer}")
    parser.add_argument("--output", type=Path, required=True, help=output_help)
    parser.add_argument("--subset", default=None, help="videos to score (default: the preset's test subset)")


def add_feature_training_args(parser) -> None:
    """The flags a feature-based training stage shares (BMN, BSN's TEM): features, annotations, output, windowing,
    the validation split, and the engine's flags with the preset's schedule as default."""
    from ops.train.engine import add_train_args

    parser.add_argument("--features", type=Path, required=True, help="feature root (ROOT/<stream>/<video>.npy)")
    parser.add_argument("--annotations", type=Path, required=True, help="THUMOS14 folder, ActivityNet JSON or CSV")
    parser.add_argument("--output", type=Path, required=True, help="folder for checkpoints and logs")
    add_window_args(parser, training=True)
    add_train_args(parser, epochs=None, lr=None, batch_size=None, optimizer="adam", weight_decay=None)
    parser.set_defaults(lr_steps=None)


@dataclass
class TrainingData:
    """What a feature-based training stage trains and validates on."""

    settings: dict
    subset: str
    db: AnnotationDB
    val_db: AnnotationDB | None
    held_out: list
    train_set: FeatureDataset
    val_set: FeatureDataset | None


def training_data(preset: dict, key: str, args, target: Callable, val_targets: bool) -> TrainingData:
    """Settings of the preset's ``key`` section, the training subset's annotations, the validation split, and the
    training (and validation) datasets with ``target(truth, temporal_dim=T, windowed=...)`` as targets
    (validation items get targets only when ``val_targets``: a validation loss; else a ``val_fn`` scores them)."""
    from ops.formats.annotations import load_dataset_annotations

    settings = method_settings(preset, key, args)
    subset = args.train_subset or preset["train_subset"]
    db = load_dataset_annotations(preset, args.annotations, subset)
    train_videos, vdb, held = validation_split(
        preset, args, db, lambda s: load_dataset_annotations(preset, args.annotations, s))
    target_fn = functools.partial(target, temporal_dim=settings["temporal_dim"],
                                  windowed=settings.get("window_stride") is not None)
    train_set = feature_dataset(args.features, db, settings, train_videos, f"{subset} (training)", target_fn,
                                training=True)
    val_set = feature_dataset(args.features, vdb, settings, annotated_videos(vdb), "validation",
                              target_fn if val_targets else None, geometry=train_set.geometry) \
        if vdb is not None else None
    return TrainingData(settings, subset, db, vdb, held, train_set, val_set)
