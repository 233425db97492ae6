"""Proposal sampling shared by the actionness classifier and SSN.

Each video's proposals (ground truth included, as the original SSN did) fall
into three kinds, judged by best IoU with any ground truth and by overlap over
the proposal itself (``overlap_self``):

- foreground: IoU > ``fg_iou_thresh``;
- incomplete: IoU < ``incomplete_iou_thresh`` and overlap_self > ``incomplete_overlap_thresh``;
- background: IoU < ``bg_iou_thresh`` and coverage (length / video length) > ``bg_coverage_thresh``.

Training draws ``proposals_per_video`` proposals from one video in the ratio
``fg_ratio : incomplete_ratio : bg_ratio`` (SSN: 1:6:1 of 8; the binary
classifier: incomplete_ratio 0).  A video lacking a kind draws that kind from a
pool of the whole dataset.  All randomness comes from a ``torch.Generator``
so that checkpoints can restore it exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from ops.errors import InputError
from ops.formats.proposal_list import VideoProposals
from ops.temporal import pairwise_iou

KINDS = ("fg", "incomplete", "bg")


@dataclass(frozen=True)
class SamplingConfig:
    proposals_per_video: int = 8
    fg_ratio: float = 1
    incomplete_ratio: float = 6
    bg_ratio: float = 1
    fg_iou_thresh: float = 0.7
    incomplete_iou_thresh: float = 0.3
    incomplete_overlap_thresh: float = 0.01
    bg_iou_thresh: float = 0.01
    bg_coverage_thresh: float = 0.02
    include_gt: bool = True

    @classmethod
    def from_preset(cls, sampling: dict, **overrides) -> "SamplingConfig":
        """Build from a preset's ``sampling`` section; ``overrides`` that are not None win."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in sampling.items() if k in names}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def counts(self) -> dict[str, int]:
        """Proposals of each kind per video (rounded; the total is ``proposals_per_video``)."""
        ratios = np.array([self.fg_ratio, self.incomplete_ratio, self.bg_ratio], dtype=np.float64)
        raw = ratios / ratios.sum() * self.proposals_per_video
        n = np.floor(raw).astype(int)
        n[np.argsort(n - raw)[: self.proposals_per_video - n.sum()]] += 1   # largest remainders
        return dict(zip(KINDS, n.tolist()))


@dataclass
class ProposalTable:
    """A video's candidate proposals in frames: ground truth first (if included), then proposals.

    bounds (N, 2) float frames; labels (N,) int64 (class of best ground truth, 0 = none);
    best_iou (N,); overlap_self (N,); is_gt (N,) bool; gt_bounds (N, 2): the ground truth of
    highest IoU with each row (the row itself when there is none), for regression targets.
    """

    bounds: np.ndarray
    labels: np.ndarray
    best_iou: np.ndarray
    overlap_self: np.ndarray
    is_gt: np.ndarray
    gt_bounds: np.ndarray

    @classmethod
    def from_video(cls, v: VideoProposals, include_gt: bool = True) -> "ProposalTable":
        g = v.num_gt if include_gt else 0
        bounds = np.concatenate([v.gt_bounds[:g], v.bounds]).astype(np.float64).reshape(-1, 2)
        if v.num_gt:
            best = pairwise_iou(bounds, v.gt_bounds).argmax(axis=1)
            gt_bounds = np.asarray(v.gt_bounds, np.float64)[best]
        else:
            gt_bounds = bounds.copy()
        return cls(
            bounds=bounds, gt_bounds=gt_bounds,
            labels=np.concatenate([v.gt_labels[:g], v.labels]).astype(np.int64),
            best_iou=np.concatenate([np.ones(g), v.best_iou]),
            overlap_self=np.concatenate([np.ones(g), v.overlap_self]),
            is_gt=np.concatenate([np.ones(g, bool), np.zeros(v.num_proposals, bool)]),
        )


def categorize(table: ProposalTable, num_frames: int, cfg: SamplingConfig) -> dict[str, np.ndarray]:
    """Indices into ``table`` of each kind (``fg``, ``incomplete``, ``bg``)."""
    iou, ovl = table.best_iou, table.overlap_self
    coverage = (table.bounds[:, 1] - table.bounds[:, 0]) / max(num_frames, 1)
    fg = (iou > cfg.fg_iou_thresh) & (table.labels > 0)
    incomplete = (iou < cfg.incomplete_iou_thresh) & (ovl > cfg.incomplete_overlap_thresh) & (table.labels > 0)
    bg = (iou < cfg.bg_iou_thresh) & (coverage > cfg.bg_coverage_thresh)
    return {"fg": np.flatnonzero(fg), "incomplete": np.flatnonzero(incomplete), "bg": np.flatnonzero(bg)}


class ProposalSampler:
    """Draws a video's training proposals; falls back to dataset-wide pools for missing kinds."""

    def __init__(self, videos: list[VideoProposals], cfg: SamplingConfig):
        self.cfg = cfg
        self.tables = [ProposalTable.from_video(v, cfg.include_gt) for v in videos]
        self.kinds = [categorize(t, v.num_frames, cfg) for t, v in zip(self.tables, videos)]
        self.pools = {k: np.array([(i, j) for i, kinds in enumerate(self.kinds) for j in kinds[k]],
                                  dtype=np.int64).reshape(-1, 2) for k in KINDS}
        self.quota = cfg.counts()
        for kind, n in self.quota.items():
            if n and len(self.pools[kind]) == 0:
                raise InputError(f"no {kind} proposal in the whole training list with the thresholds {cfg}; "
                                 "check the proposal list's labels or lower the thresholds")

    def sample(self, video: int, generator: torch.Generator | None = None) -> list[tuple[int, int, str]]:
        """``proposals_per_video`` draws for ``video``: (video index, row of its table, kind) each.

        Rows are drawn with replacement only when a video has fewer than needed.
        """
        out = []
        for kind, n in self.quota.items():
            if n == 0:
                continue
            own = self.kinds[video][kind]
            if len(own):
                pick = _draw(len(own), n, generator)
                out += [(video, int(own[p]), kind) for p in pick]
            else:
                pool = self.pools[kind]
                out += [(int(pool[p, 0]), int(pool[p, 1]), kind) for p in _draw(len(pool), n, generator)]
        return out


def _draw(available: int, n: int, generator: torch.Generator | None) -> list[int]:
    """``n`` indices below ``available``: without replacement when possible."""
    if available >= n:
        return torch.randperm(available, generator=generator)[:n].tolist()
    return torch.randint(available, (n,), generator=generator).tolist()
