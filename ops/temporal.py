"""Vectorised operations on temporal intervals.

An interval array has shape (N, 2) holding ``[start, end]`` rows in any one
unit (seconds, frames or fractions of the video).  Intervals are continuous:
the length of ``[s, e]`` is ``e - s``; only the NMS also offers the original
TAG's inclusive convention (``e - s + 1``, integer snippet indices).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops.errors import InputError


def as_intervals(x) -> np.ndarray:
    """Return ``x`` as a float64 array of shape (N, 2) (an empty input gives (0, 2))."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"expected intervals of shape (N, 2), got {arr.shape}")
    return arr


def pairwise_intersection(a, b) -> np.ndarray:
    """Intersection lengths, shape (N, M), of intervals ``a`` (N, 2) and ``b`` (M, 2)."""
    a, b = as_intervals(a), as_intervals(b)
    lo = np.maximum(a[:, None, 0], b[None, :, 0])
    hi = np.minimum(a[:, None, 1], b[None, :, 1])
    return np.clip(hi - lo, 0.0, None)


def pairwise_iou(a, b) -> np.ndarray:
    """Temporal IoU, shape (N, M), between ``a`` (N, 2) and ``b`` (M, 2).

    A pair whose union is empty (two zero-length intervals at one point) has IoU 0.
    """
    a, b = as_intervals(a), as_intervals(b)
    inter = pairwise_intersection(a, b)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


def overlap_over_first(a, b) -> np.ndarray:
    """Intersection divided by the length of each interval of ``a``, shape (N, M).

    Zero-length intervals of ``a`` give 0.
    """
    a = as_intervals(a)
    inter = pairwise_intersection(a, b)
    length = (a[:, 1] - a[:, 0])[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(length > 0, inter / length, 0.0)


# --------------------------------------------------------------------------- unit conversions
# The only place where seconds, frames and fractions of a video are converted.


def seconds_to_frames(t, fps: float) -> np.ndarray:
    """Seconds -> frame positions (float; frame ``i`` covers ``[i, i + 1) / fps`` seconds)."""
    return np.asarray(t, dtype=np.float64) * float(fps)


def frames_to_seconds(frames, fps: float) -> np.ndarray:
    """Frame positions -> seconds."""
    return np.asarray(frames, dtype=np.float64) / float(fps)


def seconds_to_fraction(t, duration: float) -> np.ndarray:
    """Seconds -> fraction of a video lasting ``duration`` seconds."""
    return np.asarray(t, dtype=np.float64) / float(duration)


def fraction_to_seconds(x, duration: float) -> np.ndarray:
    """Fraction of a video -> seconds."""
    return np.asarray(x, dtype=np.float64) * float(duration)


def frames_to_fraction(frames, num_frames: int) -> np.ndarray:
    """Frame positions -> fraction of a video of ``num_frames`` frames."""
    return np.asarray(frames, dtype=np.float64) / float(num_frames)


# a fraction made from seconds (3.0 s / 10.3 s) times the frame count can land an ulp below the integer it
# stands for (29.999999999999996 for frame 30); this much slack (1e-6 frame) absorbs such float noise only
FRAME_EPS = 1e-6


def fraction_to_frames(x, num_frames: int) -> np.ndarray:
    """Fraction of a video -> index of the frame it falls in, ``floor(x * num_frames)`` (float64), as the
    original SSN truncates; products within :data:`FRAME_EPS` below an integer count as that integer."""
    return np.floor(np.asarray(x, dtype=np.float64) * int(num_frames) + FRAME_EPS)


# --------------------------------------------------------------------------- element-wise IoU and NMS


def paired_iou(s1, e1, s2, e2, hull: bool = False) -> np.ndarray:
    """IoU of interval ``i`` of one set with interval ``i`` of another, element-wise.

    Args:
        s1, e1, s2, e2: (P,) starts and ends (any one unit).
        hull: divide by the hull ``max(e) - min(s)`` (THUMOS14 evalkit, original SSN
            recall) instead of ``len1 + len2 - inter`` (ActivityNet).  The two are equal
            in exact arithmetic but may differ in the last bit, which matters at a
            threshold boundary, so each protocol uses its own tool's formula.
    Returns:
        (P,) float64; 0 where the intervals do not overlap or the union is empty.
    """
    s1, e1, s2, e2 = (np.asarray(x, dtype=np.float64) for x in (s1, e1, s2, e2))
    inter = np.minimum(e1, e2) - np.maximum(s1, s2)
    if hull:
        union = np.maximum(e1, e2) - np.minimum(s1, s2)
        ok = inter > 0
    else:
        inter = np.clip(inter, 0.0, None)
        union = (e2 - s2) + (e1 - s1) - inter
        ok = union > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, inter / np.where(ok, union, 1.0), 0.0)


