"""BSN's protocol rules (Boundary-Sensitive Network, MMAction2 0.x variant): pure, vectorised functions.

Units: a window of ``T`` rows spans fractions ``[0, 1]``; row ``i``'s anchor is ``[i / T, (i + 1) / T]`` and its
position the snippet centre ``(i + 0.5) / T``.

- :func:`tem_targets`: action, start and end targets of the temporal evaluation module (TEM);
- :func:`pgm_candidates`: the proposal generation module's (PGM) boundary pairs and scores;
- :func:`match_ground_truth`: each proposal's best IoU and IoA against the ground truth (PEM's targets);
- :func:`bsp_features`: the 32 boundary-sensitive numbers of each proposal (PEM's input).

``../shared/specs/bmn_bsn.md`` states each rule; tests/test_bsn.py works them by hand.
"""
from __future__ import annotations

import numpy as np

BSP_SAMPLES = (16, 8, 8)          # the proposal, its start region, its end region
BSP_REGION = 0.2                  # start and end regions: boundary +- 0.2 x proposal length


def _ioa(a_min, a_max, b_min, b_max) -> np.ndarray:
    """Intersection of ``[a_min, a_max]`` and ``[b_min, b_max]`` over the first one's length (broadcast)."""
    inter = np.clip(np.minimum(a_max, b_max) - np.maximum(a_min, b_min), 0.0, None)
    return inter / (a_max - a_min)


