"""Detection metrics: the ActivityNet and THUMOS14 protocols, vectorised, plus FP diagnostics.

Both protocols score each class separately and average AP over the classes
that have ground truth in the evaluated videos (a class without ground truth
gets AP NaN and is left out of the mean: the ActivityNet tool only knows
classes present in the ground truth; the THUMOS14 evalkit stops with an
assertion).  Detections in videos without ground truth of their class are
false positives in both (so are detections in videos outside the subset).

``activitynet`` (ActivityNet ``Evaluation/eval_detection.py``):
  per class, detections in score order each take the unmatched ground truth
  of highest IoU in their video if that IoU >= threshold, else are false
  positives; AP is the VOC 2010+ interpolated area
  (precision envelope, summed where recall changes).  IoU = inter /
  (len_det + len_gt - inter).  Ties, which the tool leaves to numpy's
  unstable ``argsort()[::-1]``, are resolved as that call does on small
  arrays: equal scores -> the later detection in input order first; equal IoU
  -> the later ground truth first.

``thumos14`` (THUMOS14 evalkit, ``TH14evalDet.m`` / ``TH14eventdetpr.m``):
  per video and class, detections sorted by score (stable) and each ground
  truth in annotation-file order takes the free detection of highest IoU
  (first in score order on ties) if that IoU > threshold (strict).  Unmatched
  detections overlapping (intersection > 0) an ``Ambiguous`` segment of the
  video are dropped, not counted as false positives.  All remaining detections
  are ranked by score with a stable sort over the concatenation (videos in
  sorted-name order, each in its score order), and
  ``AP = sum(precision at each true positive) / num_gt``.  IoU = intersection
  / hull, the evalkit's ``intervaloverlapvalseconds``.

Matching loops run over the rank of a detection (ActivityNet) or a ground
truth (THUMOS14) inside its (video, class) group, vectorised across all groups
and IoU thresholds at once; nothing loops over single detections.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ops.errors import InputError
from ops.formats.annotations import AnnotationDB
from ops.formats.detections import Detections
from ops.formats.proposal_list import ProposalList
from ops.temporal import frames_to_fraction, paired_iou

logger = logging.getLogger(__name__)

PROTOCOLS = ("activitynet", "thumos14")
FP_KINDS = ("duplicate", "negative", "localization", "wrong_class", "background")
TRUE_POSITIVE, IGNORED = -1, -2        # false_positive_kinds' codes of the detections that are not false positives


# --------------------------------------------------------------------------- ground truth


@dataclass
class GroundTruth:
    """Ground-truth instances (G,) and Ambiguous segments (A,) of the evaluated videos.

    Bounds are in ``unit`` (``seconds`` from annotations, ``fraction`` from a
    proposal list); labels are 1-based; ``videos`` lists every evaluated video
    (also those without instances); ``durations`` maps video -> seconds when known.
    """

    video: np.ndarray
    t_start: np.ndarray
    t_end: np.ndarray
    label: np.ndarray
    videos: list[str]
    num_classes: int
    classes: list[str] | None = None
    class_ids: list[int] | None = None
    amb_video: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    amb_start: np.ndarray = field(default_factory=lambda: np.zeros(0))
    amb_end: np.ndarray = field(default_factory=lambda: np.zeros(0))
    unit: str = "seconds"
    durations: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.video)


def ground_truth_from_db(db: AnnotationDB, num_classes: int | None = None) -> GroundTruth:
    """Ground truth in seconds from an annotation database (already restricted to a subset).

    The evaluated videos are those with an instance or an Ambiguous segment
    (a THUMOS14 duration list also names the unannotated test videos).
    """
    inst, amb = db.instances, db.ambiguous
    annotated = set(inst["video"]) | set(amb["video"])
    dur = dict(zip(db.videos["video"], db.videos["duration"].astype(float)))
    return GroundTruth(
        video=inst["video"].to_numpy(object), t_start=inst["t_start"].to_numpy(np.float64),
        t_end=inst["t_end"].to_numpy(np.float64), label=inst["label"].to_numpy(np.int64),
        videos=[v for v in db.videos["video"] if v in annotated], num_classes=num_classes or db.num_classes,
        classes=list(db.classes), class_ids=db.class_ids,
        amb_video=amb["video"].to_numpy(object), amb_start=amb["t_start"].to_numpy(np.float64),
        amb_end=amb["t_end"].to_numpy(np.float64), unit="seconds",
        durations={k: v for k, v in dur.items() if np.isfinite(v)})


def ground_truth_from_proposal_list(plist: ProposalList, num_classes: int) -> GroundTruth:
    """Ground truth as fractions of each video from a (normalized or frame-based) proposal list.

    Every video of the list is evaluated, as in the original SSN.
    """
    vids, bounds, labels = [], [], []
    for v in plist:
        vids += [v.video_id] * v.num_gt
        bounds.append(frames_to_fraction(np.reshape(v.gt_bounds, (-1, 2)), v.num_frames))
        labels.append(v.gt_labels)
    b = np.concatenate(bounds) if bounds else np.zeros((0, 2))
    return GroundTruth(video=np.array(vids, dtype=object), t_start=b[:, 0], t_end=b[:, 1],
                       label=np.concatenate(labels) if labels else np.zeros(0, np.int64),
                       videos=[v.video_id for v in plist], num_classes=num_classes, unit="fraction")


# --------------------------------------------------------------------------- shared helpers


def _run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]) if len(sorted_keys) else \
        np.zeros(0, np.int64)


def _pairs(a_keys: np.ndarray, b_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (i, j) with a_keys[i] == b_keys[j] for sorted keys, ordered by i then j."""
    lo = np.searchsorted(b_keys, a_keys, "left")
    cnt = np.searchsorted(b_keys, a_keys, "right") - lo
    ia = np.repeat(np.arange(len(a_keys)), cnt)
    ib = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))
    return ia, ib


