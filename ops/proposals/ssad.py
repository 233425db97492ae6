"""Decouple-SSAD's and main-stream SSAD's rules: windows, anchors, decoding, matching, losses.

``../shared/specs/decouple_ssad.md`` states each rule; tests/test_ssad.py works them by hand.  Units: a window is
``window_frames`` frames (THUMOS14: 512 = 128 snippets of 4 frames); boxes are in window units (``[0, 1]`` is the
window), frames only at the edges (targets in, detections out).

Anchor layers have 16, 8 and 4 positions with scales 1/16, 1/8, 1/4 and ratios {0.5, 0.75, 1, 1.5, 2}: 140
anchors a window, layer by layer, anchor ``t x 5 + r`` within a layer.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

LAYER_POSITIONS = (16, 8, 4)
LAYER_SCALES = (1 / 16, 1 / 8, 1 / 4)
RATIOS = (0.5, 0.75, 1.0, 1.5, 2.0)
INSIDE = 0.9          # a training window keeps an instance with more than 90 % of it inside


# --------------------------------------------------------------------------- windows and targets


def ssad_windows(num_frames: int, gt_frames, training: bool, window: int = 512, train_stride: int = 128,
                 test_stride: int = 256, tail: int = 9, short_train: bool = False) -> np.ndarray:
    """Window start frames of one video, in order, repeats kept.

    ``L = num_frames - tail``; ``stride`` = ``train_stride`` or ``test_stride``; ``n = (L + stride - window) //
    stride``; starts ``0, stride, ..., (n - 1) stride``, plus ``L - window`` when ``L > window`` (which can repeat
    the previous start).  ``n <= 0``: a test video gets the single start 0, a training video none (with
    ``short_train``, a choice of ours for datasets of short videos, it too gets 0).  Training keeps
    only windows holding an instance with more than 90 % of its length inside (:func:`inside_fraction`).

    Args:
        gt_frames: (G, 2) instances ``[start, end]`` in frames (training only).
    Returns:
        (W,) int64 start frames.
    """
    stride = train_stride if training else test_stride
    length = int(num_frames) - tail
    n = (length + stride - window) // stride
    if n <= 0:
        if training and not short_train:
            return np.zeros(0, np.int64)
        starts = np.zeros(1, np.int64)
    else:
        starts = list(range(0, n * stride, stride)) + ([length - window] if length > window else [])
        starts = np.asarray(starts, np.int64)
    if training:
        gt = np.asarray(gt_frames, np.float64).reshape(-1, 2)
        keep = (inside_fraction(gt, starts, window) > INSIDE).any(1) if len(gt) else np.zeros(len(starts), bool)
        starts = starts[keep]
    return starts


def inside_fraction(gt_frames, starts, window: int = 512) -> np.ndarray:
    """(W, G): the part of each instance's own length inside each window:
    ``(min(end, w_end) - max(start, w_start)) / (end - start)``."""
    gt = np.asarray(gt_frames, np.float64).reshape(-1, 2)
    w0 = np.asarray(starts, np.float64)[:, None]
    inter = np.minimum(gt[:, 1], w0 + window) - np.maximum(gt[:, 0], w0)
    return inter / np.maximum(gt[:, 1] - gt[:, 0], 1e-12)


def window_targets(gt_frames, labels, start: int, window: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The instances a training window keeps (> 90 % inside) as float32 ``[clip(s) - w0, clip(e) - w0] / window``
    and their labels; the others are background in this window."""
    gt = np.asarray(gt_frames, np.float64).reshape(-1, 2)
    keep = inside_fraction(gt, [start], window)[0] > INSIDE if len(gt) else np.zeros(0, bool)
    boxes = (np.clip(gt[keep], start, start + window) - start) / window
    return boxes.astype(np.float32), np.asarray(labels, np.int64).reshape(-1)[keep]


# --------------------------------------------------------------------------- anchors and decoding


def ssad_anchors() -> np.ndarray:
    """(140, 2) float64 ``[centre, width]`` in window units, in anchor order: per layer ``l`` of ``T_l`` positions,
    anchor ``t x 5 + r`` has centre ``(t + 0.5) / T_l`` and width ``scale_l x ratio_r``."""
    rows = []
    for t_l, scale in zip(LAYER_POSITIONS, LAYER_SCALES):
        t, r = np.meshgrid(np.arange(t_l), np.asarray(RATIOS), indexing="ij")
        rows.append(np.stack([(t + 0.5) / t_l, scale * r], -1).reshape(-1, 2))
    return np.concatenate(rows)


def decode(anchors, dx, dw):
    """Boxes ``[start, end]`` (window units) from offsets: ``x = 0.1 dx w_a + x_a``, ``w = exp(0.1 dw) w_a``.
    Works on numpy arrays and torch tensors (``anchors`` (A, 2), ``dx``/``dw`` (..., A))."""
    xa, wa = anchors[..., 0], anchors[..., 1]
    if isinstance(dx, torch.Tensor):
        x, w = dx * wa * 0.1 + xa, torch.exp(0.1 * dw) * wa
        return torch.stack([x - w / 2, x + w / 2], -1)
    x, w = dx * wa * 0.1 + xa, np.exp(0.1 * dw) * wa
    return np.stack([x - w / 2, x + w / 2], -1)


# --------------------------------------------------------------------------- matching


