"""Experiment: would a compiled pooling kernel pay for itself?  (needs ``pip install numba``; not a dependency)

Example::

    pip install numba && python bench/bench_ssn_pooling_compiled.py --frame_interval 1

Same inputs as ``bench/bench_ssn_pooling.py`` (2,000 proposals, 10,000 frames,
random folded heads).  The kernel here makes one pass over the scored frames
with a running float64 sum per STPP part, and adds each proposal part's
``+-scale / frames`` times that sum when the pass reaches the part's ends
(its ends bucketed by frame beforehand, a counting sort): no prefix table is
stored, so memory traffic is one read of the per-frame outputs.  The part
geometry stays the project's vectorised numpy code.

Printed per STPP setting: numba's import and first-call (JIT compile) time, the
medians of the kernel, of ``ops.models.ssn_inference.pool_proposals`` and of the
per-proposal numpy loop of ``bench_ssn_pooling.py`` (rounds interleaved), the
ratios against the loop, and the largest difference from ``pool_proposals``.
Why the project does not ship this kernel: docs/training.md, "Pooling speed".
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench_ssn_pooling import heads_for, loop_pool  # noqa: E402
from ops.models.ssn_inference import frame_ranges, part_layout, part_spans, pool_proposals, project_frames  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--proposals", type=int, default=2000)
    p.add_argument("--frames", type=int, default=10000, help="frames of the video")
    p.add_argument("--frame_interval", type=int, default=1, help="score every k-th frame (ssn_test's default: 6)")
    p.add_argument("--stpp", nargs="+", default=["[1, 1, 1]", "[1, [1, 2], 1]"], help="STPP settings (JSON)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved rounds per setting (medians reported)")
    return p


def scan_pool(y, i0, i1, weights, bias):
    """Kernel (compiled by numba in main): y (T, P, D) float32; i0, i1 (N, P) int64 frame ranges; weights
    (N, P) float64 = scale / (i1 - i0); bias (D,) -> (N, D) float64.  Plain loops, as numba wants them."""
    t_len, parts, dim = y.shape
    n_props = i0.shape[0]
    start = np.zeros(t_len + 2, np.int64)                 # counting sort of the 2 N P ends by frame
    for n in range(n_props):
        for p in range(parts):
            start[i0[n, p] + 1] += 1
            start[i1[n, p] + 1] += 1
    for t in range(t_len + 1):
        start[t + 1] += start[t]
    fill = start.copy()
    ev_n = np.empty(2 * n_props * parts, np.int64)
    ev_p = np.empty(2 * n_props * parts, np.int64)
    ev_w = np.empty(2 * n_props * parts)
    for n in range(n_props):
        for p in range(parts):
            for pos, sign in ((i0[n, p], -1.0), (i1[n, p], 1.0)):
                k = fill[pos]
                fill[pos] += 1
                ev_n[k], ev_p[k], ev_w[k] = n, p, sign * weights[n, p]
    out = np.empty((n_props, dim))
    for n in range(n_props):
        out[n] = bias
    running = np.zeros((parts, dim))                      # sum of y[:t], float64
    for t in range(t_len + 1):
        for k in range(start[t], start[t + 1]):
            n, p, w = ev_n[k], ev_p[k], ev_w[k]
            for d in range(dim):
                out[n, d] += w * running[p, d]
        if t < t_len:
            for p in range(parts):
                for d in range(dim):
                    running[p, d] += y[t, p, d]
    return out


def bench_setting(args, stpp, bounds: np.ndarray, features: torch.Tensor, kernel, import_s: float) -> None:
    heads = heads_for(stpp, 1024, 20)
    y = project_frames(features, heads.weights)
    stage, cells = part_layout(heads.stpp_matrix, heads.stpp_parts, heads.num_segments)

    def compiled(y, bounds, count, interval, bias):
        spans, scales = part_spans(bounds, count, stage, cells)
        i0, i1 = frame_ranges(spans, interval, len(y))
        return kernel(y, i0, i1, scales / (i1 - i0), bias)

    call = (y, bounds, args.frames, args.frame_interval, heads.bias)
    t0 = time.perf_counter()
    result = compiled(*call)                              # the first call compiles (for these dtypes)
    first_s = time.perf_counter() - t0
    spans, scales = part_spans(bounds, args.frames, stage, cells)
    i0, i1 = frame_ranges(spans, args.frame_interval, len(y))
    ranges = (i0.tolist(), i1.tolist(), scales.tolist())
    for _ in range(2):
        pool_proposals(*call, stage, cells)
    times = {"compiled": [], "vectorised": [], "loop": []}
    for _ in range(args.repeats):
        for name, fn, fn_args in (("compiled", compiled, call), ("vectorised", pool_proposals, (*call, stage, cells)),
                                  ("loop", loop_pool, (y, *ranges, heads.bias))):
            t0 = time.perf_counter()
            fn(*fn_args)
            times[name].append(time.perf_counter() - t0)
    ms = {k: float(np.median(v)) * 1000 for k, v in times.items()}
    diff = np.abs(result - pool_proposals(*call, stage, cells)).max()
    print(f"STPP {json.dumps(stpp)}: numba import {import_s:.2f} s, first call (compile) {first_s:.2f} s\n"
          f"  compiled {ms['compiled']:.2f} ms ({ms['loop'] / ms['compiled']:.0f}x), vectorised numpy "
          f"{ms['vectorised']:.2f} ms ({ms['loop'] / ms['vectorised']:.0f}x), per-proposal loop {ms['loop']:.1f} ms; "
          f"max abs difference {diff:.1e}")


def main(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    try:
        import numba
    except ImportError:
        sys.stderr.write("bench_ssn_pooling_compiled.py: error: needs numba (pip install numba), which the "
                         "project does not depend on\n")
        return 2
    import_s = time.perf_counter() - t0
    kernel = numba.njit(nogil=True)(scan_pool)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    length = np.exp(rng.uniform(np.log(10), np.log(args.frames / 4), args.proposals))
    start = rng.uniform(0, args.frames - length)
    bounds = np.stack([start, start + length], 1)
    features = torch.randn(-(-args.frames // args.frame_interval), 1024)
    print(f"{args.proposals} proposals, {args.frames} frames, frame interval {args.frame_interval}, "
          f"numba {numba.__version__}, medians of {args.repeats} interleaved rounds, one thread")
    for stpp in args.stpp:
        bench_setting(args, json.loads(stpp), bounds, features, kernel, import_s)
        import_s = 0.0                                    # paid once
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