def _video_codes(*video_arrays) -> list[np.ndarray]:
    """Integer codes of videos in sorted-name order (the evalkit's ``unique``)."""
    allv = np.concatenate([np.asarray(v, dtype=object) for v in video_arrays]).astype(str)
    _, inv = np.unique(allv, return_inverse=True)
    out, pos = [], 0
    for v in video_arrays:
        out.append(inv[pos:pos + len(v)].astype(np.int64))
        pos += len(v)
    return out


# --------------------------------------------------------------------------- ActivityNet


def _match_activitynet(dv, ds, de, dl, dscore, gv, gs, ge, gl, thresholds) -> np.ndarray:
    """True positives (N, T) of the ActivityNet greedy matching, in input order."""
    n, t = len(dv), len(thresholds)
    tp = np.zeros((n, t), dtype=bool)
    if n == 0 or len(gv) == 0:
        return tp
    nv = int(max(dv.max(), gv.max())) + 1
    kd, kg = dl * nv + dv, gl * nv + gv
    d_order = np.lexsort((-np.arange(n), -dscore, kd))  # score desc; ties: later input first
    g_order = np.argsort(kg, kind="stable")
    kd_s, kg_s = kd[d_order], kg[g_order]
    ds_s, de_s = ds[d_order], de[d_order]
    starts = _run_starts(kd_s)
    sizes = np.diff(np.r_[starts, n])
    glo = np.searchsorted(kg_s, kd_s[starts], "left")
    ngt = np.searchsorted(kg_s, kd_s[starts], "right") - glo
    if ngt.max() == 0:
        return tp
    col = np.arange(int(ngt.max()))
    valid = col[None, :] < ngt[:, None]
    gidx = np.where(valid, glo[:, None] + col[None, :], 0)
    g_s, g_e = gs[g_order][gidx], ge[g_order][gidx]
    locked = np.zeros((t, len(gv)), dtype=bool)
    thr = np.asarray(thresholds, dtype=np.float64)[:, None, None]
    tp_s = np.zeros((n, t), dtype=bool)
    for r in range(int(sizes.max())):  # rank inside the (class, video) group
        act = np.flatnonzero((sizes > r) & (ngt > 0))
        if act.size == 0:
            continue
        di = starts[act] + r
        iou = paired_iou(ds_s[di][:, None], de_s[di][:, None], g_s[act], g_e[act])
        gi = gidx[act]
        cand = valid[act][None] & ~locked[:, gi] & (iou[None] >= thr)
        masked = np.where(cand, iou[None], -np.inf)
        j = masked.shape[-1] - 1 - np.argmax(masked[..., ::-1], axis=-1)  # equal IoU: later gt
        ti, ai = np.nonzero(cand.any(axis=-1))
        locked[ti, gi[ai, j[ti, ai]]] = True
        tp_s[di[ai], ti] = True
    tp[d_order] = tp_s
    return tp


