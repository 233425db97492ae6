"""Atomic writes, interval arithmetic and temporal NMS."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from ops.io import atomic_dir, atomic_open, atomic_write_text
from ops.temporal import (batched_temporal_nms, fraction_to_frames, frames_to_fraction, frames_to_seconds,
                          overlap_over_first, pairwise_iou, seconds_to_frames, temporal_nms)


def test_atomic_open_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.txt"
    atomic_write_text(path, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(path, "w") as f:
            f.write("half-written")
            raise RuntimeError("killed")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]   # no temp file left
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)        # normal permissions, not mkstemp's


def test_atomic_dir(tmp_path):
    target = tmp_path / "video"
    (tmp_path / ".video.partial").mkdir()                          # stale folder of a killed run
    (tmp_path / ".video.partial" / "junk").write_text("x")
    with atomic_dir(target) as tmp:
        (tmp / "img_00001.jpg").write_bytes(b"1")
        assert not target.exists()
    assert sorted(p.name for p in target.iterdir()) == ["img_00001.jpg"]
    assert not (tmp_path / ".video.partial").exists()
    with pytest.raises(FileExistsError):
        with atomic_dir(target):
            pass
    with pytest.raises(ValueError):
        with atomic_dir(tmp_path / "other"):
            raise ValueError
    assert not (tmp_path / "other").exists() and not (tmp_path / ".other.partial").exists()


def test_iou_and_overlap_hand_computed():
    a = np.array([[0, 10], [5, 15], [20, 20]])
    b = np.array([[0, 10], [8, 12]])
    np.testing.assert_allclose(pairwise_iou(a, b), [[1, 2 / 12], [5 / 15, 4 / 10], [0, 0]])
    np.testing.assert_allclose(overlap_over_first(a, b), [[1, 0.2], [0.5, 0.4], [0, 0]])
    assert pairwise_iou(np.zeros((0, 2)), b).shape == (0, 2)


def test_unit_conversions():
    np.testing.assert_allclose(seconds_to_frames([1.5, 2.0], 30), [45, 60])
    np.testing.assert_allclose(frames_to_seconds(seconds_to_frames([1.25], 25), 25), [1.25])
    np.testing.assert_allclose(frames_to_fraction([0, 25, 100], 100), [0, 0.25, 1.0])
    # floor as the original SSN, but a product an ulp below an integer (3.0 / 10.3 * 103) is that integer
    np.testing.assert_array_equal(fraction_to_frames([0.0999, 3.0 / 10.3, 0.5], 103), [10, 30, 51])


# --------------------------------------------------------------------------- NMS (ops.temporal, shared by SSN and TAG)


def brute_force_nms(bounds, scores, groups, threshold, inclusive):
    """Greedy NMS by plain loops: per group (ascending), score descending, ties by lower index."""
    off = 1.0 if inclusive else 0.0
    kept = []
    for g in sorted(set(groups.tolist())):
        idx = sorted(np.flatnonzero(groups == g).tolist(), key=lambda i: (-scores[i], i))
        mine = []
        for i in idx:
            ok = True
            for k in mine:
                inter = max(0.0, min(bounds[i, 1], bounds[k, 1]) - max(bounds[i, 0], bounds[k, 0]) + off)
                union = (bounds[i, 1] - bounds[i, 0] + off) + (bounds[k, 1] - bounds[k, 0] + off) - inter
                if union > 0 and inter / union > threshold:
                    ok = False
                    break
            if ok:
                mine.append(i)
        kept += mine
    return kept


def random_boxes(rng, n, integer):
    if integer:  # snippet indices: many shared starts and ends, exact ties in IoU
        s = rng.integers(0, 40, n)
        return np.stack([s, s + rng.integers(0, 15, n)], axis=1).astype(float)
    s = rng.uniform(0, 10, n)
    return np.stack([s, s + rng.uniform(0, 3, n)], axis=1)


@pytest.mark.parametrize("inclusive", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_nms_matches_brute_force(inclusive, seed):
    # score ties (few distinct scores), duplicate boxes, several groups, tiny blocks and budgets
    rng = np.random.default_rng(seed)
    for trial in range(25):
        n = int(rng.integers(1, 90))
        bounds = random_boxes(rng, n, integer=inclusive or trial % 2 == 0)
        scores = rng.integers(0, 4, n).astype(float)
        groups = rng.integers(-2, 3, n) * 5
        th = float(rng.choice([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]))
        block, budget = int(rng.choice([1, 3, 1024])), int(rng.choice([1, 5, 1 << 20]))
        got = batched_temporal_nms(bounds, scores, groups, th, inclusive=inclusive, block=block, budget=budget)
        assert got.tolist() == brute_force_nms(bounds, scores, groups, th, inclusive), (trial, th)


def test_nms_conventions_hand_computed():
    # [0, 9] vs [0, 8]: continuous IoU 8 / 9 = 0.889, inclusive 9 / 10 = 0.9 (not above 0.9: kept)
    b, sc = np.array([[0, 9], [0, 8]]), np.array([2.0, 1.0])
    assert temporal_nms(b, sc, 0.88).tolist() == [0]
    assert temporal_nms(b, sc, 0.89).tolist() == [0, 1]
    assert temporal_nms(b, sc, 0.89, inclusive=True).tolist() == [0]
    assert temporal_nms(b, sc, 0.9, inclusive=True).tolist() == [0, 1]
    # touching boxes overlap by one snippet only in the inclusive convention: [0, 4] and [4, 8] -> 1 / 9
    b = np.array([[0, 4], [4, 8]])
    assert temporal_nms(b, sc, 0.0).tolist() == [0, 1]
    assert temporal_nms(b, sc, 0.11, inclusive=True).tolist() == [0]
    assert temporal_nms(b, sc, 0.12, inclusive=True).tolist() == [0, 1]


def test_nms_score_ties_and_order():
    # equal scores: the lower index is visited first; output by group, then score descending
    b = np.array([[0, 10], [0, 10], [20, 30], [0, 10], [1, 10]], float)
    sc = np.array([1.0, 1.0, 3.0, 1.0, 2.0])
    assert temporal_nms(b, sc, 0.5).tolist() == [2, 4]
    groups = np.array([7, 3, 7, 3, 3])
    # group 3: boxes 1, 3, 4 -> 4 (score 2) suppresses 1 and 3 (IoU .9); group 7: 2 then 0
    assert batched_temporal_nms(b, sc, groups, 0.5).tolist() == [4, 2, 0]
    assert batched_temporal_nms(b, sc, groups, 0.95).tolist() == [4, 1, 2, 0]  # 3 duplicates 1


def test_nms_per_class_batching_equals_separate_calls():
    rng = np.random.default_rng(7)
    bounds, scores = random_boxes(rng, 600, integer=False), rng.random(600)
    video, label = rng.integers(0, 6, 600), rng.integers(0, 20, 600)
    codes = video * 20 + label
    keep = batched_temporal_nms(bounds, scores, codes, 0.3, block=16)
    assert (np.diff(codes[keep]) >= 0).all()  # by group
    for code in np.unique(codes):
        idx = np.flatnonzero(codes == code)
        assert keep[codes[keep] == code].tolist() == idx[temporal_nms(bounds[idx], scores[idx], 0.3)].tolist()


def test_nms_empty_single_and_bad_input():
    assert batched_temporal_nms(np.zeros((0, 2)), np.zeros(0), np.zeros(0, int), 0.5).tolist() == []
    assert temporal_nms([], [], 0.5, inclusive=True).tolist() == []
    assert temporal_nms([[3, 4]], [0.1], 0.5).tolist() == [0]
    with pytest.raises(ValueError, match="threshold"):
        temporal_nms([[0, 1]], [1.0], -0.1)
    with pytest.raises(ValueError, match="agree"):
        batched_temporal_nms([[0, 1], [1, 2]], [1.0], None, 0.5)


def test_nms_many_near_identical_boxes_exact_and_sparse():
    # 20,000 boxes in one group, each overlapping hundreds of others above IoU 0.9 (a dense IoU
    # matrix would need 3.2 GB).  Greedy NMS is the only kept set in which (1) no kept box is
    # above the threshold with an earlier kept box and (2) every dropped box is with one.
    rng = np.random.default_rng(0)
    s = rng.integers(0, 2000, 20000)
    bounds = np.stack([s, s + 200 + rng.integers(0, 40, 20000)], axis=1)
    scores = rng.integers(0, 1000, 20000).astype(float)  # with ties
    tracemalloc.start()
    keep = batched_temporal_nms(bounds, scores, None, 0.9, inclusive=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 * 2**20 and 20 < len(keep) < 2000
    visit = np.lexsort((np.arange(20000), -scores))
    rank = np.empty(20000, int)
    rank[visit] = np.arange(20000)
    assert (np.diff(rank[keep]) > 0).all()
    kept = bounds[keep]

    def iou(a, b):
        inter = np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
        la, lb = a[:, 1] - a[:, 0] + 1, b[:, 1] - b[:, 0] + 1
        return np.clip(inter, 0, None) / (la[:, None] + lb[None, :] - np.clip(inter, 0, None))

    assert not np.triu(iou(kept, kept) > 0.9, 1).any()
    dropped = np.setdiff1d(np.arange(20000), keep)
    earlier = rank[keep][None, :] < rank[dropped][:, None]
    assert ((iou(bounds[dropped], kept) > 0.9) & earlier).any(axis=1).all()
