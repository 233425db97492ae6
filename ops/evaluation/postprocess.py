"""SSN post-processing: from per-proposal scores to a detection table.

Follows the original ``eval_detection_results.py`` step by step, per video:

1. scores, three cases (``act`` = activity logits (N, K+1) with background in
   column 0, ``comp`` = completeness logits (N, K)):

   - ``top_k <= 0`` and no video-level classifier: every proposal x class is
     kept with ``softmax(act)[:, 1:] * exp(comp)``;
   - ``top_k > 0`` and no classifier: ``softmax(act[:, 1:]) * exp(comp)``
     (softmax over the K foreground classes only, as the original does), and
     only the ``top_k`` highest (proposal, class) pairs of the video are kept;
   - with classifier scores (K,) per video: all proposals for the ``cls_top_k``
     best classes of the video, scored ``softmax(act)[:, 1:] * exp(comp)`` when
     ``softmax_before_filter``, else ``act[:, 1:] * exp(comp)``;

2. temporal NMS per (video, class) at ``nms_threshold`` on the proposal bounds;
3. location regression (unless disabled) on the survivors:
   ``center += offset * length``, ``length *= exp(log_ratio)``, bounds clipped
   to [0, 1] (fractions of the video).

Ties (equal scores) are broken by the lower flat index ``proposal * K + class``
for top-k and by the lower index for NMS; the original used unstable sorts.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ops.formats.detections import Detections
from ops.formats.results import VideoResult
from ops.temporal import batched_temporal_nms

logger = logging.getLogger(__name__)


@dataclass
class PostprocessConfig:
    """Settings of the SSN post-processing (echoed with every evaluation)."""

    top_k: int = 60
    nms_threshold: float = 0.6
    softmax_before_filter: bool = False
    regression: bool = True
    cls_top_k: int = 1
    use_class_scores: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def video_candidates(res: VideoResult, cfg: PostprocessConfig, class_scores: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scored (proposal, class) candidates of one video before NMS.

    Returns:
        prop (M,) proposal indices, cls (M,) 0-based classes, score (M,) float64.
    """
    act = np.asarray(res.act_scores, dtype=np.float64)
    comp = np.exp(np.asarray(res.comp_scores, dtype=np.float64))
    n, k = comp.shape
    if class_scores is not None:
        base = softmax(act)[:, 1:] if cfg.softmax_before_filter else act[:, 1:]
        # the cls_top_k best classes by the video-level classifier (ties: lower class)
        classes = np.argsort(-np.asarray(class_scores), kind="stable")[:cfg.cls_top_k]
        prop = np.tile(np.arange(n), len(classes))
        cls = np.repeat(classes, n)
        return prop, cls, (base * comp)[prop, cls]
    if cfg.top_k <= 0:
        combined = softmax(act)[:, 1:] * comp
        flat = np.arange(n * k)
    else:
        combined = softmax(act[:, 1:]) * comp
        flat = np.argsort(-combined.ravel(), kind="stable")[:cfg.top_k]
    return flat // k, flat % k, combined.ravel()[flat]


def apply_regression(bounds: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply (center offset, log duration ratio) to (M, 2) fractional bounds; clip to [0, 1]."""
    center = (bounds[:, 0] + bounds[:, 1]) / 2
    length = bounds[:, 1] - bounds[:, 0]
    center = center + length * reg[:, 0]
    length = length * np.exp(reg[:, 1])
    return np.clip(np.stack([center - length / 2, center + length / 2], axis=1), 0.0, 1.0)


def results_to_detections(results: dict[str, VideoResult], cfg: PostprocessConfig,
                          class_scores: dict[str, np.ndarray] | None = None, log: bool = True) -> Detections:
    """Turn SSN results into detections (bounds as fractions of each video, labels 1-based).

    ``class_scores`` maps a video id to (K,) video-level classifier scores; it
    is used only when ``cfg.use_class_scores``.  Video ids are the last path
    component of the result keys.  ``log``: log the number of detections.
    """
    chunks = []
    for code, (key, res) in enumerate(results.items()):
        vid = Path(key).name
        cs = None
        if cfg.use_class_scores:
            cs = (class_scores or {}).get(Path(key).stem, (class_scores or {}).get(vid))
            if cs is None:
                raise KeyError(f"no video-level classifier scores for video {vid!r}")
        prop, cls, score = video_candidates(res, cfg, cs)
        reg = res.reg_scores[prop, cls] if res.reg_scores is not None else np.zeros((len(prop), 2))
        chunks.append((np.full(len(prop), code), res.rel_props[prop], cls, score, reg))
    if not chunks:
        return Detections(unit="fraction")
    codes, bounds, cls, score, reg = (np.concatenate(c) for c in zip(*chunks))
    num_classes = int(cls.max()) + 1 if len(cls) else 1
    keep = batched_temporal_nms(bounds, score, codes * num_classes + cls, cfg.nms_threshold, inclusive=False)
    bounds, cls, score, reg, codes = bounds[keep], cls[keep], score[keep], reg[keep], codes[keep]
    if cfg.regression:
        bounds = apply_regression(bounds, reg)
    names = np.array([Path(k).name for k in results], dtype=object)
    if log:
        logger.info("post-processing: %d detections in %d videos (top_k=%s, nms=%s, regression=%s)",
                    len(score), len(results), cfg.top_k, cfg.nms_threshold, cfg.regression)
    return Detections(names[codes], bounds[:, 0], bounds[:, 1], cls + 1, score, unit="fraction")
