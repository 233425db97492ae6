"""Benchmark the detection mAP at ActivityNet scale: vectorised vs a per-detection loop.

Synthetic data shaped like ActivityNet v1.3 (default: 5,000 videos, 200
classes, 100 detections per video, 10 IoU thresholds 0.5:0.05:0.95).  Both
implementations run on the same data in this process; the loop is a
straightforward port of the ActivityNet tool (one Python iteration per
detection and threshold) and must give the same APs.  Prints seconds, the
ratio, and peak memory (tracemalloc, Python + numpy allocations) of the
vectorised run.

    python bench/bench_eval.py
    python bench/bench_eval.py --videos 1000 --protocol thumos14
"""
from __future__ import annotations

import sys
from pathlib import Path

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

from ops.evaluation.detection_eval import GroundTruth, evaluate_detections  # noqa: E402
from ops.formats.detections import Detections  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=5000)
    p.add_argument("--classes", type=int, default=200)
    p.add_argument("--dets_per_video", type=int, default=100)
    p.add_argument("--gt_per_video", type=float, default=1.5, help="mean ground-truth instances per video")
    p.add_argument("--protocol", choices=["activitynet", "thumos14"], default="activitynet")
    p.add_argument("--skip_naive", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    return p


def make_data(args) -> tuple[GroundTruth, Detections]:
    """Ground truth and detections in seconds; 60% of detections are jittered ground truths."""
    rng = np.random.default_rng(args.seed)
    vids = np.array([f"v_{k:06d}" for k in range(args.videos)], dtype=object)
    dur = rng.uniform(30, 240, args.videos)
    n_gt = np.maximum(1, rng.poisson(args.gt_per_video, args.videos))
    gv = np.repeat(np.arange(args.videos), n_gt)
    length = rng.uniform(0.05, 0.5, len(gv)) * dur[gv]
    gs = rng.uniform(0, 1, len(gv)) * (dur[gv] - length)
    glab = rng.integers(1, args.classes + 1, args.videos)[gv]  # one class per video, as in ActivityNet
    gt = GroundTruth(vids[gv], gs, gs + length, glab, list(vids), args.classes)
    n = args.videos * args.dets_per_video
    dv = np.repeat(np.arange(args.videos), args.dets_per_video)
    copy = rng.random(n) < 0.6
    first = np.r_[0, np.cumsum(n_gt)[:-1]]
    pick = first[dv] + (rng.random(n) * n_gt[dv]).astype(np.int64)
    jit = rng.normal(0, 0.15, (n, 2)) * length[pick][:, None]
    ds = np.where(copy, gs[pick] + jit[:, 0], rng.uniform(0, 0.8, n) * dur[dv])
    de = np.where(copy, gs[pick] + length[pick] + jit[:, 1], ds + rng.uniform(0.05, 0.5, n) * dur[dv])
    ds, de = np.minimum(ds, de), np.maximum(ds, de)
    lab = np.where(copy & (rng.random(n) < 0.7), glab[pick], rng.integers(1, args.classes + 1, n))
    dets = Detections(vids[dv], ds, de, lab, rng.random(n))
    return gt, dets


def naive_activitynet(gt: GroundTruth, dets: Detections, thresholds) -> np.ndarray:
    """The ActivityNet tool's algorithm with one Python iteration per detection and threshold."""
    ap = np.full((gt.num_classes, len(thresholds)), np.nan)
    for c in range(1, gt.num_classes + 1):
        gidx = np.flatnonzero(gt.label == c)
        if not len(gidx):
            continue
        by_video: dict[str, list[int]] = {}
        for g in gidx:
            by_video.setdefault(gt.video[g], []).append(g)
        didx = np.flatnonzero(dets.label == c)
        didx = didx[np.argsort(dets.score[didx], kind="stable")[::-1]]
        tp = np.zeros((len(thresholds), len(didx)))
        lock = np.full((len(thresholds), len(gt)), False)
        for k, d in enumerate(didx):
            cand = by_video.get(dets.video[d])
            if cand is None:
                continue
            cand = np.array(cand)
            inter = np.clip(np.minimum(dets.t_end[d], gt.t_end[cand]) - np.maximum(dets.t_start[d], gt.t_start[cand]),
                            0, None)
            iou = inter / ((gt.t_end[cand] - gt.t_start[cand]) + (dets.t_end[d] - dets.t_start[d]) - inter)
            order = np.argsort(iou, kind="stable")[::-1]
            for t, thr in enumerate(thresholds):
                for j in order:
                    if iou[j] < thr:
                        break
                    if lock[t, cand[j]]:
                        continue
                    lock[t, cand[j]] = True
                    tp[t, k] = 1
                    break
        for t in range(len(thresholds)):
            if not len(didx):
                ap[c - 1, t] = 0.0
                continue
            tpc = np.cumsum(tp[t])
            fpc = np.cumsum(1 - tp[t])
            rec, prec = tpc / len(gidx), tpc / (tpc + fpc)
            mprec = np.maximum.accumulate(np.hstack([[0], prec, [0]])[::-1])[::-1]
            mrec = np.hstack([[0], rec, [1]])
            i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
            ap[c - 1, t] = np.sum((mrec[i] - mrec[i - 1]) * mprec[i])
    return ap


def main(args) -> dict:
    thresholds = np.linspace(0.5, 0.95, 10) if args.protocol == "activitynet" else np.arange(1, 8) / 10
    t0 = time.perf_counter()
    gt, dets = make_data(args)
    print(f"data: {args.videos} videos, {len(gt)} ground truths, {len(dets)} detections, {args.classes} classes, "
          f"{len(thresholds)} IoU thresholds ({time.perf_counter() - t0:.1f} s to generate)")
    print(f"machine: {platform.processor() or platform.machine()}, {platform.python_implementation()} "
          f"{platform.python_version()}, numpy {np.__version__}, one core")
    t0 = time.perf_counter()
    m = evaluate_detections(dets, gt, args.protocol, thresholds)
    fast = time.perf_counter() - t0
    tracemalloc.start()
    evaluate_detections(dets, gt, args.protocol, thresholds)
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    print(f"vectorised {args.protocol}: {fast:.2f} s, peak memory {peak:.0f} MiB, "
          f"average mAP {100 * m.average_map:.3f}%")
    out = {"vectorised_s": fast, "peak_mib": peak}
    if not args.skip_naive and args.protocol == "activitynet":
        t0 = time.perf_counter()
        ref = naive_activitynet(gt, dets, thresholds)
        slow = time.perf_counter() - t0
        diff = float(np.nanmax(np.abs(ref - m.ap)))
        print(f"per-detection loop: {slow:.2f} s; speed-up {slow / fast:.1f}x; max |AP difference| {diff:.2e}")
        out.update(naive_s=slow, ratio=slow / fast, max_diff=diff)
    return out


if __name__ == "__main__":
    main(get_args_parser().parse_args())