def tem_targets(gt_fractions, temporal_dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TEM targets of one window.

    Args:
        gt_fractions: (G, 2) ground truth ``[t_start, t_end]`` in window fractions.
    Returns:
        action, start, end: (T,) float32 (computed in float64, cast last).  With anchors
        ``[i / T, (i + 1) / T]`` and ``pad = max(1 / T, 0.1 x gt length)`` per instance: action = max over the
        ground truth of (intersection / anchor length) with the instance; start = the same with
        ``[g_start - pad / 2, g_start + pad / 2]``, end around ``g_end``.  No ground truth: zeros.
    """
    t = temporal_dim
    gt = np.asarray(gt_fractions, np.float64).reshape(-1, 2)
    if len(gt) == 0:
        return tuple(np.zeros(t, np.float32) for _ in range(3))
    i = np.arange(t, dtype=np.float64)[:, None]
    a_min, a_max = i / t, (i + 1) / t
    pad = np.maximum(1.0 / t, 0.1 * (gt[:, 1] - gt[:, 0]))
    action = _ioa(a_min, a_max, gt[:, 0], gt[:, 1]).max(1)
    start = _ioa(a_min, a_max, gt[:, 0] - pad / 2, gt[:, 0] + pad / 2).max(1)
    end = _ioa(a_min, a_max, gt[:, 1] - pad / 2, gt[:, 1] + pad / 2).max(1)
    return action.astype(np.float32), start.astype(np.float32), end.astype(np.float32)


def boundary_mask(curve) -> np.ndarray:
    """(T,) bool: rows 0 and T - 1, and any row in ``1 .. T - 2`` that is a strict local peak of ``curve`` or
    above ``0.5 x max(curve)``."""
    c = np.asarray(curve, np.float64)
    out = np.zeros(len(c), bool)
    if len(c) > 2:
        mid = c[1:-1]
        out[1:-1] = ((mid > c[:-2]) & (mid > c[2:])) | (mid > 0.5 * c.max())
    out[[0, -1]] = True
    return out


def pgm_candidates(tem) -> np.ndarray:
    """The proposals PGM pairs from one window's TEM curves.

    Args:
        tem: (T, 3) ``[action, start, end]`` probabilities.
    Returns:
        (K, 5) float64 rows ``[t_min, t_max, start_score, end_score, score]``: every start candidate
        (:func:`boundary_mask` of the start curve) before every end candidate (of the end curve), positions at
        snippet centres ``(i + 0.5) / T``, no duration limit, ``score = start_score x end_score``; sorted by
        score descending (ties: start row, then end row, ascending).
    """
    tem = np.asarray(tem, np.float64).reshape(-1, 3)
    t = len(tem)
    starts = np.flatnonzero(boundary_mask(tem[:, 1]))
    ends = np.flatnonzero(boundary_mask(tem[:, 2]))
    s, e = np.meshgrid(starts, ends, indexing="ij")
    keep = s < e
    s, e = s[keep], e[keep]
    rows = np.stack([(s + 0.5) / t, (e + 0.5) / t, tem[s, 1], tem[e, 2], tem[s, 1] * tem[e, 2]], 1)
    return rows[np.lexsort((e, s, -rows[:, 4]))] if len(rows) else rows.reshape(0, 5)


def match_ground_truth(proposals, gt_fractions) -> tuple[np.ndarray, np.ndarray]:
    """(K,) best IoU and best IoA (intersection / proposal length) of each proposal ``[t_min, t_max]`` against
    the ground truth (fractions, not clipped); zeros without ground truth."""
    p = np.asarray(proposals, np.float64).reshape(-1, 2)[:, :2]
    gt = np.asarray(gt_fractions, np.float64).reshape(-1, 2)
    if len(gt) == 0 or len(p) == 0:
        return np.zeros(len(p)), np.zeros(len(p))
    p_min, p_max = p[:, :1], p[:, 1:2]
    inter = np.clip(np.minimum(p_max, gt[:, 1]) - np.maximum(p_min, gt[:, 0]), 0.0, None)
    union = (p_max - p_min) + (gt[:, 1] - gt[:, 0]) - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    ioa = np.divide(inter, p_max - p_min, out=np.zeros_like(inter), where=(p_max - p_min) > 0)
    return iou.max(1), ioa.max(1)


def _region_samples(curve_x: np.ndarray, curve_y: np.ndarray, a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """(K, n): region ``[a, b]`` of each proposal in ``n`` samples: ``step = (b - a) / (n - 1)``, points
    ``a - step / 2 + k step / 3`` (k = 0 .. 3n) linearly interpolated, sample j = mean of points 3j .. 3j + 3."""
    step = (b - a) / (n - 1)
    points = (a - step / 2)[:, None] + step[:, None] * np.arange(3 * n + 1) / 3.0
    values = np.interp(points, curve_x, curve_y)
    index = 3 * np.arange(n)[:, None] + np.arange(4)
    return values[:, index].mean(-1)


def bsp_features(action, proposals) -> np.ndarray:
    """The boundary-sensitive proposal features of every proposal of one window.

    Args:
        action: (T,) action curve; proposals: (K, >= 2) rows starting ``t_min, t_max`` (fractions).
    Returns:
        (K, 32) float64: 16 samples of the proposal ``[t_min, t_max]``, 8 of ``[t_min - 0.2 L, t_min + 0.2 L]``,
        8 of ``[t_max - 0.2 L, t_max + 0.2 L]`` (``L = t_max - t_min``), in that order; the curve is padded with
        ``int(T / 4 + 10)`` zeros on each side, its positions continuing the snippet-centre grid
        ``(i + 0.5) / T``.
    """
    y = np.asarray(action, np.float64).reshape(-1)
    t = len(y)
    pad = int(t / 4 + 10)
    curve_y = np.concatenate([np.zeros(pad), y, np.zeros(pad)])
    curve_x = (np.arange(-pad, t + pad) + 0.5) / t
    p = np.asarray(proposals, np.float64).reshape(len(proposals), -1)
    lo, hi = p[:, 0], p[:, 1]
    length = hi - lo
    n_in, n_start, n_end = BSP_SAMPLES
    return np.concatenate([
        _region_samples(curve_x, curve_y, lo, hi, n_in),
        _region_samples(curve_x, curve_y, lo - BSP_REGION * length, lo + BSP_REGION * length, n_start),
        _region_samples(curve_x, curve_y, hi - BSP_REGION * length, hi + BSP_REGION * length, n_end)], 1)
