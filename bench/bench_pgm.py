"""Benchmark BSN's PGM: candidates, ground-truth matching and BSP features for an ActivityNet-sized set.

Example::

    python bench/bench_pgm.py                 # 19,228 videos x 100 rows, one core
    python bench/bench_pgm.py --dry_run       # 50 videos (the test suite runs this)

Generates smooth TEM curves (a trained TEM's are smooth: a few peaks per curve) and 1-3 ground-truth instances per
video, then times ``bsn_pgm.video_proposals`` (vectorised over each video's proposals) on every video, and a
per-proposal loop implementation of the same rules (pairs in Python, one ``np.interp`` per region) on the first
``--loop_videos`` videos; prints the whole set's time and the ratio per video, same process.  Both give the same
numbers (checked on the loop's videos).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

# run as `python bench/bench_pgm.py`: Python puts bench/ on the path, not the repository root
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bsn_pgm import video_proposals  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=int, default=19228)
    p.add_argument("--temporal_dim", type=int, default=100)
    p.add_argument("--loop_videos", type=int, default=100, help="videos run through the loop implementation")
    p.add_argument("--dry_run", action="store_true")
    return p


def make_video(rng, t: int):
    """TEM-like curves: a low noisy floor and, in the start and end curves, a few peaks (one per instance and
    some false ones); the action curve high between them."""
    x = np.arange(t)
    gt = np.sort(rng.random((rng.integers(1, 4), 2)) * t, 1)
    def peaks(centres):
        bumps = [h * np.exp(-0.5 * ((x - c) / w) ** 2) for c, h, w in
                 zip(centres, rng.uniform(0.3, 0.9, len(centres)), rng.uniform(0.8, 2.0, len(centres)))]
        return np.clip(0.03 + 0.02 * rng.random(t) + np.sum(bumps, 0), 0, 1)
    noise = lambda: list(rng.random(rng.integers(1, 4)) * t)
    start, end = peaks(list(gt[:, 0]) + noise()), peaks(list(gt[:, 1]) + noise())
    action = np.clip(0.05 + 0.9 * ((x[:, None] >= gt[:, 0]) & (x[:, None] <= gt[:, 1])).any(1)
                     + 0.03 * rng.random(t), 0, 1)
    return np.stack([action, start, end], 1)[None], np.array([[0.0, 100.0]]), gt / t * 100.0


def loop_video(curves, spans, gt_seconds):
    """The same rules, one proposal at a time (the original's structure)."""
    curve = curves[0]
    t = len(curve)
    (t0, t1), gt = spans[0], (gt_seconds - spans[0][0]) / (spans[0][1] - spans[0][0])

    def candidate(c, i):
        return i in (0, t - 1) or (c[i] > c[i - 1] and c[i] > c[i + 1]) or c[i] > 0.5 * c.max()

    pad = int(t / 4 + 10)
    xs = [(i + 0.5) / t for i in range(-pad, t + pad)]
    ys = [0.0] * pad + list(curve[:, 0]) + [0.0] * pad
    rows, feats = [], []
    for s in range(t):
        if not candidate(curve[:, 1], s):
            continue
        for e in range(s + 1, t):
            if not candidate(curve[:, 2], e):
                continue
            lo, hi = (s + 0.5) / t, (e + 0.5) / t
            ious, ioas = [], []
            for g0, g1 in gt:
                inter = max(0.0, min(hi, g1) - max(lo, g0))
                ious.append(inter / (hi - lo + g1 - g0 - inter))
                ioas.append(inter / (hi - lo))
            rows.append([lo, hi, curve[s, 1], curve[e, 2], curve[s, 1] * curve[e, 2], max(ious), max(ioas)])
            f, length = [], hi - lo
            for a, b, n in ((lo, hi, 16), (lo - 0.2 * length, lo + 0.2 * length, 8),
                            (hi - 0.2 * length, hi + 0.2 * length, 8)):
                step = (b - a) / (n - 1)
                pts = np.interp([a - step / 2 + k * step / 3 for k in range(3 * n + 1)], xs, ys)
                f += [float(np.mean(pts[3 * j:3 * j + 4])) for j in range(n)]
            feats.append(f)
    rows = np.array(rows)
    order = np.lexsort((np.arange(len(rows)), -rows[:, 4]))
    return rows[order], np.array(feats)[order]


def main(args: argparse.Namespace) -> int:
    if args.dry_run:
        args.videos, args.loop_videos = 50, 5
    rng = np.random.default_rng(0)
    videos = [make_video(rng, args.temporal_dim) for _ in range(args.videos)]
    start = time.perf_counter()
    count = 0
    for curves, spans, gt in videos:
        count += len(video_proposals(curves, spans, gt)[0])
    ours = time.perf_counter() - start
    n = min(args.loop_videos, args.videos)
    start = time.perf_counter()
    loops = [loop_video(*v) for v in videos[:n]]
    loop = time.perf_counter() - start
    for (rows, feats), v in zip(loops, videos[:n]):
        got, _, f = video_proposals(*v)
        np.testing.assert_allclose(got, rows, atol=1e-9)
        np.testing.assert_allclose(f, feats, atol=1e-9)
    per_ours, per_loop = ours / args.videos, loop / n
    print(f"PGM, {args.videos} videos x {args.temporal_dim} rows ({count / args.videos:.0f} proposals a video): "
          f"{ours:.1f} s on one core ({1e3 * per_ours:.2f} ms a video); per-proposal loop {1e3 * per_loop:.1f} ms a "
          f"video ({n} videos): {per_loop / per_ours:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))
