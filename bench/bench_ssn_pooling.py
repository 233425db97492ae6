"""Benchmark: pooling every proposal of a video at once (prefix sums) vs a per-proposal loop.

Example::

    python bench/bench_ssn_pooling.py --proposals 2000 --frames 10000 --frame_interval 1 --dim 1024 --classes 20

Both paths start from the same per-frame outputs of the folded heads, ``y``
(T, parts, 4K + 1) float32 for the T = ceil(frames / frame_interval) scored
frames (``project_frames``, computed once per video whichever pooling follows;
timed apart), and produce the same (N, 4K + 1) proposal scores:

* **vectorised**: ``ops.models.ssn_inference.pool_proposals``, timed whole: the
  geometry of all proposals, the float64 prefix sums over frames, one gather
  and a weighted sum over parts.
* **per-proposal loop** (the reference): the original SSN's test rule, in
  numpy: for each proposal and each STPP part, the mean of that part's
  per-frame outputs over the part's frame range (``y[i0:i1, p].mean(0)``),
  scaled by the stage scale, summed over parts, plus the bias.  The frame
  ranges of all proposals are computed beforehand by the same vectorised code
  and are not timed, and the loop reads them as Python lists: the loop is
  timed on its averaging only, which favours it.
* **loop as the original's test** (second reference): the structure of the
  original SSN's "reorganised" test, in torch on the CPU: for each proposal
  its stages (``ops.models.ssn.stage_layout``) and frame ranges in Python, then for
  each head (activity on the course parts, completeness and regression on
  every part) and part, the mean of that head's columns over the part's
  frames, scaled and added to the proposal's row.  Timed whole, geometry
  included.  It answers "how much faster than the original's way"; the
  numpy loop above is the stricter reference.

Proposal lengths are log-uniform between 10 frames and a quarter of the video.
Each STPP setting warms the vectorised path up with two untimed calls (the
first touch of fresh buffers costs a page fault per 4 KiB, ~3-10 us each on a
VM), then runs ``--repeats`` rounds, vectorised and numpy loop interleaved in
every round, then the original-style loop's rounds (its many small torch
tensors, interleaved, made the next vectorised call fault its buffers in
afresh).  All figures are warm ones: inputs in cache, buffers mapped.  In
``ssn_test.py`` the backbone runs between videos; with five 64 x 3 x 112 x 112
tensors made between calls, the vectorised pooling took 9.2 ms instead of
3.9 at every frame (about 1,700 page faults) and 3.2 ms instead of 1.1 at an
interval of 6 (no fault: cold caches), on the 2-core VM.  Medians of wall-clock
time and of the thread's CPU time are printed with their ratios: on a shared
machine a millisecond-long call is often preempted for a whole scheduler
slice (~4 ms), which CPU time leaves out.  Last, the largest absolute
difference between the vectorised result and each loop's (the loops average
in float32, as ``mean`` does on float32 input).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ops.models.builder import build_model  # noqa: E402
from ops.models.ssn import stage_layout  # noqa: E402
from ops.models.ssn_inference import (fold_heads, frame_ranges, part_layout, part_spans, pool_proposals,  # noqa: E402
                                      project_frames)

BACKBONE = {"arch": "tiny", "modality": "RGB", "new_length": 1, "pretrained": None, "bn_mode": "full", "dropout": 0.0}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--proposals", type=int, default=2000)
    p.add_argument("--frames", type=int, default=10000, help="frames of the video")
    p.add_argument("--frame_interval", type=int, default=1, help="score every k-th frame (ssn_test's default: 6)")
    p.add_argument("--dim", type=int, default=1024, help="feature size (BN-Inception: 1024)")
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--stpp", nargs="+", default=["[1, 1, 1]", "[1, [1, 2], 1]"], help="STPP settings (JSON)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved rounds per setting (medians reported)")
    return p


def loop_pool(y: np.ndarray, i0: list, i1: list, scales: list, bias: np.ndarray) -> np.ndarray:
    """Reference: one proposal at a time, each part the numpy mean of its frames' outputs (see docstring).

    y (T, parts, D_out); i0, i1, scales: per proposal, per part lists; returns (N, D_out) float64.
    """
    out = np.empty((len(i0), y.shape[2]))
    for n, (a, b, s) in enumerate(zip(i0, i1, scales)):
        acc = bias.copy()
        for p in range(y.shape[1]):
            acc += s[p] * y[a[p]:b[p], p].mean(0)
        out[n] = acc
    return out


def original_loop(yt: torch.Tensor, bounds: list, count: int, interval: int, bias: np.ndarray, stage: list,
                  cells: list, sizes: tuple) -> torch.Tensor:
    """Second reference (docstring): yt (T, parts, D_out) float32 tensor, bounds N [start, end] frame pairs,
    stage and cells per part (``part_layout`` as lists), sizes (K+1, K, 2K) -> (N, D_out) float64."""
    k1, k, _ = sizes
    everywhere = range(len(stage))
    heads = ((0, k1, [p for p in everywhere if stage[p] == 1]), (k1, k1 + k, everywhere),
             (k1 + k, yt.shape[2], everywhere))
    out = torch.empty(len(bounds), yt.shape[2], dtype=torch.float64)
    for n, (start, end) in enumerate(bounds):
        spans, (scale_start, scale_end) = stage_layout(start, end, count)
        scales = (scale_start, 1.0, scale_end)
        row = torch.from_numpy(bias.copy())
        for c0, c1, parts in heads:
            for p in parts:
                (a, b), (first, last, segs) = spans[stage[p]], cells[p]
                lo, hi = a + (b - a) * first / segs, b - (b - a) * (segs - last) / segs
                i0, i1 = math.ceil(lo / interval), math.ceil(hi / interval)
                if i1 <= i0:                                  # no sampled frame inside: the one before the centre
                    i0 = math.floor((lo + hi) / 2 / interval)
                    i1 = i0 + 1
                i0 = min(max(i0, 0), len(yt) - 1)
                i1 = min(max(i1, i0 + 1), len(yt))
                row[c0:c1] += yt[i0:i1, p, c0:c1].mean(0) * scales[stage[p]]
        out[n] = row
    return out


def heads_for(stpp, dim: int, classes: int):
    """Folded heads of an SSN with ``stpp`` and random heads sized for ``dim`` features."""
    model = build_model({"type": "ssn", "backbone": BACKBONE, "num_classes": classes, "num_segments": [2, 5, 2],
                         "stpp": stpp, "dropout": 0.0})
    parts = model.stpp.parts
    model.activity_fc = torch.nn.Linear(dim * parts[1], classes + 1)
    model.completeness_fc = torch.nn.Linear(dim * sum(parts), classes)
    model.regressor_fc = torch.nn.Linear(dim * sum(parts), 2 * classes)
    return fold_heads(model.eval())


def timed(fn, *args) -> tuple:
    """fn(*args), its wall-clock seconds and this thread's CPU seconds (both paths run on one thread)."""
    wall, cpu = time.perf_counter(), time.thread_time()
    result = fn(*args)
    return result, time.perf_counter() - wall, time.thread_time() - cpu


