"""Tests of ops/video/flow.py (algorithms, DenseFlow quantisation) and ops/video/tvl1_torch.py."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from ops.video import flow as flow_ops
from ops.device import resolve_device
from ops.video.flow import (dequantise_flow, end_point_error, make_flow, quantise_flow,
                            warp_by_flow)
from ops.video.tvl1_torch import TVL1Params, _divergence, _forward_gradient, tvl1_flow_numpy
from ops.video.video import read_jpeg, write_jpeg

needs_contrib = pytest.mark.skipif(not flow_ops.has_opencv_tvl1(), reason="OpenCV without contrib (cv2.optflow)")


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """(H, W) uint8 smooth random texture with detail at several scales."""
    rng = np.random.default_rng(seed)
    img = sum(cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), s) * s for s in (1.5, 4))
    return cv2.normalize(img, None, 10, 245, cv2.NORM_MINMAX).astype(np.uint8)


def rotation_flow(h: int, w: int, degrees: float = 3.0) -> np.ndarray:
    """(H, W, 2) flow of a rotation about the image centre plus a (1.5, -0.7) px shift."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    a, cx, cy = np.deg2rad(degrees), w / 2, h / 2
    u = (np.cos(a) - 1) * (xs - cx) - np.sin(a) * (ys - cy) + 1.5
    v = np.sin(a) * (xs - cx) + (np.cos(a) - 1) * (ys - cy) - 0.7
    return np.stack([u, v], -1).astype(np.float32)


def synthetic_pair(h: int, w: int, flow: np.ndarray, seed: int = 0):
    nxt = texture(h, w, seed)
    return warp_by_flow(nxt, flow), nxt


# ---------------------------------------------------------------- quantisation

def test_quantise_known_values_match_densflow_formula():
    # round(255 * (v + 20) / 40), clipped: hand-computed values.
    v = np.array([-100.0, -20.0, -10.0, 0.0, 0.1, 10.0, 19.99, 20.0, 55.0], np.float32)
    assert quantise_flow(v, 20).tolist() == [0, 0, 64, 128, 128, 191, 255, 255, 255]
    # 0 maps to 127.5 -> 128 (half to even); with bound 10, 5 -> 191.25 -> 191.
    assert quantise_flow(np.float32([5.0]), 10).tolist() == [191]
    assert dequantise_flow(np.uint8([0, 255]), 20).tolist() == [-20.0, 20.0]


def test_quantise_round_trip_within_half_step():
    bound = 20.0
    v = np.linspace(-bound, bound, 10001, dtype=np.float32)
    err = np.abs(dequantise_flow(quantise_flow(v, bound), bound) - v)
    assert err.max() <= bound / 255 + 1e-5  # half of one step 2 * bound / 255


def test_quantise_rejects_bad_bound():
    with pytest.raises(ValueError, match="bound"):
        quantise_flow(np.zeros(3), 0)


def test_flow_field_survives_jpeg_write_read(tmp_path):
    """A smooth known flow field written as DenseFlow JPEGs (q95) and read back.

    JPEG changes a quantised level by at most one, so the flow read back is
    within one quantisation step of the stored (quantised) flow, and within
    1.5 steps of the original (plus the half step of quantising itself).
    """
    bound, h, w = 20.0, 64, 80
    step = 2 * bound / 255
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    flow = np.stack([6 * np.sin(xs / 13) + 0.05 * ys, -4 + 3 * np.cos(ys / 9)], -1)
    q = quantise_flow(flow, bound)
    write_jpeg(tmp_path / "flow_x_00001.jpg", q[..., 0], 95)
    write_jpeg(tmp_path / "flow_y_00001.jpg", q[..., 1], 95)
    back = np.stack([read_jpeg(tmp_path / "flow_x_00001.jpg", gray=True),
                     read_jpeg(tmp_path / "flow_y_00001.jpg", gray=True)], -1)
    assert np.abs(back.astype(int) - q).max() <= 1
    decoded = dequantise_flow(back, bound)
    assert np.abs(decoded - dequantise_flow(q, bound)).max() <= step + 1e-5
    assert np.abs(decoded - flow).max() <= 1.5 * step + 1e-5
    assert np.abs(decoded - flow).mean() < 0.5 * step


# ---------------------------------------------------------------- OpenCV algorithms

@pytest.mark.parametrize("name", ["dis_fast", "dis_medium", "farneback"])
def test_cpu_algorithms_recover_translation(name):
    h, w = 96, 128
    gt = np.broadcast_to(np.float32([2.5, -1.5]), (h, w, 2))
    prev, nxt = synthetic_pair(h, w, gt)
    out = make_flow(name)(np.stack([prev, prev]), np.stack([nxt, nxt]))
    assert out.shape == (2, h, w, 2) and out.dtype == np.float32
    assert end_point_error(out[0], gt, margin=10) < 0.25
    np.testing.assert_allclose(out[0, 10:-10, 10:-10].mean((0, 1)), [2.5, -1.5], atol=0.1)


