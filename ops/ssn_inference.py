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

from ops.ssn import SSN, stage_bounds


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
    """Segment spans (N, S, 2) in frames and stage scales (N, 2) for proposals (N, 2) in frames:
    the stages of :func:`ops.ssn.stage_bounds`, each cut into equal segments."""
    stages, scales = stage_bounds(bounds, count)
    spans = []
    for k, n in enumerate(num_segments):
        a, b = stages[:, k, 0], stages[:, k, 1]
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


def project_frames(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-frame head outputs of every STPP part: (T, D) x (parts, out, D) -> (T, parts, out)."""
    return torch.einsum("td,pod->tpo", features, weights.to(features))


def pool_proposals(y: torch.Tensor, bounds: np.ndarray, count: int, frame_interval: int, bias: torch.Tensor,
                   pooling: torch.Tensor, parts: list[int], num_segments) -> torch.Tensor:
    """Head outputs (N, out) of every proposal from per-frame part outputs ``y`` (T, parts, out), at once.

    bounds: (N, 2) proposals in frames; count: frames in the folder; pooling: STPP matrix (parts, S);
    parts: parts per stage.  One cumulative sum over frames (float64, so differences of long sums stay
    exact) serves every segment of every proposal; each stage gathers only the parts it feeds.
    """
    n, (t, num_parts, out_dim) = len(bounds), y.shape
    if n == 0:
        return y.new_zeros(0, bias.numel())
    csum = torch.zeros(t + 1, num_parts * out_dim, dtype=torch.float64, device=y.device)
    torch.cumsum(y.reshape(t, -1).double(), 0, out=csum[1:])
    spans, scales = segment_spans(bounds, count, num_segments)
    i0, i1 = frame_ranges(spans, frame_interval, t)
    i0, i1 = torch.from_numpy(i0).to(y.device), torch.from_numpy(i1).to(y.device)
    inv = 1.0 / (i1 - i0).double()
    scales = torch.from_numpy(scales).to(device=y.device, dtype=torch.float64)
    result = bias.to(device=y.device, dtype=torch.float64).expand(n, -1).clone()
    seg0 = part0 = 0
    for stage, (n_seg, n_parts) in enumerate(zip(num_segments, parts)):
        cols = slice(part0 * out_dim, (part0 + n_parts) * out_dim)
        a, b = i0[:, seg0:seg0 + n_seg], i1[:, seg0:seg0 + n_seg]
        seg = (csum[b, cols] - csum[a, cols]) * inv[:, seg0:seg0 + n_seg, None]        # (N, n_seg, n_parts*out)
        w = pooling[part0:part0 + n_parts, seg0:seg0 + n_seg].to(seg)                  # (n_parts, n_seg)
        # part p of this stage averages its segments' outputs of projection p; parts add up
        pooled = (w.t()[None, :, :, None] * seg.view(n, n_seg, n_parts, out_dim)).sum((1, 2))
        if stage != 1:
            pooled = pooled * scales[:, stage // 2, None]
        result += pooled
        seg0, part0 = seg0 + n_seg, part0 + n_parts
    return result.to(y.dtype)


@torch.no_grad()
def score_proposals(features: torch.Tensor, bounds: np.ndarray, count: int, frame_interval: int,
                    weights: torch.Tensor, bias: torch.Tensor, pooling: torch.Tensor, parts: list[int],
                    num_segments) -> torch.Tensor:
    """Raw head outputs (N, out) of every proposal of one video.

    features: (T, D) backbone features of the sampled frames (crops averaged);
    weights/bias: :func:`folded_weights`; the rest as :func:`pool_proposals`.
    """
    return pool_proposals(project_frames(features, weights), bounds, count, frame_interval, bias, pooling, parts,
                          num_segments)