def _interpolated_ap(prec: np.ndarray, rec: np.ndarray) -> np.ndarray:
    """VOC 2010+ interpolated AP per column of (n, T) precision/recall curves -> (T,)."""
    t = prec.shape[1]
    mprec = np.vstack([np.zeros((1, t)), prec, np.zeros((1, t))])
    mrec = np.vstack([np.zeros((1, t)), rec, np.ones((1, t))])
    mprec = np.maximum.accumulate(mprec[::-1], axis=0)[::-1]
    out = np.empty(t)
    for k in range(t):  # a loop over thresholds only, to sum exactly the tool's terms
        idx = np.flatnonzero(mrec[1:, k] != mrec[:-1, k]) + 1
        out[k] = np.sum((mrec[idx, k] - mrec[idx - 1, k]) * mprec[idx, k])
    return out


def _ap_activitynet(tp: np.ndarray, dl, dscore, gl, num_classes: int) -> np.ndarray:
    n, t = tp.shape
    ap = np.full((num_classes, t), np.nan)
    npos = np.bincount(gl, minlength=num_classes + 1)[1:]
    order = np.lexsort((-np.arange(n), -dscore, dl))
    lab = dl[order]
    for c in range(1, num_classes + 1):
        if npos[c - 1] == 0:
            continue
        lo, hi = np.searchsorted(lab, c, "left"), np.searchsorted(lab, c, "right")
        if hi == lo:
            ap[c - 1] = 0.0
            continue
        tpc = tp[order[lo:hi]]
        tp_cum = np.cumsum(tpc, axis=0).astype(np.float64)
        fp_cum = np.cumsum(~tpc, axis=0).astype(np.float64)
        ap[c - 1] = _interpolated_ap(tp_cum / (tp_cum + fp_cum), tp_cum / float(npos[c - 1]))
    return ap


# --------------------------------------------------------------------------- THUMOS14


def _match_thumos14(dv, ds, de, dl, dscore, gv, gs, ge, gl, thresholds) -> np.ndarray:
    """True positives (N, T) of the THUMOS14 evalkit matching (ground truth takes detections)."""
    n, t = len(dv), len(thresholds)
    free = np.ones((t, n), dtype=bool)  # by position in d_order
    if n == 0 or len(gv) == 0:
        return ~free.T
    nv = int(max(dv.max(), gv.max())) + 1
    kd, kg = dl * nv + dv, gl * nv + gv
    d_order = np.lexsort((np.arange(n), -dscore, kd))  # stable score sort, as Matlab's sort
    g_order = np.argsort(kg, kind="stable")  # annotation-file order inside a group
    kd_s, kg_s = kd[d_order], kg[g_order]
    ia, ib = _pairs(kg_s, kd_s)  # (gt, det) pairs of one group, by gt then det rank
    if ia.size == 0:
        return ~free.T
    iou = paired_iou(gs[g_order][ia], ge[g_order][ia], ds[d_order][ib], de[d_order][ib], hull=True)
    gstarts = _run_starts(kg_s)
    grank = np.arange(len(kg_s)) - np.repeat(gstarts, np.diff(np.r_[gstarts, len(kg_s)]))
    by_rank = np.argsort(grank[ia], kind="stable")
    rank_sorted = grank[ia][by_rank]
    thr = np.asarray(thresholds, dtype=np.float64)[:, None]
    for k in range(int(rank_sorted.max()) + 1):  # k-th ground truth of every group at once
        blk = by_rank[np.searchsorted(rank_sorted, k, "left"):np.searchsorted(rank_sorted, k, "right")]
        if blk.size == 0:
            continue
        a, b = ia[blk], ib[blk]
        seg = _run_starts(a)
        vals = np.where(free[:, b], iou[blk][None, :], -np.inf)
        segmax = np.maximum.reduceat(vals, seg, axis=1)
        seg_id = np.repeat(np.arange(len(seg)), np.diff(np.r_[seg, len(a)]))
        pos = np.where(vals == segmax[:, seg_id], np.arange(len(a))[None, :], len(a))
        first = np.minimum.reduceat(pos, seg, axis=1)  # Matlab max: first maximum
        ti, si = np.nonzero(segmax > thr)
        free[ti, b[first[ti, si]]] = False
    tp = np.zeros((n, t), dtype=bool)
    tp[d_order] = ~free.T
    return tp


