"""Video-level classifier on snippet features: which classes occur in a video (multi-label).

Model (``VideoClassifier``), input features (B, C, T) with a validity mask (B, T) (videos of different
lengths padded in one batch):

    Conv1d(C -> hidden, k 3, pad 1) + ReLU          local temporal context
    masked mean | masked max over the valid rows     (B, 2 hidden): how much and how strongly
    Dropout, Linear(2 hidden -> K)                   one logit per class

Multi-label: a video may hold several classes (THUMOS14 videos often do), so the loss is a per-class
binary cross-entropy on multi-hot targets (:func:`classifier_loss`) and the score of class k is
``sigmoid(logit_k)`` (:func:`class_scores`), not a softmax over classes.  The config dict
(:meth:`VideoClassifier.config`) rebuilds the model (:func:`build_video_classifier`).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ops.errors import InputError

MODEL_TYPE = "video_classifier"


def masked_mean_max(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Temporal pooling over valid rows only.

    Args:
        x: (B, H, T) features; mask: (B, T) bool, True for real rows (None: all real).  Every video needs
            at least one real row.
    Returns:
        (B, 2H): the mean over the real rows, then their maximum.
    """
    if mask is None:
        return torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)
    m = mask[:, None, :].to(x.dtype)
    mean = (x * m).sum(dim=2) / m.sum(dim=2).clamp_min(1)
    top = x.masked_fill(~mask[:, None, :], torch.finfo(x.dtype).min).amax(dim=2)
    return torch.cat([mean, top], dim=1)


class VideoClassifier(nn.Module):
    """Snippet features -> one logit per class (layout in the module docstring)."""

    def __init__(self, in_dim: int, num_classes: int, hidden: int = 256, dropout: float = 0.5):
        super().__init__()
        self.in_dim, self.num_classes, self.hidden, self.dropout_p = in_dim, num_classes, hidden, dropout
        self.conv = nn.Conv1d(in_dim, hidden, kernel_size=3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * hidden, num_classes)

    def config(self) -> dict:
        return {"type": MODEL_TYPE, "in_dim": self.in_dim, "num_classes": self.num_classes,
                "hidden": self.hidden, "dropout": self.dropout_p}

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, C, T), mask (B, T) bool or None -> logits (B, K)."""
        h = F.relu(self.conv(x))
        return self.fc(self.dropout(masked_mean_max(h, mask)))


def build_video_classifier(config: dict) -> VideoClassifier:
    """Rebuild a classifier from :meth:`VideoClassifier.config`; InputError for another model type."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind != MODEL_TYPE:
        raise InputError(f"model type {kind!r} is not a video-level classifier ({MODEL_TYPE!r}): give a "
                         "checkpoint of classify_videos.py")
    return VideoClassifier(**config)


def multi_hot(labels: list, num_classes: int) -> np.ndarray:
    """Targets (V, K) float32 from each video's 1-based labels (repeats and background 0 ignored)."""
    out = np.zeros((len(labels), num_classes), np.float32)
    rows = np.repeat(np.arange(len(labels)), [len(np.atleast_1d(lab)) for lab in labels])
    cols = np.concatenate([np.atleast_1d(np.asarray(lab, np.int64)) for lab in labels]) if len(labels) else \
        np.zeros(0, np.int64)
    keep = cols > 0
    out[rows[keep], cols[keep] - 1] = 1.0
    return out


def classifier_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean per-class binary cross-entropy: logits (B, K), multi-hot targets (B, K) -> scalar."""
    return F.binary_cross_entropy_with_logits(logits.float(), targets.float())


def class_scores(logits: torch.Tensor) -> torch.Tensor:
    """Per-class probabilities ``sigmoid(logits)`` (B, K), float32."""
    return torch.sigmoid(logits.float())


def pad_batch(sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, T_i) tensors -> padded (B, C, max T) with zeros and the mask (B, max T) of real rows."""
    length = max(s.shape[1] for s in sequences)
    x = sequences[0].new_zeros((len(sequences), sequences[0].shape[0], length))
    mask = torch.zeros((len(sequences), length), dtype=torch.bool)
    for i, s in enumerate(sequences):
        x[i, :, :s.shape[1]] = s
        mask[i, :s.shape[1]] = True
    return x, mask


def top1_hit_rate(scores: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of videos whose best-scored class is one of theirs: scores, targets (V, K)."""
    if len(scores) == 0:
        return float("nan")
    best = np.argmax(scores, axis=1)
    return float(targets[np.arange(len(best)), best].mean())


def video_map(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean over classes of the average precision of ranking videos by class score (non-interpolated: the
    mean of the precisions at each positive); classes without a positive video are skipped.

    Args:
        scores, targets: (V, K); targets multi-hot.  Ties keep video order (stable sort).
    Returns:
        mAP in [0, 1] (NaN when no class has a positive).
    """
    order = np.argsort(-scores, axis=0, kind="stable")
    hits = np.take_along_axis(np.asarray(targets, np.float64), order, axis=0)
    positives = hits.sum(axis=0)
    precision = np.cumsum(hits, axis=0) / np.arange(1, len(hits) + 1)[:, None]
    ap = (precision * hits).sum(axis=0)[positives > 0] / positives[positives > 0]
    return float(ap.mean()) if ap.size else float("nan")
