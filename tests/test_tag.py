"""TAG proposals (ops/proposals/tag.py, gen_bottom_up_proposals.py): hand-worked sequences and the loop reference."""
from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from ops.errors import InputError
from ops.formats.actionness import Actionness, load_actionness, save_actionness
from ops.formats.proposal_list import read_proposal_list
from ops.proposals import tag
from tag_reference import nms_reference, smooth_reference, tag_proposals_reference

import gen_bottom_up_proposals


def run_tag(x, **kw):
    """ops.proposals.tag result as [(start, end, score)] in output order."""
    bounds, scores = tag.tag_proposals(np.asarray(x, np.float32), **kw)
    return [(int(a), int(b), float(s)) for (a, b), s in zip(bounds, scores)]


def assert_boxes(got, expected):
    assert [b[:2] for b in got] == [b[:2] for b in expected]
    np.testing.assert_allclose([b[2] for b in got], [b[2] for b in expected], rtol=1e-6)


# --------------------------------------------------------------------------- hand-worked sequences

# frames 0..9, threshold 0.5, no smoothing:
#   scores  .9 .9 .1 .9 .1 .1 .1 .9 .9 .1
#   label    1  1  0  1  0  0  0  1  1  0   runs [0,2) [3,4) [7,9): up = 0 3 7, down = 2 4 9
#   below    0  0  1  1  2  3  4  4  4  5   (# non-action frames <= i)
SEQ_A = [0.9, 0.9, 0.1, 0.9, 0.1, 0.1, 0.1, 0.9, 0.9, 0.1]


def test_hand_worked_tolerance_half():
    # tol 0.5, signal = below - 0.5 i.  At run starts: s(0) = 0, s(3) = -0.5, s(7) = 0.5.
    # forward  run 0: s(3) = -0.5 is not > 0 (gaps of [0,3) = 1/3 <= 0.5, merge run 1); s(7) = 0.5 > 0
    #          (gaps of [0,7) = 4/7 > 0.5): stop -> box [0, down[1] + 1) = [0, 5), score .9+.9+.1+.9+.1 = 2.9
    #          run 1: s(7) > s(3) -> [3, 5), score 1.0;  run 2: last run -> [7, 10), score 1.9
    # backward signal at run ends: s(2) = 0, s(4) = 0, s(9) = 0.5
    #          run 2: s(4) = 0 < 0.5 -> [up[2], 10) = [7, 10);  run 1: s(2) = 0 is not < 0 -> no earlier
    #          run: [up[0], 5) = [0, 5), scored as the original over frames [0, 6) = 3.0;
    #          run 0: nothing before -> [0, 3), scored over [0, 4) = 2.8
    # NMS (inclusive IoU, len = e - s + 1): [0,5] vs [0,3]: 4 / 6; [3,5] vs [0,5]: 3 / 6 -> all kept.
    expected = [(0, 5, 3.0), (0, 3, 2.8), (7, 10, 1.9), (3, 5, 1.0)]
    kw = dict(sigma=0, thresholds=[0.5], tolerances=[0.5])
    assert_boxes(run_tag(SEQ_A, **kw), expected)
    assert_boxes(tag_proposals_reference(np.float32(SEQ_A), **kw), expected)


def test_hand_worked_tolerance_small_splits_runs():
    # tol 0.2: s(0) = 0, s(3) = 1 - 0.6 = 0.4 > 0, so run 0 stops at once: [0, 3) (forward score 1.9,
    # backward-without-earlier-run score 2.8: the box keeps the higher); run 1: s(7) = 2.6 > 0.4 -> [3, 5).
    # Backward: s(2) = 0.6 < s(4) = 1.2 -> run 1 gives [up[1], 5) = [3, 5); nothing merges with run 0.
    bounds, scores = tag.candidate_boxes(np.float32(SEQ_A), np.float32(SEQ_A), [0.5], [0.2])
    assert bounds.tolist() == [[0, 3], [3, 5], [7, 10]]
    np.testing.assert_allclose(scores, [2.8, 1.0, 1.9], rtol=1e-6)


