"""BSN's rules (../shared/specs/bmn_bsn.md) on hand-worked inputs."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from ops.models.bsn import PEM, TEM, pem_loss, tem_loss
from ops.proposals.bsn import boundary_mask, bsp_features, match_ground_truth, pgm_candidates, tem_targets


def test_tem_targets_by_hand():
    """T = 4, one instance [0.25, 0.5]: pad = max(1/4, 0.1 x 0.25) = 0.25, start region [0.125, 0.375], end
    region [0.375, 0.625]; anchors of length 0.25."""
    action, start, end = tem_targets([[0.25, 0.5]], 4)
    assert action.dtype == start.dtype == end.dtype == np.float32
    np.testing.assert_allclose(action, [0, 1, 0, 0])
    np.testing.assert_allclose(start, [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(end, [0, 0.5, 0.5, 0])
    # a long instance: pad = 0.1 x length
    _, start, _ = tem_targets([[0.2, 1.0]], 20)     # pad 0.08: region [0.16, 0.24]; anchors 0.05 long
    np.testing.assert_allclose(start[2:6], [0, 0.8, 0.8, 0], atol=1e-6)
    assert not start[:2].any() and not start[6:].any()
    assert not any(x.any() for x in tem_targets(np.zeros((0, 2)), 5))


def test_boundary_candidates_force_both_ends_and_take_half_the_max():
    np.testing.assert_array_equal(boundary_mask([0.1, 0.2, 0.9, 0.3, 0.05]), [1, 0, 1, 0, 1])
    # a plateau is no strict peak, but 0.6 > 0.5 x 0.6 ... only above: 0.6 > 0.3
    np.testing.assert_array_equal(boundary_mask([0.2, 0.6, 0.6, 0.1, 0.0]), [1, 1, 1, 0, 1])
    np.testing.assert_array_equal(boundary_mask([0.2, 0.3, 0.3, 0.1, 0.6]), [1, 0, 0, 0, 1])  # 0.3 is not above 0.3


def test_pgm_candidates_by_hand():
    """Starts {0, 2, 4}, ends {0, 1, 3, 4}; pairs with start < end, centres (i + 0.5) / 5."""
    tem = np.zeros((5, 3))
    tem[:, 1] = [0.1, 0.2, 0.9, 0.3, 0.05]
    tem[:, 2] = [0.0, 0.4, 0.1, 0.8, 0.3]
    rows = pgm_candidates(tem)
    np.testing.assert_allclose(rows[:, 4], [0.72, 0.27, 0.08, 0.04, 0.03])
    np.testing.assert_allclose(rows[:, :2], [[0.5, 0.7], [0.5, 0.9], [0.1, 0.7], [0.1, 0.3], [0.1, 0.9]])
    np.testing.assert_allclose(rows[:, 2] * rows[:, 3], rows[:, 4])


def test_match_ground_truth_is_not_clipped():
    iou, ioa = match_ground_truth([[0.1, 0.3], [0.5, 0.9]], [[0.2, 0.4], [0.8, 1.2]])
    np.testing.assert_allclose(iou, [0.1 / 0.3, 0.1 / 0.7])
    np.testing.assert_allclose(ioa, [0.5, 0.25])


def test_bsp_features_constant_curve_and_zero_padding():
    ones = np.ones(10)
    f = bsp_features(ones, [[0.3, 0.6]])
    assert f.shape == (1, 32)
    np.testing.assert_allclose(f, 1.0)
    # [0.0, 0.5]: the start region [-0.1, 0.1] reaches into the zero padding (row -1 at -0.05 holds 0, row 0 at
    # 0.05 holds 1).  Its 8 samples: step 0.2 / 7; sample 0 averages points below -0.05 (0); sample 3 averages
    # -0.028571, -0.019048, -0.009524, 0.0 -> (x + 0.05) / 0.1 = 0.21429, 0.30952, 0.40476, 0.5 -> 0.35714;
    # sample 7 averages points above 0.05 (1)
    f = bsp_features(ones, [[0.0, 0.5]])[0]
    start = f[16:24]
    assert start[0] == 0.0 and start[7] == pytest.approx(1.0)
    assert start[3] == pytest.approx((0.21428571 + 0.30952381 + 0.40476190 + 0.5) / 4, abs=1e-6)
    # the proposal's sample 0: points -step/2 .. step/2 around 0 (step 0.5 / 15) -> 1/3, 4/9, 5/9, 2/3: 0.5;
    # sample 1: 0.0167 .. 0.05 -> 2/3, 7/9, 8/9, 1; from sample 2 on, all 1
    assert f[0] == pytest.approx(0.5) and f[1] == pytest.approx((2 / 3 + 7 / 9 + 8 / 9 + 1) / 4)
    np.testing.assert_allclose(f[2:16], 1.0)


def test_bsp_features_equal_a_loop_over_proposals():
    rng = np.random.default_rng(0)
    curve = rng.random(20)
    props = np.sort(rng.random((30, 2)), 1)
    got = bsp_features(curve, props)
    pad = int(20 / 4 + 10)
    x = (np.arange(-pad, 20 + pad) + 0.5) / 20
    y = np.concatenate([np.zeros(pad), curve, np.zeros(pad)])
    for k, (lo, hi) in enumerate(props):
        length, row = hi - lo, []
        for a, b, n in ((lo, hi, 16), (lo - 0.2 * length, lo + 0.2 * length, 8), (hi - 0.2 * length, hi + 0.2 * length, 8)):
            step = (b - a) / (n - 1)
            pts = [a - step / 2 + i * step / 3 for i in range(3 * n + 1)]
            vals = np.interp(pts, x, y)
            row += [np.mean(vals[3 * j:3 * j + 4]) for j in range(n)]
        np.testing.assert_allclose(got[k], row, atol=1e-12)


def test_networks_and_losses():
    tem = TEM(feat_dim=8, hidden=16)
    out = tem(torch.randn(2, 8, 10))
    assert out.shape == (2, 3, 10) and ((out > 0) & (out < 1)).all()
    target = torch.zeros(2, 3, 10)
    loss, parts = tem_loss(out, target)
    assert torch.isfinite(loss) and set(parts) == {"action_loss", "start_loss", "end_loss"}
    assert float(loss.detach()) == pytest.approx(2 * parts["action_loss"] + parts["start_loss"] + parts["end_loss"], rel=1e-6)
    pem = PEM(hidden=8)
    y = pem(torch.randn(5, 32))
    assert y.shape == (5,) and ((y > 0) & (y < 1)).all()
    assert sum(p.numel() for p in PEM().parameters()) == 32 * 256 + 256 + 256 + 1
    assert sum(p.numel() for p in TEM().parameters()) == 400 * 512 * 3 + 512 + 512 * 512 * 3 + 512 + 512 * 3 + 3
    pred, iou = torch.tensor([0.5, 0.9]), torch.tensor([0.4, 0.0])
    # smooth L1 (beta 1): 0.5 x 0.1^2 and 0.5 x 0.9^2, plain mean
    assert float(pem_loss(pred, iou)) == pytest.approx((0.005 + 0.405) / 2)


def test_pgm_benchmark_dry_run_agrees_with_its_loop():
    """The benchmark checks the vectorised PGM against a per-proposal loop of the same rules."""
    import subprocess
    import sys

    from conftest import REPO
    res = subprocess.run([sys.executable, str(REPO / "bench" / "bench_pgm.py"), "--dry_run"], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "PGM, 50 videos" in res.stdout
