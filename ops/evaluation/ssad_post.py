"""Decouple-SSAD's post-processing: per-anchor predictions (one stream or two fused) -> detections.

Rules (``../shared/specs/decouple_ssad.md``), on the prediction rows of ``ops/formats/ssad_files.py``
``[start, conf, xmin, xmax, p_0 .. p_K]`` (frames):

1. two streams fuse per anchor, rows aligned: ``2/3 Flow + 1/3 RGB`` for confidence, xmin, xmax and every
   probability; then rows with fused ``p_0 < 0.99`` are kept;
2. keep ``p_0 < 0.98``, then ``conf > 0.1``; score ``= p_class x sigmoid(conf)``; each anchor gives its 3 best
   classes (1..K) as three detections; every CliffDiving detection is also emitted as Diving (when the classes
   have both);
3. greedy NMS per video and class, suppressing IoU > 0.2, no top-k;
4. frames -> seconds by each video's own fps.
"""
from __future__ import annotations

import numpy as np

from ops.errors import InputError
from ops.formats.detections import Detections
from ops.temporal import batched_temporal_nms

FLOW_WEIGHT = 2.0 / 3.0


def fuse_predictions(rgb: tuple, flow: tuple, names: tuple[str, str] = ("RGB", "Flow")) -> tuple:
    """``(videos, values)`` of two streams -> the fused rows with ``p_0 < 0.99``.  The rows must score the same
    anchors: same videos and window starts, row by row (InputError naming the first row that differs)."""
    (v_rgb, x_rgb), (v_flow, x_flow) = rgb, flow
    if x_rgb.shape != x_flow.shape:
        raise InputError(f"{names[0]} and {names[1]}: {x_rgb.shape} and {x_flow.shape} prediction rows; both must "
                         "score the same windows with the same classes")
    bad = np.flatnonzero((v_rgb != v_flow) | (x_rgb[:, 0] != x_flow[:, 0]))
    if bad.size:
        k = int(bad[0])
        raise InputError(f"{names[0]} and {names[1]}: row {k + 2} is {v_rgb[k]} (window {x_rgb[k, 0]:g}) in one and "
                         f"{v_flow[k]} (window {x_flow[k, 0]:g}) in the other; score both streams on one window list")
    fused = x_rgb.copy()
    fused[:, 1:] = FLOW_WEIGHT * x_flow[:, 1:] + (1 - FLOW_WEIGHT) * x_rgb[:, 1:]
    keep = fused[:, 4] < 0.99
    return v_rgb[keep], fused[keep]


def predictions_to_detections(videos: np.ndarray, values: np.ndarray, fps: dict[str, float], classes: list[str],
                              nms_threshold: float = 0.2) -> Detections:
    """Rules 2-4 of the module docstring; labels are 1-based indices into ``classes``."""
    keep = values[:, 4] < 0.98
    videos, values = videos[keep], values[keep]
    keep = values[:, 1] > 0.1
    videos, values = videos[keep], values[keep]
    probs = values[:, 5:]                                           # classes 1..K
    top = np.argsort(-probs, axis=1, kind="stable")[:, :3]
    rows = np.repeat(np.arange(len(values)), top.shape[1])
    labels = top.reshape(-1) + 1
    score = probs[rows, labels - 1] / (1.0 + np.exp(-values[rows, 1]))
    if "CliffDiving" in classes and "Diving" in classes:
        cliff = labels == classes.index("CliffDiving") + 1
        rows = np.concatenate([rows, rows[cliff]])
        score = np.concatenate([score, score[cliff]])
        labels = np.concatenate([labels, np.full(int(cliff.sum()), classes.index("Diving") + 1)])
    vids = videos[rows]
    missing = sorted(set(vids) - set(fps))
    if missing:
        raise InputError(f"no frame rate for video {missing[0]} ({len(missing)} videos); give the frame folders or "
                         "annotations with durations and frame counts")
    rate = np.array([fps[v] for v in vids], np.float64)
    bounds = values[rows][:, 2:4] / rate[:, None]
    codes = np.unique(vids, return_inverse=True)[1] if len(vids) else np.zeros(0, np.int64)
    kept = batched_temporal_nms(bounds, score, codes * (len(classes) + 1) + labels, nms_threshold)
    return Detections(vids[kept], bounds[kept, 0], bounds[kept, 1], labels[kept], score[kept], unit="seconds")
