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
example mining keeping the ``max(1, int(n_incomplete x ohem_ratio))`` largest
incomplete losses of each video; smooth-L1 regression of (centre offset,
log length ratio), normalised by dataset statistics, on foreground samples.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ops.errors import InputError
from ops.models.backbones import (CHECKPOINT_KEYS, BackboneConfig, read_weights_file, apply_bn_mode, build_backbone,
                                  load_pretrained)

logger = logging.getLogger(__name__)

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
                raise InputError(f"STPP level {level} exceeds the stage's {n_seg} segments")
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
                      ohem_ratio: float, background: bool = False) -> torch.Tensor:
    """Hinge loss with OHEM over incomplete samples.

    comp (N, K) completeness scores; labels (N,) 1-based classes; kinds (N,) FG/INCOMPLETE/BG;
    groups (N,) video index of each sample.  Foreground samples have target +1, incomplete -1,
    background ones are ignored.  In each video only the ``max(1, int(n_incomplete x ohem_ratio))``
    largest incomplete losses count (none when ohem_ratio is 0); the sum is divided by
    (foreground + kept incomplete).  At least one is kept because the default ratio, 0.17, is
    tuned to 6 incomplete samples per video: with 5 (``--incomplete_ratio 5``) int() would keep none,
    the classifier would see no negatives and learn "always complete".

    ``background=True`` (not in SSN) also gives background samples target -1 for the class in
    their ``labels`` (the caller's choice, e.g. the class the activity head ranks first), mined
    in a pool of their own by the same rule: a part of an action nobody annotated is background
    to the sampler, and SSN's completeness classifiers would otherwise never see one.
    """
    idx = torch.arange(len(labels), device=comp.device)
    score = comp[idx, (labels - 1).clamp(min=0)]
    pos = kinds == FG
    total, count = (1 - score[pos]).clamp(min=0).sum(), int(pos.sum())
    for kind in (INCOMPLETE, BG) if background else (INCOMPLETE,):
        kept = _hardest_per_group((1 + score[kinds == kind]).clamp(min=0), groups[kinds == kind], ohem_ratio)
        total, count = total + kept.sum(), count + len(kept)
    return total / max(count, 1)


def _hardest_per_group(losses: torch.Tensor, groups: torch.Tensor, ratio: float) -> torch.Tensor:
    """OHEM: the ``max(1, int(n x ratio))`` largest of each group's n losses (none when ratio is 0)."""
    if ratio <= 0:
        return losses[:0]
    kept = [group.topk(max(1, int(len(group) * ratio))).values
            for group in (losses[groups == g] for g in torch.unique(groups))]
    return torch.cat(kept) if kept else losses[:0]


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


def ssn_losses(outputs, labels, kinds, groups, reg_targets, ohem_ratio: float = 0.17,
               bg_completeness: bool = False) -> dict[str, torch.Tensor]:
    """All three losses of a batch; ``outputs`` = (activity, completeness, regression).

    ``bg_completeness``: background samples are also completeness negatives of the action class
    their activity output ranks first (detached), see :func:`completeness_loss`.
    """
    activity, comp, reg = outputs
    act_mask = kinds != INCOMPLETE
    act_loss = F.cross_entropy(activity[act_mask], torch.where(kinds[act_mask] == BG, 0, labels[act_mask]))
    comp_labels = labels
    if bg_completeness:
        comp_labels = torch.where(kinds == BG, activity.detach()[:, 1:].argmax(1) + 1, labels)
    return {"activity": act_loss,
            "completeness": completeness_loss(comp, comp_labels, kinds, groups, ohem_ratio, bg_completeness),
            "regression": regression_loss(reg, labels, kinds, reg_targets)}


# --------------------------------------------------------------------------- original SSN checkpoints

# Head names of the original SSN (yjxiong/action-detection, ``ssn_models.py``), saved under
# ``module.`` (DataParallel) with the backbone under ``module.base_model.``; TSN checkpoints
# hold a classifier ``new_fc`` instead, which no SSN head corresponds to.
REFERENCE_HEADS = ("activity_fc", "completeness_fc", "regressor_fc")
REFERENCE_UNUSED = ("new_fc",)


