"""Benchmark TAG proposal generation: ops/proposals/tag.py against the direct-loop reference.

Synthetic actionness like a real classifier's: per video, 1-15 actions of
20-300 snippets at a level drawn in [0.5, 0.95] on a 0.1 background, plus
Gaussian noise (sd 0.2), clipped to [0, 1]; original settings (sigma 3, 12
thresholds, 9 tolerances, NMS 0.9).  Both implementations run on the same
videos, one process, one thread; their boxes are checked to be identical.
Prints the time per video of each, the speed-up, and the vectorised time
split into smoothing + search and NMS.  The reference NMS is timed twice:
pure Python loops, and a loop over kept boxes with numpy comparisons (as the
original ran it); the search part of the reference is Python loops over
frames and runs (box sums from prefix sums, cheaper than the original's
per-box ``sum`` over a slice; the "original style" line adds the time of
those sums and uses the numpy-loop NMS).

Example::

    python bench/bench_tag.py --videos 200 --snippets 3000
    python bench/bench_tag.py --ref_videos 20     # reference on the first 20 videos only (faster)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from ops.proposals import tag  # noqa: E402
from tag_reference import candidates_reference, nms_numpy_loop, nms_reference  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=int, default=200, help="videos for the vectorised run")
    p.add_argument("--snippets", type=int, default=3000, help="actionness scores per video")
    p.add_argument("--ref_videos", type=int, default=None, help="videos for the loop reference (default: all)")
    p.add_argument("--repeats", type=int, default=3, help="vectorised runs; the fastest counts")
    p.add_argument("--seed", type=int, default=0)
    return p


def synthetic_actionness(rng: np.random.Generator, num: int) -> np.ndarray:
    """(num,) float32 actionness: actions on a low background, noisy."""
    base = np.full(num, 0.1)
    for _ in range(int(rng.integers(1, 16))):
        length = int(rng.integers(20, min(300, num - 1) + 1))
        start = int(rng.integers(0, num - length + 1))
        base[start:start + length] = rng.uniform(0.5, 0.95)
    return np.clip(base + rng.normal(0.0, 0.2, num), 0.0, 1.0).astype(np.float32)


def time_vectorised(videos: list[np.ndarray], repeats: int) -> tuple[float, float, list]:
    """Best total seconds of ``tag_proposals`` over all videos, seconds of its NMS part, results."""
    best, results = np.inf, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        results = [tag.tag_proposals(x) for x in videos]
        best = min(best, time.perf_counter() - t0)
    cands = [tag.candidate_boxes(x, tag.smooth(x, tag.DEFAULT_SIGMA), tag.DEFAULT_THRESHOLDS,
                                 tag.DEFAULT_TOLERANCES) for x in videos]
    nms_best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for b, s in cands:
            tag.tag_nms(b, s, tag.DEFAULT_NMS)
        nms_best = min(nms_best, time.perf_counter() - t0)
    return best, nms_best, results


def time_reference(videos: list[np.ndarray]) -> tuple[float, float, float, float, list]:
    """Seconds of the loop reference: candidates, pure-Python NMS, numpy-loop NMS, and of
    per-box ``sum`` over a slice (how the original scored boxes); its results."""
    cand_s = nms_s = np_nms_s = sums_s = 0.0
    results = []
    for x in videos:
        t0 = time.perf_counter()
        boxes = candidates_reference(x)
        t1 = time.perf_counter()
        kept = nms_reference(boxes, tag.DEFAULT_NMS)
        t2 = time.perf_counter()
        kept_np = nms_numpy_loop(boxes, tag.DEFAULT_NMS)
        t3 = time.perf_counter()
        if kept_np != kept:
            raise AssertionError("the two reference NMS disagree")
        for a, b, _ in boxes:
            sum(x[a:b])
        t4 = time.perf_counter()
        cand_s, nms_s, np_nms_s = cand_s + t1 - t0, nms_s + t2 - t1, np_nms_s + t3 - t2
        sums_s += t4 - t3
        results.append(kept)
    return cand_s, nms_s, np_nms_s, sums_s, results


def main(args: argparse.Namespace) -> int:
    rng = np.random.default_rng(args.seed)
    videos = [synthetic_actionness(rng, args.snippets) for _ in range(args.videos)]
    n_ref = min(args.ref_videos or args.videos, args.videos)
    vec_s, nms_s, results = time_vectorised(videos, args.repeats)
    cand_ref, nms_ref, np_nms_ref, sums_ref, reference = time_reference(videos[:n_ref])
    same = all([(int(a), int(b), float(s)) for (a, b), s in zip(*res)] == ref
               for res, ref in zip(results, reference))
    ms = 1e3
    v_all, v_nms = vec_s / args.videos * ms, nms_s / args.videos * ms
    r_cand, r_nms, r_np = cand_ref / n_ref * ms, nms_ref / n_ref * ms, np_nms_ref / n_ref * ms
    r_orig = r_cand + sums_ref / n_ref * ms + r_np
    boxes = np.mean([len(r[0]) for r in results])
    print(f"{args.videos} videos x {args.snippets} snippets, {boxes:.0f} proposals per video "
          f"(reference on {n_ref} videos); ms per video:")
    print(f"{'':28s}{'loop reference':>16s}{'ops/proposals/tag.py':>12s}{'speed-up':>10s}")
    print(f"{'smoothing + search':28s}{r_cand:16.2f}{v_all - v_nms:12.2f}{r_cand / (v_all - v_nms):9.1f}x")
    print(f"{'NMS (pure-Python loops)':28s}{r_nms:16.2f}{v_nms:12.2f}{r_nms / v_nms:9.1f}x")
    print(f"{'NMS (numpy per kept box)':28s}{r_np:16.2f}{v_nms:12.2f}{r_np / v_nms:9.1f}x")
    print(f"{'total (pure loops)':28s}{r_cand + r_nms:16.2f}{v_all:12.2f}{(r_cand + r_nms) / v_all:9.1f}x")
    print(f"{'total (numpy-loop NMS)':28s}{r_cand + r_np:16.2f}{v_all:12.2f}{(r_cand + r_np) / v_all:9.1f}x")
    print(f"{'original style (+ box sums)':28s}{r_orig:16.2f}{v_all:12.2f}{r_orig / v_all:9.1f}x")
    print(f"identical boxes on the {n_ref} compared videos: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
