"""Vectorised operations on temporal intervals.

An interval array has shape (N, 2) holding ``[start, end]`` rows in any one
unit (seconds, frames or fractions of the video).  Intervals are continuous:
the length of ``[s, e]`` is ``e - s``.
"""
from __future__ import annotations

import numpy as np


def as_intervals(x) -> np.ndarray:
    """Return ``x`` as a float64 array of shape (N, 2) (an empty input gives (0, 2))."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"expected intervals of shape (N, 2), got {arr.shape}")
    return arr


def pairwise_intersection(a, b) -> np.ndarray:
    """Intersection lengths, shape (N, M), of intervals ``a`` (N, 2) and ``b`` (M, 2)."""
    a, b = as_intervals(a), as_intervals(b)
    lo = np.maximum(a[:, None, 0], b[None, :, 0])
    hi = np.minimum(a[:, None, 1], b[None, :, 1])
    return np.clip(hi - lo, 0.0, None)


def pairwise_iou(a, b) -> np.ndarray:
    """Temporal IoU, shape (N, M), between ``a`` (N, 2) and ``b`` (M, 2).

    A pair whose union is empty (two zero-length intervals at one point) has IoU 0.
    """
    a, b = as_intervals(a), as_intervals(b)
    inter = pairwise_intersection(a, b)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


def overlap_over_first(a, b) -> np.ndarray:
    """Intersection divided by the length of each interval of ``a``, shape (N, M).

    Zero-length intervals of ``a`` give 0.
    """
    a = as_intervals(a)
    inter = pairwise_intersection(a, b)
    length = (a[:, 1] - a[:, 0])[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(length > 0, inter / length, 0.0)


# --------------------------------------------------------------------------- unit conversions
# The only place where seconds, frames and fractions of a video are converted.


def seconds_to_frames(t, fps: float) -> np.ndarray:
    """Seconds -> frame positions (float; frame ``i`` covers ``[i, i + 1) / fps`` seconds)."""
    return np.asarray(t, dtype=np.float64) * float(fps)


def frames_to_seconds(frames, fps: float) -> np.ndarray:
    """Frame positions -> seconds."""
    return np.asarray(frames, dtype=np.float64) / float(fps)


def seconds_to_fraction(t, duration: float) -> np.ndarray:
    """Seconds -> fraction of a video lasting ``duration`` seconds."""
    return np.asarray(t, dtype=np.float64) / float(duration)


def fraction_to_seconds(x, duration: float) -> np.ndarray:
    """Fraction of a video -> seconds."""
    return np.asarray(x, dtype=np.float64) * float(duration)


# --------------------------------------------------------------------------- element-wise IoU and NMS


def paired_iou(s1, e1, s2, e2, hull: bool = False) -> np.ndarray:
    """IoU of interval ``i`` of one set with interval ``i`` of another, element-wise.

    Args:
        s1, e1, s2, e2: (P,) starts and ends (any one unit).
        hull: divide by the hull ``max(e) - min(s)`` (THUMOS14 evalkit, original SSN
            recall) instead of ``len1 + len2 - inter`` (ActivityNet).  The two are equal
            in exact arithmetic but may differ in the last bit, which matters at a
            threshold boundary, so each protocol uses its own tool's formula.
    Returns:
        (P,) float64; 0 where the intervals do not overlap or the union is empty.
    """
    s1, e1, s2, e2 = (np.asarray(x, dtype=np.float64) for x in (s1, e1, s2, e2))
    inter = np.minimum(e1, e2) - np.maximum(s1, s2)
    if hull:
        union = np.maximum(e1, e2) - np.minimum(s1, s2)
        ok = inter > 0
    else:
        inter = np.clip(inter, 0.0, None)
        union = (e2 - s2) + (e1 - s1) - inter
        ok = union > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, inter / np.where(ok, union, 1.0), 0.0)


def batched_temporal_nms(bounds, scores, groups, threshold: float,
                         block_bytes: int = 1 << 25) -> np.ndarray:
    """Greedy temporal NMS run independently inside each group, vectorised over groups.

    Within a group, detections are visited by score descending (ties: lower index
    first); each kept detection suppresses later ones whose IoU with it is above
    ``threshold`` (IoU equal to the threshold is kept, as in the original SSN).

    Args:
        bounds: (N, 2) intervals; scores: (N,); groups: (N,) integer group ids
            (e.g. ``video_code * num_classes + label``).
        threshold: IoU above which a lower-scored detection is removed.
        block_bytes: memory budget for one block of padded IoU matrices.
    Returns:
        (K,) int64 indices of the kept detections, ordered by group then score descending.
    """
    bounds = as_intervals(bounds)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    groups = np.asarray(groups, dtype=np.int64).reshape(-1)
    n = len(scores)
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort((np.arange(n), -scores, groups))
    g_sorted = groups[order]
    starts = np.flatnonzero(np.r_[True, g_sorted[1:] != g_sorted[:-1]])
    sizes = np.diff(np.r_[starts, n])
    keep = np.zeros(n, dtype=bool)  # indexed by position in ``order``
    by_size = np.argsort(sizes, kind="stable")
    pos = 0
    while pos < len(by_size):
        width = int(sizes[by_size[pos]])
        # groups of similar size share a block, padded to the largest one in it
        per_group = max(1, block_bytes // (8 * width * width))
        blk = by_size[pos:pos + per_group]
        width = int(sizes[blk].max())
        _nms_block(bounds[order], starts[blk], sizes[blk], width, threshold, keep)
        pos += len(blk)
    return order[keep]


def _nms_block(bounds_sorted, starts, sizes, width, threshold, keep) -> None:
    """NMS on a block of groups padded to ``width``; writes into ``keep`` (sorted positions)."""
    col = np.arange(width)
    valid = col[None, :] < sizes[:, None]
    idx = np.where(valid, starts[:, None] + col[None, :], starts[:, None])
    b = bounds_sorted[idx]  # (B, W, 2)
    s, e = b[..., 0], b[..., 1]
    inter = np.minimum(e[:, :, None], e[:, None, :]) - np.maximum(s[:, :, None], s[:, None, :])
    inter = np.clip(inter, 0.0, None)
    length = e - s
    union = length[:, :, None] + length[:, None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        suppress = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0) > threshold
    alive = valid.copy()
    for i in range(width):  # a loop over rank, vectorised across the groups of the block
        kept = alive[:, i]
        alive[:, i + 1:] &= ~(kept[:, None] & suppress[:, i, i + 1:])
    keep[idx[alive]] = True


def temporal_nms(bounds, scores, threshold: float) -> np.ndarray:
    """Greedy temporal NMS of one set; returns kept indices by score descending."""
    n = len(np.asarray(scores).reshape(-1))
    return batched_temporal_nms(bounds, scores, np.zeros(n, np.int64), threshold)