# Greedy NMS: one implementation for SSN detections (continuous IoU, many small groups)
# and TAG boxes (inclusive IoU, thousands of near-identical boxes in one group).  A dense
# (N, N) IoU matrix per group needs N^2 memory, and even the pairs above the threshold
# can be quadratic for near-identical boxes, so the NMS searches a sparse pair graph and
# settles boxes a block at a time: memory follows the kept boxes (batched_temporal_nms).

_RUN_CUT = 2  # mean targets per start above which candidates are cut by end first


@dataclass
class _Windows:
    """Boxes in visiting order (arrays (N,)) with exact integer search keys.

    ``key = group * U + rank(start)`` orders boxes by (group, start) whatever the
    unit; a box's suppression window covers keys ``[lo, hi)`` and end ranks
    ``[lo_e, hi_e)`` (``rank_e`` in ``0 .. E - 1``).  ``step`` is when the box is
    settled: its index in the processing order ``proc``.
    """

    s: np.ndarray
    e: np.ndarray
    length: np.ndarray
    offset: float
    key: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    rank_e: np.ndarray
    lo_e: np.ndarray
    hi_e: np.ndarray
    num_ends: int
    step: np.ndarray
    proc: np.ndarray


@dataclass
class _Targets:
    """Positions sorted by (group, start, end), their bounds, and their runs of equal (group, start).

    ``s``, ``e``, ``length``, ``step`` (T,) are ``w``'s arrays at ``pos`` (gathered once:
    candidates index them directly); ``run_key`` (R,) is the key of each run,
    ``run_first`` (R + 1,) its first index (last: T), ``key2 = run * E + rank_e`` (T,)
    ascending, so one ``searchsorted`` cuts a run to an end window.
    """

    pos: np.ndarray
    s: np.ndarray
    e: np.ndarray
    length: np.ndarray
    step: np.ndarray
    run: np.ndarray
    run_key: np.ndarray
    run_first: np.ndarray
    key2: np.ndarray


def batched_temporal_nms(bounds, scores, groups, threshold: float, *, inclusive: bool = False,
                         block: int = 1024, budget: int = 1 << 20) -> np.ndarray:
    """Greedy temporal NMS run independently inside each group.

    Within a group, detections are visited by score descending (ties: lower index
    first); each kept detection suppresses later ones whose IoU with it is above
    ``threshold`` (IoU equal to the threshold is kept, as in the original SSN).

    IoU conventions, ``IoU = inter / (len1 + len2 - inter)`` (0 when that is not
    positive): continuous (``inclusive=False``; SSN detections, any unit) ``len = e - s``,
    ``inter = max(0, min e - max s)``; inclusive (``inclusive=True``; the original TAG
    on integer snippet or frame indices) ``len = e - s + 1``,
    ``inter = max(0, min e - max s + 1)``.

    Sparse: ``IoU > t > 0`` implies ``|s1 - s2| + |e1 - e2| < (1 - t) / t * len1``, so
    the pairs above the threshold are found by window searches.  Boxes are settled
    ``block`` at a time (all groups' first boxes, then their second ones, ...):
    the greedy outcome inside the block from its pairs, then every later box a kept
    box suppresses is dropped at once.  Memory follows the kept boxes and ``budget``
    (candidate pairs held at a time), never N^2.

    Args:
        bounds: (N, 2) intervals; scores: (N,); groups: (N,) integer group ids
            (e.g. ``video_code * num_classes + label``), or None for one group.
        threshold: IoU above which a lower-scored detection is removed (>= 0).
        inclusive: the inclusive IoU (``e - s + 1``) instead of the continuous one.
        block: boxes settled per step; budget: candidate pairs held at a time.
    Returns:
        (K,) int64 indices of the kept detections, ordered by group then score
        descending (ties: lower index first).
    """
    b = as_intervals(bounds)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = len(sc)
    g = np.zeros(n, np.int64) if groups is None else np.asarray(groups, dtype=np.int64).reshape(-1)
    if not threshold >= 0:
        raise InputError(f"NMS threshold must be >= 0, got {threshold}")
    if len(b) != n or len(g) != n:
        raise ValueError(f"{len(b)} bounds, {n} scores and {len(g)} groups: they must agree")
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort((np.arange(n), -sc, g))  # visiting order
    g = g[order]
    first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    sizes = np.diff(np.r_[first, n])
    kept = np.repeat(sizes == 1, sizes)  # a box alone in its group stays (common in SSN)
    rest = np.flatnonzero(~kept)
    if rest.size:
        w = _windows(b[order[rest]], g[rest], threshold, 1.0 if inclusive else 0.0)
        kept[rest[_settle(w, threshold, block, budget)]] = True
    return order[kept]


