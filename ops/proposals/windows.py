"""Proposals of windows -> each video's top proposals in seconds: the post-processing BMN and BSN share.

A method scores windows of a video's feature sequence (a whole rescaled video is one window) and gives
candidates in window fractions with a score; :func:`proposals_in_seconds` pools a video's windows, runs
Gaussian soft-NMS (``ops.temporal.soft_nms_many``, all videos at once) and keeps the ``top_k`` best.
"""
from __future__ import annotations

import numpy as np

from ops.formats.detections import Detections
from ops.temporal import soft_nms_many


def proposals_in_seconds(windows: list, alpha: float, low: float, high: float, top_k: int = 100,
                         durations: dict | None = None) -> Detections:
    """Candidates of every window -> each video's top proposals in seconds.

    Args:
        windows: ``(video, candidates (K, 3) [t_min, t_max, score] in window fractions, t0, t1)`` per window,
            ``[t0, t1]`` the window's span in seconds (:func:`ops.train.feature_dataset.window_seconds`).
        alpha, low, high: soft-NMS parameters (BMN: 0.4, 0.5, 0.9; BSN: 0.75, 0.65, 0.9).
        durations: video -> duration in seconds, to clip the last windows' proposals (default: no clip).
    Returns:
        class-agnostic Detections (label 0), per video sorted by score descending, at most ``top_k``.

    Candidate bounds become fractions of the span the video's windows cover (for a whole video rescaled by
    BSN's recipe that span is ``[0, corrected_second]``: the window fractions themselves), soft-NMS runs on
    them (its width rule assumes fractions), and the kept ones are ``[max(0, t_min), min(1, t_max)]`` of the
    span, in seconds.
    """
    by_video: dict[str, list] = {}
    for video, cand, t0, t1 in windows:
        by_video.setdefault(video, []).append((np.asarray(cand, np.float64).reshape(-1, 3), float(t0), float(t1)))
    videos, props, spans = list(by_video), [], []
    for video in videos:
        parts = by_video[video]
        lo, hi = min(p[1] for p in parts), max(p[2] for p in parts)
        seconds = np.concatenate([np.stack([t0 + c[:, 0] * (t1 - t0), t0 + c[:, 1] * (t1 - t0), c[:, 2]], 1)
                                  for c, t0, t1 in parts])
        props.append(np.stack([(seconds[:, 0] - lo) / (hi - lo), (seconds[:, 1] - lo) / (hi - lo), seconds[:, 2]], 1))
        spans.append((lo, hi))
    kept = soft_nms_many(props, alpha, low, high, top_k)
    cols = ([], [], [], [])
    for video, k, (lo, hi) in zip(videos, kept, spans):
        k = k[np.argsort(-k[:, 2], kind="stable")][:top_k]
        t_start = lo + np.maximum(0.0, k[:, 0]) * (hi - lo)
        t_end = lo + np.minimum(1.0, k[:, 1]) * (hi - lo)
        if durations is not None and video in durations:
            t_start, t_end = np.minimum(t_start, durations[video]), np.minimum(t_end, durations[video])
        for col, val in zip(cols, ([video] * len(k), t_start, t_end, k[:, 2])):
            col.extend(val)
    return Detections(cols[0], cols[1], cols[2], np.zeros(len(cols[0]), np.int64), cols[3], unit="seconds")