def match(boxes: torch.Tensor, gt: list[torch.Tensor], gt_labels: list[torch.Tensor]):
    """Match the decoded predicted boxes of a batch against its windows' instances.

    Args:
        boxes: (B, A, 2) decoded predictions (window units; gradients kept).
        gt, gt_labels: per window (G_b, 2) boxes and (G_b,) labels (1-based).
    Returns:
        labels (B, A) int64 (0: background), targets (B, A, 2) (zeros when unmatched), score (B, A): each
        anchor's maximum IoU over all its window's instances (with its gradient; 0 without instances).  Instances
        are visited in order; an anchor takes one when the IoU is > 0.5 and > the best so far (the first reaching
        the maximum wins).
    """
    b, a, _ = boxes.shape
    labels = torch.zeros(b, a, dtype=torch.int64, device=boxes.device)
    targets = torch.zeros(b, a, 2, dtype=boxes.dtype, device=boxes.device)
    scores = []
    for i in range(b):
        g = gt[i].to(boxes)
        if len(g) == 0:
            scores.append(boxes.new_zeros(a) + 0 * boxes[i, :, 0])
            continue
        s, e = boxes[i, :, 0:1], boxes[i, :, 1:2]
        inter = (torch.minimum(e, g[:, 1]) - torch.maximum(s, g[:, 0])).clamp(min=0)
        union = (e - s) + (g[:, 1] - g[:, 0]) - inter
        iou = inter / union.clamp(min=1e-12)                               # (A, G)
        scores.append(iou.max(1).values)
        best = iou.detach().clone()
        best[best <= 0.5] = -1.0
        value, index = best.max(1)                                         # first maximum wins
        hit = value > 0.5
        labels[i, hit] = gt_labels[i].to(labels.device)[index[hit]]
        targets[i, hit] = g[index[hit]]
    return labels, targets, torch.stack(scores)


# --------------------------------------------------------------------------- losses


def sample_masks(score: torch.Tensor, confidence: torch.Tensor, generator: torch.Generator | None = None):
    """Positives ``score > 0.5``; hard negatives ``score < 0.5`` and raw confidence ``> 0.5``; random negatives
    with probability ``r = min(1, (1 - n_hard / n_pos) n_pos / (N - n_pos - n_hard))`` among the rest (none when
    ``n_hard >= n_pos`` or ``n_pos == 0``).  All (B, A) float tensors, over the whole batch."""
    s, c = score.detach(), confidence.detach()
    pos = (s > 0.5).float()
    hard = ((s < 0.5) & (c > 0.5)).float()
    n_pos, n_hard, n = pos.sum(), hard.sum(), float(s.numel())
    rest = 1.0 - pos - hard
    rest = rest * (s != 0.5).float()            # score exactly 0.5: neither positive nor negative
    if n_pos == 0 or n_hard >= n_pos:
        return pos, hard, torch.zeros_like(pos)
    r = min(1.0, float((1 - n_hard / n_pos) * n_pos / max(n - n_pos - n_hard, 1.0)))
    u = torch.rand(s.shape, generator=generator, device=s.device)
    return pos, hard, rest * (u < r).float()


def _mean_over(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Weighted sum over the number of non-zero weights (0 when none)."""
    count = (weights != 0).sum()
    return (weights * values).sum() / count.clamp(min=1)


def stream_loss(logits, confidence, boxes, labels, targets, score, masks) -> tuple:
    """The three terms of one stream: class (softmax cross-entropy over positives and negatives), location
    (smooth L1 on the decoded start and end of positives), confidence (smooth L1 between match score and
    confidence over the class term's anchors).  Shapes (B, A, K+1), (B, A), (B, A, 2), (B, A), (B, A, 2), (B, A)."""
    pos, hard, rand = masks
    cls_w = pos + hard + rand
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), (labels * pos.long()).reshape(-1), reduction="none")
    cls = _mean_over(cls_w.reshape(-1), ce)
    loc = _mean_over(pos, F.smooth_l1_loss(boxes, targets, reduction="none").sum(-1))
    conf = _mean_over(cls_w, F.smooth_l1_loss(confidence, score, reduction="none"))
    return cls, loc, conf


def _stream_terms(stream: dict, anchors: torch.Tensor, gt, gt_labels, labels_from: dict | None = None):
    """Match a stream's decoded boxes, draw its masks and return its (class, location, confidence) terms.
    ``labels_from``: another stream whose matching gives the class labels (Decouple-SSAD's class anchors)."""
    boxes = decode(anchors, stream["dx"], stream["dw"])
    labels, targets, score = match(boxes, gt, gt_labels)
    if labels_from is not None:
        labels = match(decode(anchors, labels_from["dx"], labels_from["dw"]), gt, gt_labels)[0]
    masks = sample_masks(score, stream["confidence"])
    logits = (labels_from or stream)["logits"]
    return stream_loss(logits, stream["confidence"], boxes, labels, targets, score, masks)


def ssad_loss(out: dict, kind: str, gt: list, gt_labels: list, anchors: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The training loss of a batch of windows.

    Main stream: ``class + 10 location + 10 confidence``.  Decouple-SSAD:
    ``(main_class + 2 branch_class) / 3 + 10 (main_location + 2 branch_location) / 3 + 10 branch_confidence``,
    the branch terms with the class anchors' labels and the localization anchors' masks, targets and scores.
    """
    m_cls, m_loc, m_conf = _stream_terms(out["main"], anchors, gt, gt_labels)
    if kind == "main":
        total = m_cls + 10 * m_loc + 10 * m_conf
        return total, {"class_loss": float(m_cls.detach()), "loc_loss": float(m_loc.detach()),
                       "conf_loss": float(m_conf.detach())}
    b_cls, b_loc, b_conf = _stream_terms(out["loc"], anchors, gt, gt_labels, labels_from=out["cls"])
    total = (m_cls + 2 * b_cls) / 3 + 10 * (m_loc + 2 * b_loc) / 3 + 10 * b_conf
    return total, {"class_loss": float(b_cls.detach()), "loc_loss": float(b_loc.detach()),
                   "conf_loss": float(b_conf.detach()), "main_class_loss": float(m_cls.detach())}