def temporal_nms(bounds, scores, threshold: float, *, inclusive: bool = False) -> np.ndarray:
    """Greedy temporal NMS of one set (:func:`batched_temporal_nms` with one group).

    Returns kept indices by score descending (ties: lower index first).
    """
    return batched_temporal_nms(bounds, scores, None, threshold, inclusive=inclusive)


def soft_nms(proposals, alpha: float, low: float, high: float, top_k: int) -> np.ndarray:
    """Gaussian soft-NMS of BSN and BMN (one implementation for every method).

    Proposals are visited by score descending (ties: lower input row first).  Each
    step takes the highest *current* score (first among ties in that order) of the
    remaining proposals; with its width ``w = t_max - t_min``, every other remaining
    proposal whose IoU with it is above ``low + (high - low) * w`` has its score
    multiplied by ``exp(-IoU ** 2 / alpha)``; the winner moves to the output with its
    current score.  Steps continue while proposals remain and at most ``top_k`` are
    kept, so up to ``top_k + 1`` come out, as in the original; callers sort and cut.
    No score floor.  IoU is continuous (``inter / (len_a + len_b - inter)``, 0 when
    that is not positive).  BMN: alpha 0.4, low 0.5, high 0.9; BSN: 0.75, 0.65, 0.9.

    Args:
        proposals: (K, 3) ``[t_min, t_max, score]``, fractions of the video (the
            width threshold assumes fractions).
    Returns:
        (K', 3) float64 ``[t_min, t_max, decayed score]`` in the order kept,
        K' = min(K, top_k + 1).
    """
    p = np.asarray(proposals, dtype=np.float64).reshape(-1, 3)
    if not (alpha > 0 and top_k >= 0):
        raise InputError(f"soft-NMS needs alpha > 0 and top_k >= 0, got alpha={alpha}, top_k={top_k}")
    p = p[np.argsort(-p[:, 2], kind="stable")]
    s, e, score = p[:, 0], p[:, 1], p[:, 2].copy()
    alive = np.ones(len(p), bool)
    kept = []
    for _ in range(min(len(p), top_k + 1)):  # at most top_k + 1 steps, each vectorised over K
        i = int(np.argmax(np.where(alive, score, -np.inf)))
        alive[i] = False
        kept.append((s[i], e[i], score[i]))
        inter = np.clip(np.minimum(e, e[i]) - np.maximum(s, s[i]), 0, None)
        union = (e - s) + (e[i] - s[i]) - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        hit = alive & (iou > low + (high - low) * (e[i] - s[i]))
        score[hit] *= np.exp(-np.square(iou[hit]) / alpha)
    return np.array(kept, dtype=np.float64).reshape(-1, 3)


def soft_nms_many(proposals: list, alpha: float, low: float, high: float, top_k: int,
                  chunk: int = 64) -> list[np.ndarray]:
    """:func:`soft_nms` of many videos at once: the same rule, the same numbers, video by video.

    Videos are padded to the largest count and processed ``chunk`` at a time: each of the ``top_k + 1``
    steps is one vectorised pass over a (chunk, K) block, instead of one small pass per video (ActivityNet:
    4,728 videos).  Returns one (K', 3) array per video, in input order.
    """
    if not (alpha > 0 and top_k >= 0):
        raise InputError(f"soft-NMS needs alpha > 0 and top_k >= 0, got alpha={alpha}, top_k={top_k}")
    props = [np.asarray(p, np.float64).reshape(-1, 3) for p in proposals]
    # chunks of videos with similar counts: a block is padded to its largest video
    order = np.argsort([len(p) for p in props], kind="stable")
    out: list = [None] * len(props)
    for first in range(0, len(props), chunk):
        idx = order[first:first + chunk]
        for j, kept in zip(idx, _soft_nms_block([props[j] for j in idx], alpha, low, high, top_k)):
            out[j] = kept
    return out


