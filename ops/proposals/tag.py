"""Temporal actionness grouping (TAG): bottom-up proposals from per-frame actionness, vectorised.

The algorithm of SSN (Zhao et al., ICCV 2017; ``gen_bottom_up_proposals.py``
and ``ops/sequence_funcs.py`` of the original code), on one video's actionness
sampled every ``frame_interval`` frames.  As the original, the classifier's *raw*
two-class scores of the streams are fused first (:func:`fuse_actionness`:
weighted sum); the softmax "action" column of the sum is the curve that is
smoothed and thresholded, and the raw "action" column ranks the boxes
(:func:`tag_from_raw`).  Positions are *snippet indices* ``0 .. T-1``:

1. smooth: Gaussian filter of ``sigma`` snippets (scipy ``gaussian_filter1d``:
   mode ``reflect``, kernel radius ``int(4 sigma + 0.5)``), in float64;
2. for every threshold ``th``: a snippet is *action* when ``smoothed > th``;
   runs of action snippets start at ``up`` and end (exclusive) at ``down``;
3. for every tolerance ``tol``, with ``signal[i] = #(non-action snippets
   <= i) - tol * i``:

   - forward, from each run ``x``: the first later run ``y`` with
     ``signal[up[y]] > signal[up[x]]`` (the gap snippets in ``[up[x], up[y])``
     exceed a ``tol`` fraction) gives the box ``[up[x], down[y-1] + 1)``; no
     such run gives ``[up[x], down[last] + 1)``;
   - backward, from each run ``x``: the nearest earlier run ``y`` with
     ``signal[down[y]] < s`` (``s = signal[down[x]]``, or ``signal[T-1] - tol``
     when the run reaches the end) gives ``[up[y+1], down[x] + 1)``; none
     gives ``[up[0], down[x] + 1)``;

   the box end is one snippet past the run end (as the original; it may be
   ``T + 1``).  A box scores the sum of the *unsmoothed* box scores (raw
   "action") of its snippets, except the backward box without an earlier run, which the
   original sums over ``[0, down[x] + 2)``; both are kept as they were;
4. all boxes of all levels and tolerances go through greedy NMS at IoU 0.9
   with the original's inclusive IoU (``len = end - start + 1``), the shared
   sparse NMS of ``ops.temporal`` (``inclusive=True``).

Vectorisation: runs come from ``np.diff`` of the padded (levels, T) label
matrix; the two searches ("next run whose signal is greater", "previous run
whose signal is smaller") are answered for all (tolerance, run) pairs at once
by binary lifting over sparse tables of range maxima / minima (O(R log R));
box scores are prefix-sum differences; duplicate boxes are merged (keeping the
highest score, which does not change the NMS result) before the NMS.

Determinism: the original NMS sorted with an unstable ``argsort``, so its
order among equal scores is unspecified.  Here boxes are visited by score
descending, ties by start then end ascending, and that is also the order of
the output.  ``bench/tag_reference.py`` is the loop reference this module
reproduces exactly (tests/test_tag.py).
"""
from __future__ import annotations

import logging

import numpy as np

from ops.errors import InputError
from ops.formats.actionness import Actionness
from ops.temporal import batched_temporal_nms, fraction_to_seconds, frames_to_fraction

logger = logging.getLogger(__name__)

