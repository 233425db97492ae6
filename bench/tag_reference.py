"""Direct-loop reference of the TAG proposal algorithm (the semantics of the original SSN code).

This is the slow, obviously-correct version that ``ops/proposals/tag.py`` must match box
for box.  It is written from the algorithm as the original
``gen_bottom_up_proposals.py`` / ``ops/sequence_funcs.py`` of SSN ran it
(``label_frame_by_threshold``, ``build_box_by_search``, ``temporal_nms``);
every step is a plain Python loop over frames, runs and boxes.  See
``docs/tag.md`` for the algorithm in words.

Example (used by the tests and by ``bench/bench_tag.py``)::

    python -c "import numpy as np, sys; sys.path.insert(0, 'bench'); \\
               from tag_reference import tag_proposals_reference; \\
               print(tag_proposals_reference(np.r_[0.1, 0.9, 0.9, 0.1, 0.8, 0.1], sigma=0))"

Two choices the original leaves open are fixed here exactly as in ``ops/proposals/tag.py``:

- box scores are differences of a float64 running sum (prefix sums), so that
  equal sums round equally in both implementations;
- NMS visits boxes by score descending, ties by start then end ascending (the
  original used an unstable ``argsort``, whose tie order is unspecified).
"""
from __future__ import annotations

import math

DEFAULT_THRESHOLDS = (0.01, 0.05, 0.1, 0.15, 0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
DEFAULT_TOLERANCES = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)


def smooth_reference(scores, sigma: float, truncate: float = 4.0) -> list[float]:
    """Gaussian smoothing, mode 'reflect' (scipy ``gaussian_filter1d``), frame by frame."""
    n = len(scores)
    if sigma <= 0 or n == 0:
        return [float(x) for x in scores]
    radius = int(truncate * float(sigma) + 0.5)
    weights = [math.exp(-0.5 * (k * k) / (sigma * sigma)) for k in range(-radius, radius + 1)]
    total = sum(weights)
    weights = [w / total for w in weights]
    out = []
    for i in range(n):
        acc = 0.0
        for k in range(-radius, radius + 1):
            j = (i + k) % (2 * n)          # reflect: ... c b a | a b c | c b a ...
            if j >= n:
                j = 2 * n - 1 - j
            acc += weights[k + radius] * float(scores[j])
        out.append(acc)
    return out


def find_runs(labels) -> tuple[list[int], list[int]]:
    """Starts and (exclusive) ends of the runs of True in ``labels``."""
    ups, downs = [], []
    prev = False
    for i, lab in enumerate(labels):
        if lab and not prev:
            ups.append(i)
        if prev and not lab:
            downs.append(i)
        prev = lab
    if prev:
        downs.append(len(labels))
    return ups, downs


def search_boxes(labels, prefix, tolerances) -> list[tuple[int, int, float]]:
    """The watershed-like search of one threshold level: boxes (start, end, score).

    ``signal[i] = (# frames <= i below threshold) - tol * i``.  Forward: from each
    run start, add the following runs until the start of a run whose signal
    exceeds the first one's (the gaps would make the box more than ``tol``
    background); the box ends one frame after the last included run.
    Backward: the mirror image from each run end.
    """
    n = len(labels)
    ups, downs = find_runs(labels)
    below = []
    count = 0
    for lab in labels:
        count += 0 if lab else 1
        below.append(count)

    def box_score(a, b):
        return prefix[min(b, n)] - prefix[min(a, n)]

    boxes = []
    for tol in tolerances:
        signal = [below[i] - tol * i for i in range(n)]
        for x in range(len(ups)):
            end = downs[-1] + 1
            for y in range(x + 1, len(ups)):
                if signal[ups[y]] > signal[ups[x]]:
                    end = downs[y - 1] + 1
                    break
            boxes.append((ups[x], end, box_score(ups[x], end)))
        for x in range(len(downs) - 1, -1, -1):
            s = signal[downs[x]] if downs[x] < n else signal[n - 1] - tol
            found = None
            for y in range(x - 1, -1, -1):
                if signal[downs[y]] < s:
                    found = y
                    break
            end = downs[x] + 1
            if found is not None:
                boxes.append((ups[found + 1], end, box_score(ups[found + 1], end)))
            else:  # the original scores this box from frame 0 to end + 1
                boxes.append((ups[0], end, box_score(0, end + 1)))
    return boxes


def nms_reference(boxes, threshold: float) -> list[tuple[int, int, float]]:
    """Greedy NMS with the original's inclusive IoU: ``(min e - max s + 1) / (len1 + len2 - inter)``, len = e - s + 1."""
    order = sorted(boxes, key=lambda b: (-b[2], b[0], b[1]))
    kept = []
    for box in order:
        suppressed = False
        for k in kept:
            inter = min(box[1], k[1]) - max(box[0], k[0]) + 1
            union = (box[1] - box[0] + 1) + (k[1] - k[0] + 1) - inter
            if inter / union > threshold:
                suppressed = True
                break
        if not suppressed:
            kept.append(box)
    return kept


def candidates_reference(scores, sigma: float = 3.0, thresholds=DEFAULT_THRESHOLDS,
                         tolerances=DEFAULT_TOLERANCES) -> list[tuple[int, int, float]]:
    """Every box of every level and tolerance, before NMS (duplicates included)."""
    smoothed = smooth_reference(scores, sigma)
    prefix = [0.0]
    for x in scores:
        prefix.append(prefix[-1] + float(x))
    boxes = []
    for th in thresholds:
        labels = [v > th for v in smoothed]
        boxes.extend(search_boxes(labels, prefix, [float(t) for t in tolerances]))
    return boxes


def nms_numpy_loop(boxes, threshold: float) -> list[tuple[int, int, float]]:
    """The same NMS as :func:`nms_reference`, as the original ran it: a loop over kept boxes,
    each comparing with all remaining boxes in numpy (for the benchmark)."""
    import numpy as np

    s = np.array([b[0] for b in boxes], dtype=np.int64)
    e = np.array([b[1] for b in boxes], dtype=np.int64)
    sc = np.array([b[2] for b in boxes], dtype=np.float64)
    order = np.lexsort((e, s, -sc))
    kept = []
    while order.size:
        i, rest = order[0], order[1:]
        kept.append(boxes[i])
        inter = np.minimum(e[i], e[rest]) - np.maximum(s[i], s[rest]) + 1
        union = (e[i] - s[i] + 1) + (e[rest] - s[rest] + 1) - inter
        order = rest[inter / union <= threshold]
    return kept


def tag_proposals_reference(scores, sigma: float = 3.0, thresholds=DEFAULT_THRESHOLDS,
                            tolerances=DEFAULT_TOLERANCES, nms_threshold: float = 0.9
                            ) -> list[tuple[int, int, float]]:
    """TAG boxes of one video, by loops: [(start, end, score)] in snippet indices, NMS order.

    ``scores`` (T,) actionness in [0, 1]; the box score is the sum of the
    *unsmoothed* scores of its frames.
    """
    return nms_reference(candidates_reference(scores, sigma, thresholds, tolerances), nms_threshold)
