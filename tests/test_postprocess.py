"""SSN post-processing: score combination, top-k, NMS, regression, classifier filtering."""
from __future__ import annotations

import numpy as np
import pytest

from ops.evaluation.postprocess import (PostprocessConfig, apply_regression, results_to_detections, softmax,
                                        video_candidates)
from ops.formats.results import VideoResult
from ops.temporal import batched_temporal_nms, temporal_nms


def one_video():
    act = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 1.0]])
    comp = np.array([[0.0, -1.0], [0.5, 0.0]])
    return VideoResult(np.array([[0.1, 0.3], [0.5, 0.9]]), act, comp, np.zeros((2, 2, 2)))


def test_top_k_uses_foreground_softmax():
    r = one_video()
    p, c, s = video_candidates(r, PostprocessConfig(top_k=2))
    fg = softmax(r.act_scores[:, 1:]) * np.exp(r.comp_scores)
    # fg = [[e/(1+e), 1/(1+e)*e^-1], [1/(1+e)*e^.5, e/(1+e)]]: the two largest are (0,0) and (1,1)
    assert list(zip(p, c)) == [(0, 0), (1, 1)]
    np.testing.assert_allclose(s, [fg[0, 0], fg[1, 1]])


def test_all_pairs_use_softmax_with_background():
    r = one_video()
    p, c, s = video_candidates(r, PostprocessConfig(top_k=0))
    expect = softmax(r.act_scores)[:, 1:] * np.exp(r.comp_scores)
    np.testing.assert_allclose(s, expect.ravel())
    assert len(p) == 4


@pytest.mark.parametrize("sbf", [True, False])
def test_class_scores_keep_top_classes(sbf):
    r = one_video()
    cfg = PostprocessConfig(softmax_before_filter=sbf, cls_top_k=1, use_class_scores=True)
    p, c, s = video_candidates(r, cfg, np.array([0.2, 0.8]))
    base = softmax(r.act_scores)[:, 1:] if sbf else r.act_scores[:, 1:]
    assert c.tolist() == [1, 1] and p.tolist() == [0, 1]
    np.testing.assert_allclose(s, base[:, 1] * np.exp(r.comp_scores[:, 1]))


def test_regression_center_and_log_scale():
    out = apply_regression(np.array([[0.2, 0.4], [0.0, 0.1]]), np.array([[0.5, np.log(2.0)], [0.0, 0.0]]))
    # centre .3 + .2*.5 = .4, length .2*2 = .4 -> [.2, .6]; second unchanged
    np.testing.assert_allclose(out, [[0.2, 0.6], [0.0, 0.1]])
    np.testing.assert_allclose(apply_regression(np.array([[0.8, 1.0]]), np.array([[1.0, 0.0]])), [[1.0, 1.0]])


def test_nms_hand_case():
    bounds = np.array([[0, 10], [1, 10], [5, 15], [20, 30], [0, 10]], float)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.9])
    # 0 and 4 tie: the lower index wins and suppresses 4 (IoU 1) and 1 (IoU .9); 2 has IoU 1/3
    assert temporal_nms(bounds, scores, 0.5).tolist() == [0, 2, 3]
    assert temporal_nms(bounds, scores, 0.2).tolist() == [0, 3]
    # IoU exactly at the threshold is kept
    assert temporal_nms(np.array([[0, 10], [0, 5]], float), np.array([1.0, 0.5]), 0.5).tolist() == [0, 1]


def ref_nms(bounds, scores, thr):
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        rest = []
        for j in order:
            inter = max(0.0, min(bounds[i, 1], bounds[j, 1]) - max(bounds[i, 0], bounds[j, 0]))
            union = (bounds[i, 1] - bounds[i, 0]) + (bounds[j, 1] - bounds[j, 0]) - inter
            if not (union > 0 and inter / union > thr):
                rest.append(j)
        order = rest
    return keep


def test_batched_nms_equals_per_group_loop():
    rng = np.random.default_rng(1)
    n = 400
    s = rng.uniform(0, 50, n)
    bounds = np.stack([s, s + rng.uniform(0.5, 10, n)], axis=1)
    scores = np.round(rng.random(n), 2)
    groups = rng.integers(0, 13, n)
    keep = batched_temporal_nms(bounds, scores, groups, 0.4, block=7)  # tiny blocks: many of them
    for g in range(13):
        idx = np.flatnonzero(groups == g)
        expect = idx[ref_nms(bounds[idx], scores[idx], 0.4)]
        assert keep[groups[keep] == g].tolist() == expect.tolist()


def test_results_to_detections_pipeline():
    act = np.array([[0.0, 5.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    comp = np.zeros((3, 2))
    reg = np.zeros((3, 2, 2))
    reg[0, 0] = [0.5, 0.0]  # shift proposal 0 by half its length for class 1
    res = {"/frames/vidA": VideoResult(np.array([[0.0, 0.2], [0.02, 0.2], [0.5, 0.7]]), act, comp, reg)}
    dets = results_to_detections(res, PostprocessConfig(top_k=3, nms_threshold=0.5))
    # top 3 pairs: (0, c1), (1, c1), (2, c2); NMS removes (1, c1) (IoU .9 with proposal 0)
    assert dets.unit == "fraction" and dets.video.tolist() == ["vidA", "vidA"]
    assert sorted(dets.label.tolist()) == [1, 2]
    k = int(np.flatnonzero(dets.label == 1)[0])
    assert (dets.t_start[k], dets.t_end[k]) == pytest.approx((0.1, 0.3))
    no_reg = results_to_detections(res, PostprocessConfig(top_k=3, nms_threshold=0.5, regression=False))
    k = int(np.flatnonzero(no_reg.label == 1)[0])
    assert (no_reg.t_start[k], no_reg.t_end[k]) == pytest.approx((0.0, 0.2))