# defaults of the original gen_bottom_up_proposals.py (THUMOS14 and ActivityNet alike)
DEFAULT_SIGMA = 3.0
DEFAULT_THRESHOLDS = (0.01, 0.05, 0.1, 0.15, 0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
DEFAULT_TOLERANCES = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
DEFAULT_NMS = 0.9


# --------------------------------------------------------------------------- fusion and smoothing


def fuse_actionness(files: list[dict[str, Actionness]], weights=None,
                    names: list[str] | None = None) -> dict[str, Actionness]:
    """Raw two-class scores of several files (e.g. RGB and Flow) fused as the original SSN, video by video.

    ``fused = sum_i w_i * raw_i`` with the weights as given (default all 1; not
    normalised: the softmax of the sum is what TAG thresholds).  Lengths follow
    the original: the first file sets the length; a later file with fewer rows
    cuts the running sum to its length, one with more rows is subsampled at rows
    ``int(j * T_i / T)``.  Our own files must also agree on the frame interval and
    within one row (same frame folders); the fused record keeps the smallest
    ``num_frames``.  Files of the original (``.pkl``, no frame information) and
    ours are not mixed.

    Args:
        files: loaded actionness files (``load_actionness``).
        weights: (F,) non-negative weights with a positive sum, or None.
        names: file names for error messages.
    Raises:
        InputError naming the files and videos that disagree.
    """
    names = names or [f"file {i}" for i in range(len(files))]
    if not files:
        raise InputError("no actionness file given")
    w = np.ones(len(files)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != len(files):
        raise InputError(f"{len(w)} score weights for {len(files)} actionness files {names}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError(f"score weights must be finite, non-negative, with a positive sum, got {w.tolist()}")
    _check_same_videos(files, names)
    fused = {}
    for vid in files[0]:
        recs = [f[vid] for f in files]
        _check_aligned(vid, recs, names)
        acc = np.asarray(recs[0].scores, np.float64) * w[0]
        for wi, r in zip(w[1:], recs[1:]):
            add = np.asarray(r.scores, np.float64)
            if len(add) < len(acc):
                acc = acc[:len(add)]
            elif len(add) > len(acc):
                add = add[(np.arange(len(acc)) * (len(add) / len(acc))).astype(np.int64)]
            acc = acc + add * wi
        known = [r.num_frames for r in recs if r.num_frames is not None]
        fused[vid] = Actionness(acc.astype(np.float32), min(known) if known else None, recs[0].frame_interval)
    return fused


def _check_same_videos(files, names) -> None:
    ref = set(files[0])
    for f, name in zip(files[1:], names[1:]):
        if set(f) != ref:
            only_a, only_b = sorted(ref - set(f)), sorted(set(f) - ref)
            raise InputError(f"actionness files {names[0]} and {name} hold different videos: "
                             f"{len(only_a)} only in the first (e.g. {only_a[:3]}), "
                             f"{len(only_b)} only in the second (e.g. {only_b[:3]})")


def _check_aligned(vid: str, recs: list[Actionness], names) -> None:
    intervals = [r.frame_interval for r in recs]
    if None in intervals:
        if any(i is not None for i in intervals):
            raise InputError(f"{names}: original SSN pickles (.pkl) and our .npz files cannot be fused; "
                             "give files of one kind")
        return
    lengths = [len(r.scores) for r in recs]
    if len(set(intervals)) > 1:
        raise InputError(f"video {vid}: frame intervals {intervals} differ between {names}")
    if max(lengths) - min(lengths) > 1:
        raise InputError(f"video {vid}: {lengths} actionness scores in {names}; "
                         "they must agree within one snippet (same frame folders?)")


def action_curve(raw) -> np.ndarray:
    """(T, 2) raw ``[background, action]`` -> (T,) float64 softmax probability of "action"."""
    r = np.asarray(raw, dtype=np.float64).reshape(-1, 2)
    return 1.0 / (1.0 + np.exp(r[:, 0] - r[:, 1]))


def gaussian_kernel(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """(2r+1,) normalised Gaussian weights, ``r = int(truncate * sigma + 0.5)`` (as scipy)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * x * x / (float(sigma) * float(sigma)))
    return k / k.sum()


def smooth(scores, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Gaussian smoothing of (T,) scores -> (T,) float64 (``sigma`` in snippets; <= 0: none).

    Same result as ``scipy.ndimage.gaussian_filter1d(x, sigma, mode='reflect')``
    (``... c b a | a b c | c b a ...``, any T) up to rounding.
    """
    x = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = len(x)
    if sigma <= 0 or n == 0:
        return x.copy()
    k = gaussian_kernel(sigma, truncate)
    r = len(k) // 2
    idx = np.arange(-r, n + r) % (2 * n)
    idx = np.where(idx >= n, 2 * n - 1 - idx, idx)
    return np.convolve(x[idx], k, mode="valid")


# --------------------------------------------------------------------------- runs and searches


def find_runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of True along the last axis of (L, T) ``labels``.

    Returns:
        level (R,), up (R,), down (R,) int64: level, start and exclusive end of
        every run, ordered by level then start.
    """
    L = labels.shape[0]
    pad = np.zeros((L, 1), dtype=np.int8)
    d = np.diff(np.concatenate([pad, labels.astype(np.int8), pad], axis=1), axis=1)  # (L, T+1)
    lev, up = np.nonzero(d == 1)
    _, down = np.nonzero(d == -1)
    return lev.astype(np.int64), up.astype(np.int64), down.astype(np.int64)


def _sparse_tables(values: np.ndarray, reduce, depth: int) -> list[np.ndarray]:
    """Tables ``t[k][:, j] = reduce(values[:, j : j + 2**k])`` (cut at the array end), k < depth."""
    tables = [values]
    for k in range(1, depth):
        prev, h = tables[-1], 1 << (k - 1)
        nxt = prev.copy()
        nxt[:, :-h] = reduce(prev[:, :-h], prev[:, h:])
        tables.append(nxt)
    return tables


def next_greater(values: np.ndarray, seg_end: np.ndarray) -> np.ndarray:
    """For (M, R) ``values``: the first ``j`` in ``(r, seg_end[r])`` with ``values[m, j] > values[m, r]``.

    Returns (M, R) int64, ``seg_end[r]`` where there is none.  Binary lifting
    over range-maximum tables: O(M R log R) and no Python loop over runs.
    """
    M, R = values.shape
    depth = max(1, int(np.max(seg_end - np.arange(R))).bit_length())
    tables = _sparse_tables(values, np.maximum, depth)
    pos = np.broadcast_to(np.arange(R) + 1, (M, R)).copy()
    rows = np.arange(M)[:, None]
    for k in range(depth - 1, -1, -1):
        cand = pos + (1 << k)
        ok = cand <= seg_end[None, :]
        ok &= tables[k][rows, np.minimum(pos, R - 1)] <= values
        pos = np.where(ok, cand, pos)
    return pos


def prev_smaller(values: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
    """For (M, R) ``values``: the smallest ``p >= seg_start[r]`` with ``values[m, p:r] >= values[m, r]``.

    So ``p - 1`` is the nearest earlier ``j`` in the segment with
    ``values[m, j] < values[m, r]``, or ``p == seg_start[r]`` when there is none.
    """
    M, R = values.shape
    depth = max(1, int(np.max(np.arange(R) - seg_start)).bit_length())
    tables = _sparse_tables(values, np.minimum, depth)
    pos = np.broadcast_to(np.arange(R), (M, R)).copy()
    rows = np.arange(M)[:, None]
    for k in range(depth - 1, -1, -1):
        cand = pos - (1 << k)
        ok = cand >= seg_start[None, :]
        ok &= tables[k][rows, np.maximum(cand, 0)] >= values
        pos = np.where(ok, cand, pos)
    return pos


def candidate_boxes(scores, smoothed, thresholds, tolerances) -> tuple[np.ndarray, np.ndarray]:
    """All TAG boxes of one video before NMS, duplicates merged.

    Args:
        scores: (T,) unsmoothed actionness (box scores); smoothed: (T,) thresholded.
        thresholds: (L,) levels; tolerances: (M,) gap fractions.
    Returns:
        bounds (N, 2) int64 ``[start, end)`` in snippets (end may be T + 1),
        sorted by start then end, each box once; score (N,) float64, the
        highest score any path gave that box.
    """
    x = np.asarray(scores, dtype=np.float64).reshape(-1)
    T = len(x)
    th = np.asarray(thresholds, dtype=np.float64).reshape(-1, 1)
    tol = np.asarray(tolerances, dtype=np.float64).reshape(-1, 1)
    labels = np.asarray(smoothed, dtype=np.float64)[None, :] > th  # (L, T)
    lev, up, down = find_runs(labels)
    if len(up) == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0)
    prefix = np.concatenate([[0.0], np.cumsum(x)])
    below = np.cumsum(~labels, axis=1)  # (L, T): non-action snippets up to and including i
    first = np.flatnonzero(np.r_[True, lev[1:] != lev[:-1]])
    sizes = np.diff(np.r_[first, len(lev)])
    seg_start = np.repeat(first, sizes)
    seg_end = seg_start + np.repeat(sizes, sizes)
    # forward search on signal at run starts
    sig_up = below[lev, up].astype(np.float64) - tol * up.astype(np.float64)  # (M, R)
    nxt = next_greater(sig_up, seg_end)
    f_start = np.broadcast_to(up, nxt.shape)
    f_end = down[nxt - 1] + 1
    f_score = prefix[np.minimum(f_end, T)] - prefix[f_start]
    # backward search on signal at run ends (the end of the video counts as one more action snippet)
    at_end = down >= T
    d_idx = np.minimum(down, T - 1)
    sig_down = below[lev, d_idx].astype(np.float64) - tol * d_idx.astype(np.float64)
    sig_down = np.where(at_end, sig_down - tol, sig_down)
    prv = prev_smaller(sig_down, seg_start)
    b_start = up[prv]
    b_end = np.broadcast_to(down + 1, prv.shape)
    none = prv == seg_start  # no earlier run: the original scores [0, end + 1)
    b_score = np.where(none, prefix[np.minimum(b_end + 1, T)] - prefix[0],
                       prefix[np.minimum(b_end, T)] - prefix[b_start])
    return _merge_duplicates(np.concatenate([f_start.ravel(), b_start.ravel()]),
                             np.concatenate([f_end.ravel(), b_end.ravel()]),
                             np.concatenate([f_score.ravel(), b_score.ravel()]), T)


def _merge_duplicates(start, end, score, T) -> tuple[np.ndarray, np.ndarray]:
    """Keep each (start, end) once with its highest score; sorted by start then end."""
    key = start * (T + 2) + end
    order = np.lexsort((-score, key))
    key = key[order]
    first = np.r_[True, key[1:] != key[:-1]]
    sel = order[first]
    return np.stack([start[sel], end[sel]], axis=1), score[sel]


# --------------------------------------------------------------------------- NMS and the whole video


def tag_nms(bounds: np.ndarray, scores: np.ndarray, threshold: float, block: int = 1024) -> np.ndarray:
    """Greedy NMS with the original TAG IoU (:func:`ops.temporal.batched_temporal_nms`, inclusive).

    IoU as the original: a box ``[s, e]`` spans ``e - s + 1`` snippets,
    ``inter = min(e) - max(s) + 1`` and ``IoU = inter / (len1 + len2 - inter)``;
    a box is dropped when its IoU with a kept, earlier-visited box is above
    ``threshold``.  Visiting order: score descending, ties by start then end
    ascending.  The NMS is sparse and settled ``block`` boxes at a time, so memory
    follows the kept boxes, not the number of pairs of near-identical boxes.

    Args:
        bounds: (N, 2) integer ``[start, end]``; scores: (N,).
    Returns:
        kept indices (K,) int64 in visiting order.
    """
    b = np.asarray(bounds, dtype=np.int64).reshape(-1, 2)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    # the shared NMS breaks score ties by index: index the boxes by start, end first
    by_key = np.lexsort((b[:, 1], b[:, 0]))
    keep = batched_temporal_nms(b[by_key], sc[by_key], None, threshold, inclusive=True, block=block)
    return by_key[keep]


def tag_proposals(scores, sigma: float = DEFAULT_SIGMA, thresholds=DEFAULT_THRESHOLDS,
                  tolerances=DEFAULT_TOLERANCES, nms_threshold: float = DEFAULT_NMS, box_scores=None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """TAG proposals of one video.

    Args:
        scores: (T,) actionness in [0, 1], one per snippet: smoothed and thresholded.
        sigma: Gaussian smoothing in snippets (0: none).
        thresholds, tolerances: the levels and the gap fractions of the search.
        nms_threshold: IoU above which a lower-scored box is dropped.
        box_scores: (T,) what a box sums to rank it (default ``scores``; the
            original sums the raw "action" score, :func:`tag_from_raw`).
    Returns:
        bounds (K, 2) int64 ``[start, end)`` in snippet indices (end <= T + 1)
        and score (K,) float64, by score descending (ties: start, end ascending).
    """
    x = np.asarray(scores, dtype=np.float64).reshape(-1)
    ranked = x if box_scores is None else np.asarray(box_scores, dtype=np.float64).reshape(-1)
    bounds, score = candidate_boxes(ranked, smooth(x, sigma), thresholds, tolerances)
    keep = tag_nms(bounds, score, nms_threshold)
    return bounds[keep], score[keep]


def tag_from_raw(raw, sigma: float = DEFAULT_SIGMA, thresholds=DEFAULT_THRESHOLDS,
                 tolerances=DEFAULT_TOLERANCES, nms_threshold: float = DEFAULT_NMS) -> tuple[np.ndarray, np.ndarray]:
    """TAG on (fused) raw two-class scores (T, 2), as the original: the softmax "action" column is smoothed and
    thresholded, and a box is ranked by the sum of the raw "action" scores (column 1) over its snippets."""
    r = np.asarray(raw, dtype=np.float64).reshape(-1, 2)
    return tag_proposals(action_curve(r), sigma, thresholds, tolerances, nms_threshold, box_scores=r[:, 1])


# --------------------------------------------------------------------------- units


def boxes_to_fractions(bounds, scores, frame_interval: int | None, num_frames: int | None, duration: float,
                       min_length_seconds: float = 0.0, num_snippets: int | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Snippet boxes -> fractions of the video, with the original's minimum-length filter.

    Our files know their frames: snippet ``i`` is frame ``i * frame_interval``, so a
    box ``[a, b)`` is frames ``[a k, b k)`` and fractions ``[a k, b k] / num_frames``
    (exact to the frame; docs/tag.md says why).  The original's pickles do not
    (``frame_interval`` None): ``[a, b] / num_snippets``, as the original.  As the
    original, a box is kept when its length in seconds (``fraction x duration``,
    before clipping) is *above* ``min_length_seconds``.  Fractions are then clipped
    to [0, 1] (the box end may pass the last snippet) and boxes that became equal
    are kept once (the first, i.e. the higher-scored).

    Args:
        bounds: (K, 2) snippet ``[start, end)``; scores: (K,), in rank order.
        frame_interval: frames per snippet and num_frames: frames in the video, or
            both None with ``num_snippets`` (T) given; duration: seconds.
    Returns:
        fractions (K', 2) float64 and scores (K',), in the input order.
    """
    b = np.asarray(bounds, dtype=np.float64).reshape(-1, 2)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    if frame_interval is None:
        if not num_snippets:
            raise InputError("boxes of a file without frame information need the number of snippets")
        frac = b / float(num_snippets)
    else:
        frac = frames_to_fraction(b * float(frame_interval), num_frames)
    seconds = fraction_to_seconds(frac, duration)
    keep = (seconds[:, 1] - seconds[:, 0]) > min_length_seconds
    frac, sc = np.clip(frac[keep], 0.0, 1.0), sc[keep]
    _, first = np.unique(frac, axis=0, return_index=True)
    first = np.sort(first)
    return frac[first], sc[first]
