"""Benchmark BMN: the sparse boundary-matching layer against MMAction2's dense mask, and the post-processing.

Example::

    python bench/bench_bmn.py                  # T = 100, batch 4, CPU: one training iteration both ways
    python bench/bench_bmn.py --dry_run        # tiny sizes (the test suite runs this)

1. One training iteration (forward + backward + Adam step) of the full network on the same batch, BM layer
   sparse (ours) and dense (MMAction2's ``[T, 32 x T x T]`` mask matmul, then the 3-D convolution), in the same
   process: times, the ratio, the largest difference of the outputs, and the memory the dense mask takes.
2. Post-processing of ``--videos`` ActivityNet-sized videos (100 x 100 maps): candidates, soft-NMS, top 100,
   seconds (``ops.proposals.bmn``), one core; and the per-video ``soft_nms`` loop on the same candidates for
   the ratio.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

# run as `python bench/bench_bmn.py`: Python puts bench/ on the path, not the repository root that holds `ops`
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ops.models.bmn import BMN, bmn_loss  # noqa: E402
from ops.proposals.bmn import bm_sample_mask, bmn_candidates  # noqa: E402
from ops.proposals.windows import proposals_in_seconds  # noqa: E402
from ops.temporal import soft_nms  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--temporal_dim", type=int, default=100)
    p.add_argument("--feat_dim", type=int, default=400)
    p.add_argument("-b", "--batch_size", type=int, default=4)
    p.add_argument("--iters", type=int, default=3, help="timed iterations (after one warm-up)")
    p.add_argument("--videos", type=int, default=4728, help="videos post-processed")
    p.add_argument("--device", default="cpu")
    p.add_argument("--worst_case", action="store_true",
                   help="post-processing on noise curves (half the rows are candidates) instead of peaky ones")
    p.add_argument("--skip_layer", action="store_true", help="only the post-processing")
    p.add_argument("--dry_run", action="store_true", help="tiny sizes: checks the code paths quickly")
    return p


def _iteration_seconds(model: BMN, x, targets, iters: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times = []
    for i in range(iters + 1):
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        maps, s, e = model(x)
        loss, _ = bmn_loss(maps, s, e, *targets, model.valid)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_layer(args) -> None:
    t, dev = args.temporal_dim, torch.device(args.device)
    torch.manual_seed(0)
    x = torch.randn(args.batch_size, args.feat_dim, t, device=dev)
    targets = (torch.rand(args.batch_size, t, t, device=dev), torch.rand(args.batch_size, t, device=dev),
               torch.rand(args.batch_size, t, device=dev))
    sparse = BMN(temporal_dim=t, feat_dim=args.feat_dim).to(dev)
    dense = BMN(temporal_dim=t, feat_dim=args.feat_dim, bm_layer="dense").to(dev)
    dense.load_state_dict(sparse.state_dict())
    with torch.no_grad():
        diff = max(float((a - b).abs().max()) for a, b in zip(sparse(x), dense(x)))
    ts = _iteration_seconds(sparse, x, targets, args.iters)
    td = _iteration_seconds(dense, x, targets, args.iters)
    mask_mb = bm_sample_mask(t).nbytes / 2 ** 20
    sparse_mb = sum(v.numel() * v.element_size() for v in (sparse.sampling.indices(), sparse.sampling.values())) / 2 ** 20
    print(f"BM layer, T = {t}, batch {args.batch_size}, {dev}: training iteration sparse {ts:.3f} s, dense "
          f"{td:.3f} s: {td / ts:.1f}x; outputs differ by {diff:.1e}; sampling data {sparse_mb:.1f} MB sparse vs "
          f"{mask_mb:.0f} MB dense mask (not in our checkpoints)")


def _curves(rng, t: int, peaky: bool = True):
    """Start/end curves and maps.  ``peaky``: as a trained model gives them, a low floor and a few peaks;
    otherwise smoothed uniform noise, where half the rows pass the 0.5 x max rule (a worst case)."""
    x = np.arange(t)
    if peaky:
        def curve():
            c = rng.random(rng.integers(2, 6)) * t
            bumps = rng.uniform(0.3, 0.9, len(c))[:, None] * np.exp(-0.5 * ((x - c[:, None]) / 1.5) ** 2)
            return np.clip(0.03 + 0.02 * rng.random(t) + bumps.sum(0), 0, 1)
        return curve(), curve(), rng.random((t, t)), rng.random((t, t))
    kernel = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)
    start, end = (np.convolve(rng.random(t + 12), kernel / kernel.sum(), "valid")[:t] for _ in range(2))
    return start, end, rng.random((t, t)), rng.random((t, t))


def bench_post(args) -> None:
    t = args.temporal_dim
    rng = np.random.default_rng(0)
    curves = [_curves(rng, t, not args.worst_case) for _ in range(args.videos)]
    start = time.perf_counter()
    windows = [(f"v{i}", bmn_candidates(*c)[:, [0, 1, 6]], 0.0, 100.0) for i, c in enumerate(curves)]
    props = proposals_in_seconds(windows, 0.4, 0.5, 0.9, 100)
    ours = time.perf_counter() - start
    count = np.mean([len(w[1]) for w in windows])
    start = time.perf_counter()
    for _, cand, _, _ in windows:
        soft_nms(cand, 0.4, 0.5, 0.9, 100)
    loop = time.perf_counter() - start
    print(f"post-processing {args.videos} videos (T = {t}, {count:.0f} candidates a video): {ours:.2f} s "
          f"({len(props)} proposals); soft-NMS video by video alone {loop:.2f} s: {loop / ours:.1f}x")


def main(args: argparse.Namespace) -> int:
    if args.dry_run:
        args.temporal_dim, args.feat_dim, args.batch_size, args.iters, args.videos = 16, 32, 2, 1, 20
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if not args.skip_layer:
        bench_layer(args)
    bench_post(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))
