"""SSN scoring by folded heads: the backbone runs once per sampled frame.

Everything after the backbone is linear at test time (dropout is off), so the
heads applied to a proposal's STPP feature equal a sum over STPP parts ``p``
of ``W_p @ mean_p(f)``: the head weights acting on part ``p`` times the mean
feature of that part.  Moving ``W_p`` inside the mean gives per-frame outputs
``Y[t, p] = W_p @ f_t`` (:func:`project_frames`, ``D_out = (K+1) + K + 2K``
columns per part), computed once per video; a proposal's scores are then the
bias plus, for every part, the mean of ``Y[:, p]`` over the part's frames.

Pooling (the original SSN's test-time rule): part ``p`` covers one span of one
stage (:func:`ops.models.ssn.stage_bounds`): the whole stage, or a pyramid cell made
of segments ``a .. b`` of the stage's ``S`` equal segments, i.e.
``[A + (B - A) a / S, A + (B - A) b / S)``.  Its feature is the mean over the
sampled frames ``t x frame_interval`` inside that span, or the sampled frame
at or before the span's centre when none is; starting and ending parts are
scaled as in training.  With one sampled frame per segment this is exactly
the training-time forward (tested).

Speed: one exclusive prefix sum over frames ``S[t] = sum_{u<t} Y[u]``
(:func:`prefix_sums`, float64 so that differences of long sums stay exact to
~1e-12) makes every part of every proposal ``(S[i1] - S[i0]) / (i1 - i0)``:
one gather of (2, N, parts) rows of ``D_out`` values for all N proposals and
a weighted sum over parts.  No loop over proposals, segments or stages.
Pooling runs in numpy on the CPU (the per-frame outputs are small: T x parts
x D_out); the projection runs where the features are.

The per-frame outputs can be kept (:func:`raw_outputs`, file layout in
:mod:`ops.formats.results`) and re-pooled later for any proposal (:func:`score_raw`).
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from ops.formats.results import RawOutputs, VideoResult
from ops.log import progress
from ops.models.ssn import SSN, stage_bounds
from ops.temporal import frames_to_fraction


@dataclass(frozen=True)
class FoldedHeads:
    """An SSN's heads folded per STPP part, and the pyramid's geometry.

    weights: (parts, D_out, D) float32, block of the activity, completeness and regression weights acting
    on each part (activity rows are zero outside the course); bias: (D_out,) float64; sizes: column counts
    (K+1, K, 2K) of activity | completeness | regression (class-major (centre, scale)); stpp_matrix
    (parts, S), stpp_parts (3,) and num_segments (3,): the model's STPP (:class:`ops.models.ssn.STPP`).
    """

    weights: torch.Tensor
    bias: np.ndarray
    sizes: tuple[int, int, int]
    stpp_matrix: np.ndarray
    stpp_parts: np.ndarray
    num_segments: np.ndarray


def fold_heads(model: SSN) -> FoldedHeads:
    """Split the three heads' weights by the STPP part they act on (see the module docstring)."""
    stpp, k = model.stpp, model.num_classes
    d = model.activity_fc.in_features // stpp.parts[1]
    w = torch.zeros(stpp.num_parts, (k + 1) + k + 2 * k, d)
    first_course = stpp.parts[0]
    for p in range(stpp.num_parts):   # a handful of parts: runs once per model
        if first_course <= p < first_course + stpp.parts[1]:
            c = p - first_course
            w[p, :k + 1] = model.activity_fc.weight[:, c * d:(c + 1) * d]
        w[p, k + 1:2 * k + 1] = model.completeness_fc.weight[:, p * d:(p + 1) * d]
        w[p, 2 * k + 1:] = model.regressor_fc.weight[:, p * d:(p + 1) * d]
    bias = torch.cat([model.activity_fc.bias, model.completeness_fc.bias, model.regressor_fc.bias])
    return FoldedHeads(w.detach(), bias.detach().cpu().double().numpy(), (k + 1, k, 2 * k),
                       stpp.matrix.cpu().numpy(), np.asarray(stpp.parts), np.asarray(model.num_segments))


