"""ops.train.losses on hand-worked inputs (MMAction2's own unit-test value included)."""
from __future__ import annotations

import math

import torch

from ops.train.losses import binary_logistic_loss


def test_mmaction2_unit_test_value():
    # N = 2, one positive: ratio 2, c0 = 1, c1 = 1 -> -(log 0.90001 + log 0.70001) / 2 = 0.2310
    loss = binary_logistic_loss(torch.tensor([0.3, 0.9]), torch.tensor([0.0, 1.0]))
    assert abs(loss.item() - (-(math.log(0.9 + 1e-5) + math.log(0.7 + 1e-5)) / 2)) < 1e-6
    assert round(loss.item(), 3) == 0.231


def test_ratio_is_clamped_and_a_batch_without_positive_is_finite():
    # 4 entries, 1 positive: ratio 4 -> c0 = 2/3, c1 = 2
    p = torch.tensor([0.2, 0.4, 0.6, 0.8])
    lab = torch.tensor([0.0, 0.5, 0.2, 0.9])  # 0.5 is not a positive
    want = -(2 * math.log(0.8 + 1e-5) + (2 / 3) * sum(math.log(1 - x + 1e-5) for x in (0.2, 0.4, 0.6))) / 4
    assert abs(binary_logistic_loss(p, lab).item() - want) < 1e-6
    # no positive: num_pos floored at 1, ratio 4; all positives: ratio clamped to 1.05
    none = binary_logistic_loss(p, torch.zeros(4))
    assert torch.isfinite(none)
    want0 = -((2 / 3) * sum(math.log(1 - x + 1e-5) for x in p.tolist())) / 4
    assert abs(none.item() - want0) < 1e-6
    allpos = binary_logistic_loss(p, torch.ones(4))
    want1 = -(0.525 * sum(math.log(x + 1e-5) for x in p.tolist())) / 4
    assert abs(allpos.item() - want1) < 1e-6


def test_gradient_flows_to_predictions():
    p = torch.tensor([0.3, 0.6], requires_grad=True)
    binary_logistic_loss(p, torch.tensor([1.0, 0.0])).backward()
    assert p.grad[0] < 0 < p.grad[1]
