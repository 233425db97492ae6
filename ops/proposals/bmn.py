"""BMN's protocol rules (Boundary-Matching Network, MMAction2 0.x variant): pure, vectorised functions.

Units: a window of ``T`` rows (snippets) spans fractions ``[0, 1]``; row ``i`` covers ``[i / T, (i + 1) / T]``.
The boundary-matching map is indexed ``[d, s]`` (duration, start): entry ``(d, s)`` is the proposal
``[s / T, (s + d + 1) / T]``, valid when ``s + d < T`` (the network gives a ``T x T`` map; entries past the
window's end are masked).

- :func:`bm_sample_taps` / :func:`bm_sample_mask`: where the boundary-matching layer samples the feature
  sequence for every map entry (sparse taps, and the dense mask MMAction2 multiplies by);
- :func:`bmn_targets`: the start, end and IoU-map targets of a window's ground truth;
- :func:`boundary_candidates`, :func:`bmn_candidates`: inference's candidate proposals and scores;
- :func:`bmn_seconds`: the spec's conversion of fractions to seconds for ActivityNet videos.

``../shared/specs/bmn_bsn.md`` states each rule; tests/test_bmn.py works them by hand.
"""
from __future__ import annotations

import numpy as np


def valid_map(temporal_dim: int) -> np.ndarray:
    """(D, S) bool, D = S = ``temporal_dim``: entry ``(d, s)`` is a proposal inside the window (``s + d < T``)."""
    d, s = np.indices((temporal_dim, temporal_dim))
    return s + d < temporal_dim


def _sample_points(temporal_dim: int, num_samples: int, num_samples_per_bin: int, boundary_ratio: float):
    """(D, S, N * k) float64 sampling points of every map entry (rows; 0 for invalid entries) and the valid map."""
    t, k = temporal_dim, num_samples * num_samples_per_bin
    d, s = np.indices((t, t), dtype=np.float64)
    length = d + 1.0                                    # (s + d) - s + 1 rows
    lo = s - boundary_ratio * length
    hi = s + d + boundary_ratio * length
    step = (hi - lo) / (k - 1.0)
    points = lo[..., None] + step[..., None] * np.arange(k, dtype=np.float64)
    return points, valid_map(t)


def bm_sample_taps(temporal_dim: int, num_samples: int = 32, num_samples_per_bin: int = 3,
                   boundary_ratio: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The boundary-matching layer's sampling as sparse taps.

    For entry ``(d, s)`` the region ``[s - r (d + 1), s + d + r (d + 1)]`` (``r = boundary_ratio``) holds
    ``N x k`` equally spaced points, both ends included (``N = num_samples``, ``k = num_samples_per_bin``);
    bin ``n`` averages points ``k n .. k n + k - 1``.  A point ``x`` gives ``1 - frac`` to row ``int(whole)``
    and ``frac`` to row ``ceil(x)``, ``(frac, whole) = modf(x)`` (sign-preserving, *not* floor: a point in
    ``(-1, 0)`` gives row 0 a total weight of 1); rows outside ``[0, T - 1]`` are dropped; every bin is
    scaled by ``1 / k``.  Invalid entries sample nothing.

    Returns:
        rows (N, D, S, 2 k) int64 and weights (N, D, S, 2 k) float32: bin ``n`` of entry ``(d, s)`` is
        ``sum_j weights[n, d, s, j] * feature[rows[n, d, s, j]]``.  Dropped taps have weight 0 and row 0.
    """
    t, n, k = temporal_dim, num_samples, num_samples_per_bin
    points, valid = _sample_points(t, n, k, boundary_ratio)
    frac, whole = np.modf(points)
    rows = np.stack([whole, np.ceil(points)], -1)                       # (D, S, N k, 2)
    weights = np.stack([1.0 - frac, frac], -1)
    inside = (rows >= 0) & (rows <= t - 1) & valid[..., None, None]
    weights = np.where(inside, weights, 0.0) / k
    rows = np.where(inside, rows, 0).astype(np.int64)
    # (D, S, N, k, 2) -> (N, D, S, 2 k)
    rows = rows.reshape(t, t, n, 2 * k).transpose(2, 0, 1, 3)
    weights = weights.reshape(t, t, n, 2 * k).transpose(2, 0, 1, 3)
    return np.ascontiguousarray(rows), np.ascontiguousarray(weights.astype(np.float32))


def bm_sample_mask(temporal_dim: int, num_samples: int = 32, num_samples_per_bin: int = 3,
                   boundary_ratio: float = 0.5) -> np.ndarray:
    """The dense mask MMAction2 multiplies by: float32 ``[t, n, d, s]`` (what :func:`bm_sample_taps` holds),
    accumulated in float64.  ``T x 32 x T x T`` floats: 128 MB at T = 100, for tests and benchmarks only."""
    t = temporal_dim
    points, valid = _sample_points(t, num_samples, num_samples_per_bin, boundary_ratio)
    frac, whole = np.modf(points)
    rows = np.stack([whole, np.ceil(points)], -1).astype(np.int64)
    weights = np.stack([1.0 - frac, frac], -1)
    inside = (rows >= 0) & (rows <= t - 1) & valid[..., None, None]
    d, s, j, _ = np.nonzero(inside)
    mask = np.zeros((t, num_samples, t, t), np.float64)
    np.add.at(mask, (rows[inside], j // num_samples_per_bin, d, s), weights[inside])
    return (mask / num_samples_per_bin).astype(np.float32)


# --------------------------------------------------------------------------- targets


def _overlap(a_min, a_max, b_min, b_max) -> np.ndarray:
    return np.clip(np.minimum(a_max, b_max) - np.maximum(a_min, b_min), 0.0, None)


def bmn_targets(gt_fractions, temporal_dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training targets of one window.

    Args:
        gt_fractions: (G, 2) ground truth ``[t_start, t_end]`` in window fractions (callers clip to [0, 1],
            as BMN does).
    Returns:
        start (T,), end (T,) and iou_map (D, S) float32, computed in float64 and cast **before** any threshold
        is applied (an IoU of 0.5000000000000003 becomes 0.5, which is not a positive):

        - ``iou_map[d, s]`` = max over ground truths of IoU(``[s / T, (s + d + 1) / T]``, gt), for every entry
          (the loss masks invalid ones);
        - ``start[i]`` = max over ground truths of (intersection / anchor length) between the anchor
          ``[(i - 0.5) / T, (i + 1.5) / T]`` and ``[g_start - 1.5 / T, g_start + 1.5 / T]``; ``end`` likewise
          around ``g_end``.  No ground truth: all zeros.
    """
    t = temporal_dim
    gt = np.asarray(gt_fractions, np.float64).reshape(-1, 2)
    if len(gt) == 0:
        return np.zeros(t, np.float32), np.zeros(t, np.float32), np.zeros((t, t), np.float32)
    d, s = np.indices((t, t), dtype=np.float64)
    p_min, p_max = (s / t)[..., None], (s / t + (d + 1) / t)[..., None]
    inter = _overlap(p_min, p_max, gt[:, 0], gt[:, 1])
    union = (p_max - p_min) + (gt[:, 1] - gt[:, 0]) - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0).max(-1)
    i = np.arange(t, dtype=np.float64)[:, None]
    a_min, a_max = (i - 0.5) / t, (i + 1.5) / t
    half = 1.5 / t

    def ioa(centre):
        return (_overlap(a_min, a_max, centre - half, centre + half) / (a_max - a_min)).max(-1)

    return ioa(gt[:, 0]).astype(np.float32), ioa(gt[:, 1]).astype(np.float32), iou.astype(np.float32)