def medians_ms(times: list[tuple[float, float]]) -> np.ndarray:
    """Median (wall, CPU) milliseconds over rounds."""
    return np.median(np.asarray(times), axis=0) * 1000


def bench_setting(args, stpp, bounds: np.ndarray, features: torch.Tensor) -> None:
    heads = heads_for(stpp, args.dim, args.classes)
    y, project_s, _ = timed(project_frames, features, heads.weights)
    project_ms = project_s * 1000
    stage, cells = part_layout(heads.stpp_matrix, heads.stpp_parts, heads.num_segments)
    spans, scales = part_spans(bounds, args.frames, stage, cells)
    i0, i1 = frame_ranges(spans, args.frame_interval, len(y))
    ranges = (i0.tolist(), i1.tolist(), scales.tolist())
    fast_args = (y, bounds, args.frames, args.frame_interval, heads.bias, stage, cells)
    for _ in range(2):              # warm-up (docstring): the second call still grows the heap
        pool_proposals(*fast_args)
    original_args = (torch.from_numpy(y), bounds.tolist(), args.frames, args.frame_interval, heads.bias,
                     stage.tolist(), cells.tolist(), heads.sizes)
    fast_t, loop_t = [], []
    for _ in range(args.repeats):
        fast, *t = timed(pool_proposals, *fast_args)
        fast_t.append(t)
        slow, *t = timed(loop_pool, y, *ranges, heads.bias)
        loop_t.append(t)
    # after, not interleaved: its many small torch tensors leave the heap such that the next vectorised
    # call faults its buffers in afresh (docstring)
    orig_t = []
    for _ in range(args.repeats):
        orig, *t = timed(original_loop, *original_args)
        orig_t.append(t)
    (fast_ms, fast_cpu), (loop_ms, loop_cpu) = medians_ms(fast_t), medians_ms(loop_t)
    orig_ms, orig_cpu = medians_ms(orig_t)
    print(f"STPP {json.dumps(stpp)} ({len(heads.stpp_matrix)} parts, D_out {y.shape[2]}): projection "
          f"{project_ms:.1f} ms (once per video, shared)\n"
          f"  pooling, wall clock: vectorised {fast_ms:.2f} ms, per-proposal loop {loop_ms:.1f} ms "
          f"-> {loop_ms / fast_ms:.0f}x\n"
          f"  pooling, CPU time:   vectorised {fast_cpu:.2f} ms, per-proposal loop {loop_cpu:.1f} ms "
          f"-> {loop_cpu / fast_cpu:.0f}x\n"
          f"  loop as the original's test (torch): {orig_ms:.1f} ms wall -> {orig_ms / fast_ms:.0f}x, "
          f"{orig_cpu:.1f} ms CPU -> {orig_cpu / fast_cpu:.0f}x\n"
          f"  max abs difference {np.abs(fast - slow).max():.1e} (numpy loop), "
          f"{np.abs(fast - orig.numpy()).max():.1e} (original's)")


def main(args: argparse.Namespace) -> int:
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    length = np.exp(rng.uniform(np.log(10), np.log(args.frames / 4), args.proposals))
    start = rng.uniform(0, args.frames - length)
    bounds = np.stack([start, start + length], 1)
    features = torch.randn(-(-args.frames // args.frame_interval), args.dim)
    print(f"{args.proposals} proposals, {args.frames} frames, frame interval {args.frame_interval} "
          f"({len(features)} scored frames), D={args.dim}, K={args.classes}, medians of {args.repeats} "
          f"interleaved rounds, torch threads {torch.get_num_threads()}")
    for stpp in args.stpp:
        bench_setting(args, json.loads(stpp), bounds, features)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
