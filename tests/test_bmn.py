"""BMN's rules (../shared/specs/bmn_bsn.md) on hand-worked inputs, and the sparse BM layer against the dense one."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ops.models.bmn import BMN, bmn_loss, build_bmn, pem_cls_loss, pem_reg_loss
from ops.proposals.bmn import (bm_sample_mask, bm_sample_taps, bmn_candidates, bmn_seconds, bmn_targets,
                               boundary_candidates, valid_map)
from ops.temporal import soft_nms
from ops.train.losses import binary_logistic_loss


# --------------------------------------------------------------------------- the sampling mask


def test_sampling_truncates_towards_zero_at_the_start():
    """T = 5, one bin of 3 points.  Entry (d=0, s=0): region [-0.5, 0.5], points -0.5, 0, 0.5.
    -0.5: modf gives whole -0 (row 0) and frac -0.5: row 0 gets 1.5 and, through ceil(-0.5) = -0, -0.5 (total 1);
    0: row 0 gets 1; 0.5: rows 0 and 1 get 0.5 each.  Row 0: 2.5 / 3, row 1: 0.5 / 3 (floor would give 2 / 3)."""
    mask = bm_sample_mask(5, num_samples=1, num_samples_per_bin=3, boundary_ratio=0.5)
    assert mask.dtype == np.float32 and mask.shape == (5, 1, 5, 5)
    np.testing.assert_allclose(mask[:, 0, 0, 0], [2.5 / 3, 0.5 / 3, 0, 0, 0], atol=1e-7)


def test_sampling_drops_rows_past_the_end():
    """Entry (d=0, s=4): region [3.5, 4.5], points 3.5, 4, 4.5: row 3 gets 0.5, row 4 gets 0.5 + 1 + 0.5, and
    the 0.5 of row 5 is dropped."""
    mask = bm_sample_mask(5, num_samples=1, num_samples_per_bin=3, boundary_ratio=0.5)
    np.testing.assert_allclose(mask[:, 0, 0, 4], [0, 0, 0, 0.5 / 3, 2 / 3], atol=1e-7)
    # invalid entries (s + d >= T) sample nothing
    assert not mask[:, :, valid_map(5) == False].any()     # noqa: E712


def _mask_by_the_rule(t, n, k, r):
    """The spec's rule written as a loop, point by point."""
    mask = np.zeros((t, n, t, t))
    for s in range(t):
        for d in range(t - s):
            lo, hi = s - r * (d + 1), s + d + r * (d + 1)
            step = (hi - lo) / (n * k - 1)
            for j in range(n * k):
                x = lo + j * step
                frac, whole = math.modf(x)
                if 0 <= int(whole) <= t - 1:
                    mask[int(whole), j // k, d, s] += (1 - frac) / k
                if 0 <= math.ceil(x) <= t - 1:
                    mask[math.ceil(x), j // k, d, s] += frac / k
    return mask


@pytest.mark.parametrize("t, n, k, r", [(7, 4, 3, 0.5), (9, 3, 2, 0.25), (6, 32, 3, 0.5)])
def test_mask_and_taps_equal_the_rule(t, n, k, r):
    expected = _mask_by_the_rule(t, n, k, r)
    np.testing.assert_allclose(bm_sample_mask(t, n, k, r), expected, atol=1e-6)
    rows, weights = bm_sample_taps(t, n, k, r)
    dense = np.zeros((t, n, t, t))
    nn_, dd, ss, _ = np.indices(rows.shape)
    np.add.at(dense, (rows, nn_, dd, ss), weights)
    np.testing.assert_allclose(dense, expected, atol=1e-6)


def test_sparse_bm_layer_equals_the_dense_mask():
    torch.manual_seed(0)
    cfg = dict(temporal_dim=16, feat_dim=24, hidden_1d=16, hidden_2d=8, hidden_3d=12)
    sparse, dense = BMN(**cfg), BMN(**cfg, bm_layer="dense")
    dense.load_state_dict(sparse.state_dict())
    x = torch.randn(3, 24, 16)
    for a, b in zip(sparse(x), dense(x)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    # and the gradients
    for model in (sparse, dense):
        maps, start, end = model(x)
        (maps.square().sum() + start.sum() + end.sum()).backward()
    for (name, p), q in zip(sparse.named_parameters(), dense.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-4, rtol=1e-4, msg=name)


def test_parameter_count_and_no_mask_in_the_checkpoint():
    model = BMN()
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 4_978_564
    state = model.state_dict()
    assert "sampling" not in state and "valid" not in state
    assert sum(v.numel() for v in state.values()) == 4_978_564
    rebuilt = build_bmn(model.config())
    rebuilt.load_state_dict(state)


# --------------------------------------------------------------------------- targets


def test_targets_by_hand():
    """T = 4, one instance [0.25, 0.5] (row 1)."""
    start, end, iou = bmn_targets([[0.25, 0.5]], 4)
    assert start.dtype == end.dtype == iou.dtype == np.float32 and iou.shape == (4, 4)
    assert iou[0, 1] == 1.0                          # [0.25, 0.5]
    assert iou[1, 1] == 0.5                          # [0.25, 0.75]: 0.25 / 0.5
    assert iou[0, 0] == 0.0                          # [0, 0.25] touches only
    assert iou[3, 1] == 0.25                         # [0.25, 1.25] lies past the end (masked later) but is computed
    # start region [0.25 - 0.375, 0.25 + 0.375]; anchor i: [(i - 0.5) / 4, (i + 1.5) / 4] (length 0.5)
    # i = 0: [-0.125, 0.375] ∩ [-0.125, 0.625] = 0.5 -> 1;  i = 1: [0.125, 0.625]: 0.5 -> 1
    # i = 2: [0.375, 0.875] ∩ -> [0.375, 0.625] = 0.25 -> 0.5;  i = 3: [0.625, 1.125]: 0
    np.testing.assert_allclose(start, [1, 1, 0.5, 0], atol=1e-7)
    # end region [0.125, 0.875]: i = 0: [0.125, 0.375] = 0.25 -> 0.5; i = 1, 2: 1; i = 3: [0.625, 0.875] -> 0.5
    np.testing.assert_allclose(end, [0.5, 1, 1, 0.5], atol=1e-7)


def test_iou_targets_are_float32_before_the_threshold():
    """T = 5, instance [0.2, 0.6], entry (d=0, s=1) = [0.2, 0.4]: IoU 0.5000000000000001 in float64, which
    is 0.5 in float32: not a positive of the classification loss (> 0.9) nor of the high band (> 0.7), and
    in the medium band (0.3, 0.7]."""
    _, _, iou = bmn_targets([[0.2, 0.6]], 5)
    s, e, g = 0.2, 0.4, (0.2, 0.6)
    inter = min(e, g[1]) - max(s, g[0])
    assert inter / ((e - s) + (g[1] - g[0]) - inter) > 0.5
    assert iou[0, 1] == np.float32(0.5)


def test_no_ground_truth_gives_zero_targets():
    start, end, iou = bmn_targets(np.zeros((0, 2)), 6)
    assert not start.any() and not end.any() and not iou.any() and iou.shape == (6, 6)


# --------------------------------------------------------------------------- losses


def test_binary_logistic_loss_value_of_mmaction2():
    assert float(binary_logistic_loss(torch.tensor([0.3, 0.9]), torch.tensor([0.0, 1.0]))) == pytest.approx(0.231, abs=1e-3)


def test_classification_loss_by_hand():
    """pos = gt > 0.9: 2 entries; neg = (gt <= 0.9) x mask = 0.1 + 0.4; entries 2.5, ratio 1.25, c0 2.5,
    c1 0.625: -(0.625 (log 0.99 + log 0.2) + 2.5 (0.1 log 0.9 + 0.4 log 0.05)) / 2.5 = 1.6137 (MMAction2's)."""
    pred = torch.tensor([[0.1, 0.99], [0.95, 0.2]])
    gt = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    mask = torch.tensor([[0.1, 0.4], [0.4, 0.1]])
    assert float(pem_cls_loss(pred, gt, mask)) == pytest.approx(1.6137, abs=1e-4)


def test_regression_loss_bands_and_sampling():
    """High (> 0.7): 0.8, 0.9; medium (0.3, 0.7]: 0.5; low (0, 0.3]: 0.1, 0.2, 0.25, 0.3; 0 is in no band.
    The medium entry is kept with probability 2 / 1 (always), each low one with 2 / 4.  With pred 0 the loss
    is 0.5 x (sum of kept gt^2) / (number kept): over many draws, exactly the 16 subsets of the low band."""
    import itertools

    gt = torch.tensor([[0.8, 0.9, 0.5, 0.1], [0.2, 0.25, 0.3, 0.0]], dtype=torch.float64)
    valid, pred = torch.ones_like(gt), torch.zeros_like(gt)
    g = torch.Generator().manual_seed(0)
    seen = {round(float(pem_reg_loss(pred, gt, valid, generator=g)), 9) for _ in range(400)}
    base, low = [0.64, 0.81, 0.25], [0.01, 0.04, 0.0625, 0.09]
    expected = {round(0.5 * (sum(base) + sum(c)) / (3 + len(c)), 9)
                for r in range(5) for c in itertools.combinations(low, r)}
    assert seen == expected


def test_a_batch_without_a_positive_gives_finite_losses():
    t = 6
    model = BMN(temporal_dim=t, feat_dim=8, hidden_1d=8, hidden_2d=4, hidden_3d=8)
    maps, start, end = model(torch.randn(2, 8, t))
    zeros = torch.zeros(2, t)
    loss, parts = bmn_loss(maps, start, end, torch.zeros(2, t, t), zeros, zeros, model.valid)
    assert torch.isfinite(loss) and all(math.isfinite(v) for v in parts.values())
    assert parts["reg_loss"] == 0.0
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# --------------------------------------------------------------------------- inference


def test_boundary_candidates():
    curve = [0.1, 0.3, 0.2, 0.6, 0.5, 0.05]
    # strict peaks at 1 and 3; above 0.5 x 0.6 = 0.3: 3, 4 (0.3 itself is not above)
    np.testing.assert_array_equal(boundary_candidates(curve, "first"), [1, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(boundary_candidates(curve, "last"), [0, 1, 0, 1, 1, 1])


def test_candidates_by_hand():
    """T = 4; starts may be 0 and 2 (peak), ends 1 (peak) and 3 (forced)."""
    start = np.array([0.5, 0.1, 0.4, 0.1])
    end = np.array([0.1, 0.8, 0.2, 0.3])
    cls = np.arange(16, dtype=float).reshape(4, 4) / 16
    reg = np.full((4, 4), 0.5)
    rows = bmn_candidates(start, end, cls, reg)
    # (d, s) with e = s + d + 1 < 4, s in {0, 2}, e in {1, 3}: (0, 0) e 1, (0, 2) e 3, (2, 0) e 3; d-major
    np.testing.assert_allclose(rows[:, :2], [[0, 0.25], [0.5, 0.75], [0, 0.75]])
    np.testing.assert_allclose(rows[:, 2:6], [[0.5, 0.8, 0 / 16, 0.5], [0.4, 0.3, 2 / 16, 0.5],
                                              [0.5, 0.3, 8 / 16, 0.5]])
    np.testing.assert_allclose(rows[:, 6], rows[:, 2] * rows[:, 3] * rows[:, 4] * rows[:, 5])


def test_soft_nms_keeps_top_k_plus_one_and_seconds():
    props = np.array([[0.0, 0.5, 0.9], [0.1, 0.5, 0.8], [0.6, 0.9, 0.7], [0.2, 0.3, 0.1]])
    kept = soft_nms(props, 0.4, 0.5, 0.9, top_k=2)
    assert len(kept) == 3 and kept[0, 2] == 0.9
    # [0.1, 0.5] vs [0, 0.5]: IoU 0.8 > 0.5 + 0.4 x 0.5 = 0.7: 0.8 exp(-0.64 / 0.4)
    assert kept[2, 2] == pytest.approx(0.8 * math.exp(-0.8 ** 2 / 0.4))
    # 1000 frames at 25 fps: 992 frames are whole snippets: duration 39.68 s
    np.testing.assert_allclose(bmn_seconds([[-0.1, 0.5], [0.5, 1.2]], 1000, 40.0), [[0, 19.84], [19.84, 39.68]])


def test_benchmark_dry_run():
    import subprocess
    import sys

    from conftest import REPO
    res = subprocess.run([sys.executable, str(REPO / "bench" / "bench_bmn.py"), "--dry_run"], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "training iteration sparse" in res.stdout and "post-processing 20 videos" in res.stdout


def test_window_seconds_of_a_bsn_rescaled_video_equal_the_spec_conversion():
    """37 snippets of 16 frames of a 600-frame, 20 s video (30 fps), rescaled to 100 rows: the window spans
    [0, 16 x 37 / 30] s, the spec's (600 // 16 x 16) / 600 x 20 s."""
    from ops.formats.features import FeatureRecord, rescaled_record
    from ops.train.feature_dataset import window_seconds
    rec = FeatureRecord(video="v", stream="RGB", num_rows=37, dim=2, fps=30.0, num_frames=600, first_frame=0.0,
                        stride=16.0, snippet_frames=16, centre=8.0)
    t0, t1 = window_seconds(rescaled_record(rec, 100, "bsn"), 0, 100)
    fractions = np.array([[0.0, 1.0], [0.25, 0.5]])
    np.testing.assert_allclose(t0 + fractions * (t1 - t0), bmn_seconds(fractions, 600, 20.0), atol=1e-9)