def test_hand_worked_run_to_the_end_of_the_video():
    # scores .9 .1 .9 .9, threshold 0.5, tol 0.3: runs [0,1) [2,4), up = 0 2, down = 1 4 (= T)
    # below 0 1 1 1, signal = below - 0.3 i = 0, .7, .4, .1
    # forward: run 0: s(2) = .4 > 0 -> [0, 2) (score 1.0); run 1 -> [2, down + 1) = [2, 5): the end passes
    #          the video by one frame, as the original; score .9 + .9 = 1.8
    # backward: run 1 ends at T, so s = signal[T-1] - tol = .1 - .3 = -.2; s(1) = .7 is not < -.2
    #          -> [0, 5) scored over all frames = 2.8; run 0 -> [0, 2) scored over [0, 3) = 1.9
    # NMS: [0,2] vs [0,5]: 3 / 6, [2,5] vs [0,5]: 4 / 6, [2,5] vs [0,2]: 1 / 6 -> all kept
    x = [0.9, 0.1, 0.9, 0.9]
    kw = dict(sigma=0, thresholds=[0.5], tolerances=[0.3])
    expected = [(0, 5, 2.8), (0, 2, 1.9), (2, 5, 1.8)]
    assert_boxes(run_tag(x, **kw), expected)
    assert_boxes(tag_proposals_reference(np.float32(x), **kw), expected)


def test_levels_are_pooled():
    # threshold 0.5 sees runs [0,2) and [3,4) as above; threshold 0.05 sees one run [0,10)
    # -> forward [0, 11), backward (ends at T, nothing before) [0, 11), both scored over every frame = 5.0
    # [0,10] vs [0,5]: inclusive IoU 6 / 11, so both levels' boxes survive
    got = run_tag(SEQ_A, sigma=0, thresholds=[0.05, 0.5], tolerances=[0.5])
    assert got[0][:2] == (0, 11) and got[0][2] == pytest.approx(5.0)
    assert [b[:2] for b in got[1:]] == [(0, 5), (0, 3), (7, 10), (3, 5)]


def test_no_action_gives_no_box():
    assert run_tag(np.zeros(50), sigma=3) == []
    assert run_tag(np.zeros(0)) == []


def test_nms_inclusive_iou_and_tie_order():
    # visiting order: [5,10] (3.0); then the score-2 tie by start, end: [0,19] before [0,21]; [0,20] last.
    # [0,19] vs [5,10]: inter 6, union 20 -> kept.  [0,21] vs [0,19]: inter 20, union 22 + 20 - 20
    # = 22 -> 0.909 > 0.9, dropped.  [0,20] vs [0,19]: 20 / 21, dropped.
    bounds = np.array([[0, 20], [0, 21], [5, 10], [0, 19]])
    scores = np.array([1.0, 2.0, 3.0, 2.0])
    assert tag.tag_nms(bounds, scores, 0.9).tolist() == [2, 3]
    ref = nms_reference([(s, e, sc) for (s, e), sc in zip(bounds.tolist(), scores)], 0.9)
    assert [b[:2] for b in ref] == [(5, 10), (0, 19)]


def test_nms_keeps_iou_equal_to_threshold():
    # [0,9] and [0,8]: inclusive lengths 10 and 9, IoU 9 / 10 = 0.9 exactly: not above, kept
    assert tag.tag_nms(np.array([[0, 9], [0, 8]]), np.array([2.0, 1.0]), 0.9).tolist() == [0, 1]
    assert tag.tag_nms(np.array([[0, 9], [0, 8]]), np.array([2.0, 1.0]), 0.89).tolist() == [0]


@pytest.mark.parametrize("block", [1, 7, 1024])
def test_nms_blocks_match_the_reference(block):
    # near-identical boxes (dense groups above the IoU threshold) and score ties, settled in blocks
    rng = np.random.default_rng(block)
    start = rng.integers(0, 60, 400)
    bounds = np.stack([start, start + rng.integers(1, 40, 400)], axis=1)
    scores = rng.integers(0, 20, 400).astype(float)
    for th in (0.3, 0.7, 0.9):
        ref = nms_reference([(s, e, sc) for (s, e), sc in zip(bounds.tolist(), scores)], th)
        got = tag.tag_nms(bounds, scores, th, block=block)
        assert [tuple(bounds[k]) + (scores[k],) for k in got] == ref


# --------------------------------------------------------------------------- smoothing


def test_smoothing_matches_the_gaussian_by_hand():
    # sigma 1: radius int(4 + 0.5) = 4, weights exp(-k^2 / 2) / sum
    w = np.exp(-0.5 * np.arange(-4, 5) ** 2)
    w /= w.sum()
    impulse = np.zeros(20)
    impulse[10] = 1.0
    np.testing.assert_allclose(tag.smooth(impulse, 1.0)[6:15], w, atol=1e-15)
    # reflect at the border: frame -1 is frame 0, so an impulse at 0 gives w(0) + w(1) at 0
    first = np.zeros(20)
    first[0] = 1.0
    assert tag.smooth(first, 1.0)[0] == pytest.approx(w[4] + w[5])
    np.testing.assert_allclose(tag.smooth(np.full(7, 0.3), 3.0), 0.3)
    assert tag.smooth([0.2, 0.7], 0).tolist() == [0.2, 0.7]


