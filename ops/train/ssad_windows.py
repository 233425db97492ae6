"""Decouple-SSAD's windows over our per-video snippet features, or over the release's window files
(``ssad_train.py``, ``ssad_test.py``).

The release cuts windows in frames (``ops.proposals.ssad.ssad_windows``: 512 frames = 128 snippets of 4 frames,
strides 128 / 256 frames); on a feature sequence with one row every ``stride`` frames the same rules run with
``window = window_rows x stride`` frames, and a window starting at frame ``f`` starts at row ``round(f / stride)``
(the release extracts each window's features from frame ``f`` itself; ours are per video, so the last window,
``L - window``, can start up to half a row off).  Rows past the end repeat the last row, as the release's frames do.

:class:`ReleasedWindows` reads the release's preprocessed features as they are: window ``i`` of its
``window_info.log`` is ``<split>/<spatial|temporal>DataX<backbone>/<i>.npy``, 128 snippets of 4 frames from the
window's start frame, with targets from the release's annotation CSV (frames), so nothing is extracted.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ops.errors import InputError
from ops.formats.features import read_record
from ops.formats.ssad_files import (RELEASED_BACKBONES, RELEASED_SNIPPET_FRAMES, RELEASED_STREAMS,
                                    read_released_window, released_feature_path)
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


NO_INSTANCES = (0, np.zeros((0, 2)), np.zeros(0, np.int64))   # a video the annotation CSV does not name


def add_feature_source_args(parser, split: str) -> None:
    """``--features ROOT`` (ours) or ``--released_features ROOT`` with ``--window_list``, ``--backbone`` and
    ``--split`` (the release's files, default split ``split``)."""
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--features", type=Path, help="our feature root (ROOT/<stream>/<video>.npy)")
    src.add_argument("--released_features", type=Path, metavar="ROOT",
                     help="the Decouple-SSAD release's feature folder (ROOT/<split>/<spatial|temporal>DataX"
                          "<backbone>/<i>.npy); needs --window_list, and --annotations is then the release's "
                          "annotation CSV (frames)")
    parser.add_argument("--window_list", type=Path, default=None,
                        help="the release's window_info.log of those files (line i = i.npy)")
    parser.add_argument("--backbone", choices=RELEASED_BACKBONES, default="UCF101",
                        help="which released features (UCF101: BN-Inception 1024-d, KnetV3: Inception-V3 2048-d)")
    parser.add_argument("--split", default=split, help=f"the release's split folder (default {split})")


def released_record(modality: str, backbone: str, dim: int) -> dict:
    """What a checkpoint trained on the release's files stores as its ``feature_record``."""
    return {"source": "decouple_ssad_release", "stream": RELEASED_STREAMS[modality], "backbone": backbone,
            "dim": int(dim), "snippet_frames": RELEASED_SNIPPET_FRAMES}


class ReleasedWindows(Dataset):
    """The release's window files of one stream.

    Args:
        root: the release's ``feature`` folder; ``split`` (``val`` / ``test``), ``modality`` (RGB / Flow ->
            spatial / temporal) and ``backbone`` (UCF101 / KnetV3) name the sub-folder.
        windows: ``(start frame, video)`` per line of the split's ``window_info.log``; item ``i`` reads ``i.npy``.
        instances: ``{video: (num_frames, frames (G, 2), labels (G,))}`` (``annotation_csv_instances``) for
            training: each item then carries the targets of :func:`ops.proposals.ssad.window_targets` over its
            512 frames; None for scoring.
        keep: the line numbers to use (default all; training keeps those with an instance > 90 % inside).

    Item ``(features [D, 128] float32, boxes, labels, index)`` or ``(features, index)``, as :func:`collate` joins.
    Every file is checked to exist up front (one error naming the first missing one); shapes when read.
    """

    def __init__(self, root, split: str, modality: str, backbone: str, windows: list[tuple[int, str]],
                 instances: dict | None = None, keep: list[int] | None = None, window_rows: int = 128):
        self.root, self.split, self.stream, self.backbone = root, split, RELEASED_STREAMS[modality], backbone
        self.windows, self.instances = windows, instances
        self.window_frames = window_rows * RELEASED_SNIPPET_FRAMES
        self.lines = list(range(len(windows))) if keep is None else list(keep)
        missing = [i for i in self.lines if not self.path(i).is_file()]
        if missing:
            raise InputError(f"{self.path(missing[0])}: missing ({len(missing)} of {len(self.lines)} windows of the "
                             f"window list have no feature file); give the window_info.log these files were made from")
        self.dim = read_released_window(root, split, self.stream, backbone, self.lines[0]).shape[1] \
            if self.lines else 0

    def path(self, line: int):
        return released_feature_path(self.root, self.split, self.stream, self.backbone, line)

    def __len__(self) -> int:
        return len(self.lines)

    def window(self, index: int) -> tuple[str, int, int]:
        """``(video, start frame, length in frames)`` of item ``index``."""
        start, video = self.windows[self.lines[index]]
        return video, start, self.window_frames

    def targets(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        video, start, length = self.window(index)
        _, frames, labels = self.instances.get(video, NO_INSTANCES)
        return window_targets(frames, labels, start, length)

    def __getitem__(self, index: int):
        x = read_released_window(self.root, self.split, self.stream, self.backbone, self.lines[index])
        if x.shape[1] != self.dim:
            raise InputError(f"{self.path(self.lines[index])}: {x.shape[1]}-d features; the first window has "
                             f"{self.dim}")
        x = torch.from_numpy(np.ascontiguousarray(x.T))
        if self.instances is None:
            return x, index
        boxes, labels = self.targets(index)
        return x, torch.from_numpy(boxes), torch.from_numpy(labels), index


def released_training_lines(windows: list[tuple[int, str]], instances: dict, window_frames: int = 512) -> list[int]:
    """Line numbers of the windows holding at least one instance more than 90 % inside (the release's training
    list holds only such windows, so this drops nothing from it)."""
    keep = []
    for i, (start, video) in enumerate(windows):
        _, frames, labels = instances.get(video, NO_INSTANCES)
        if len(window_targets(frames, labels, start, window_frames)[1]):
            keep.append(i)
    return keep