def test_make_flow_errors(monkeypatch):
    with pytest.raises(ValueError, match="unknown flow algorithm"):
        make_flow("denseflow")
    with pytest.raises(ValueError, match="CPU only"):
        make_flow("dis_fast", device="cuda")
    monkeypatch.setattr(flow_ops, "has_opencv_tvl1", lambda: False)
    with pytest.raises(RuntimeError, match="contrib"):
        make_flow("tvl1")


def test_flow_rejects_mismatched_batches():
    with pytest.raises(ValueError, match="equal shape"):
        make_flow("dis_fast")(np.zeros((2, 8, 8), np.uint8), np.zeros((1, 8, 8), np.uint8))


@pytest.mark.skipif(torch.cuda.is_available(), reason="machine has a GPU")
def test_device_resolution_without_gpu():
    assert resolve_device("auto") == "cpu"
    assert flow_ops.default_flow_algorithm("cpu") == flow_ops.DEFAULT_FLOW["cpu"]
    with pytest.raises(RuntimeError, match="no CUDA"):
        resolve_device("cuda")


# ---------------------------------------------------------------- torch TV-L1

def test_divergence_is_negative_adjoint_of_gradient():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(2, 2, 7, 9, generator=g, dtype=torch.float64)
    px, py = torch.randn(2, 2, 7, 9, generator=g, dtype=torch.float64), torch.randn(2, 2, 7, 9, generator=g,
                                                                                   dtype=torch.float64)
    ux, uy = _forward_gradient(u)
    lhs = (ux * px).sum() + (uy * py).sum()
    rhs = -(u * _divergence(px, py)).sum()
    assert torch.allclose(lhs, rhs)


def test_forward_gradient_hand_values():
    u = torch.tensor([[[[0.0, 1.0, 4.0], [2.0, 2.0, 2.0]]]])
    ux, uy = _forward_gradient(u)
    assert ux.tolist() == [[[[1.0, 3.0, 0.0], [0.0, 0.0, 0.0]]]]
    assert uy.tolist() == [[[[2.0, 1.0, -2.0], [0.0, 0.0, 0.0]]]]


def test_tvl1_torch_recovers_rotation():
    h, w = 72, 96
    gt = rotation_flow(h, w)
    prev, nxt = synthetic_pair(h, w, gt)
    out = tvl1_flow_numpy(prev[None], nxt[None])
    assert out.shape == (1, h, w, 2)
    assert end_point_error(out[0], gt, margin=8) < 0.1


def test_tvl1_torch_batch_pairs_are_independent():
    """Two pairs with different motions in one batch each get their own flow."""
    h, w = 64, 80
    gts = [np.broadcast_to(np.float32(m), (h, w, 2)) for m in ([1.0, 0.0], [0.0, -1.5])]
    pairs = [synthetic_pair(h, w, gt, seed=i) for i, gt in enumerate(gts)]
    out = make_flow("tvl1_torch")(np.stack([p for p, _ in pairs]), np.stack([n for _, n in pairs]))
    for k, gt in enumerate(gts):
        np.testing.assert_allclose(out[k, 8:-8, 8:-8].mean((0, 1)), gt[0, 0], atol=0.05)


@needs_contrib
def test_tvl1_torch_close_to_opencv():
    h, w = 72, 96
    gt = rotation_flow(h, w)
    prev, nxt = synthetic_pair(h, w, gt)
    ours = tvl1_flow_numpy(prev[None], nxt[None])[0]
    ref = make_flow("tvl1")(prev[None], nxt[None])[0]
    assert end_point_error(ref, gt, margin=8) < 0.1  # the reference itself is right on this pair
    assert end_point_error(ours, ref, margin=8) < 0.05


def test_tvl1_params_change_result():
    """Fewer warps/iterations give a different (coarser) answer: the parameters are really used."""
    h, w = 48, 64
    gt = rotation_flow(h, w, 4.0)
    prev, nxt = synthetic_pair(h, w, gt)
    full = tvl1_flow_numpy(prev[None], nxt[None])[0]
    crude = tvl1_flow_numpy(prev[None], nxt[None], TVL1Params(num_warps=1, outer_iterations=1,
                                                                inner_iterations=3, median_filter=0))[0]
    assert end_point_error(full, gt, 6) < end_point_error(crude, gt, 6)