def _soft_nms_block(props: list[np.ndarray], alpha: float, low: float, high: float, top_k: int) -> list:
    """The steps of :func:`soft_nms` on a (videos, K) block; removed and padded entries hold score -inf
    (a decay leaves them there), every pass writes into preallocated arrays, and the decay is computed only
    on the few entries it applies to."""
    v, k = len(props), max((len(p) for p in props), default=0)
    counts = np.array([len(p) for p in props], np.int64)
    s, e, score = np.zeros((v, k)), np.zeros((v, k)), np.full((v, k), -np.inf)
    for i, p in enumerate(props):
        p = p[np.argsort(-p[:, 2], kind="stable")]      # as soft_nms: ties keep the input order
        s[i, :len(p)], e[i, :len(p)], score[i, :len(p)] = p[:, 0], p[:, 1], p[:, 2]
    length = e - s
    # with every real length > 0 a union is > 0 wherever it matters (it is >= the winner's length), so the
    # IoU needs no guard against division by zero (as soft_nms's ``where``)
    positive = all(bool((p[:, 1] - p[:, 0] > 0).all()) for p in props)
    steps = min(k, top_k + 1)
    kept = np.zeros((v, steps, 3))
    rows = np.arange(v)
    inter, union, hit = np.empty((v, k)), np.empty((v, k)), np.empty((v, k), bool)
    flat, inter_flat = score.reshape(-1), inter.reshape(-1)   # views
    for step in range(steps):
        i = np.argmax(score, axis=1)                     # first among ties
        active = step < counts
        ws, we = s[rows, i], e[rows, i]
        kept[:, step] = np.stack([ws, we, score[rows, i]], 1)
        score[rows[active], i[active]] = -np.inf
        np.minimum(e, we[:, None], out=inter)
        np.subtract(inter, np.maximum(s, ws[:, None], out=union), out=inter)
        np.maximum(inter, 0.0, out=inter)
        np.add(length, (we - ws)[:, None], out=union)
        np.subtract(union, inter, out=union)
        if positive:
            with np.errstate(invalid="ignore"):          # 0 / 0 only in rows of a video with no proposal
                np.divide(inter, union, out=inter)
        else:
            np.divide(inter, union, out=inter, where=union > 0)
            inter[union <= 0] = 0.0
        # an inactive row (its video has no proposal left) gets no decay: threshold +inf
        np.greater(inter, np.where(active, low + (high - low) * (we - ws), np.inf)[:, None], out=hit)
        j = np.flatnonzero(hit)                          # few: only close neighbours of the winner decay
        flat[j] *= np.exp(-np.square(inter_flat[j]) / alpha)
    return [kept[j, :min(counts[j], steps)] for j in range(v)]


def _windows(b: np.ndarray, g: np.ndarray, threshold: float, offset: float) -> _Windows:
    """Search keys of boxes (N, 2) in visiting order, sorted by group ``g`` (N,); length offset 0 or 1."""
    s, e = b[:, 0], b[:, 1]
    length = (e - s) + offset
    half = _half_width(s, e, length, threshold)
    gid, proc, step = _processing_order(g)
    starts, rank_s = np.unique(s, return_inverse=True)
    ends, rank_e = np.unique(e, return_inverse=True)
    base = gid * (len(starts) + 1)  # window ranks run 0 .. len(starts)
    return _Windows(s=s, e=e, length=length, offset=offset, key=base + rank_s,
                    lo=base + np.searchsorted(starts, s - half, side="left"),
                    hi=base + np.searchsorted(starts, s + half, side="right"),
                    rank_e=rank_e, lo_e=np.searchsorted(ends, e - half, side="left"),
                    hi_e=np.searchsorted(ends, e + half, side="right"), num_ends=len(ends) + 1,
                    step=step, proc=proc)


def _half_width(s: np.ndarray, e: np.ndarray, length: np.ndarray, threshold: float) -> np.ndarray:
    """(N,) bound on ``|ds|`` and ``|de|`` to any box a box may suppress (``(1 - t) / t * len``)."""
    if threshold <= 0:  # any overlap suppresses: the window is the whole group
        return np.full(len(s), np.inf)
    # widened to a safe superset: the IoU test is rounded, and only candidates are chosen here
    scale = 1.0 + max(float(np.max(np.abs(s))), float(np.max(np.abs(e))))
    return (1.0 - threshold) / threshold * length * (1.0 + 1e-9) + 1e-9 * scale / threshold