def _ambiguous_overlap(dv, ds, de, av, a_s, a_e) -> np.ndarray:
    """(N,) True where a detection intersects (> 0) an Ambiguous segment of its video."""
    out = np.zeros(len(dv), dtype=bool)
    if len(dv) == 0 or len(av) == 0:
        return out
    d_order, a_order = np.argsort(dv, kind="stable"), np.argsort(av, kind="stable")
    i, j = _pairs(dv[d_order], av[a_order])
    hit = paired_iou(ds[d_order][i], de[d_order][i], a_s[a_order][j], a_e[a_order][j], hull=True) > 0
    out[d_order[np.unique(i[hit])]] = True
    return out


def _ap_thumos14(tp: np.ndarray, amb: np.ndarray, dv, dl, dscore, gl, num_classes: int) -> np.ndarray:
    n, t = tp.shape
    ap = np.full((num_classes, t), np.nan)
    npos = np.bincount(gl, minlength=num_classes + 1)[1:]
    order = np.lexsort((np.arange(n), dv, -dscore, dl))  # stable sort of [video-ordered] confidences
    lab = dl[order]
    for c in range(1, num_classes + 1):
        if npos[c - 1] == 0:
            continue
        lo, hi = np.searchsorted(lab, c, "left"), np.searchsorted(lab, c, "right")
        idx = order[lo:hi]
        tpc = tp[idx]
        counted = tpc | ~amb[idx][:, None]  # unmatched detections on Ambiguous segments drop out
        tp_cum = np.cumsum(tpc & counted, axis=0)
        fp_cum = np.cumsum(~tpc & counted, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            prec = tp_cum / (tp_cum + fp_cum)
        ap[c - 1] = np.where(tpc, prec, 0.0).sum(axis=0) / npos[c - 1]
    return ap


# --------------------------------------------------------------------------- entry point


@dataclass
class DetectionMetrics:
    """AP per class (C, T) at IoU thresholds (T,), their means and counts."""

    protocol: str
    iou_thresholds: np.ndarray
    ap: np.ndarray
    num_gt_per_class: np.ndarray
    num_videos: int
    num_gt: int
    num_detections: int
    classes: list[str] | None = None
    tp: np.ndarray | None = None
    ignored: np.ndarray | None = None

    @property
    def mean_ap(self) -> np.ndarray:
        """(T,) mAP over classes with ground truth."""
        ok = self.num_gt_per_class > 0
        return self.ap[ok].mean(axis=0) if ok.any() else np.zeros(len(self.iou_thresholds))

    @property
    def average_map(self) -> float:
        return float(self.mean_ap.mean()) if len(self.iou_thresholds) else float("nan")

    def as_dict(self) -> dict:
        names = self.classes or [str(k) for k in range(1, len(self.ap) + 1)]
        return {
            "protocol": self.protocol,
            "iou_thresholds": [float(x) for x in self.iou_thresholds],
            "mAP": [float(x) for x in self.mean_ap], "average_mAP": self.average_map,
            "num_videos": self.num_videos, "num_gt": self.num_gt, "num_detections": self.num_detections,
            "per_class": {name: {"num_gt": int(g), "AP": [None if np.isnan(x) else float(x) for x in row]}
                          for name, g, row in zip(names, self.num_gt_per_class, self.ap)},
        }


def _prepare(dets: Detections, gt: GroundTruth):
    if dets.unit != gt.unit:
        raise InputError(f"detections are in {dets.unit} but the ground truth in {gt.unit}; "
                         "convert one of them (fractions need video durations)")
    bad = (dets.label < 1) | (dets.label > gt.num_classes)
    if bad.any():
        raise InputError(f"detection labels must be 1..{gt.num_classes}; video {dets.video[bad][0]!r} has "
                         f"label {dets.label[bad][0]}")
    unknown = ~np.isin(dets.video.astype(str), np.asarray(gt.videos, dtype=str))
    if unknown.any():
        logger.warning("%d detections in %d videos without ground truth (of %d annotated videos); they count "
                       "as false positives (as in the official tools)", int(unknown.sum()),
                       len(set(dets.video[unknown])), len(gt.videos))
    dv, gv, av = _video_codes(dets.video, gt.video, gt.amb_video)
    return dv, gv, av


def evaluate_detections(dets: Detections, gt: GroundTruth, protocol: str, iou_thresholds,
                        warn_missing: bool = True) -> DetectionMetrics:
    """Score ``dets`` against ``gt`` with ``protocol`` (``activitynet`` or ``thumos14``); ``warn_missing``: log
    the classes without ground truth (left out of the mean)."""
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    thresholds = np.asarray(iou_thresholds, dtype=np.float64).reshape(-1)
    dv, gv, av = _prepare(dets, gt)
    args = (dv, dets.t_start, dets.t_end, dets.label, dets.score, gv, gt.t_start, gt.t_end, gt.label, thresholds)
    if protocol == "activitynet":
        tp = _match_activitynet(*args)
        ignored = np.zeros(tp.shape, dtype=bool)
        ap = _ap_activitynet(tp, dets.label, dets.score, gt.label, gt.num_classes)
    else:
        tp = _match_thumos14(*args)
        amb = _ambiguous_overlap(dv, dets.t_start, dets.t_end, av, gt.amb_start, gt.amb_end)
        ignored = ~tp & amb[:, None]
        ap = _ap_thumos14(tp, amb, dv, dets.label, dets.score, gt.label, gt.num_classes)
    npc = np.bincount(gt.label, minlength=gt.num_classes + 1)[1:]
    missing = [int(k) + 1 for k in np.flatnonzero(npc == 0)]
    if missing and warn_missing:
        logger.warning("classes %s have no ground truth in the evaluated videos: AP NaN, left out of the mean",
                       missing)
    return DetectionMetrics(protocol, thresholds, ap, npc, len(gt.videos), len(gt), len(dets),
                            gt.classes, tp, ignored)


# --------------------------------------------------------------------------- diagnostics


def _max_iou_per_det(dkeys, dets: Detections, gkeys, gt: GroundTruth, hull: bool, exclude_same_label: bool):
    out = np.zeros(len(dets))
    d_order, g_order = np.argsort(dkeys, kind="stable"), np.argsort(gkeys, kind="stable")
    i, j = _pairs(dkeys[d_order], gkeys[g_order])
    di, gi = d_order[i], g_order[j]
    iou = paired_iou(dets.t_start[di], dets.t_end[di], gt.t_start[gi], gt.t_end[gi], hull=hull)
    if exclude_same_label:
        iou = np.where(dets.label[di] != gt.label[gi], iou, 0.0)
    np.maximum.at(out, di, iou)
    return out


def false_positive_kinds(dets: Detections, gt: GroundTruth, protocol: str, iou: float,
                         negatives: GroundTruth | None = None) -> np.ndarray:
    """What each detection is at one IoU threshold: (N,) int, an index into ``FP_KINDS`` for a false
    positive, ``TRUE_POSITIVE`` (-1), or ``IGNORED`` (-2: a THUMOS14 detection dropped for Ambiguous overlap).

    A false positive gets the first kind that applies: ``duplicate`` (it meets the threshold with a ground
    truth of its class that another detection took), ``negative`` (it meets the threshold with a segment of
    ``negatives``, any class: segments known to hold no action, e.g. the synthetic generator's distractors;
    never given without ``negatives``), ``localization`` (it overlaps a ground truth of its class, but below
    the threshold), ``wrong_class`` (it meets the threshold with a ground truth of another class),
    ``background``.  "Meets" is ``>=`` for ActivityNet and ``>`` for THUMOS14 (IoU over the hull), as the
    matching.  ``negatives`` is in ``gt``'s unit.
    """
    m = evaluate_detections(dets, gt, protocol, [iou], warn_missing=False)
    neg = negatives if negatives is not None else GroundTruth(np.zeros(0, dtype=object), np.zeros(0), np.zeros(0),
                                                              np.zeros(0, np.int64), [], gt.num_classes)
    dv, gv, _, nv_codes = _video_codes(dets.video, gt.video, gt.amb_video, neg.video)
    nv = int(max(dv.max(initial=0), gv.max(initial=0))) + 1
    hull = protocol == "thumos14"
    same = _max_iou_per_det(dets.label * nv + dv, dets, gt.label * nv + gv, gt, hull, False)
    other = _max_iou_per_det(dv, dets, gv, gt, hull, True)
    on_negative = _max_iou_per_det(dv, dets, nv_codes, neg, hull, False)
    meets = (lambda x: x > iou) if hull else (lambda x: x >= iou)
    kind = np.select([meets(same), meets(on_negative), same > 0, meets(other)], [0, 1, 2, 3], 4)
    kind[m.tp[:, 0]] = TRUE_POSITIVE
    kind[m.ignored[:, 0]] = IGNORED
    return kind


def false_positive_breakdown(dets: Detections, gt: GroundTruth, protocol: str, iou: float,
                             negatives: GroundTruth | None = None) -> dict:
    """Counts and fractions of the false positives' kinds (:func:`false_positive_kinds`) at one IoU
    threshold; ``negative`` is reported only when ``negatives`` are given."""
    kind = false_positive_kinds(dets, gt, protocol, iou, negatives)
    names = [k for k in FP_KINDS if negatives is not None or k != "negative"]
    counts = np.bincount(kind[kind >= 0], minlength=len(FP_KINDS))
    counts = {k: int(c) for k, c in zip(FP_KINDS, counts) if k in names}
    total = int((kind >= 0).sum())
    return {"iou": float(iou), "protocol": protocol, "num_false_positives": total,
            "num_true_positives": int((kind == TRUE_POSITIVE).sum()),
            "counts": counts, "fractions": {k: (c / total if total else 0.0) for k, c in counts.items()}}


def class_confusion(dets: Detections, gt: GroundTruth, protocol: str, iou: float) -> dict:
    """Which class the best detection gives each ground-truth instance, at one IoU threshold.

    For every instance, among the detections of its video (any class) whose IoU with it meets the
    threshold (``>=`` for ActivityNet, ``>`` for THUMOS14, as the matching), the highest-scoring one
    (ties: first in input order) names the predicted class; an instance without such a detection is
    ``missed``.  ``matrix[g, p]`` (K, K + 1) counts instances of class ``g + 1`` given class ``p + 1``,
    the last column the missed ones: the diagonal is what the classifier got right, the rest of a row
    where that class goes.  ``top_confusions`` lists the off-diagonal cells, largest first.
    """
    k = int(gt.num_classes)
    matrix = np.zeros((k, k + 1), dtype=np.int64)
    if len(gt.video):
        dv, gv = _video_codes(dets.video, gt.video)
        d_order, g_order = np.argsort(dv, kind="stable"), np.argsort(gv, kind="stable")
        j, i = _pairs(gv[g_order], dv[d_order])            # (instance, detection) pairs of the same video
        gi, di = g_order[j], d_order[i]
        ov = paired_iou(dets.t_start[di], dets.t_end[di], gt.t_start[gi], gt.t_end[gi], hull=protocol == "thumos14")
        ok = ov > iou if protocol == "thumos14" else ov >= iou
        gi, di = gi[ok], di[ok]
        best = np.lexsort((di, -np.asarray(dets.score, float)[di], gi))  # per instance: score desc, input order
        first = np.r_[True, gi[best][1:] != gi[best][:-1]] if len(best) else np.zeros(0, bool)
        pred = np.full(len(gt.video), k, dtype=np.int64)                  # k = missed
        pred[gi[best][first]] = np.asarray(dets.label)[di[best][first]] - 1
        np.add.at(matrix, (np.asarray(gt.label, np.int64) - 1, pred), 1)
    names = gt.classes or [str(c) for c in range(1, k + 1)]
    off = [(int(matrix[g, p]), names[g], names[p]) for g in range(k) for p in range(k) if g != p and matrix[g, p]]
    off.sort(key=lambda x: -x[0])
    return {"iou": float(iou), "protocol": protocol, "classes": list(names), "matrix": matrix.tolist(),
            "missed": matrix[:, k].tolist(),
            "top_confusions": [{"true": t, "predicted": p, "count": c} for c, t, p in off]}


def format_confusion(conf: dict, max_rows: int = 10) -> str:
    """A short text report of :func:`class_confusion`: per class right / other class / missed, top confusions."""
    m = np.asarray(conf["matrix"])
    lines = [f"best detection per ground-truth instance at IoU {conf['iou']:g}:",
             f"{'class':<28} {'num_gt':>6} {'right':>6} {'other':>6} {'missed':>6}"]
    for g, name in enumerate(conf["classes"]):
        right = int(m[g, g])
        lines.append(f"{name[:28]:<28} {int(m[g].sum()):6d} {right:6d} {int(m[g, :-1].sum()) - right:6d} "
                     f"{int(m[g, -1]):6d}")
    if conf["top_confusions"]:
        lines.append("most frequent confusions (true -> predicted): " + ", ".join(
            f"{c['true']} -> {c['predicted']} {c['count']}" for c in conf["top_confusions"][:max_rows]))
    return "\n".join(lines)