def map_reference_state_dict(state: Mapping, model: SSN) -> dict[str, torch.Tensor]:
    """Tensors of an original SSN (or TSN) checkpoint under ``model``'s names, heads re-laid out.

    Both differences from our heads are linear, so the mapped heads give the original's
    training-time outputs exactly on the same snippet features:

    - activity: the original classifies the plain mean of the course snippets (D inputs),
      ours the course STPP parts (course parts x D).  That mean is the segment-weighted
      sum of the parts of the course's first pyramid level, so the weight is copied to
      those parts, times each part's share of the course segments, and is 0 elsewhere;
    - completeness and regression: the same STPP layout (starting, course, ending; levels
      in order; D features per part, part-major), but the original divides every part by
      the number of parts of its stage, so the weights are divided likewise.

    Biases are unchanged, and the regressor's 2K outputs are class-major (centre, log
    length) pairs in both, ``view(K, 2)``.

    Args:
        state: the checkpoint dict or its 'state_dict' (keys ``module.base_model.<name>``,
            ``module.activity_fc.weight``, ...; ``module.`` optional; a bare backbone too).
        model: our SSN, built with the published model's class count and STPP.
    Returns:
        {our key: tensor}: ``base.<name>`` for every backbone tensor, as stored (shapes are
        fitted by :func:`ops.models.backbones.load_pretrained`), and the heads ``state`` has.
    Raises:
        ValueError naming the head tensor and both shapes when the published model's class
        count, feature size or STPP part count differs from ours.
    """
    out, unused = {}, []
    for key, value in _reference_tensors(state).items():
        head = key.split(".")[0]
        if head in REFERENCE_HEADS:
            out[key] = _map_reference_head(key, value, model)
        elif head in REFERENCE_UNUSED:
            unused.append(key)
        else:
            out["base." + key.removeprefix("base_model.")] = value
    if unused:
        logger.info("not mapped (no SSN head corresponds): %s", ", ".join(unused))
    return out


def load_reference_checkpoint(model: SSN, path: str | os.PathLike) -> list[str]:
    """Initialise ``model`` from an original SSN / TSN checkpoint file: backbone and every head it has.

    Returns the names of the heads loaded.  Raises ValueError (file unreadable, no
    backbone tensor matches, or a head whose shape disagrees; nothing is loaded then).
    """
    mapped = map_reference_state_dict(read_weights_file(os.fspath(path)), model)
    base = {k[len("base."):]: v for k, v in mapped.items() if k.startswith("base.")}
    heads = {k: v for k, v in mapped.items() if not k.startswith("base.")}
    load_pretrained(model.base, base, modality=model.backbone_cfg.modality)
    model.load_state_dict(heads, strict=False)
    logger.info("%s: original SSN heads loaded: %s", path, ", ".join(sorted(heads)) or "none (backbone only)")
    return sorted(heads)


def _reference_tensors(state: Mapping) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint dict (or of its 'state_dict', ...), ``module.`` removed."""
    wrapped = [k for k in CHECKPOINT_KEYS if isinstance(state.get(k), Mapping)]
    state = state[wrapped[0]] if wrapped else state
    return {k.removeprefix("module."): v for k, v in state.items()
            if isinstance(k, str) and isinstance(v, torch.Tensor)}


def _map_reference_head(key: str, value: torch.Tensor, model: SSN) -> torch.Tensor:
    """One original head tensor (``activity_fc.weight``, ...) in our layout; checks its shape first."""
    name, kind = key.split(".", 1)
    k, parts = model.num_classes, model.stpp.num_parts
    dim = model.activity_fc.in_features // model.stpp.parts[1]
    outputs = {"activity_fc": k + 1, "completeness_fc": k, "regressor_fc": 2 * k}[name]
    inputs = dim if name == "activity_fc" else dim * parts
    expected = (outputs, inputs) if kind == "weight" else (outputs,)
    if tuple(value.shape) != expected:
        raise InputError(
            f"{key}: the checkpoint's shape {tuple(value.shape)} differs from {expected} of this model "
            f"({k} classes, {dim}-d features, STPP {model.stpp_cfg} = {parts} parts); build the model with "
            f"the published model's --num_classes, --arch and --stpp")
    if kind != "weight":
        return value.clone()
    if name == "activity_fc":
        share = _course_mean_shares(model).to(value.dtype)
        return torch.einsum("p,od->opd", share, value).reshape(outputs, -1)
    per_part = torch.cat([torch.full((n,), 1.0 / n) for n in model.stpp.parts]).to(value.dtype)
    return value * per_part.repeat_interleave(dim)[None, :]


def _course_mean_shares(model: SSN) -> torch.Tensor:
    """(course parts,) weights that sum the course STPP parts into the mean of all course segments.

    The parts of the course's first pyramid level cover its segments once, part ``i``
    averaging ``n_i`` of them, so the course mean is ``sum_i (n_i / S) part_i``; the
    parts of the other levels get 0.
    """
    first, count = model.stpp.parts[0], model.stpp.parts[1]
    rows = model.stpp.matrix[first:first + count]  # (course parts, all segments) averaging weights
    segments = (rows > 0).sum(dim=1).to(torch.float64)
    share = segments / model.num_segments[1]
    share[_levels(model.stpp_cfg[1])[0]:] = 0.0
    return share
