"""Benchmark optical-flow algorithms: speed (pairs/s) and accuracy (end-point error).

Synthetic pairs at 340x256 (the extraction size): a multi-scale random texture
moved by a known flow field (translation, large translation, rotation+zoom,
and a square moving over a translating background), so the true flow is
known exactly.  For each algorithm in ops/video/flow.py it prints

- pairs/s on one thread (OpenCV and torch limited to 1 thread: per-core speed,
  multiply by the cores for ``extract_frames.py -j N``);
- mean end-point error (EPE, pixels) against the true flow, per motion, raw and
  after DenseFlow quantisation + JPEG (what the detector actually reads);
- for tvl1_torch, the EPE against OpenCV's TV-L1 (when cv2.optflow exists);
- on a CUDA machine, tvl1_torch pairs/s on the GPU at batch --gpu_batch.

Example::

    python bench/bench_flow.py --pairs 20 --slow_pairs 2
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ops.video.flow import (FLOW_ALGORITHMS, dequantise_flow, end_point_error, has_opencv_tvl1, make_flow,  # noqa: E402
                            quantise_flow, warp_by_flow)

SLOW = {"tvl1", "tvl1_torch"}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--width", type=int, default=340)
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--pairs", type=int, default=20, help="timed pairs for the fast algorithms")
    p.add_argument("--slow_pairs", type=int, default=2, help="timed pairs for tvl1 / tvl1_torch on CPU")
    p.add_argument("--algorithms", nargs="+", default=sorted(FLOW_ALGORITHMS))
    p.add_argument("--gpu_batch", type=int, default=64)
    p.add_argument("--bound", type=float, default=20.0)
    return p


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """(H, W) uint8 multi-scale random texture (fine grain plus blobs, like natural images)."""
    rng = np.random.default_rng(seed)
    img = sum(cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), s) * s for s in (1, 3, 8))
    return cv2.normalize(img, None, 10, 245, cv2.NORM_MINMAX).astype(np.uint8)


def motions(h: int, w: int) -> dict[str, np.ndarray]:
    """Known (H, W, 2) flow fields in pixels."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy, a, z = w / 2, h / 2, np.deg2rad(2.0), 1.02
    rot = np.stack([z * (np.cos(a) * (xs - cx) - np.sin(a) * (ys - cy)) + cx - xs,
                    z * (np.sin(a) * (xs - cx) + np.cos(a) * (ys - cy)) + cy - ys], -1)
    square = np.zeros((h, w, 2), np.float32)
    square[..., 0] = 1.0
    square[h // 4:h // 2, w // 3:w // 2] = (-4.0, 3.0)
    return {"translate(2.5,-1.5)": np.broadcast_to(np.float32([2.5, -1.5]), (h, w, 2)).copy(),
            "translate(7,4)": np.broadcast_to(np.float32([7.0, 4.0]), (h, w, 2)).copy(),
            "rotate2deg+zoom2%": rot.astype(np.float32),
            "square(-4,3)/bg(1,0)": square}


def pairs_for(h: int, w: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """name -> (prev, nxt, true flow) with prev[y, x] = nxt[(y, x) + flow]."""
    nxt = texture(h, w)
    return {name: (warp_by_flow(nxt, f), nxt, f) for name, f in motions(h, w).items()}


def jpeg_round_trip(flow: np.ndarray, bound: float) -> np.ndarray:
    """Flow as the detector reads it back: quantised, JPEG q95, dequantised."""
    q = quantise_flow(flow, bound)
    dec = [cv2.imdecode(cv2.imencode(".jpg", q[..., c], [cv2.IMWRITE_JPEG_QUALITY, 95])[1], 0) for c in (0, 1)]
    return dequantise_flow(np.stack(dec, -1), bound)


def pairs_per_second(fn, prev: np.ndarray, nxt: np.ndarray, n: int) -> float:
    """Pairs/s of ``fn`` over ``n`` pairs fed in its preferred batch size (after one warm-up pair)."""
    fn(prev[None], nxt[None])
    b = max(1, min(fn.batch_size, n))
    t = time.perf_counter()
    done = 0
    while done < n:
        fn(np.repeat(prev[None], b, 0), np.repeat(nxt[None], b, 0))
        done += b
    return done / (time.perf_counter() - t)


def bench_cpu(args, data) -> dict[str, np.ndarray]:
    """Print the CPU table; returns each algorithm's flows (for cross-comparison)."""
    cv2.setNumThreads(1)
    import torch
    torch.set_num_threads(1)
    names = list(data)
    print(f"{'algorithm':14s} {'pairs/s/core':>12s}  " + "  ".join(f"{n:>20s}" for n in names) + "   mean")
    flows = {}
    for algo in args.algorithms:
        if algo == "tvl1" and not has_opencv_tvl1():
            print(f"{algo:14s} skipped: OpenCV without contrib (cv2.optflow)")
            continue
        fn = make_flow(algo)
        prev, nxt, _ = data[names[0]]
        speed = pairs_per_second(fn, prev, nxt, args.slow_pairs if algo in SLOW else args.pairs)
        out = {n: fn(p[None], q[None])[0] for n, (p, q, _) in data.items()}
        flows[algo] = out
        raw = [end_point_error(out[n], data[n][2], margin=8) for n in names]
        rt = [end_point_error(jpeg_round_trip(out[n], args.bound), data[n][2], margin=8) for n in names]
        print(f"{algo:14s} {speed:12.2f}  " + "  ".join(f"{r:9.3f} ({j:6.3f}) " for r, j in zip(raw, rt))
              + f"  {np.mean(raw):.3f} ({np.mean(rt):.3f})")
    print("EPE in pixels vs the true flow, 8-px border excluded; in brackets: after quantisation "
          f"(bound {args.bound:g}) + JPEG q95 + dequantisation")
    return flows


def bench_gpu(args, data, flows) -> None:
    """tvl1_torch on CUDA: pairs/s at batch ``args.gpu_batch`` and EPE vs OpenCV TV-L1."""
    import torch
    if not torch.cuda.is_available():
        print("GPU: no CUDA device visible to torch; tvl1_torch GPU throughput not measured")
        return
    fn = make_flow("tvl1_torch", device="cuda")
    fn.batch_size = args.gpu_batch
    prev, nxt, _ = next(iter(data.values()))
    fn(np.repeat(prev[None], args.gpu_batch, 0), np.repeat(nxt[None], args.gpu_batch, 0))  # warm-up
    torch.cuda.synchronize()
    speed = pairs_per_second(fn, prev, nxt, 4 * args.gpu_batch)
    print(f"GPU {torch.cuda.get_device_name()}: tvl1_torch {speed:.1f} pairs/s at batch {args.gpu_batch}")
    out = {n: fn(p[None], q[None])[0] for n, (p, q, _) in data.items()}
    for n, (_, _, gt) in data.items():
        line = f"  {n:22s} EPE vs truth {end_point_error(out[n], gt, 8):.3f}"
        if "tvl1" in flows:
            line += f", vs OpenCV tvl1 {end_point_error(out[n], flows['tvl1'][n], 8):.3f}"
        print(line)


def main(args: argparse.Namespace) -> int:
    print(f"machine: {os.cpu_count()} CPU cores; OpenCV {cv2.__version__}; pairs {args.width}x{args.height}")
    data = pairs_for(args.height, args.width)
    flows = bench_cpu(args, data)
    if "tvl1" in flows and "tvl1_torch" in flows:
        epe = [end_point_error(flows["tvl1_torch"][n], flows["tvl1"][n], 8) for n in data]
        print("tvl1_torch vs OpenCV tvl1 EPE: " + ", ".join(f"{n} {e:.3f}" for n, e in zip(data, epe)))
    bench_gpu(args, data, flows)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
