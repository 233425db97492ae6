"""Class-agnostic proposals (BMN, BSN, ...) into detections: pure, vectorised rules.

Three rules, shared by ``proposals_to_list.py`` and ``proposals_to_detections.py``:

- :func:`align_video_ids`: ActivityNet ids appear with the ``v_`` prefix (``anet_anno_action.json``, the
  feature files ``v_<id>.csv``) and without it (the official annotation JSON, published BMN/BSN results);
  each id of a file is mapped to the id another file uses for the same video.
- :func:`top_n_per_video`: the ``n`` best-scored rows of every video (stable: ties keep file order).
- :func:`label_with_video_classes`: every proposal of a video takes that video's ``top_k`` classes of a
  video-level classifier.  ``score_mode="proposal"`` keeps the proposal's score (MMAction2's
  ``report_map.py`` with k = 1); ``"product"`` multiplies it by the class score (the later toolboxes,
  usually with k = 2).
"""
from __future__ import annotations

import numpy as np

SCORE_MODES = ("proposal", "product")
ANET_PREFIX = "v_"


def align_video_ids(ids, known) -> dict[str, str]:
    """Map each id of ``ids`` to the id ``known`` uses for the same video: itself, else with ``v_`` added,
    else with a leading ``v_`` removed.  Ids with no counterpart are left out of the result.

    Args:
        ids: iterable of str (e.g. the videos of a proposal file).
        known: iterable of str (e.g. the videos of the annotations).
    Returns:
        {id: known id} for the ids that have one.
    """
    known = set(known)
    out = {}
    for vid in ids:
        for cand in (vid, ANET_PREFIX + vid, vid[len(ANET_PREFIX):] if vid.startswith(ANET_PREFIX) else None):
            if cand is not None and cand in known:
                out[vid] = cand
                break
    return out


def top_n_per_video(codes, scores, n: int) -> np.ndarray:
    """Indices of the ``n`` highest scores of every group, in group order then score order.

    Args:
        codes: (N,) int, the video of each row (any integer code; rows of one video need not be adjacent).
        scores: (N,) float, higher is better.
        n: rows kept per video; ``n <= 0`` keeps every row.
    Returns:
        (M,) int64 row indices: videos in ascending code order, each video's rows by descending score,
        ties in input order.
    """
    codes = np.asarray(codes, dtype=np.int64).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.lexsort((np.arange(len(codes)), -scores, codes))   # last key is the primary one
    if n <= 0 or len(order) == 0:
        return order
    sorted_codes = codes[order]
    first = np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    rank = np.arange(len(order)) - group_start
    return order[rank < n]


def top_classes(class_scores, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``top_k`` classes of every video by video-level score.

    Args:
        class_scores: (V, K) float; NaN marks a class the file does not list for that video.
        top_k: classes per video (>= 1).
    Returns:
        classes (V, k) int64, 0-based, best first (ties: the lower class); valid (V, k) bool, False where a
        video lists fewer than ``k`` classes.  ``k = min(top_k, K)``.
    """
    cs = np.asarray(class_scores, dtype=np.float64)
    filled = np.where(np.isnan(cs), -np.inf, cs)
    classes = np.argsort(-filled, axis=1, kind="stable")[:, :top_k]
    valid = ~np.isnan(np.take_along_axis(cs, classes, axis=1))
    return classes, valid


def label_with_video_classes(video_index, proposal_scores, class_scores, top_k: int = 1,
                             score_mode: str = "proposal") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Give every proposal its video's ``top_k`` classes.

    Args:
        video_index: (N,) int, row of ``class_scores`` of each proposal's video.
        proposal_scores: (N,) float, the proposals' confidences.
        class_scores: (V, K) float video-level scores (NaN: class not listed for the video).
        top_k: classes per proposal.
        score_mode: ``"proposal"`` (score unchanged) or ``"product"`` (proposal score x class score).
    Returns:
        rows (M,) int64 indices into the proposals, labels (M,) int64 1-based classes, scores (M,) float64;
        proposal by proposal, each with its classes best first (M = N x k less the classes a video lacks).
    """
    if score_mode not in SCORE_MODES:
        raise ValueError(f"score_mode must be one of {SCORE_MODES}, got {score_mode!r}")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    video_index = np.asarray(video_index, dtype=np.int64).reshape(-1)
    proposal_scores = np.asarray(proposal_scores, dtype=np.float64).reshape(-1)
    cs = np.asarray(class_scores, dtype=np.float64)
    classes, valid = top_classes(cs, top_k)
    k = classes.shape[1]
    rows = np.repeat(np.arange(len(video_index)), k)
    cls = classes[video_index].reshape(-1)
    keep = valid[video_index].reshape(-1)
    rows, cls = rows[keep], cls[keep]
    scores = proposal_scores[rows]
    if score_mode == "product":
        scores = scores * cs[video_index[rows], cls]
    return rows, cls + 1, scores
