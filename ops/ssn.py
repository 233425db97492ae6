"""Structured Segment Network: three-stage sampling, STPP, heads and losses.

A proposal ``[start, end)`` (frames, length ``L``) is augmented by ``L / 2``
on both sides: the *starting* stage ``[start - L/2, start)``, the *course*
``[start, end)`` and the *ending* ``[end, end + L/2)``, with 2 / 5 / 2 snippets
by default.  The parts of the augmented span outside the video are cut off,
and the starting/ending features are scaled by the fraction of their stage
inside the video (:func:`stage_layout`).

STPP (structured temporal pyramid pooling) averages the snippet features of
each stage over a pyramid: a stage configured ``[1, 2]`` is pooled whole and
in two halves (part ``i`` of ``n`` covers segments
``floor(i S / n) .. floor((i + 1) S / n)``); ``1`` means one part.  The
activity classifier sees the course features only; the completeness
classifiers and the class-wise regressors see the whole STPP feature.

Losses (weights as flags): activity cross-entropy over foreground and
background samples; completeness hinge loss over foreground (target +1) and
incomplete (target -1) samples of each sample's class, with online hard
example mining keeping the ``int(n_incomplete x ohem_ratio)`` largest
incomplete losses of each video; smooth-L1 regression of (centre offset,
log length ratio), normalised by dataset statistics, on foreground samples.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ops.backbones import BackboneConfig, apply_bn_mode, build_backbone

FG, INCOMPLETE, BG = 0, 1, 2
KIND_CODES = {"fg": FG, "incomplete": INCOMPLETE, "bg": BG}


# --------------------------------------------------------------------------- sampling geometry


def stage_bounds(bounds: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Stage spans of proposals (N, 2) in frames -> (stages (N, 3, 2), scales (N, 2)).

    Stages: starting ``[max(0, s - L/2), s)``, course ``[s, e)``, ending
    ``[e, min(count, e + L/2))``; scales in [0, 1]: the part of each
    augmentation stage that lies inside ``[0, count)`` (0 for a zero-length proposal).
    """
    bounds = np.asarray(bounds, np.float64).reshape(-1, 2)
    start, end = bounds[:, 0], bounds[:, 1]
    half = (end - start) / 2.0
    ok = half > 0
    aug_start = np.where(ok, np.maximum(0.0, start - half), start)
    aug_end = np.where(ok, np.minimum(float(count), end + half), end)
    safe = np.where(ok, half, 1.0)
    scales = np.where(ok[:, None], np.minimum(1.0, np.stack([(start - aug_start) / safe,
                                                             (aug_end - end) / safe], 1)), 0.0)
    stages = np.stack([np.stack([aug_start, start], 1), np.stack([start, end], 1),
                       np.stack([end, aug_end], 1)], axis=1)
    return stages, scales


def stage_layout(start: float, end: float, count: int) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """:func:`stage_bounds` of one proposal: ([starting, course, ending] spans, (starting, ending) scales)."""
    stages, scales = stage_bounds(np.array([[start, end]]), count)
    return [tuple(float(x) for x in st) for st in stages[0]], tuple(float(x) for x in scales[0])


def targets_for_regression(bounds: np.ndarray, gt_bounds: np.ndarray) -> np.ndarray:
    """(centre offset / length, log(gt length / length)), shape (N, 2), for proposals (N, 2)."""
    length = np.maximum(bounds[:, 1] - bounds[:, 0], 1e-6)
    gt_length = np.maximum(gt_bounds[:, 1] - gt_bounds[:, 0], 1e-6)
    centre = (bounds[:, 0] + bounds[:, 1]) / 2
    gt_centre = (gt_bounds[:, 0] + gt_bounds[:, 1]) / 2
    return np.stack([(gt_centre - centre) / length, np.log(gt_length / length)], axis=1)


