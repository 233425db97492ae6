"""Proposal metrics: hand-computed cases, loop references of the SSN and ActivityNet definitions,
and the ActivityNet v1.2 proposal list shipped with the original SSN."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ops.evaluation.detection_eval import GroundTruth, ground_truth_from_proposal_list
from ops.evaluation.proposal_eval import SSN_THRESHOLDS, ar_an, proposals_from_list, ssn_recall
from ops.formats.detections import Detections
from ops.formats.proposal_list import read_proposal_list

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ANET_LIST = DATA / "activitynet1.2" / "activitynet1.2_tag_val_normalized_proposal_list.txt"


def gt_of(rows):
    v, s, e = zip(*rows)
    return GroundTruth(np.array(v, object), np.array(s, float), np.array(e, float), np.ones(len(v), np.int64),
                       sorted(set(v)), 1)


def props_of(rows):
    v, s, e, sc = zip(*rows)
    return Detections(v, s, e, np.zeros(len(v), np.int64), sc)


# --------------------------------------------------------------------------- loop references


def _hull_iou(a, b):
    inter = max(a[0], b[0]), min(a[1], b[1])
    if inter[0] >= inter[1]:
        return 0.0
    return (inter[1] - inter[0]) / (max(a[1], b[1]) - min(a[0], b[0]))


def ref_ssn_recall(props, gt, thr):
    """The original get_temporal_proposal_recall over videos with ground truth."""
    info = []
    for v in sorted(set(gt.video.tolist())):
        gts = [(gt.t_start[i], gt.t_end[i]) for i in range(len(gt)) if gt.video[i] == v]
        prs = [(props.t_start[i], props.t_end[i]) for i in range(len(props)) if props.video[i] == v]
        hits = sum(any(_hull_iou(g, p) > thr for p in prs) for g in gts)
        info.append((hits, len(gts)))
    return (np.sum([h == n for h, n in info]) / len(info), np.sum([h for h, _ in info]) / np.sum([n for _, n in info]))


def ref_ar_an(props, gt, max_avg, thresholds):
    """eval_proposal.average_recall_vs_avg_nr_proposals, loop by loop."""
    videos = list(dict.fromkeys(gt.video.tolist()))
    ratio = max_avg * len(videos) / len(props)
    scores, total = [], 0
    for v in videos:
        g = np.array([(gt.t_start[i], gt.t_end[i]) for i in range(len(gt)) if gt.video[i] == v])
        idx = [i for i in range(len(props)) if props.video[i] == v]
        if not idx:
            scores.append(np.zeros((len(g), 1)))
            continue
        idx = [idx[k] for k in np.argsort([props.score[i] for i in idx], kind="stable")[::-1]]
        n = min(int(len(idx) * ratio), len(idx))
        total += n
        p = np.array([(props.t_start[i], props.t_end[i]) for i in idx[:n]]).reshape(-1, 2)
        tiou = np.zeros((len(g), len(p)))
        for a in range(len(g)):
            for b in range(len(p)):
                inter = max(0.0, min(p[b, 1], g[a, 1]) - max(p[b, 0], g[a, 0]))
                tiou[a, b] = inter / ((g[a, 1] - g[a, 0]) + (p[b, 1] - p[b, 0]) - inter)
        scores.append(tiou)
    pcn = np.arange(1, 101) / 100.0 * (max_avg * float(len(videos)) / total)
    recall = np.empty((len(thresholds), 100))
    for r, t in enumerate(thresholds):
        matches = np.empty((len(videos), 100))
        positives = np.empty(len(videos))
        for i, sc in enumerate(scores):
            positives[i] = sc.shape[0]
            tp = sc >= t
            nps = np.minimum((sc.shape[1] * pcn).astype(int), sc.shape[1])
            for j, k in enumerate(nps):
                matches[i, j] = np.count_nonzero(tp[:, :k].sum(axis=1))
        recall[r] = matches.sum(axis=0) / positives.sum()
    avg = recall.mean(axis=0)
    an = pcn * (float(total) / len(videos))
    return recall, avg, an


# --------------------------------------------------------------------------- hand-computed


def test_ssn_recall_strict_threshold_and_per_video_rule():
    gt = gt_of([("a", 0, 10), ("a", 20, 30), ("b", 0, 10)])
    props = props_of([("a", 0, 5, 1), ("a", 20, 29, 1), ("b", 0, 9, 1)])
    r = ssn_recall(props, gt, [0.5, 0.85])
    # IoU: a0 0.5 (not > 0.5), a1 0.9, b0 0.9
    assert r["per_instance"] == pytest.approx([2 / 3, 2 / 3])
    assert r["per_video"] == pytest.approx([0.5, 0.5])  # video a misses one instance
    r = ssn_recall(props, gt, [0.49])
    assert r["per_instance"] == [1.0] and r["per_video"] == [1.0]


def test_ar_an_hand_computed():
    # two videos, 2 proposals each, AN_max 2: every proposal kept; pcn = j/100 for j = 1..100
    gt = gt_of([("a", 0, 10), ("b", 0, 10)])
    props = props_of([("a", 0, 10, .9), ("a", 50, 60, .8), ("b", 50, 60, .9), ("b", 0, 10, .1)])
    c = ar_an(props, gt, max_avg=2, thresholds=[0.5])
    # with k = int(2 * pcn) proposals per video: k = 0 for pcn < .5, 1 for .5 <= pcn < 1, 2 at pcn = 1
    assert c.avg_recall[48] == 0.0          # pcn .49: no proposal used
    assert c.avg_recall[49] == 0.5          # pcn .50: first proposal: a recalled, b not
    assert c.avg_recall[99] == 1.0          # all proposals
    assert c.proposals_per_video[-1] == pytest.approx(2.0)
    assert c.avg_recall_per_video[49] == 0.5 and c.avg_recall_per_video[99] == 1.0


def test_ar_an_inclusive_threshold():
    gt = gt_of([("a", 0, 10)])
    props = props_of([("a", 0, 5, 1.0)])  # IoU exactly 0.5
    assert ar_an(props, gt, 1, [0.5]).avg_recall[-1] == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_against_loop_references(seed):
    rng = np.random.default_rng(seed)
    vids = [f"v{k}" for k in range(7)]
    gt_rows = [(vids[rng.integers(7)], s, s + rng.uniform(2, 20)) for s in rng.uniform(0, 80, 15)]
    rows = []
    for _ in range(120):
        v, s, e = gt_rows[rng.integers(len(gt_rows))]
        j = rng.normal(0, 3, 2)
        s, e = sorted((s + j[0], e + j[1]))
        rows.append((v, s, e, round(float(rng.random()), 1)))
    rows.append(("not_in_gt", 0.0, 5.0, 0.5))
    gt, props = gt_of(gt_rows), props_of(rows)
    for t in (0.3, 0.5, 0.7):
        pv, pi = ref_ssn_recall(props, gt, t)
        r = ssn_recall(props, gt, [t])
        assert r["per_video"][0] == pytest.approx(pv) and r["per_instance"][0] == pytest.approx(pi)
    for max_avg in (3, 10, 100):
        rec, avg, an = ref_ar_an(props, gt, max_avg, np.linspace(0.5, 0.95, 10))
        c = ar_an(props, gt, max_avg)
        np.testing.assert_allclose(c.recall, rec, atol=1e-12)
        np.testing.assert_allclose(c.proposals_per_video, an, rtol=1e-12)


# --------------------------------------------------------------------------- real data


@pytest.mark.skipif(not ANET_LIST.is_file(), reason="no ActivityNet v1.2 proposal list")
def test_activitynet12_proposal_list_reproduces_ssn_recall():
    plist = read_proposal_list(ANET_LIST)
    gt = ground_truth_from_proposal_list(plist, 100)
    props = proposals_from_list(plist)
    assert (len(plist), len(gt), len(props)) == (2383, 3582, 120148)
    r = ssn_recall(props, gt)
    assert r["iou_thresholds"] == list(SSN_THRESHOLDS)
    # cross-check the vectorised recall with the loop reference on every 10th video
    sub = [v.video_id for v in plist][::10]
    keep_g, keep_p = np.isin(gt.video, sub), np.isin(props.video, sub)
    gsub = GroundTruth(gt.video[keep_g], gt.t_start[keep_g], gt.t_end[keep_g], gt.label[keep_g], sub, 100,
                       unit="fraction")
    psub = props.take(keep_p)
    for t in SSN_THRESHOLDS:
        pv, pi = ref_ssn_recall(psub, gsub, t)
        rs = ssn_recall(psub, gsub, [t])
        assert rs["per_video"][0] == pytest.approx(pv, abs=1e-12)
        assert rs["per_instance"][0] == pytest.approx(pi, abs=1e-12)
    # whole-file figures (per video, per instance) at IoU 0.5 / 0.7 / 0.9
    assert r["per_instance"] == pytest.approx([3127 / 3582, 2569 / 3582, 1461 / 3582], abs=1e-12)
    assert r["per_video"][0] == pytest.approx(0.8753671842215694, abs=1e-12)


@pytest.mark.skipif(not (DATA / "thumos14" / "temporal_annotations_test").is_dir(), reason="no THUMOS14 data")
def test_cli_proposal_json_with_thumos_annotations(tmp_path):
    import eval_proposals as cli
    from ops.formats.annotations import load_annotations
    from ops.evaluation.detection_eval import ground_truth_from_db
    from ops.formats.detections import write_activitynet_json
    gt = ground_truth_from_db(load_annotations(DATA / "thumos14", "test"))
    half = Detections(gt.video, gt.t_start, (gt.t_start + gt.t_end) / 2, np.zeros(len(gt), np.int64),
                      np.ones(len(gt)))  # IoU exactly 0.5 with its instance
    write_activitynet_json(tmp_path / "p.json", half)
    out = cli.main(cli.get_args_parser().parse_args(
        [str(tmp_path / "p.json"), "--annotations", str(DATA / "thumos14" / "temporal_annotations_test"),
         "--ssn_iou", "0.5", "0.49"]))
    assert out["ssn_recall"]["num_videos"] == 212  # videos with instances (one has only Ambiguous)
    # > 0.49 recalls all; > 0.5 only what overlapping instances (e.g. Diving/CliffDiving) provide
    assert out["ssn_recall"]["per_instance"][1] == 1.0
    pv, pi = ref_ssn_recall(half, gt, 0.5)
    assert out["ssn_recall"]["per_instance"][0] == pytest.approx(pi) and out["ssn_recall"]["per_video"][0] == pytest.approx(pv)
    assert pi < 0.5
