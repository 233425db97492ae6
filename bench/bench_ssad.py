"""Benchmark SSAD: one training step and scoring (windows/s), main-stream and Decouple-SSAD.

Example::

    python bench/bench_ssad.py                      # CPU, 1024-d features, batch 48 (the release's)
    python bench/bench_ssad.py --device cuda --full # a GPU: the THUMOS14-sized training (4,741 windows, 31 epochs)
    python bench/bench_ssad.py --dry_run            # tiny sizes (the test suite runs this)

Generated windows ``(B, D, 128)`` and one instance per window; the step is forward, loss (matching against the
decoded predictions), backward and Adam, as ``ssad_train.py`` runs it.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

# run as `python bench/bench_ssad.py`: Python puts bench/ on the path, not the repository root
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ops.models.ssad import ssad_model  # noqa: E402
from ops.proposals.ssad import ssad_anchors, ssad_loss  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--feature_dim", type=int, default=1024)
    p.add_argument("-b", "--batch_size", type=int, default=48)
    p.add_argument("--steps", type=int, default=2, help="timed steps (after one warm-up)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--full", action="store_true", help="time the whole THUMOS14-sized training (GPU)")
    p.add_argument("--dry_run", action="store_true")
    return p


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(args: argparse.Namespace) -> int:
    if args.dry_run:
        args.feature_dim, args.batch_size, args.steps = 16, 2, 1
    device = torch.device(args.device)
    anchors = torch.from_numpy(ssad_anchors()).float().to(device)
    x = torch.randn(args.batch_size, args.feature_dim, 128, device=device)
    gt = [torch.tensor([[0.2, 0.5]], device=device)] * args.batch_size
    labels = [torch.tensor([3], device=device)] * args.batch_size
    for kind in ("main", "decouple"):
        model = ssad_model(kind, args.feature_dim).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        times = []
        for i in range(args.steps + 1):
            _sync(device)
            t0 = time.perf_counter()
            loss, _ = ssad_loss(model(x), kind, gt, labels, anchors)
            opt.zero_grad()
            loss.backward()
            opt.step()
            _sync(device)
            if i:
                times.append(time.perf_counter() - t0)
        step = sum(times) / len(times)
        model.eval()
        with torch.no_grad():
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                model.detection_outputs(model(x))
            _sync(device)
            score = (time.perf_counter() - t0) / args.steps
        line = (f"{kind} SSAD, {args.feature_dim}-d, batch {args.batch_size}, {device}: training step {step:.3f} s "
                f"({args.batch_size / step:.1f} windows/s), scoring {args.batch_size / score:.0f} windows/s")
        if args.full:
            line += f"; THUMOS14 training (4,741 windows x 31 epochs) estimated {4741 * 31 / (args.batch_size / step) / 60:.1f} min"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))