# --------------------------------------------------------------------------- inference


def boundary_candidates(curve, forced: str) -> np.ndarray:
    """(T,) bool: rows that may start (``forced="first"``) or end (``"last"``) a proposal.

    Row 0 (starts) or row T - 1 (ends) always; any row in ``1 .. T - 2`` that is a strict local peak of
    ``curve`` or above ``0.5 x max(curve)``.
    """
    c = np.asarray(curve, np.float64)
    out = np.zeros(len(c), bool)
    if len(c) > 2:
        mid = c[1:-1]
        out[1:-1] = ((mid > c[:-2]) & (mid > c[2:])) | (mid > 0.5 * c.max())
    out[0 if forced == "first" else -1] = True
    return out


def bmn_candidates(start, end, cls_map, reg_map) -> np.ndarray:
    """Candidate proposals of one window and their scores.

    Args:
        start, end: (T,) boundary probabilities; cls_map, reg_map: (D, S) classification and regression maps.
    Returns:
        (K, 7) float64 rows ``[t_min, t_max, start, end, cls, reg, score]`` in map order (duration-major, then
        start): every ``(d, s)`` with ``e = s + d + 1 < T``, ``s`` a start candidate and ``e`` an end candidate
        (:func:`boundary_candidates`); ``t_min = s / T``, ``t_max = e / T``,
        ``score = start[s] x end[e] x cls[d, s] x reg[d, s]``.
    """
    start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
    cls_map, reg_map = np.asarray(cls_map, np.float64), np.asarray(reg_map, np.float64)
    t = len(start)
    d, s = np.indices((t, t))
    e = s + d + 1
    keep = e < t
    keep &= boundary_candidates(start, "first")[s] & boundary_candidates(end, "last")[np.minimum(e, t - 1)]
    d, s, e = d[keep], s[keep], e[keep]
    rows = np.stack([s / t, e / t, start[s], end[e], cls_map[d, s], reg_map[d, s]], 1)
    return np.concatenate([rows, (rows[:, 2] * rows[:, 3] * rows[:, 4] * rows[:, 5])[:, None]], 1)


def bmn_seconds(proposals, duration_frame: int, duration_second: float, snippet_frames: int = 16) -> np.ndarray:
    """The spec's conversion of proposal fractions to seconds for a whole ActivityNet video.

    ``duration = (duration_frame // snippet_frames * snippet_frames) / duration_frame x duration_second``
    (the frames whole snippets cover); ``[max(0, t_min), min(1, t_max)] x duration``.  Our stages convert
    through the feature record instead (:func:`ops.train.feature_dataset.window_seconds`), which gives the same
    numbers for BSN-rescaled whole videos (tests/test_bmn.py).

    Args:
        proposals: (K, >= 2) rows starting ``t_min, t_max`` (fractions).
    Returns:
        (K, 2) float64 seconds.
    """
    p = np.asarray(proposals, np.float64).reshape(len(proposals), -1)
    duration = (duration_frame // snippet_frames * snippet_frames) / duration_frame * duration_second
    return np.stack([np.maximum(0.0, p[:, 0]), np.minimum(1.0, p[:, 1])], 1) * duration
