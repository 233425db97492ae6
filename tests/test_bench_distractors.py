"""bench/distractor_hits.py's head diagnostic on hand-made SSN outputs (issue 21)."""
from __future__ import annotations

import numpy as np
import pytest

from ops.formats.results import VideoResult
from tests.conftest import load_bench


@pytest.fixture(scope="module")
def bench():
    return load_bench("distractor_hits")


def test_rank_auc_counts_pairs_and_half_ties(bench):
    # pairs (pos > neg): 3 > 1, 3 > 2; 2 > 1, 2 == 2 (half); 0 beats none -> 3.5 of 6
    assert bench.rank_auc([3, 2, 0], [1, 2]) == pytest.approx(3.5 / 6)
    assert bench.rank_auc([5], [1, 2, 3]) == 1.0 and bench.rank_auc([0], [1, 2]) == 0.0
    assert np.isnan(bench.rank_auc([], [1.0]))


def test_scores_on_events_take_each_proposals_best_event_class(bench):
    """A 10 s video; an action of class 2 at 2-4 s and a distractor of class 1 at 6-7 s.  Proposal 0 covers the
    action exactly, proposal 1 the distractor at IoU 0.8, proposal 2 lies on neither (IoU < 0.7)."""
    rel = np.array([[0.2, 0.4], [0.6, 0.68], [0.0, 0.1]])
    act = np.log(np.array([[0.5, 0.1, 0.4], [0.2, 0.7, 0.1], [1 / 3, 1 / 3, 1 / 3]]))   # softmax = these rows
    comp = np.array([[0.0, 1.0], [-0.5, 2.0], [3.0, 3.0]])
    result = VideoResult(rel, act, comp)
    bounds, labels = np.array([[2.0, 4.0], [6.0, 7.0]]), np.array([2, 1])
    out = bench.scores_on_events(result, 10.0, bounds, labels, iou=0.7)
    np.testing.assert_allclose(out, [[0.4, 1.0, 0.4 * np.e], [0.7, -0.5, 0.7 * np.exp(-0.5)]])
    assert bench.scores_on_events(result, 10.0, bounds[:0], labels[:0], iou=0.7).shape == (0, 3)
    # the same proposals on a 20 s video are twice as long: none overlaps an event at 0.7
    assert len(bench.scores_on_events(result, 20.0, bounds, labels, iou=0.7)) == 0
