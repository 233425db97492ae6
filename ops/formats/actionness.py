"""Actionness files: the binary classifier's raw two-class scores per sampled frame (``binary_test.py`` -> TAG).

TAG fuses and thresholds *raw* scores as the original SSN does (``docs/tag.md``),
so files keep the classifier's outputs before the softmax: per sampled frame a
row ``[background, action]``, averaged over crops.

Our layout: one ``.npz`` per run (modality, checkpoint), loaded with
``allow_pickle=False`` (a file from a stranger cannot run code):

- ``layout``: () str, ``"raw2"`` (files without it are the old probability layout: refused, remake them);
- ``videos``: (V,) str, video ids;
- ``offsets``: (V + 1,) int64, video ``i``'s rows are ``scores[offsets[i]:offsets[i + 1]]``;
- ``scores``: (sum T_i, 2) float32, raw scores ``[background, action]``, averaged over crops;
- ``num_frames``: (V,) int64, frame count of each video folder;
- ``frame_interval``: () int64, sampled frames are 0, k, 2k, ... (0-based), so
  row ``t`` describes frame ``t * frame_interval``.

The original SSN's layout (read as it is, given as a ``.pkl``): a pickle of
``{video: float array (snippets, crops, 2)}`` (raw scores per sampled frame and
crop; ``(snippets, 2)`` is taken as one crop).  It is loaded by the safe
unpickler of :mod:`ops.formats.results` (numpy arrays and plain containers
only); crops are averaged on reading.  It records neither frame counts nor the
frame interval, so its records have ``num_frames = frame_interval = None`` and
TAG maps snippet ``i`` to ``i / T x duration`` as the original does.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ops.errors import InputError
from ops.formats.results import safe_load_pickle
from ops.io import atomic_open

LAYOUT = "raw2"


@dataclass
class Actionness:
    """One video: ``scores`` (T, 2) float32 raw ``[background, action]`` at frames ``0, k, 2k, ...``.

    ``num_frames`` and ``frame_interval`` (``k``) are None for the original's pickles.
    """

    scores: np.ndarray
    num_frames: int | None
    frame_interval: int | None

    def __post_init__(self):
        self.scores = np.asarray(self.scores, np.float32)
        if self.scores.ndim != 2 or self.scores.shape[1] != 2:
            raise InputError(f"actionness scores must be (T, 2) raw [background, action], got {self.scores.shape}")


def save_actionness(path: str | os.PathLike, records: dict[str, Actionness]) -> None:
    """Write ``records`` (video id -> Actionness, one frame interval for all) atomically."""
    intervals = {r.frame_interval for r in records.values()}
    if len(intervals) > 1 or None in intervals:
        raise InputError(f"one known frame interval per file, got {sorted(intervals, key=str)}")
    videos = list(records)
    rows = [records[v].scores for v in videos]
    if rows and not all(np.isfinite(r).all() for r in rows):
        bad = next(v for v, r in zip(videos, rows) if not np.isfinite(r).all())
        raise InputError(f"{path}: non-finite actionness scores for video {bad}; the classifier diverged")
    with atomic_open(path, "wb") as f:
        np.savez(f, layout=np.array(LAYOUT),
                 videos=np.array(videos, dtype=str),
                 offsets=np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64),
                 scores=np.concatenate(rows) if rows else np.zeros((0, 2), np.float32),
                 num_frames=np.array([records[v].num_frames for v in videos], np.int64),
                 frame_interval=np.int64(intervals.pop() if intervals else 1))


def load_actionness(path: str | os.PathLike) -> dict[str, Actionness]:
    """Read our ``.npz`` or the original's ``.pkl`` (never runs code).  InputError naming the file if malformed."""
    if Path(path).suffix == ".pkl":
        return _load_original_pickle(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            layout = str(data["layout"]) if "layout" in data.files else None
            videos, offsets, scores = data["videos"], data["offsets"], data["scores"]
            num_frames, interval = data["num_frames"], int(data["frame_interval"])
    except (KeyError, ValueError, OSError) as e:
        raise InputError(f"{path}: not an actionness file ({e}); produce it with binary_test.py") from None
    if layout != LAYOUT:
        raise InputError(f"{path}: an actionness file of an older binary_test.py (probabilities, not raw scores); "
                         "re-run binary_test.py to remake it (TAG fuses raw scores, docs/tag.md)")
    if scores.ndim != 2 or scores.shape[1] != 2 or len(offsets) != len(videos) + 1 or offsets[-1] != len(scores):
        raise InputError(f"{path}: inconsistent arrays; the file is corrupt, re-run binary_test.py")
    if not np.isfinite(scores).all():
        raise InputError(f"{path}: non-finite scores; re-run binary_test.py (did the classifier diverge?)")
    return {str(v): Actionness(scores[offsets[i]:offsets[i + 1]], int(num_frames[i]), interval)
            for i, v in enumerate(videos)}


def _load_original_pickle(path) -> dict[str, Actionness]:
    """The original SSN's ``{video: (snippets, crops, 2)}`` pickle, crops averaged."""
    data = safe_load_pickle(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a dict of video -> (snippets, crops, 2) scores, got {type(data).__name__}")
    out = {}
    for vid, arr in data.items():
        a = np.asarray(arr) if isinstance(arr, np.ndarray) else None
        if a is None or a.dtype.kind not in "fiu" or a.ndim not in (2, 3) or a.shape[-1] != 2 or len(a) == 0:
            shape = getattr(arr, "shape", type(arr).__name__)
            raise InputError(f"{path}: video {vid!r}: expected (snippets, crops, 2) raw scores, got {shape}")
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise InputError(f"{path}: video {vid!r}: non-finite scores")
        out[str(vid)] = Actionness((a.mean(axis=1) if a.ndim == 3 else a).astype(np.float32), None, None)
    return out
