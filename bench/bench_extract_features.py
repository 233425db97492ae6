"""Benchmark extract_features.py: snippets/s of the whole stage against the backbone fed from memory.

Example::

    python bench/bench_extract_features.py work_dirs/synthetic_demo/frames --arch tiny --videos 10
    python bench/bench_extract_features.py FRAMES --arch bninception --videos 2 --modality RGB
    python bench/bench_extract_features.py FRAMES --dry_run

1. The stage's own loop (``extract_features.extract``: JPEG decoding in DataLoader workers, crops, the backbone)
   over the first ``--videos`` folders with the synthetic preset's geometry;
2. the same backbone on the same number of snippets already in memory (random tensors of the input size).
The ratio says how much of the time goes to reading frames.  Same process, CPU (``--device cuda`` on a GPU).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

# run as `python bench/bench_extract_features.py`: Python puts bench/ on the path, not the repository root
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from extract_features import FeatureNet, extract  # noqa: E402
from ops.formats.frames import check_frame_folder, list_video_dirs  # noqa: E402
from ops.formats.proposal_list import make_video_proposals  # noqa: E402
from ops.models.backbones import BackboneConfig, build_backbone  # noqa: E402
from ops.train.dataset import SnippetDataset, data_spec  # noqa: E402
from ops.video.snippets import SnippetGeometry  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("frames", type=Path, help="frame root (extract_frames.py output)")
    p.add_argument("--arch", default="tiny")
    p.add_argument("--modality", choices=["RGB", "Flow"], default="RGB")
    p.add_argument("--videos", type=int, default=10)
    p.add_argument("--stride", type=int, default=2)
    p.add_argument("-b", "--batch_size", type=int, default=64)
    p.add_argument("-j", "--workers", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dry_run", action="store_true", help="two videos, one worker")
    return p


@torch.no_grad()
def main(args: argparse.Namespace) -> int:
    if args.dry_run:
        args.videos, args.workers = 2, 0
    device = torch.device(args.device)
    cfg = BackboneConfig(arch=args.arch, modality=args.modality)
    base, _ = build_backbone(cfg)
    net = FeatureNet(base).to(device).eval()
    spec = data_spec(cfg)
    geometry = SnippetGeometry(args.stride, args.stride / 2)
    blocks, positions = [], []
    for video, folder in list(list_video_dirs(args.frames).items())[:args.videos]:
        n, problem = check_frame_folder(video, folder, args.modality)
        if problem is None:
            blocks.append(make_video_proposals(str(folder), n, np.zeros((0, 2)), [], np.zeros((0, 2))))
            positions.append(geometry.frames(geometry.num_rows(n + (args.modality == "Flow")), args.modality,
                                             cfg.length)[:, 0])
    dataset = SnippetDataset(blocks, args.modality, cfg.length, spec, positions, 1, args.batch_size)
    snippets = sum(len(p) for p in positions)
    start = time.perf_counter()
    extract(net, dataset, device, args.workers, lambda i, f: None, False)
    stage = time.perf_counter() - start
    x = torch.randn(args.batch_size, 3 * cfg.length if args.modality == "RGB" else 2 * cfg.length,
                    spec["input_size"], spec["input_size"], device=device)
    start = time.perf_counter()
    for _ in range(-(-snippets // args.batch_size)):
        net(x)
    if device.type == "cuda":
        torch.cuda.synchronize()
    alone = time.perf_counter() - start
    print(f"{args.arch} {args.modality}, {len(blocks)} videos, {snippets} snippets, {args.workers} workers: stage "
          f"{snippets / stage:.0f} snippets/s, backbone from memory {snippets / alone:.0f} snippets/s "
          f"({100 * alone / stage:.0f} % of the stage's time is the backbone)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(get_args_parser().parse_args()))
