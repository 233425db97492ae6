"""Losses shared by the feature-based methods (BMN, BSN; later ones import from here).

One home for each rule the specs give, so BMN's boundary loss and BSN's TEM loss cannot drift apart.
"""
from __future__ import annotations

import torch

EPS = 1e-5


def binary_logistic_loss(pred: torch.Tensor, label: torch.Tensor, threshold: float = 0.5,
                         ratio_range: tuple[float, float] = (1.05, 21.0), eps: float = EPS) -> torch.Tensor:
    """Class-balanced binary logistic loss of BSN / BMN (MMAction2 0.x).

    Positives are ``label > threshold``; ``num_pos = max(#pos, 1)``;
    ``ratio = clamp(N / num_pos, *ratio_range)``; ``c0 = 0.5 ratio / (ratio - 1)``, ``c1 = 0.5 ratio``;
    ``loss = -mean(c1 pos log(p + eps) + c0 (1 - pos) log(1 - p + eps))``.  A batch without a positive
    gives a finite loss (``num_pos`` floored at 1, ``ratio`` clamped), the authors' NaN case.

    Args:
        pred: probabilities, any shape (flattened).
        label: targets in [0, 1], same number of elements as ``pred``.
    Returns:
        scalar tensor.
    """
    pred = pred.reshape(-1)
    label = label.reshape(-1).to(pred.dtype)
    pos = (label > threshold).to(pred.dtype)
    num_entries = pos.numel()
    num_pos = torch.clamp(pos.sum(), min=1.0)
    ratio = torch.clamp(num_entries / num_pos, ratio_range[0], ratio_range[1])
    c0 = 0.5 * ratio / (ratio - 1)
    c1 = 0.5 * ratio
    loss = c1 * pos * torch.log(pred + eps) + c0 * (1.0 - pos) * torch.log(1.0 - pred + eps)
    return -loss.mean()
