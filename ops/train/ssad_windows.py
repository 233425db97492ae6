"""Decouple-SSAD's windows over our per-video snippet features (``ssad_train.py``, ``ssad_test.py``).

The release cuts windows in frames (``ops.proposals.ssad.ssad_windows``: 512 frames = 128 snippets of 4 frames,
strides 128 / 256 frames); on a feature sequence with one row every ``stride`` frames the same rules run with
``window = window_rows x stride`` frames, and a window starting at frame ``f`` starts at row ``round(f / stride)``
(the release extracts each window's features from frame ``f`` itself; ours are per video, so the last window,
``L - window``, can start up to half a row off).  Rows past the end repeat the last row, as the release's frames do.
"""
from __future__ import annotations

import numpy as np
import torch

from ops.formats.features import read_record
from ops.proposals.ssad import ssad_windows, window_targets
from ops.train.feature_dataset import FeatureItem, WindowTruth


def window_items(root, stream: str, videos, ground_truth: dict, settings: dict, training: bool) -> list[FeatureItem]:
    """Every window of ``videos`` (training: only those the 0.9 rule keeps), as feature items."""
    items = []
    for v in videos:
        rec = read_record(root, stream, v)
        stride = rec.stride
        gt_seconds = ground_truth.get(v, (np.zeros((0, 2)),))[0]
        starts = ssad_windows(rec.num_frames, np.asarray(gt_seconds) * rec.fps, training,
                              window=int(settings["window_rows"] * stride),
                              train_stride=int(settings["train_stride_rows"] * stride),
                              test_stride=int(settings["test_stride_rows"] * stride), tail=settings["tail_frames"],
                              short_train=settings.get("short_videos_train", False))
        rows = np.minimum(np.round(starts / stride).astype(np.int64), rec.num_rows - 1)   # repeats kept
        items += [FeatureItem(v, int(r), settings["window_rows"]) for r in rows]
    return items


def ssad_item_targets(truth: WindowTruth):
    """``target_fn``: (boxes (G, 2) window units float32, labels (G,)) of the instances > 90 % inside."""
    rec = truth.record
    window = truth.num_rows * rec.stride
    start = truth.start_row * rec.stride
    boxes, labels = window_targets(truth.seconds * rec.fps, truth.labels, start, window)
    return torch.from_numpy(boxes), torch.from_numpy(labels)


def collate(batch: list) -> tuple:
    """``(x (B, C, T), [boxes], [labels], index (B,))``: instance counts differ between windows."""
    x = torch.stack([b[0] for b in batch])
    if len(batch[0]) == 2:
        return x, torch.tensor([b[1] for b in batch])
    return x, [b[1] for b in batch], [b[2] for b in batch], torch.tensor([b[3] for b in batch])