def part_layout(stpp_matrix: np.ndarray, stpp_parts, num_segments) -> tuple[np.ndarray, np.ndarray]:
    """Where each STPP part lies in its stage: stage (parts,) (0 starting, 1 course, 2 ending) and
    (parts, 3) int rows (first segment, end segment, segments of the stage), read off the pooling matrix."""
    used = np.asarray(stpp_matrix) > 0                                     # (parts, S)
    stage = np.repeat(np.arange(3), np.asarray(stpp_parts))
    num_segments = np.asarray(num_segments)
    offset = np.concatenate([[0], np.cumsum(num_segments)[:-1]])[stage]
    first = used.argmax(1)
    end = used.shape[1] - used[:, ::-1].argmax(1)
    if not (used.sum(1) == end - first).all():
        raise ValueError("every STPP part must pool one contiguous run of segments")
    return stage, np.stack([first - offset, end - offset, num_segments[stage]], 1)


def part_spans(bounds: np.ndarray, count: int, stage: np.ndarray, cells: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Frame spans (N, parts, 2) and scales (N, parts) of every part of proposals (N, 2) in frames.

    stage, cells: :func:`part_layout`; count: frames of the video.  Scales: the starting/ending stage
    scale of :func:`ops.models.ssn.stage_bounds` for their parts, 1 for course parts.
    """
    stages, scales = stage_bounds(bounds, count)
    a, b = stages[:, stage, 0], stages[:, stage, 1]                       # (N, parts)
    length, (first, end, n) = b - a, cells.T
    # multiply before dividing, start from the nearer stage end: integer spans stay exact and a stage's
    # own ends come out as they are (a + (b - a) can miss b by an ulp; ceil() would then skip a frame)
    spans = np.stack([a + length * first / n, b - length * (n - end) / n], 2)
    part_scales = np.concatenate([scales[:, :1], np.ones((len(a), 1)), scales[:, 1:]], 1)[:, stage]
    return spans, part_scales


def frame_ranges(spans: np.ndarray, frame_interval: int, num_scored: int) -> tuple[np.ndarray, np.ndarray]:
    """Index ranges [i0, i1) of the sampled frames (``t x frame_interval``) inside each span; never empty."""
    i0 = np.ceil(spans[..., 0] / frame_interval).astype(np.int64)
    i1 = np.ceil(spans[..., 1] / frame_interval).astype(np.int64)
    centre = np.floor((spans[..., 0] + spans[..., 1]) / 2 / frame_interval).astype(np.int64)
    empty = i1 <= i0
    i0 = np.clip(np.where(empty, centre, i0), 0, num_scored - 1)
    i1 = np.clip(np.where(empty, centre + 1, i1), i0 + 1, num_scored)
    return i0, i1


def prefix_sums(y: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Exclusive prefix sums ``S[t] = sum_{u<t} y[u]``, t = 0 .. T, of rows y (T, C), in float64.

    Returns (table (bl x nb, C), bl, nb); ``S[t]`` is row ``(t % bl) * nb + t // bl``.  The frames are
    cut into nb blocks of bl ~ sqrt(T) and stored block-transposed, so that the running sum advances
    every block at once with bl vector additions over contiguous rows (numpy's cumsum along the frame
    axis is a scalar loop, about 10x slower); the block offsets are added at the end.
    """
    t, c = y.shape
    bl = max(1, math.isqrt(t + 1))
    nb = t // bl + 1                          # blocks holding positions 0 .. T
    full, rest = divmod(t, bl)                # blocks whose bl frames all exist; frames of the last one
    table = np.empty((bl, nb, c))             # not zeros: every entry is written once below
    table[0] = 0.0
    # table[j, i] <- y[i bl + j - 1], the frame just before position i bl + j (float32 -> float64 here)
    table[1:, :full] = y[:full * bl].reshape(full, bl, c)[:, :-1].transpose(1, 0, 2)
    table[1:rest + 1, full] = y[full * bl:]
    table[rest + 1:, full] = 0.0              # positions past T: unused, kept finite
    for j in range(2, bl):                    # bl steps, each over all blocks
        table[j] += table[j - 1]
    totals = table[-1, :full] + y[bl - 1:full * bl:bl]                     # (full, C) block sums
    offsets = np.zeros((nb, c))
    np.cumsum(totals, 0, out=offsets[1:])
    table += offsets
    return table.reshape(bl * nb, c), bl, nb


@torch.no_grad()
def project_frames(features: torch.Tensor, weights: torch.Tensor) -> np.ndarray:
    """Per-frame head outputs of every STPP part: features (T, D) x weights (parts, D_out, D) ->
    (T, parts, D_out) float32 numpy, computed on the features' device."""
    parts, out, d = weights.shape
    y = features.float() @ weights.to(features.device, torch.float32).reshape(parts * out, d).t()
    return y.view(-1, parts, out).cpu().numpy()


def pool_proposals(y: np.ndarray, bounds: np.ndarray, count: int, frame_interval: int, bias: np.ndarray,
                   stage: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Head outputs (N, D_out) float64 of proposals (N, 2) in frames from per-frame outputs y (T, parts, D_out).

    count: frames of the video; y[t] belongs to frame ``t x frame_interval``; bias (D_out,);
    stage, cells: :func:`part_layout`.  All proposals at once (module docstring).
    """
    t, num_parts, out = y.shape
    if len(bounds) == 0:
        return np.zeros((0, out))
    spans, scales = part_spans(np.asarray(bounds, np.float64).reshape(-1, 2), count, stage, cells)
    i0, i1 = frame_ranges(spans, frame_interval, t)
    table, bl, nb = prefix_sums(y.reshape(t, num_parts * out))
    ends = np.stack([i1, i0])                                              # (2, N, parts) positions
    rows = ((ends % bl) * nb + ends // bl) * num_parts + np.arange(num_parts)
    sums = np.take(table.reshape(-1, out), rows, axis=0)                  # (2, N, parts, D_out)
    diff = np.subtract(sums[0], sums[1], out=sums[0])
    return np.einsum("np,npo->no", scales / (i1 - i0), diff) + bias


def score_frames(y: np.ndarray, heads: FoldedHeads, bounds: np.ndarray, count: int, frame_interval: int
                 ) -> np.ndarray:
    """:func:`pool_proposals` with the pyramid of ``heads``: raw head outputs (N, D_out) float64."""
    stage, cells = part_layout(heads.stpp_matrix, heads.stpp_parts, heads.num_segments)
    return pool_proposals(y, bounds, count, frame_interval, heads.bias, stage, cells)


@torch.no_grad()
def score_proposals(features: torch.Tensor, bounds: np.ndarray, count: int, frame_interval: int,
                    heads: FoldedHeads) -> np.ndarray:
    """Raw head outputs (N, D_out) float64 of every proposal (N, 2) of one video, in frames.

    features: (T, D) backbone features of the sampled frames (crops averaged); heads: :func:`fold_heads`.
    """
    return score_frames(project_frames(features, heads.weights), heads, bounds, count, frame_interval)


def head_scores(out: np.ndarray, num_classes: int, reg_stats: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split raw head outputs (N, D_out) into activity (N, K+1), completeness (N, K) and regression
    (N, K, 2), the latter de-normalised with ``reg_stats`` ((2, 2): mean and std rows)."""
    k = num_classes
    reg_stats = np.asarray(reg_stats, np.float64)
    reg = out[:, 2 * k + 1:].reshape(-1, k, 2) * reg_stats[1] + reg_stats[0]
    return out[:, :k + 1], out[:, k + 1:2 * k + 1], reg


def raw_outputs(y: np.ndarray, heads: FoldedHeads, video: str, count: int, frame_interval: int,
                reg_stats) -> RawOutputs:
    """Per-frame outputs y (T, parts, D_out) of one video as :class:`ops.formats.results.RawOutputs`."""
    t, parts, _ = y.shape
    k1, k, _ = heads.sizes
    return RawOutputs(video, int(count), int(frame_interval), np.arange(t, dtype=np.int64) * frame_interval,
                      y[..., :k1], y[..., k1:k1 + k], y[..., k1 + k:].reshape(t, parts, k, 2),
                      heads.bias[:k1], heads.bias[k1:k1 + k], heads.bias[k1 + k:].reshape(k, 2),
                      heads.stpp_matrix, heads.stpp_parts, heads.num_segments, np.asarray(reg_stats, np.float64))


def score_raw(raw: RawOutputs, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores of proposals (N, 2) in frames from a video's raw outputs, as ``ssn_test`` computes them:
    activity (N, K+1), completeness (N, K), de-normalised regression (N, K, 2), float64."""
    t, parts, k1 = raw.activity.shape
    y = np.concatenate([raw.activity, raw.completeness, raw.regression.reshape(t, parts, -1)], 2)
    bias = np.concatenate([raw.activity_bias, raw.completeness_bias, raw.regression_bias.ravel()])
    stage, cells = part_layout(raw.stpp_matrix, raw.stpp_parts, raw.num_segments)
    out = pool_proposals(y, bounds, raw.num_frames, raw.frame_interval, bias, stage, cells)
    return head_scores(out, k1 - 1, raw.reg_stats)


def relative_bounds(block) -> np.ndarray:
    """(N, 2) float64: a list block's proposals as fractions of its video (a result's ``rel_props``)."""
    return frames_to_fraction(block.bounds, block.num_frames)


class Scorer:
    """Turns one video's frame features into its :class:`VideoResult` (and its raw per-frame outputs)."""

    def __init__(self, model: SSN, reg_stats, frame_interval: int):
        self.heads = fold_heads(model)
        self.reg_stats = np.asarray(reg_stats, np.float64)
        self.k = model.num_classes
        self.frame_interval = frame_interval

    def __call__(self, features: torch.Tensor, block, count: int) -> tuple[VideoResult, RawOutputs]:
        y = project_frames(features, self.heads.weights)                     # (T, parts, D_out)
        out = score_frames(y, self.heads, block.bounds, count, self.frame_interval)
        act, comp, reg = head_scores(out, self.k, self.reg_stats)
        raw = raw_outputs(y, self.heads, block.video, count, self.frame_interval, self.reg_stats)
        return VideoResult(relative_bounds(block), act, comp, reg), raw


@torch.no_grad()
def score_videos(model: SSN, dataset, scorer: Scorer, device: torch.device, workers: int = 0,
                 show_progress: bool = False) -> Iterator[tuple]:
    """(block, VideoResult, RawOutputs) of each video of ``dataset`` (an
    ``ops.train.dataset.FrameSequenceDataset``), yielded as soon as its last chunk of frames is scored.

    The backbone runs once per sampled frame (bf16 autocast on CUDA); crops are averaged."""
    feats: dict[int, list] = {}
    remaining = {v: -(-len(p) // dataset.chunk) for v, p in enumerate(dataset.positions)}
    loader = DataLoader(dataset, batch_size=None, num_workers=workers, pin_memory=device.type == "cuda")
    for x, video, first in progress(loader, desc="frames", unit="chunk", disable=not show_progress):
        t, crops = x.shape[:2]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            f = model.base(x.to(device, non_blocking=True).flatten(0, 1)).float()
        feats.setdefault(video, []).append(f.view(t, crops, -1).mean(1))
        remaining[video] -= 1
        if remaining[video] == 0:
            block = dataset.videos[video]
            yield (block, *scorer(torch.cat(feats.pop(video)), block, dataset.counts[video]))