def apply_regression(bounds: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """Inverse of :func:`targets_for_regression`: refined (N, 2) bounds from (N, 2) de-normalised deltas."""
    length = bounds[:, 1] - bounds[:, 0]
    centre = (bounds[:, 0] + bounds[:, 1]) / 2 + deltas[:, 0] * length
    new_length = length * np.exp(deltas[:, 1])
    return np.stack([centre - new_length / 2, centre + new_length / 2], axis=1)


# --------------------------------------------------------------------------- STPP


def _levels(stage) -> list[int]:
    return [int(stage)] if np.isscalar(stage) else [int(x) for x in stage]


def pooling_matrix(num_segments: tuple[int, int, int], stpp) -> tuple[torch.Tensor, list[int]]:
    """STPP as a matrix: (num_parts, sum(num_segments)) averaging weights, and parts per stage."""
    rows, parts_per_stage, offset = [], [], 0
    for n_seg, stage in zip(num_segments, stpp):
        parts = 0
        for level in _levels(stage):
            if level > n_seg:
                raise ValueError(f"STPP level {level} exceeds the stage's {n_seg} segments")
            edges = [int(np.floor(i * n_seg / level)) for i in range(level + 1)]
            for a, b in zip(edges[:-1], edges[1:]):
                row = torch.zeros(sum(num_segments))
                row[offset + a:offset + b] = 1.0 / (b - a)
                rows.append(row)
                parts += 1
        parts_per_stage.append(parts)
        offset += n_seg
    return torch.stack(rows), parts_per_stage


class STPP(nn.Module):
    """Pools snippet features (N, S, D) into (activity (N, D x course parts), completeness (N, D x parts))."""

    def __init__(self, num_segments=(2, 5, 2), stpp=(1, 1, 1)):
        super().__init__()
        matrix, self.parts = pooling_matrix(tuple(num_segments), stpp)
        self.register_buffer("matrix", matrix, persistent=False)
        self.num_segments = tuple(num_segments)

    @property
    def num_parts(self) -> int:
        return sum(self.parts)

    def part_scales(self, scales: torch.Tensor) -> torch.Tensor:
        """(N, num_parts) multipliers: starting parts x starting scale, ending parts x ending scale."""
        n = scales.shape[0]
        ones = scales.new_ones(n, self.parts[1])
        return torch.cat([scales[:, :1].expand(n, self.parts[0]), ones, scales[:, 1:].expand(n, self.parts[2])], 1)

    def forward(self, feats: torch.Tensor, scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = torch.einsum("ps,nsd->npd", self.matrix.to(feats.dtype), feats)       # (N, parts, D)
        pooled = pooled * self.part_scales(scales.to(feats.dtype))[:, :, None]
        course = pooled[:, self.parts[0]:self.parts[0] + self.parts[1]]
        return course.flatten(1), pooled.flatten(1)


# --------------------------------------------------------------------------- model


class SSN(nn.Module):
    """Backbone + STPP + activity (K+1), completeness (K) and class-wise regression (K x 2) heads.

    ``forward(x, scales)`` with x (N x S, C, H, W) snippets (S = sum(num_segments) per proposal, in
    stage order) and scales (N, 2) returns activity (N, K+1), completeness (N, K), regression (N, K, 2).
    """

    def __init__(self, backbone: dict, num_classes: int, num_segments=(2, 5, 2), stpp=(1, 1, 1),
                 dropout: float = 0.8):
        super().__init__()
        self.backbone_cfg = BackboneConfig.from_dict(backbone)
        self.num_classes, self.num_segments, self.stpp_cfg = num_classes, list(num_segments), stpp
        self.base, dim = build_backbone(self.backbone_cfg)
        self.dropout_p = dropout
        self.dropout = nn.Dropout(dropout)
        self.stpp = STPP(num_segments, stpp)
        course_parts = self.stpp.parts[1]
        self.activity_fc = nn.Linear(dim * course_parts, num_classes + 1)
        self.completeness_fc = nn.Linear(dim * self.stpp.num_parts, num_classes)
        self.regressor_fc = nn.Linear(dim * self.stpp.num_parts, num_classes * 2)
        for fc, std in ((self.activity_fc, 0.001), (self.completeness_fc, 0.001), (self.regressor_fc, 0.001)):
            nn.init.normal_(fc.weight, std=std)
            nn.init.zeros_(fc.bias)

    def config(self) -> dict:
        return {"type": "ssn", "backbone": asdict(self.backbone_cfg), "num_classes": self.num_classes,
                "num_segments": list(self.num_segments), "stpp": self.stpp_cfg, "dropout": self.dropout_p}

    def train_mode_hook(self) -> None:
        apply_bn_mode(self.base, self.backbone_cfg.bn_mode)

    def heads(self, feats: torch.Tensor, scales: torch.Tensor):
        """Heads on snippet features (N, S, D) -> (activity, completeness, regression)."""
        activity_feat, comp_feat = self.stpp(self.dropout(feats), scales)
        reg = self.regressor_fc(comp_feat).view(-1, self.num_classes, 2)
        return self.activity_fc(activity_feat), self.completeness_fc(comp_feat), reg

    def forward(self, x: torch.Tensor, scales: torch.Tensor):
        feats = self.base(x).view(scales.shape[0], sum(self.num_segments), -1)
        return self.heads(feats, scales)


# --------------------------------------------------------------------------- losses


def completeness_loss(comp: torch.Tensor, labels: torch.Tensor, kinds: torch.Tensor, groups: torch.Tensor,
                      ohem_ratio: float) -> torch.Tensor:
    """Hinge loss with OHEM over incomplete samples.

    comp (N, K) completeness scores; labels (N,) 1-based classes; kinds (N,) FG/INCOMPLETE/BG;
    groups (N,) video index of each sample.  Foreground samples have target +1, incomplete -1,
    background ones are ignored.  In each video only the ``int(n_incomplete x ohem_ratio)``
    largest incomplete losses count; the sum is divided by (foreground + kept incomplete).
    """
    pos, neg = kinds == FG, kinds == INCOMPLETE
    idx = torch.arange(len(labels), device=comp.device)
    score = comp[idx, (labels - 1).clamp(min=0)]
    pos_loss = (1 - score[pos]).clamp(min=0)
    neg_loss = (1 + score[neg]).clamp(min=0)
    kept, num_kept = [], 0
    neg_groups = groups[neg]
    for g in torch.unique(neg_groups):
        losses = neg_loss[neg_groups == g]
        k = int(len(losses) * ohem_ratio)
        if k:
            kept.append(losses.topk(k).values)
            num_kept += k
    total = pos_loss.sum() + (torch.cat(kept).sum() if kept else comp.new_zeros(()))
    return total / max(int(pos.sum()) + num_kept, 1)


def regression_loss(reg: torch.Tensor, labels: torch.Tensor, kinds: torch.Tensor, targets: torch.Tensor
                    ) -> torch.Tensor:
    """Smooth-L1 on foreground samples: reg (N, K, 2) of each sample's class vs targets (N, 2) (normalised).

    The loss sums the two coordinates and averages over foreground samples.
    """
    fg = kinds == FG
    if not fg.any():
        return reg.new_zeros(())
    pred = reg[fg, labels[fg] - 1]
    return F.smooth_l1_loss(pred, targets[fg], reduction="sum") / int(fg.sum())


def ssn_losses(outputs, labels, kinds, groups, reg_targets, ohem_ratio: float = 0.17) -> dict[str, torch.Tensor]:
    """All three losses of a batch; ``outputs`` = (activity, completeness, regression)."""
    activity, comp, reg = outputs
    act_mask = kinds != INCOMPLETE
    act_loss = F.cross_entropy(activity[act_mask], torch.where(kinds[act_mask] == BG, 0, labels[act_mask]))
    return {"activity": act_loss, "completeness": completeness_loss(comp, labels, kinds, groups, ohem_ratio),
            "regression": regression_loss(reg, labels, kinds, reg_targets)}