def _processing_order(g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dense group ids, processing order and step of boxes (N,) in visiting order, sorted by group.

    Groups are independent, so boxes are settled round-robin (every group's first
    box, then every second one, ...): a block then spans many small groups, and few
    of its pairs fall inside the block.
    """
    new_group = np.r_[True, g[1:] != g[:-1]]
    gid = np.cumsum(new_group) - 1
    if gid[-1] == 0:  # one group: the visiting order
        return gid, np.arange(len(g)), np.arange(len(g))
    proc = np.lexsort((gid, np.arange(len(g)) - np.flatnonzero(new_group)[gid]))
    step = np.empty(len(g), np.int64)
    step[proc] = np.arange(len(g))
    return gid, proc, step


def _settle(w: _Windows, threshold: float, block: int, budget: int) -> np.ndarray:
    """Greedy NMS, ``block`` boxes at a time in the order of ``w.step``; returns the (N,) kept mask.

    The later boxes that kept ones may suppress are searched in an index of the
    boxes still open, rebuilt (filtered from one presorted order) whenever half of it
    has been settled: O(N log N) in all, where an index per block would cost O(N)
    per block (SSN post-processing has hundreds of thousands of boxes).
    """
    n = len(w.s)
    alive, kept = np.ones(n, bool), np.zeros(n, bool)
    by_key = later = None
    open_later = n  # alive boxes not settled yet
    for c0 in range(0, n, block):
        c1 = min(n, c0 + block)
        blk = w.proc[c0:c1]
        blk = blk[alive[blk]]
        open_later -= len(blk)
        if blk.size == 0:
            continue
        winners = blk[_block_winners(w, blk, threshold, budget)]
        kept[winners] = True
        if open_later == 0:
            continue
        if later is None or 2 * open_later < len(later.pos):
            by_key = np.lexsort((w.rank_e, w.key)) if by_key is None else by_key
            later = _targets(w, by_key[alive[by_key] & (w.step[by_key] >= c1)])
        _, t = _pairs_above(w, winners, later, threshold, budget, c1 - 1)
        t = np.unique(later.pos[t])
        t = t[alive[t]]
        alive[t] = False
        open_later -= len(t)
    return kept


def _block_winners(w: _Windows, blk: np.ndarray, threshold: float, budget: int) -> np.ndarray:
    """Greedy outcome inside one block of open boxes ``blk``: kept indices into ``blk``."""
    srt = np.lexsort((w.rank_e[blk], w.key[blk]))
    tgt = _targets(w, blk[srt])
    q, t = _pairs_above(w, tgt.pos, tgt, threshold, budget, None)  # indices into the sorted block
    first = tgt.step[q] < tgt.step[t]  # each edge runs from the box settled first
    kept = _greedy_keep(len(blk), np.where(first, q, t), np.where(first, t, q))
    return srt[kept]


def _targets(w: _Windows, pos: np.ndarray) -> _Targets:
    """Search index of positions ``pos`` already sorted by (group, start, end)."""
    key = w.key[pos]
    change = np.flatnonzero(key[1:] != key[:-1]) + 1
    run_first = np.r_[0, change, len(pos)] if len(pos) else np.zeros(1, np.int64)
    run = np.zeros(len(pos), np.int64)
    run[change] = 1
    run = np.cumsum(run)
    return _Targets(pos=pos, s=w.s[pos], e=w.e[pos], length=w.length[pos], step=w.step[pos],
                    run=run, run_key=key[run_first[:-1]], run_first=run_first,
                    key2=run * w.num_ends + w.rank_e[pos])


def _pairs_above(w: _Windows, qry: np.ndarray, tgt: _Targets, threshold: float, budget: int, after
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (query, target) of one group whose IoU is above ``threshold``.

    Args:
        qry: (Q,) positions; tgt: sorted targets.
        after: a step: only targets settled after it count.  None: the queries are
            the targets themselves (``qry is tgt.pos``) and each unordered pair is
            returned once, as (q, t) with q < t (IoU is symmetric).
    Returns:
        q (P,) indices into ``qry``, t (P,) indices into ``tgt.pos``, int64.
    """
    out_q, out_t = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    qs, qe, ql = w.s[qry], w.e[qry], w.length[qry]
    for i, lo, hi in _candidate_ranges(w, qry, tgt, budget, after is None):
        for d0, d1 in _chunks(hi - lo, budget):
            rep, j = _expand(lo[d0:d1], hi[d0:d1])
            q = i[d0:d1][rep]
            if after is not None:
                later = tgt.step[j] > after
                q, j = q[later], j[later]
            hit = _nms_iou(qs[q], qe[q], ql[q], tgt.s[j], tgt.e[j], tgt.length[j], w.offset) > threshold
            out_q.append(q[hit])
            out_t.append(j[hit])
    return np.concatenate(out_q), np.concatenate(out_t)


def _candidate_ranges(w: _Windows, qry: np.ndarray, tgt: _Targets, budget: int, upper: bool):
    """Yield (query indices, lo, hi): ranges ``tgt.pos[lo:hi]`` of candidates, each (M,).

    The runs of equal (group, start) inside a query's start window are contiguous.
    Where they hold more than ``_RUN_CUT`` targets on average (TAG: many boxes share a
    start), each run (sorted by end) is first cut to the end window by
    ``searchsorted`` on ``key2``; otherwise the whole range is a candidate.
    ``upper``: query ``k`` is target ``k`` and looks only at the targets after it.
    """
    if len(qry) == 0 or len(tgt.pos) == 0:
        return
    if upper:  # later targets start at or after the query: half the window
        own = np.arange(len(qry))
        a, ta = tgt.run[own], own + 1
    else:
        a = np.searchsorted(tgt.run_key, w.lo[qry], side="left")
        ta = tgt.run_first[a]
    b = np.searchsorted(tgt.run_key, w.hi[qry], side="left")
    tb = tgt.run_first[b]
    cut = (tb - ta) > _RUN_CUT * (b - a)
    whole = np.flatnonzero(~cut)
    yield whole, ta[whole], tb[whole]
    sel = np.flatnonzero(cut)
    for c0, c1 in _chunks(b[sel] - a[sel], budget):
        k, run = _expand(a[sel[c0:c1]], b[sel[c0:c1]])
        i = sel[c0:c1][k]
        lo, hi = tgt.run_first[run], tgt.run_first[run + 1]
        big = np.flatnonzero(hi - lo > 1)  # a single target needs no cut
        base = run[big] * w.num_ends
        lo[big] = np.searchsorted(tgt.key2, base + w.lo_e[qry[i[big]]], side="left")
        hi[big] = np.searchsorted(tgt.key2, base + w.hi_e[qry[i[big]]], side="left")
        if upper:  # in its own run a query looks past itself only (later ends there)
            mine = run == tgt.run[i]
            lo[mine] = np.maximum(lo[mine], i[mine] + 1)
        yield i, lo, hi


def _nms_iou(s1, e1, len1, s2, e2, len2, offset: float) -> np.ndarray:
    """Element-wise IoU of NMS boxes, (P,) arrays; ``len = (e - s) + offset``, offset 0 or 1 (inclusive)."""
    inter = np.clip(np.minimum(e1, e2) - np.maximum(s1, s2) + offset, 0.0, None)
    union = (len1 + len2) - inter
    ok = union > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, inter / np.where(ok, union, 1.0), 0.0)


