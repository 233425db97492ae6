"""Proposal metrics: SSN recall at IoU thresholds and ActivityNet AR@AN, vectorised.

Input everywhere: class-agnostic proposals as :class:`ops.formats.detections.Detections`
(row order = rank when all scores are equal) and ground truth as
:class:`ops.evaluation.detection_eval.GroundTruth`, in one unit (IoU is scale-free).

SSN recall (``ops/detection_metrics.py`` of the original, printed by
``gen_bottom_up_proposals.py``) over the videos that have ground truth, using
*all* proposals of a video:

- a ground truth is recalled at threshold t if some proposal has
  IoU > t (strict; IoU = intersection / hull);
- per-instance recall = recalled instances / instances;
- per-video recall = fraction of videos whose instances are *all* recalled;
- "average recall" = the mean over the thresholds (default ``np.arange(0.5, 1,
  0.2)``, i.e. 0.5, 0.7, 0.8999999999999999, kept bit for bit).

ActivityNet AR@AN (``Evaluation/eval_proposal.py``), over the videos with ground truth:

- proposals of a video sorted by score descending; with ``max_avg`` (AN_max,
  default 100) and ``ratio = max_avg * num_videos / num_proposals`` (all
  proposals in the input, as the tool counts them), each video keeps its first
  ``min(int(n * ratio), n)``;
- for ``pcn = arange(1, 101) / 100 * max_avg * num_videos / kept_total``, a
  video uses its first ``min(int(kept * pcn), kept)`` proposals, and a ground
  truth is recalled if one of them has IoU >= t (IoU = inter / (len1 + len2 -
  inter)); recall (T, 100) is per instance;
- AR = recall averaged over IoU 0.5:0.05:0.95; AN = ``pcn * kept_total /
  num_videos``; AUC = trapezoid area of AR over AN, also reported as a
  percentage of the last AN, as the tool prints it.

We add a per-video AR@AN (fraction of videos with every instance recalled,
averaged over IoU), by the same rule.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ops.errors import InputError
from ops.evaluation.detection_eval import GroundTruth, _pairs, _video_codes, ground_truth_from_proposal_list
from ops.formats.detections import Detections
from ops.temporal import frames_to_fraction, paired_iou

logger = logging.getLogger(__name__)

SSN_THRESHOLDS = tuple(float(x) for x in np.arange(0.5, 1, 0.2))
ANET_THRESHOLDS = tuple(float(x) for x in np.linspace(0.5, 0.95, 10))


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    """Area under y(x) by the trapezoid rule (numpy's trapz, which numpy 2 renamed)."""
    return float((np.diff(x) * (y[1:] + y[:-1]) / 2.0).sum())


def _first_hits(props: Detections, gt: GroundTruth, thresholds, strict: bool, hull: bool,
                rank: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per ground truth and threshold, the lowest proposal rank with a qualifying IoU.

    Returns:
        hit_rank (T, G) float (inf when none); gt_video (G,) codes into the sorted video list.
    """
    pv, gv = _video_codes(props.video, gt.video)
    rank = np.zeros(len(props)) if rank is None else rank
    p_order, g_order = np.argsort(pv, kind="stable"), np.argsort(gv, kind="stable")
    i, j = _pairs(gv[g_order], pv[p_order])
    gi, pj = g_order[i], p_order[j]
    iou = paired_iou(props.t_start[pj], props.t_end[pj], gt.t_start[gi], gt.t_end[gi], hull=hull)
    thr = np.asarray(thresholds, dtype=np.float64)[:, None]
    ok = iou[None, :] > thr if strict else iou[None, :] >= thr
    hit = np.full((len(thr), len(gt)), np.inf)
    for k in range(len(thr)):  # thresholds only
        np.minimum.at(hit[k], gi[ok[k]], rank[pj][ok[k]])
    return hit, gv


def ssn_recall(props: Detections, gt: GroundTruth, thresholds=SSN_THRESHOLDS) -> dict:
    """SSN per-video and per-instance recall at each threshold (see the module docstring)."""
    hit, gv = _first_hits(props, gt, thresholds, strict=True, hull=True)
    recalled = np.isfinite(hit)  # (T, G)
    videos, inv = np.unique(gv, return_inverse=True)
    per_inst = recalled.mean(axis=1) if len(gt) else np.zeros(len(thresholds))
    missed = np.zeros((len(thresholds), len(videos)))
    for k in range(len(thresholds)):
        missed[k] = np.bincount(inv, weights=~recalled[k], minlength=len(videos))
    per_video = (missed == 0).mean(axis=1) if len(videos) else np.zeros(len(thresholds))
    return {"iou_thresholds": [float(x) for x in thresholds],
            "per_video": [float(x) for x in per_video], "per_instance": [float(x) for x in per_inst],
            "average_per_video": float(np.mean(per_video)), "average_per_instance": float(np.mean(per_inst)),
            "num_videos": int(len(videos)), "num_gt": int(len(gt))}


@dataclass
class ARANCurve:
    """AR@AN: recall (T, P) per instance, the averages (P,), AN (P,), AUC."""

    iou_thresholds: np.ndarray
    recall: np.ndarray
    avg_recall: np.ndarray
    avg_recall_per_video: np.ndarray
    proposals_per_video: np.ndarray
    auc: float
    num_videos: int
    num_gt: int

    def at(self, an: float) -> float | None:
        """Per-instance AR at the curve point whose AN is closest to ``an``; None beyond the curve."""
        if an > self.proposals_per_video[-1] * (1 + 1e-9):
            return None
        return float(self.avg_recall[np.argmin(np.abs(self.proposals_per_video - an))])

    def as_dict(self) -> dict:
        last = float(self.proposals_per_video[-1]) if len(self.proposals_per_video) else 0.0
        return {"iou_thresholds": [float(x) for x in self.iou_thresholds],
                "AR@AN": {"AN": self.proposals_per_video.tolist(), "AR": self.avg_recall.tolist(),
                          "AR_per_video": self.avg_recall_per_video.tolist()},
                "AR@1": self.at(1), "AR@10": self.at(10), "AR@50": self.at(50), "AR@100": self.at(100),
                "AUC": self.auc, "AUC_percent": 100.0 * self.auc / last if last else 0.0,
                "num_videos": self.num_videos, "num_gt": self.num_gt}


def ar_an(props: Detections, gt: GroundTruth, max_avg: float = 100.0,
          thresholds=ANET_THRESHOLDS, num_points: int = 100) -> ARANCurve:
    """ActivityNet average recall vs average number of proposals (module docstring)."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    gt_videos = np.unique(gt.video.astype(str))
    nvid = len(gt_videos)
    if nvid == 0 or len(props) == 0:
        raise InputError("AR@AN needs ground truth and at least one proposal")
    ratio = max_avg * float(nvid) / len(props)
    # rank of every proposal inside its video: score descending, ties later input first (argsort()[::-1])
    pv, = _video_codes(props.video)
    order = np.lexsort((-np.arange(len(props)), -props.score, pv))
    starts = np.flatnonzero(np.r_[True, pv[order][1:] != pv[order][:-1]])
    rank = np.empty(len(props))
    rank[order] = np.arange(len(props)) - np.repeat(starts, np.diff(np.r_[starts, len(props)]))
    count = np.bincount(pv, minlength=int(pv.max()) + 1)[pv]  # proposals in each row's video
    kept_n = np.minimum((count * ratio).astype(np.int64), count)
    in_gt = np.isin(props.video.astype(str), gt_videos)
    keep = (rank < kept_n) & in_gt
    kept = props.take(keep)
    first = np.flatnonzero(in_gt & (rank == 0))  # one row per video with ground truth
    kept_per_video = dict(zip(props.video[first].astype(str), kept_n[first].tolist()))
    total = int(sum(kept_per_video.values()))
    if total == 0:
        raise InputError("no proposal is left after the AN cut; check videos and max_avg")
    hit, gv = _first_hits(kept, gt, thresholds, strict=False, hull=False, rank=rank[keep])
    pcn = np.arange(1, num_points + 1) / float(num_points) * (max_avg * float(nvid) / total)
    gt_kept = np.array([kept_per_video.get(v, 1) for v in gt.video.astype(str)])  # no proposal: 1 (IoU 0)
    n_use = np.minimum((gt_kept[:, None] * pcn[None, :]).astype(np.int64), gt_kept[:, None])  # (G, P)
    matched = hit[:, :, None] < n_use[None, :, :]  # (T, G, P)
    recall = matched.sum(axis=1) / float(len(gt))
    _, inv = np.unique(gv, return_inverse=True)
    per_video = np.zeros((len(thresholds), len(pcn)))
    for k in range(len(thresholds)):
        missed = np.zeros((inv.max() + 1, len(pcn)))
        np.add.at(missed, inv, ~matched[k])
        per_video[k] = (missed == 0).mean(axis=0)
    avg = recall.mean(axis=0)
    an = pcn * (float(total) / nvid)
    return ARANCurve(thresholds, recall, avg, per_video.mean(axis=0), an, _trapezoid(avg, an), nvid, len(gt))


def proposals_from_list(plist) -> Detections:
    """Proposals of a proposal list as fractions; score = -rank so list order is rank order."""
    vids, bounds, scores = [], [], []
    for v in plist:
        n = v.num_proposals
        vids += [v.video_id] * n
        bounds.append(frames_to_fraction(np.reshape(v.bounds, (-1, 2)), v.num_frames))
        scores.append(-np.arange(n, dtype=np.float64))
    b = np.concatenate(bounds) if bounds else np.zeros((0, 2))
    return Detections(np.array(vids, dtype=object), b[:, 0], b[:, 1], np.zeros(len(b), np.int64),
                      np.concatenate(scores) if scores else np.zeros(0), unit="fraction")


def recall_report(plist, num_classes: int) -> str:
    """Text report of a proposal list: SSN recall at IoU 0.5 / 0.7 / 0.9 (per video and per instance),
    their average, and ActivityNet AR@10/50/100 with the AUC."""
    gt = ground_truth_from_proposal_list(plist, num_classes)
    props = proposals_from_list(plist)
    lines = [f"{len(plist)} videos, {len(gt)} ground-truth instances, "
             f"{np.mean([b.num_proposals for b in plist]) if len(plist) else 0:.1f} proposals per video"]
    if len(gt) == 0:
        return "\n".join(lines + ["no ground truth: recall not computed"])
    rec = ssn_recall(props, gt)
    for th, pv, pi in zip(rec["iou_thresholds"], rec["per_video"], rec["per_instance"]):
        lines.append(f"IoU > {th:.1f}: per-video recall {100 * pv:6.2f}  per-instance recall {100 * pi:6.2f}")
    lines.append(f"average recall: per video {100 * rec['average_per_video']:.2f}  "
                 f"per instance {100 * rec['average_per_instance']:.2f}")
    if len(props):
        curve = ar_an(props, gt).as_dict()
        parts = [f"AR@{k} {100 * curve[f'AR@{k}']:.2f}" for k in (10, 50, 100) if curve[f"AR@{k}"] is not None]
        lines.append("ActivityNet AR@AN (IoU 0.5:0.95): " + "  ".join(parts) + f"  AUC {curve['AUC_percent']:.2f}")
    return "\n".join(lines)