@pytest.mark.parametrize("n", [1, 2, 5, 13, 40])
def test_smoothing_short_sequences_match_the_loop(n):
    x = np.random.default_rng(n).random(n)
    np.testing.assert_allclose(tag.smooth(x, 3.0), smooth_reference(x, 3.0), atol=1e-12)


# --------------------------------------------------------------------------- searches and the loop reference


@pytest.mark.parametrize("seed", range(5))
def test_lifting_searches_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 30, size=6)
    first = np.r_[0, np.cumsum(sizes)[:-1]]
    seg_start = np.repeat(first, sizes)
    seg_end = seg_start + np.repeat(sizes, sizes)
    values = rng.integers(0, 8, size=(3, sizes.sum())).astype(float)  # many ties
    nxt, prv = tag.next_greater(values, seg_end), tag.prev_smaller(values, seg_start)
    for m in range(3):
        for r in range(values.shape[1]):
            later = [j for j in range(r + 1, seg_end[r]) if values[m, j] > values[m, r]]
            assert nxt[m, r] == (later[0] if later else seg_end[r])
            earlier = [j for j in range(seg_start[r], r) if values[m, j] < values[m, r]]
            assert prv[m, r] == (earlier[-1] + 1 if earlier else seg_start[r])


def _random_sequence(rng, kind: str, n: int) -> np.ndarray:
    if kind == "uniform":
        return rng.random(n)
    if kind == "blocky":  # long runs, many equal box scores
        return np.repeat(rng.choice([0.0, 0.3, 0.6, 0.9, 1.0], size=n // 7 + 1), 7)[:n]
    base = np.zeros(n)  # actions on a noisy background
    for _ in range(rng.integers(1, 6)):
        a = int(rng.integers(0, n))
        base[a:a + int(rng.integers(2, max(3, n // 3)))] = rng.uniform(0.5, 1.0)
    return np.clip(base + rng.normal(0.1, 0.15, n), 0, 1)


@pytest.mark.parametrize("seed", range(12))
def test_matches_the_loop_reference(seed):
    rng = np.random.default_rng(100 + seed)
    for kind in ("uniform", "blocky", "actions"):
        n = int(rng.integers(1, 400))
        x = _random_sequence(rng, kind, n).astype(np.float32)
        sigma = 0.0 if kind == "blocky" else float(rng.choice([0.0, 1.0, 3.0]))
        th = sorted(rng.choice(tag.DEFAULT_THRESHOLDS, size=int(rng.integers(1, 13)), replace=False))
        tol = sorted(rng.choice(tag.DEFAULT_TOLERANCES, size=int(rng.integers(1, 10)), replace=False))
        nms = float(rng.choice([0.5, 0.7, 0.9]))
        kw = dict(sigma=sigma, thresholds=th, tolerances=tol, nms_threshold=nms)
        assert run_tag(x, **kw) == tag_proposals_reference(x, **kw), (kind, n, kw)


def test_matches_the_loop_reference_with_defaults():
    rng = np.random.default_rng(7)
    x = _random_sequence(rng, "actions", 1500).astype(np.float32)
    assert run_tag(x) == tag_proposals_reference(x)


# --------------------------------------------------------------------------- fusion and units


def _rec(action, num_frames=None, k=1, background=0.0):
    """Raw scores ``[background, action]`` per snippet."""
    a = np.float32(action)
    return Actionness(np.stack([np.full_like(a, background), a], 1), num_frames or len(a) * k, k)


def test_fusion_sums_raw_scores_with_unnormalised_weights():
    rgb = {"v": _rec([0.2, 0.4, 1.0])}
    flow = {"v": _rec([0.8, 0.0, -1.0], background=1.0)}
    fused = tag.fuse_actionness([rgb, flow], [1, 3])
    # background 0 + 3 * 1 = 3; action 0.2 + 3 * 0.8 = 2.6, 0.4 + 0 = 0.4, 1 - 3 = -2
    np.testing.assert_allclose(fused["v"].scores, [[3, 2.6], [3, 0.4], [3, -2]], rtol=1e-6)
    np.testing.assert_allclose(tag.fuse_actionness([rgb, flow])["v"].scores[:, 1], [1.0, 0.4, 0.0], atol=1e-6)


def test_fusion_of_raw_scores_picks_the_originals_boxes_not_the_probability_average():
    # snippets 1-2: both streams sure; 3-4: RGB sure (p .95), Flow sure of background (p .02)
    rgb = np.array([[0, -5], [0, 3], [0, 3], [0, 3], [0, 3], [0, -5]], np.float32)
    flow = np.array([[0, -5], [0, 3], [0, 3], [0, -4], [0, -4], [0, -5]], np.float32)
    kw = dict(sigma=0, thresholds=[0.4], tolerances=[0.05], nms_threshold=0.9)
    fused = tag.fuse_actionness([{"v": Actionness(rgb, 12, 2)}, {"v": Actionness(flow, 12, 2)}])["v"]
    bounds, scores = tag.tag_from_raw(fused.scores, **kw)
    # the original: softmax of the sum [0, -1] is .27 < .4 at 3-4, so one run [1, 3) -> box [1, 4)
    # ranked by the raw "action" sum over it: 6 + 6 - 1 = 11
    assert bounds.tolist() == [[1, 4]] and scores.tolist() == [11.0]
    # averaging probabilities (.485 > .4 at 3-4) would have grouped [1, 5) -> [1, 6)
    avg = (tag.action_curve(rgb) + tag.action_curve(flow)) / 2
    assert tag.tag_proposals(avg, **kw)[0].tolist() == [[1, 6]]


def test_fusion_follows_the_originals_length_rule_for_its_pickles():
    a = Actionness(np.float32([[0, 1], [0, 2], [0, 3], [0, 4]]), None, None)
    b = Actionness(np.float32([[0, 10], [0, 20]]), None, None)
    # a later, shorter file cuts the sum; a later, longer one is subsampled at int(j * 4 / 2) = 0, 2
    assert tag.fuse_actionness([{"v": a}, {"v": b}])["v"].scores[:, 1].tolist() == [11, 22]
    assert tag.fuse_actionness([{"v": b}, {"v": a}])["v"].scores[:, 1].tolist() == [11, 23]
    with pytest.raises(InputError, match="cannot be fused"):
        tag.fuse_actionness([{"v": a}, {"v": _rec([0.1, 0.2])}])


def test_fusion_cuts_one_snippet_and_names_disagreements():
    fused = tag.fuse_actionness([{"v": _rec([0.2, 0.4, 1.0])}, {"v": _rec([0.4, 0.4], 2)}], None)
    assert fused["v"].scores[:, 1].tolist() == pytest.approx([0.6, 0.8]) and fused["v"].num_frames == 2
    with pytest.raises(ValueError, match=r"rgb\.npz and flow\.npz hold different videos.*'w'"):
        tag.fuse_actionness([{"v": _rec([0.1])}, {"v": _rec([0.1]), "w": _rec([0.1])}], None,
                            ["rgb.npz", "flow.npz"])
    with pytest.raises(ValueError, match=r"video v: \[5, 2\] actionness scores"):
        tag.fuse_actionness([{"v": _rec([0.1] * 5)}, {"v": _rec([0.1] * 2)}], None, ["a", "b"])
    with pytest.raises(ValueError, match="frame intervals"):
        tag.fuse_actionness([{"v": _rec([0.1], k=1)}, {"v": _rec([0.1], k=2)}], None, ["a", "b"])
    with pytest.raises(ValueError, match="1 score weights for 2"):
        tag.fuse_actionness([{"v": _rec([0.1])}, {"v": _rec([0.1])}], [1.0])


def test_boxes_to_fractions():
    # snippets every 2 frames, 20 frames, 10 s: [0,5) -> frames [0,10) -> [0, .5]; [8,11) -> [.8, 1.1]
    # (3 s before clipping) -> [.8, 1]; [8,10) -> [.8, 1] too, a duplicate after clipping: dropped
    bounds, scores = np.array([[0, 5], [8, 11], [8, 10]]), np.array([3.0, 2.0, 1.0])
    frac, sc = tag.boxes_to_fractions(bounds, scores, 2, 20, 10.0)
    assert frac.tolist() == [[0.0, 0.5], [0.8, 1.0]] and sc.tolist() == [3.0, 2.0]
    # minimum length 3 s, strict as the original: the 3 s box goes, the 2 s box too, the 5 s box stays
    frac, _ = tag.boxes_to_fractions(bounds, scores, 2, 20, 10.0, min_length_seconds=3.0)
    assert frac.tolist() == [[0.0, 0.5]]
    assert tag.boxes_to_fractions(np.zeros((0, 2)), np.zeros(0), 1, 10, 1.0)[0].shape == (0, 2)
    # the original's pickles know no frames: snippet i is i / T of the video (T = 10 snippets here)
    frac, _ = tag.boxes_to_fractions(bounds, scores, None, None, 10.0, num_snippets=10)
    assert frac.tolist() == [[0.0, 0.5], [0.8, 1.0]]


# --------------------------------------------------------------------------- the script


def _perfect_actionness(dataset, out, drop=None):
    """Actionness 1 on ground-truth frames and 0 elsewhere, one snippet per frame."""
    gen = json.loads((dataset / "generation.json").read_text())
    recs = {}
    for vid, v in gen["videos"].items():
        if v["subset"] != "test" or vid == drop:
            continue
        x = np.full(v["num_frames"], -8.0, np.float32)  # raw "action" score: sure background ...
        for ev in v["events"]:
            if ev["kind"] == "action":
                x[ev["start_frame"]:ev["end_frame"]] = 8.0  # ... and sure action
        recs[vid] = Actionness(np.stack([np.zeros_like(x), x], 1), v["num_frames"], 1)
    if out.suffix == ".pkl":  # the original's layout: (snippets, crops, 2), a plain pickle
        out.write_bytes(pickle.dumps({v: np.repeat(r.scores[:, None], 3, axis=1) for v, r in recs.items()}))
    else:
        save_actionness(out, recs)
    return gen


def _args(*argv):
    return gen_bottom_up_proposals.get_args_parser().parse_args([str(a) for a in argv])


def test_script_end_to_end(tiny_dataset, tmp_path, capsys):
    gen = _perfect_actionness(tiny_dataset, tmp_path / "rgb.npz")
    out = tmp_path / "tag_test.txt"
    args = _args(tmp_path / "rgb.npz", tmp_path / "rgb.npz", "--dataset", "synthetic", "--subset", "test",
                 "--annotations", tiny_dataset / "annotations", "--write_proposals", out, "--smooth", 0)
    assert gen_bottom_up_proposals.main(args) == 0
    printed = capsys.readouterr().out
    assert "IoU > 0.5: per-video recall 100.00  per-instance recall 100.00" in printed
    plist = read_proposal_list(out)
    assert plist.normalized and len(plist) == 4
    for block in plist:
        v = gen["videos"][block.video]
        assert block.num_frames == 1 and np.all((block.bounds >= 0) & (block.bounds <= 1))
        actions = [e for e in v["events"] if e["kind"] == "action"]
        assert block.num_gt == len(actions)
        # each instance [f0, f1) is a run at every level; tolerance 0.05 does not bridge the gaps,
        # so [f0, f1 + 1) is a proposal, labelled with the instance's class
        for e in actions:
            want = np.round([e["start_frame"] / v["num_frames"], (e["end_frame"] + 1) / v["num_frames"]], 4)
            row = np.flatnonzero(np.all(np.abs(block.bounds - want) < 1e-9, axis=1))
            assert len(row) == 1 and block.labels[row[0]] == e["label"]


def test_script_names_videos_without_actionness(tiny_dataset, tmp_path):
    _perfect_actionness(tiny_dataset, tmp_path / "rgb.npz", drop="video_test_0000002")
    args = _args(tmp_path / "rgb.npz", "--dataset", "synthetic", "--annotations", tiny_dataset / "annotations")
    with pytest.raises(InputError, match="video_test_0000002"):
        gen_bottom_up_proposals.main(args)


def test_script_reads_the_originals_pickles(tiny_dataset, tmp_path, capsys):
    _perfect_actionness(tiny_dataset, tmp_path / "rgb.pkl")
    act = load_actionness(tmp_path / "rgb.pkl")
    assert all(r.scores.shape[1] == 2 and r.frame_interval is None for r in act.values())
    args = _args(tmp_path / "rgb.pkl", tmp_path / "rgb.pkl", "--dataset", "synthetic", "--subset", "test",
                 "--annotations", tiny_dataset / "annotations", "--smooth", 0,
                 "--write_proposals", tmp_path / "tag.txt")
    assert gen_bottom_up_proposals.main(args) == 0
    assert "IoU > 0.5: per-video recall 100.00  per-instance recall 100.00" in capsys.readouterr().out


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_malicious_pickle_is_refused(tmp_path):
    bad = tmp_path / "scores.pkl"
    bad.write_bytes(pickle.dumps({"v": _Payload()}))
    with pytest.raises(InputError, match="refusing to load 'posix.system'|refusing to load 'os.system'"):
        load_actionness(bad)


def test_an_old_probability_file_says_how_to_remake_it(tmp_path):
    old = tmp_path / "old.npz"
    np.savez(old, videos=np.array(["v"]), offsets=np.array([0, 2]), scores=np.float32([0.1, 0.9]),
             num_frames=np.array([2]), frame_interval=np.int64(1))
    with pytest.raises(InputError, match="older binary_test.py.*re-run binary_test.py"):
        load_actionness(old)