def _chunks(counts: np.ndarray, budget: int):
    """Consecutive slices ``(c0, c1)`` of ``counts`` summing to at most ``budget`` (or one item)."""
    total = np.cumsum(np.maximum(counts, 0))  # empty ranges may come as hi < lo
    c0, n = 0, len(counts)
    while c0 < n:
        done = total[c0 - 1] if c0 else 0
        c1 = max(c0 + 1, int(np.searchsorted(total, done + budget, side="right")))
        yield c0, min(c1, n)
        c0 = c1


def _expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten ranges ``[lo[k], hi[k])``: returns (k of each element, the element)."""
    counts = np.maximum(hi - lo, 0)
    k = np.repeat(np.arange(len(lo)), counts)
    offset = np.arange(len(k)) - np.repeat(np.cumsum(counts) - counts, counts)
    return k, lo[k] + offset


def _greedy_keep(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Greedy NMS outcome over a suppression graph (edges src -> dst, src visited first).

    Resolved in rounds, each vectorised over the edges: the open boxes without an
    open source are kept (their sources were all dropped), then the boxes they
    suppress are dropped.  Every round settles at least one open box (one visited
    before every other open box), and in practice a few rounds do.
    Returns the kept indices, ascending.
    """
    state = np.zeros(n, np.int8)  # 0 open, 1 kept, 2 dropped
    while True:
        open_ = state == 0
        if not open_.any():
            break
        waiting = np.bincount(dst[state[src] == 0], minlength=n) > 0
        state[open_ & ~waiting] = 1
        state[dst[state[src] == 1]] = 2  # no edge reaches a kept box: only open ones drop
        live = state[dst] == 0
        src, dst = src[live], dst[live]
    return np.flatnonzero(state == 1)
