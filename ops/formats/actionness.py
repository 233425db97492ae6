"""Actionness files: per-frame action probabilities written by ``binary_test.py``.

One ``.npz`` file per run (modality, checkpoint).  NumPy's ``.npz`` loaded
with ``allow_pickle=False`` cannot run code, so files from strangers are safe.
Arrays in the file:

- ``videos``: (V,) str, video ids;
- ``offsets``: (V + 1,) int64, video ``i``'s scores are ``scores[offsets[i]:offsets[i + 1]]``;
- ``scores``: (sum T_i,) float32, probability of "action" at each sampled frame, in [0, 1];
- ``num_frames``: (V,) int64, frame count of each video folder;
- ``frame_interval``: () int64, sampled frames are 0, k, 2k, ... (0-based), so
  score ``t`` describes frame ``t * frame_interval``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ops.errors import InputError
from ops.io import atomic_open


@dataclass
class Actionness:
    """Actionness of one video: ``scores`` (T,) float32 at frames ``0, k, 2k, ...`` (``k = frame_interval``)."""

    scores: np.ndarray
    num_frames: int
    frame_interval: int


def save_actionness(path: str | os.PathLike, records: dict[str, Actionness]) -> None:
    """Write ``records`` (video id -> Actionness, one frame interval for all) atomically."""
    intervals = {r.frame_interval for r in records.values()}
    if len(intervals) > 1:
        raise ValueError(f"one frame interval per file, got {sorted(intervals)}")
    videos = list(records)
    lengths = [len(records[v].scores) for v in videos]
    with atomic_open(path, "wb") as f:
        np.savez(f, videos=np.array(videos, dtype=str),
                 offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
                 scores=np.concatenate([np.asarray(records[v].scores, np.float32).ravel() for v in videos])
                 if videos else np.zeros(0, np.float32),
                 num_frames=np.array([records[v].num_frames for v in videos], np.int64),
                 frame_interval=np.int64(intervals.pop() if intervals else 1))


def load_actionness(path: str | os.PathLike) -> dict[str, Actionness]:
    """Read an actionness file (never unpickles).  Raises ValueError naming the file if malformed."""
    try:
        with np.load(path, allow_pickle=False) as data:
            videos, offsets, scores = data["videos"], data["offsets"], data["scores"]
            num_frames, interval = data["num_frames"], int(data["frame_interval"])
    except (KeyError, ValueError, OSError) as e:
        raise InputError(f"{path}: not an actionness file ({e}); produce it with binary_test.py") from None
    if len(offsets) != len(videos) + 1 or offsets[-1] != len(scores):
        raise InputError(f"{path}: inconsistent offsets; the file is corrupt, re-run binary_test.py")
    return {str(v): Actionness(scores[offsets[i]:offsets[i + 1]], int(num_frames[i]), interval)
            for i, v in enumerate(videos)}
