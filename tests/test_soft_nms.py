"""Soft-NMS of BSN / BMN (ops.temporal.soft_nms) on hand-worked inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ops.errors import InputError
from ops.temporal import soft_nms


def test_decay_only_above_the_width_dependent_threshold():
    # a = [0, 0.4] s=0.9 wins; b = [0.1, 0.4]: IoU 0.3/0.4 = 0.75 > 0.5 + 0.4*0.4 = 0.66 -> decayed
    # c = [0.2, 0.6]: inter 0.2, union 0.4+0.4-0.2 = 0.6, IoU 1/3 < 0.66 -> untouched
    p = np.array([[0.1, 0.4, 0.8], [0.0, 0.4, 0.9], [0.2, 0.6, 0.7]])
    out = soft_nms(p, alpha=0.4, low=0.5, high=0.9, top_k=100)
    b_score = 0.8 * math.exp(-0.75 ** 2 / 0.4)  # 0.196...
    # step 2 takes c (0.7); c=[0.2,0.6] vs b=[0.1,0.4]: inter 0.2, union 0.5, IoU 0.4 < 0.5 + 0.4*0.4
    np.testing.assert_allclose(out, [[0.0, 0.4, 0.9], [0.2, 0.6, 0.7], [0.1, 0.4, b_score]])


def test_the_winner_decays_later_candidates_in_turn_and_order_follows_current_scores():
    # two identical boxes: the second is decayed by exp(-1/alpha) before it is taken
    p = np.array([[0.5, 0.6, 0.5], [0.5, 0.6, 0.5], [0.0, 0.1, 0.4]])
    out = soft_nms(p, alpha=0.75, low=0.65, high=0.9, top_k=100)
    np.testing.assert_allclose(out[:, 2], [0.5, 0.4, 0.5 * math.exp(-1 / 0.75)])
    np.testing.assert_allclose(out[:, :2], [[0.5, 0.6], [0.0, 0.1], [0.5, 0.6]])


def test_keeps_top_k_plus_one_as_the_original():
    p = np.c_[np.arange(10) / 10, np.arange(10) / 10 + 0.05, np.linspace(1, 0.1, 10)]
    assert soft_nms(p, 0.4, 0.5, 0.9, top_k=3).shape == (4, 3)
    assert soft_nms(p, 0.4, 0.5, 0.9, top_k=0).shape == (1, 3)
    assert soft_nms(p[:0], 0.4, 0.5, 0.9, top_k=3).shape == (0, 3)


def test_ties_visit_the_lower_input_row_first_and_zero_length_boxes_are_safe():
    p = np.array([[0.3, 0.3, 0.5], [0.3, 0.3, 0.5], [0.1, 0.2, 0.5]])
    out = soft_nms(p, 0.4, 0.5, 0.9, top_k=100)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[:, :2], [[0.3, 0.3], [0.3, 0.3], [0.1, 0.2]])


def test_bad_parameters_are_input_errors():
    with pytest.raises(InputError):
        soft_nms(np.zeros((1, 3)), alpha=0, low=0.5, high=0.9, top_k=100)


@pytest.mark.parametrize("zero_length", [True, False])
@pytest.mark.parametrize("top_k", [0, 3, 100])
def test_soft_nms_many_equals_soft_nms_video_by_video(top_k, zero_length):
    """Equal bit for bit, whatever the chunking (videos are regrouped by count), with and without a zero-length
    box (the IoU's guard against an empty union is skipped when every length is positive)."""
    from ops.temporal import soft_nms_many
    rng = np.random.default_rng(1)
    videos = []
    for n in [0, 1, 2, 5, 17, 40, 3, 60]:
        b = np.sort(rng.random((n, 2)), 1)
        score = rng.random((n, 1))
        score[rng.random(n) < 0.3] = 0.5                   # ties
        if n > 4:
            b[1] = b[2]                                    # a duplicate box
            b[3, 1] = b[3, 0] + (0.0 if zero_length else 0.01)   # a zero-length box
        videos.append(np.hstack([b, score]))
    many = soft_nms_many(videos, 0.4, 0.5, 0.9, top_k, chunk=3)
    assert len(many) == len(videos)
    for got, props in zip(many, videos):
        np.testing.assert_array_equal(got, soft_nms(props, 0.4, 0.5, 0.9, top_k))
