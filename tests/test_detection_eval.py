"""Detection protocols: hand-computed cases for every rule, and a per-detection reference.

The reference functions below are plain loops written from the official tools'
semantics (ActivityNet ``compute_average_precision_detection``; THUMOS14
``TH14eventdetpr`` + ``prap``), used only to cross-check the vectorised code.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ops.evaluation.detection_eval import (FP_KINDS, IGNORED, TRUE_POSITIVE, GroundTruth, evaluate_detections,
                                           false_positive_breakdown, false_positive_kinds,
                                           ground_truth_from_db)
from ops.formats.annotations import load_annotations
from ops.formats.detections import Detections

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_gt(rows, amb=(), num_classes=3, videos=None):
    """rows: (video, t_start, t_end, label)."""
    v, s, e, lab = zip(*rows) if rows else ((), (), (), ())
    av, as_, ae = zip(*amb) if amb else ((), (), ())
    return GroundTruth(video=np.array(v, object), t_start=np.array(s, float), t_end=np.array(e, float),
                       label=np.array(lab, np.int64), videos=videos or sorted(set(v)), num_classes=num_classes,
                       amb_video=np.array(av, object), amb_start=np.array(as_, float), amb_end=np.array(ae, float))


def make_dets(rows):
    """rows: (video, t_start, t_end, label, score)."""
    v, s, e, lab, sc = zip(*rows)
    return Detections(v, s, e, lab, sc)


# --------------------------------------------------------------------------- references (loops)


def ref_activitynet_ap(gt: GroundTruth, dets: Detections, cls: int, thr: float) -> float:
    gidx = [i for i in range(len(gt)) if gt.label[i] == cls]
    didx = [i for i in range(len(dets)) if dets.label[i] == cls]
    if not didx:
        return 0.0
    didx = [didx[k] for k in np.argsort([dets.score[i] for i in didx], kind="stable")[::-1]]
    lock = {}
    tp, fp = [], []
    for d in didx:
        cands = [g for g in gidx if gt.video[g] == dets.video[d]]
        if not cands:
            tp.append(0); fp.append(1)
            continue
        ious = []
        for g in cands:
            inter = max(0.0, min(dets.t_end[d], gt.t_end[g]) - max(dets.t_start[d], gt.t_start[g]))
            union = (gt.t_end[g] - gt.t_start[g]) + (dets.t_end[d] - dets.t_start[d]) - inter
            ious.append(inter / union)
        hit = False
        for k in np.argsort(ious, kind="stable")[::-1]:
            if ious[k] < thr:
                break
            if cands[k] in lock:
                continue
            lock[cands[k]] = d
            hit = True
            break
        tp.append(int(hit)); fp.append(int(not hit))
    tpc, fpc = np.cumsum(tp).astype(float), np.cumsum(fp).astype(float)
    rec, prec = tpc / len(gidx), tpc / (tpc + fpc)
    mprec, mrec = np.hstack([[0], prec, [0]]), np.hstack([[0], rec, [1]])
    for i in range(len(mprec) - 1)[::-1]:
        mprec[i] = max(mprec[i], mprec[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


def _ov(a, b):
    iw = min(a[1], b[1]) - max(a[0], b[0])
    return iw / (max(a[1], b[1]) - min(a[0], b[0])) if iw > 0 else 0.0


def ref_thumos_ap(gt: GroundTruth, dets: Detections, cls: int, thr: float) -> float:
    npos = int(np.sum(gt.label == cls))
    videos = sorted(set(gt.video.tolist()) | set(gt.amb_video.tolist()) | set(dets.video.tolist()))
    confs, flags = [], []
    for v in videos:
        g = [(gt.t_start[i], gt.t_end[i]) for i in range(len(gt)) if gt.video[i] == v and gt.label[i] == cls]
        amb = [(gt.amb_start[i], gt.amb_end[i]) for i in range(len(gt.amb_video)) if gt.amb_video[i] == v]
        d = [i for i in range(len(dets)) if dets.video[i] == v and dets.label[i] == cls]
        if not d:
            continue
        d = [d[k] for k in np.argsort([-dets.score[i] for i in d], kind="stable")]
        free = [True] * len(d)
        for gs in g:
            best, bi = -1.0, -1
            for k, i in enumerate(d):
                if free[k]:
                    o = _ov(gs, (dets.t_start[i], dets.t_end[i]))
                    if o > best:
                        best, bi = o, k
            if bi >= 0 and best > thr:
                free[bi] = False
        for k, i in enumerate(d):
            in_amb = any(_ov(a, (dets.t_start[i], dets.t_end[i])) > 0 for a in amb)
            if not free[k]:
                confs.append(dets.score[i]); flags.append(1)
            elif not in_amb:
                confs.append(dets.score[i]); flags.append(2)
    if not confs:
        return 0.0
    order = np.argsort(-np.array(confs), kind="stable")
    f = np.array(flags)[order]
    tp, fp = np.cumsum(f == 1), np.cumsum(f == 2)
    prec = tp / (tp + fp)
    return float(np.sum(prec[f == 1]) / npos)


# --------------------------------------------------------------------------- hand-computed cases


def test_basic_case_both_protocols():
    gt = make_gt([("a", 0, 5, 1), ("a", 10, 20, 1), ("b", 0, 10, 2)], num_classes=2)
    dets = make_dets([("a", 0, 5, 1, .9), ("a", 1, 5, 1, .8), ("a", 11, 19, 1, .7), ("b", 0, 9, 2, .6)])
    for protocol in ("activitynet", "thumos14"):
        m = evaluate_detections(dets, gt, protocol, [0.5])
        # class 1: TP, FP (duplicate), TP -> ActivityNet .5*1 + .5*(2/3); THUMOS (1 + 2/3) / 2
        assert m.ap[0, 0] == pytest.approx(5 / 6)
        assert m.ap[1, 0] == pytest.approx(1.0)
        assert m.mean_ap[0] == pytest.approx((5 / 6 + 1) / 2)
        assert (m.num_videos, m.num_gt, m.num_detections) == (2, 3, 4)


def test_threshold_inclusive_for_activitynet_strict_for_thumos():
    gt = make_gt([("a", 0, 10, 1)], num_classes=1)
    dets = make_dets([("a", 0, 5, 1, .9)])  # IoU exactly 0.5
    assert evaluate_detections(dets, gt, "activitynet", [0.5]).ap[0, 0] == 1.0
    assert evaluate_detections(dets, gt, "thumos14", [0.5]).ap[0, 0] == 0.0
    assert evaluate_detections(dets, gt, "thumos14", [0.49]).ap[0, 0] == 1.0


def test_detection_driven_vs_ground_truth_driven_matching():
    # det1 (0.9) is best for B but also clears 0.6 with A; det2 clears 0.6 only with B
    gt = make_gt([("v", 0, 10, 1), ("v", 3, 13, 1)], num_classes=1)
    dets = make_dets([("v", 2, 12, 1, .9), ("v", 3, 12, 1, .8)])
    # ActivityNet: det1 takes B (IoU .818 > .667), det2 finds B locked and A at .538 < .6: FP
    assert evaluate_detections(dets, gt, "activitynet", [0.6]).ap[0, 0] == pytest.approx(0.5)
    # THUMOS14: A (first in file) takes det1 (.667), B takes det2 (.9): both TP
    assert evaluate_detections(dets, gt, "thumos14", [0.6]).ap[0, 0] == pytest.approx(1.0)


def test_activitynet_takes_highest_iou_unmatched_gt():
    gt = make_gt([("v", 0, 10, 1), ("v", 2, 12, 1)], num_classes=1)
    dets = make_dets([("v", 1, 11, 1, .9), ("v", 0, 10, 1, .8)])
    # det1: IoU 9/11 with both; tie -> the later gt (index 1) is taken; det2 then takes gt 0 (IoU 1)
    m = evaluate_detections(dets, gt, "activitynet", [0.8])
    assert m.tp[:, 0].tolist() == [True, True]
    # if det1 had taken gt 0, det2 would match gt 1 only at IoU 8/12 < .8: the tie rule matters
    assert m.ap[0, 0] == 1.0


def test_thumos_ambiguous_false_positives_are_dropped():
    gt = make_gt([("v", 0, 10, 1)], amb=[("v", 22, 30)], num_classes=1)
    dets = make_dets([("v", 20, 25, 1, .95), ("v", 40, 45, 1, .9), ("v", 0, 10, 1, .8)])
    m = evaluate_detections(dets, gt, "thumos14", [0.5])
    assert m.ap[0, 0] == pytest.approx(0.5)  # ranked: FP, TP -> precision 1/2 at the TP
    assert m.ignored[:, 0].tolist() == [True, False, False]
    no_amb = make_gt([("v", 0, 10, 1)], num_classes=1)
    assert evaluate_detections(dets, no_amb, "thumos14", [0.5]).ap[0, 0] == pytest.approx(1 / 3)
    # ActivityNet has no Ambiguous rule
    assert evaluate_detections(dets, gt, "activitynet", [0.5]).ap[0, 0] == pytest.approx(1 / 3)


def test_thumos_true_positive_on_ambiguous_stays():
    gt = make_gt([("v", 0, 10, 1)], amb=[("v", 5, 30)], num_classes=1)
    dets = make_dets([("v", 0, 10, 1, .9)])
    assert evaluate_detections(dets, gt, "thumos14", [0.5]).ap[0, 0] == 1.0


def test_score_ties_thumos_follow_sorted_video_names():
    gt = make_gt([("b", 0, 10, 1)], num_classes=1, videos=["a", "b"])
    dets = make_dets([("b", 0, 10, 1, .5), ("a", 0, 10, 1, .5)])  # TP in b, FP in a, equal scores
    assert evaluate_detections(dets, gt, "thumos14", [0.5]).ap[0, 0] == pytest.approx(0.5)
    gt2 = make_gt([("a", 0, 10, 1)], num_classes=1, videos=["a", "b"])
    dets2 = make_dets([("b", 0, 10, 1, .5), ("a", 0, 10, 1, .5)])  # TP in a now ranks first
    assert evaluate_detections(dets2, gt2, "thumos14", [0.5]).ap[0, 0] == pytest.approx(1.0)


def test_score_ties_activitynet_later_input_first():
    gt = make_gt([("a", 0, 10, 1)], num_classes=1, videos=["a", "b"])
    fp_then_tp = make_dets([("b", 0, 10, 1, .5), ("a", 0, 10, 1, .5)])
    tp_then_fp = make_dets([("a", 0, 10, 1, .5), ("b", 0, 10, 1, .5)])
    assert evaluate_detections(fp_then_tp, gt, "activitynet", [0.5]).ap[0, 0] == pytest.approx(1.0)
    assert evaluate_detections(tp_then_fp, gt, "activitynet", [0.5]).ap[0, 0] == pytest.approx(0.5)


def test_empty_classes():
    gt = make_gt([("a", 0, 10, 1), ("a", 20, 30, 2)], num_classes=3)
    dets = make_dets([("a", 0, 10, 1, .9), ("a", 50, 60, 3, .9)])
    for protocol in ("activitynet", "thumos14"):
        m = evaluate_detections(dets, gt, protocol, [0.5, 0.7])
        assert m.ap[0].tolist() == [1.0, 1.0]
        assert m.ap[1].tolist() == [0.0, 0.0]  # ground truth, no detections
        assert np.isnan(m.ap[2]).all()  # detections, no ground truth: left out of the mean
        assert m.mean_ap.tolist() == [0.5, 0.5] and m.average_map == 0.5


def test_detections_in_unknown_videos_are_false_positives():
    gt = make_gt([("a", 0, 10, 1)], num_classes=1)
    dets = make_dets([("zzz", 0, 10, 1, .9), ("a", 0, 10, 1, .8)])
    for protocol in ("activitynet", "thumos14"):
        assert evaluate_detections(dets, gt, protocol, [0.5]).ap[0, 0] == pytest.approx(0.5)


def test_no_detections_at_all():
    gt = make_gt([("a", 0, 10, 1)], num_classes=1)
    for protocol in ("activitynet", "thumos14"):
        m = evaluate_detections(Detections(), gt, protocol, [0.5])
        assert m.ap.tolist() == [[0.0]]


def test_unit_mismatch_and_bad_labels_are_refused():
    gt = make_gt([("a", 0, 10, 1)], num_classes=1)
    with pytest.raises(ValueError, match="fraction"):
        evaluate_detections(Detections(["a"], [0], [1], [1], [1], unit="fraction"), gt, "activitynet", [.5])
    with pytest.raises(ValueError, match="label"):
        evaluate_detections(make_dets([("a", 0, 1, 5, 1.0)]), gt, "activitynet", [.5])


def test_false_positive_breakdown():
    gt = make_gt([("v", 0, 10, 1), ("v", 100, 110, 2)], num_classes=2)
    dets = make_dets([
        ("v", 0, 10, 1, .9),      # TP
        ("v", 0, 9, 1, .8),       # duplicate of the matched gt
        ("v", 5, 20, 1, .7),      # localisation error (IoU 1/4)
        ("v", 100, 110, 1, .6),   # wrong class
        ("v", 300, 310, 1, .5),   # background
    ])
    for protocol in ("activitynet", "thumos14"):
        d = false_positive_breakdown(dets, gt, protocol, 0.5)
        assert d["num_true_positives"] == 1 and d["num_false_positives"] == 4
        assert d["counts"] == {"duplicate": 1, "localization": 1, "wrong_class": 1, "background": 1}


def test_false_positive_kinds_with_known_negatives():
    """Segments known to hold no action (the synthetic distractors) name the false positives on them; a
    duplicate stays a duplicate, a detection below the threshold on a negative is not 'negative'."""
    gt = make_gt([("v", 0, 10, 1), ("w", 0, 10, 2)], num_classes=2)
    negatives = make_gt([("v", 50, 60, 2), ("w", 20, 30, 1)], num_classes=2)
    dets = make_dets([
        ("v", 0, 10, 1, .9),      # true positive
        ("v", 0, 9, 1, .8),       # duplicate
        ("v", 50, 59, 1, .7),     # on v's negative (IoU 0.9), a class other than the negative's: still negative
        ("w", 21, 30, 2, .6),     # on w's negative
        ("w", 25, 45, 2, .5),     # overlaps w's negative below the threshold (IoU 0.2): background
        ("v", 4, 20, 1, .4),      # localisation (IoU 6/20)
        ("w", 0, 10, 1, .3),      # wrong class
    ])
    want = [TRUE_POSITIVE, 0, 1, 1, 4, 2, 3]
    assert FP_KINDS == ("duplicate", "negative", "localization", "wrong_class", "background")
    for protocol in ("activitynet", "thumos14"):
        assert false_positive_kinds(dets, gt, protocol, 0.5, negatives).tolist() == want
        d = false_positive_breakdown(dets, gt, protocol, 0.5, negatives)
        assert d["counts"] == {"duplicate": 1, "negative": 2, "localization": 1, "wrong_class": 1, "background": 1}
        assert d["num_true_positives"] == 1 and d["num_false_positives"] == 6
    # without negatives, the same detections are background
    assert false_positive_kinds(dets, gt, "thumos14", 0.5).tolist() == [TRUE_POSITIVE, 0, 4, 4, 4, 2, 3]
    # a detection dropped for Ambiguous overlap (THUMOS14) is IGNORED, not a false positive
    amb = make_gt([("v", 0, 10, 1)], amb=[("v", 100, 105)], num_classes=2)
    kinds = false_positive_kinds(make_dets([("v", 99, 104, 1, .5)]), amb, "thumos14", 0.5)
    assert kinds.tolist() == [IGNORED]


# --------------------------------------------------------------------------- against the loop references


def random_case(seed, n_videos=6, n_classes=3, n_dets=60, n_gt=14, amb=True):
    rng = np.random.default_rng(seed)
    vids = [f"v{k}" for k in range(n_videos)]
    gt_rows = []
    for _ in range(n_gt):
        s = rng.uniform(0, 80)
        gt_rows.append((vids[rng.integers(n_videos)], s, s + rng.uniform(1, 20), int(rng.integers(1, n_classes + 1))))
    amb_rows = [(vids[rng.integers(n_videos)], s, s + 5) for s in rng.uniform(0, 90, 4)] if amb else []
    det_rows = []
    for _ in range(n_dets):
        if rng.random() < 0.6 and gt_rows:  # jittered copy of a ground truth
            v, s, e, lab = gt_rows[rng.integers(len(gt_rows))]
            j = rng.normal(0, 2, 2)
            s, e = sorted((s + j[0], e + j[1]))
            lab = lab if rng.random() < 0.8 else int(rng.integers(1, n_classes + 1))
        else:
            v, s = vids[rng.integers(n_videos)], rng.uniform(0, 90)
            e, lab = s + rng.uniform(1, 15), int(rng.integers(1, n_classes + 1))
        det_rows.append((v, s, e, lab, round(float(rng.random()), 1)))  # coarse scores: many ties
    return make_gt(gt_rows, amb_rows, n_classes, videos=vids), make_dets(det_rows)


@pytest.mark.parametrize("seed", range(12))
def test_matches_loop_references(seed):
    gt, dets = random_case(seed)
    thr = [0.1, 0.3, 0.5, 0.7]
    an = evaluate_detections(dets, gt, "activitynet", thr)
    th = evaluate_detections(dets, gt, "thumos14", thr)
    for c in range(1, gt.num_classes + 1):
        if not np.any(gt.label == c):
            continue
        for k, t in enumerate(thr):
            assert an.ap[c - 1, k] == pytest.approx(ref_activitynet_ap(gt, dets, c, t), abs=1e-12)
            assert th.ap[c - 1, k] == pytest.approx(ref_thumos_ap(gt, dets, c, t), abs=1e-12)


# --------------------------------------------------------------------------- real THUMOS14 annotations


@pytest.mark.skipif(not (DATA / "thumos14" / "temporal_annotations_test").is_dir(), reason="no THUMOS14 data")
def test_real_thumos14_annotations():
    db = load_annotations(DATA / "thumos14", "test")
    gt = ground_truth_from_db(db)
    assert gt.class_ids[0] == 7 and len(gt.videos) == 213 and len(gt.amb_video) > 0
    perfect = Detections(gt.video, gt.t_start, gt.t_end, gt.label, np.ones(len(gt)))
    m = evaluate_detections(perfect, gt, "thumos14", [0.1, 0.5, 0.7])
    assert np.allclose(m.mean_ap, 1.0)
    # jittered detections on a few classes against the loop reference
    rng = np.random.default_rng(0)
    sel = np.flatnonzero(gt.label <= 2)
    shift = rng.normal(0, 1.0, (len(sel), 2))
    s, e = np.sort(np.stack([gt.t_start[sel] + shift[:, 0], gt.t_end[sel] + shift[:, 1]]), axis=0)
    dets = Detections(gt.video[sel], s, e, gt.label[sel], rng.random(len(sel)))
    sub = GroundTruth(gt.video[sel], gt.t_start[sel], gt.t_end[sel], gt.label[sel], gt.videos, gt.num_classes,
                      amb_video=gt.amb_video, amb_start=gt.amb_start, amb_end=gt.amb_end)
    m = evaluate_detections(dets, sub, "thumos14", [0.5])
    for c in (1, 2):
        assert m.ap[c - 1, 0] == pytest.approx(ref_thumos_ap(sub, dets, c, 0.5), abs=1e-12)


# --------------------------------------------------------------------------- command line


def _ssn_fixture(tmp_path):
    """A normalized proposal list with 2 videos and a result pickle that finds both instances."""
    from ops.formats.proposal_list import ProposalList, make_video_proposals, write_proposal_list
    from ops.formats.results import VideoResult, write_results
    props = np.array([[0.1, 0.3], [0.5, 0.9], [0.0, 1.0]])
    blocks = [make_video_proposals("vidA", 1, [[0.1, 0.3]], [1], props),
              make_video_proposals("vidB", 1, [[0.5, 0.9]], [2], props)]
    write_proposal_list(tmp_path / "list.txt", ProposalList(blocks, normalized=True))
    k = 20
    res = {}
    for name, (p, c) in (("vidA", (0, 0)), ("vidB", (1, 1))):
        act = np.zeros((3, k + 1))
        act[p, c + 1] = 8.0
        res[name] = VideoResult(props, act, np.zeros((3, k)), np.zeros((3, k, 2)))
    write_results(tmp_path / "rgb.pkl", res)
    return tmp_path / "list.txt", tmp_path / "rgb.pkl"


def test_cli_ssn_results_with_proposal_list(tmp_path):
    import eval_detection_results as cli
    plist, pkl = _ssn_fixture(tmp_path)
    args = cli.get_args_parser().parse_args(
        ["thumos14", str(pkl), str(pkl), "--score_weights", "1", "2", "--proposal_list", str(plist),
         "--protocol", "activitynet", "--iou", "0.5", "0.9", "--json_out", str(tmp_path / "m.json")])
    out = cli.main(args)
    assert out["metrics"]["mAP"] == [1.0, 1.0]
    assert out["metrics"]["num_videos"] == 2 and out["metrics"]["num_gt"] == 2
    assert out["settings"]["postprocess"]["top_k"] == 2000  # the thumos14 preset default, echoed
    import json
    assert json.loads((tmp_path / "m.json").read_text())["metrics"]["average_mAP"] == 1.0


@pytest.mark.skipif(not (DATA / "thumos14" / "temporal_annotations_test").is_dir(), reason="no THUMOS14 data")
def test_cli_detection_file_thumos14(tmp_path):
    import eval_detection_results as cli
    from ops.formats.detections import read_activitynet_json, write_thumos14_txt
    gt = ground_truth_from_db(load_annotations(DATA / "thumos14", "test"))
    write_thumos14_txt(tmp_path / "det.txt", Detections(gt.video, gt.t_start, gt.t_end, gt.label,
                                                        np.ones(len(gt))), gt.class_ids)
    args = cli.get_args_parser().parse_args(
        ["thumos14", "--detections", str(tmp_path / "det.txt"), "--annotations", str(DATA / "thumos14"),
         "--diagnose", "0.5", "--export_json", str(tmp_path / "det.json")])
    out = cli.main(args)
    assert out["metrics"]["mAP"] == [1.0] * 7 and out["metrics"]["num_videos"] == 213
    assert out["false_positives"]["num_false_positives"] == 0
    assert len(read_activitynet_json(tmp_path / "det.json", gt.classes)) == len(gt)
