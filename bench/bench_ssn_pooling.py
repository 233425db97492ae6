"""Benchmark: scoring every proposal of a video by folded heads + cumulative sums vs a per-proposal loop.

Example::

    python bench/bench_ssn_pooling.py --proposals 2000 --frames 10000 --dim 1024 --classes 20

Both paths start from the same per-frame outputs of the folded heads
(``project_frames``: (T, parts, 4K + 1), computed once per video and timed
separately) and produce the same (N, 4K + 1) proposal scores (checked):
``pool_proposals`` pools every proposal at once from one cumulative sum; the
baseline loops over proposals and averages slices of the per-frame outputs for
each segment, as the original's "reorganised" testing did.  A second baseline
pools backbone features per proposal and runs the heads (no folding).  Prints
times and ratios.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ops.models import build_model  # noqa: E402
from ops.ssn_inference import folded_weights, frame_ranges, pool_proposals, project_frames, segment_spans  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--proposals", type=int, default=2000)
    p.add_argument("--frames", type=int, default=10000, help="sampled frames of the video")
    p.add_argument("--dim", type=int, default=1024, help="feature size (BN-Inception: 1024)")
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--stpp", default="[1, [1, 2], 1]")
    p.add_argument("--loop_proposals", type=int, default=200, help="proposals timed in the loop (extrapolated)")
    return p


@torch.no_grad()
def loop_pool(y, bias, pooling, parts, bounds, count, num_segments):
    """Baseline: one proposal at a time, segment means of the per-frame outputs by slicing."""
    out = []
    for b in bounds:
        spans, scales = segment_spans(b[None], count, num_segments)
        i0, i1 = frame_ranges(spans, 1, y.shape[0])
        seg = torch.stack([y[a:c].mean(0) for a, c in zip(i0[0], i1[0])])            # (S, parts, out)
        part_scale = torch.tensor([scales[0, 0]] * parts[0] + [1.0] * parts[1] + [scales[0, 1]] * parts[2],
                                  dtype=y.dtype)
        out.append(torch.einsum("ps,spo,p->o", pooling, seg, part_scale) + bias)
    return torch.stack(out)


@torch.no_grad()
def loop_heads(model, feats, bounds, count):
    """Second baseline: one proposal at a time, segment means of backbone features, then the heads."""
    out = []
    for b in bounds:
        spans, scales = segment_spans(b[None], count, model.num_segments)
        i0, i1 = frame_ranges(spans, 1, feats.shape[0])
        seg = torch.stack([feats[a:c].mean(0) for a, c in zip(i0[0], i1[0])])[None]
        act, comp, reg = model.heads(seg, torch.tensor(scales, dtype=torch.float32))
        out.append(torch.cat([act, comp, reg.flatten(1)], 1))
    return torch.cat(out)


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def main(args) -> int:
    import json

    torch.manual_seed(0)
    backbone = {"arch": "tiny", "modality": "RGB", "new_length": 1, "pretrained": None, "bn_mode": "full",
                "dropout": 0.0}
    model = build_model({"type": "ssn", "backbone": backbone, "num_classes": args.classes,
                         "num_segments": [2, 5, 2], "stpp": json.loads(args.stpp), "dropout": 0.0})
    # heads sized for --dim features
    d = args.dim
    parts = model.stpp.parts
    model.activity_fc = torch.nn.Linear(d * parts[1], args.classes + 1)
    model.completeness_fc = torch.nn.Linear(d * sum(parts), args.classes)
    model.regressor_fc = torch.nn.Linear(d * sum(parts), 2 * args.classes)
    model.eval()
    rng = np.random.default_rng(0)
    t = args.frames
    length = np.exp(rng.uniform(np.log(10), np.log(t / 4), args.proposals))
    start = rng.uniform(0, t - length)
    bounds = np.stack([start, start + length], 1)
    feats = torch.randn(t, d)
    w, b, _ = folded_weights(model)
    pooling, num_segments = model.stpp.matrix, model.num_segments
    y, project_s = timed(project_frames, feats, w)
    fast, pool_s = timed(pool_proposals, y, bounds, t, 1, b, pooling, parts, num_segments)
    n = min(args.loop_proposals, args.proposals)
    slow, loop_s = timed(loop_pool, y, b, pooling, parts, bounds[:n], t, num_segments)
    heads, heads_s = timed(loop_heads, model, feats, bounds[:n], t)
    loop_s, heads_s = loop_s * args.proposals / n, heads_s * args.proposals / n
    err = max(float((fast[:n] - slow).abs().max()), float((fast[:n] - heads).abs().max()))
    print(f"{args.proposals} proposals, {t} frames, D={d}, K={args.classes}, STPP {args.stpp}, torch threads "
          f"{torch.get_num_threads()}")
    print(f"per-frame projection (once per video, shared): {project_s * 1000:.1f} ms")
    print(f"pooling, all proposals at once:   {pool_s * 1000:.1f} ms")
    print(f"pooling, per-proposal loop:       {loop_s * 1000:.1f} ms (timed on {n} proposals, scaled)"
          f"  -> {loop_s / pool_s:.0f}x")
    print(f"features pooled per proposal + heads, loop: {heads_s * 1000:.1f} ms"
          f"  -> whole vectorised path (projection + pooling) {heads_s / (project_s + pool_s):.1f}x faster")
    print(f"max abs difference between the three: {err:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
