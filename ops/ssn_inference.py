"""SSN scoring by folded heads: the backbone runs once per sampled frame.

Everything after the backbone is linear (dropout is off at test time), so
``heads(STPP(segment features))`` equals a weighted sum, over segments, of
per-frame projections ``Y[t, p] = W_p @ f_t`` averaged over the frames of each
segment (``W_p``: the block of the activity, completeness and regression
weights acting on STPP part ``p``).  Scores of every proposal of a video come
from one cumulative sum of ``Y`` over frames: no per-proposal loop.

A segment's frames are the sampled frames ``t x frame_interval`` inside its
span (:func:`ops.ssn.stage_layout`, segments of equal length); a segment with
no sampled frame uses the one nearest its centre.  With one sampled frame per
segment this is exactly the training-time forward.
"""
from __future__ import annotations

import numpy as np
import torch

from ops.ssn import SSN


def folded_weights(model: SSN) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int]]:
    """Per-part head weights (parts, out, D), bias (out,), and output sizes (K+1, K, 2K).

    Output columns: activity (K+1) | completeness (K) | regression (2K, class-major (centre, scale)).
    """
    stpp, k = model.stpp, model.num_classes
    d = model.activity_fc.in_features // stpp.parts[1]
    out = (k + 1) + k + 2 * k
    w = torch.zeros(stpp.num_parts, out, d)
    first_course = stpp.parts[0]
    for p in range(stpp.num_parts):
        if first_course <= p < first_course + stpp.parts[1]:
            c = p - first_course
            w[p, :k + 1] = model.activity_fc.weight[:, c * d:(c + 1) * d]
        w[p, k + 1:2 * k + 1] = model.completeness_fc.weight[:, p * d:(p + 1) * d]
        w[p, 2 * k + 1:] = model.regressor_fc.weight[:, p * d:(p + 1) * d]
    bias = torch.cat([model.activity_fc.bias, model.completeness_fc.bias, model.regressor_fc.bias])
    return w.detach(), bias.detach(), (k + 1, k, 2 * k)


def segment_spans(bounds: np.ndarray, count: int, num_segments) -> tuple[np.ndarray, np.ndarray]:
    """Segment spans (N, S, 2) in frames and stage scales (N, 2) for proposals (N, 2) in frames.

    Vectorised form of :func:`ops.ssn.stage_layout` (same rule) followed by equal segments per stage.
    """
    bounds = np.asarray(bounds, np.float64).reshape(-1, 2)
    start, end = bounds[:, 0], bounds[:, 1]
    half = (end - start) / 2
    aug_start, aug_end = np.maximum(0.0, start - half), np.minimum(float(count), end + half)
    with np.errstate(divide="ignore", invalid="ignore"):
        scales = np.where(half[:, None] > 0,
                          np.minimum(1.0, np.stack([(start - aug_start) / half, (aug_end - end) / half], 1)), 0.0)
    aug_start, aug_end = np.where(half > 0, aug_start, start), np.where(half > 0, aug_end, end)
    stages = [(aug_start, start), (start, end), (end, aug_end)]
    spans = []
    for (a, b), n in zip(stages, num_segments):
        edges = a[:, None] + (b - a)[:, None] * np.arange(n + 1)[None, :] / n       # (N, n + 1)
        spans.append(np.stack([edges[:, :-1], edges[:, 1:]], axis=2))
    return np.concatenate(spans, axis=1), scales


def frame_ranges(spans: np.ndarray, frame_interval: int, num_scored: int) -> tuple[np.ndarray, np.ndarray]:
    """Index ranges [i0, i1) of the sampled frames (``t x frame_interval``) inside each span; never empty."""
    i0 = np.ceil(spans[..., 0] / frame_interval).astype(np.int64)
    i1 = np.ceil(spans[..., 1] / frame_interval).astype(np.int64)
    centre = np.floor((spans[..., 0] + spans[..., 1]) / 2 / frame_interval).astype(np.int64)
    empty = i1 <= i0
    i0 = np.where(empty, centre, i0)
    i1 = np.where(empty, centre + 1, i1)
    i0 = np.clip(i0, 0, num_scored - 1)
    i1 = np.clip(i1, i0 + 1, num_scored)
    return i0, i1


@torch.no_grad()
def score_proposals(features: torch.Tensor, bounds: np.ndarray, count: int, frame_interval: int,
                    weights: torch.Tensor, bias: torch.Tensor, pooling: torch.Tensor, parts: list[int],
                    num_segments) -> torch.Tensor:
    """Raw head outputs (N, out) of every proposal of one video.

    features: (T, D) backbone features of the sampled frames (crops averaged);
    bounds: (N, 2) proposals in frames; count: frames in the folder;
    weights/bias: :func:`folded_weights`; pooling: STPP matrix (parts, S); parts: parts per stage.
    """
    if len(bounds) == 0:
        return features.new_zeros(0, bias.numel())
    y = torch.einsum("td,pod->tpo", features, weights.to(features))                  # (T, parts, out)
    csum = torch.cat([y.new_zeros(1, *y.shape[1:]), y.cumsum(0)])                     # (T+1, parts, out)
    spans, scales = segment_spans(bounds, count, num_segments)
    i0, i1 = frame_ranges(spans, frame_interval, features.shape[0])
    i0, i1 = torch.from_numpy(i0).to(y.device), torch.from_numpy(i1).to(y.device)
    seg = (csum[i1] - csum[i0]) / (i1 - i0).to(y.dtype)[..., None, None]              # (N, S, parts, out)
    scale = torch.from_numpy(scales).to(y)
    n = len(bounds)
    part_scale = torch.cat([scale[:, :1].expand(n, parts[0]), scale.new_ones(n, parts[1]),
                            scale[:, 1:].expand(n, parts[2])], 1)                     # (N, parts)
    coef = pooling.to(y).t()[None] * part_scale[:, None, :]                           # (N, S, parts)
    return torch.einsum("nsp,nspo->no", coef, seg) + bias.to(y)
