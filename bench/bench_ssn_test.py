"""Benchmark: end-to-end SSN scoring (ssn_test.py's loop) vs the backbone alone on the same frames.

Example (GPU machine; frames of the synthetic dataset at THUMOS14's 340x256 are prepared first)::

    python bench/bench_ssn_test.py --arch bninception --modality RGB --frame_interval 1 --num_crops 1 -j 12
    python bench/bench_ssn_test.py --arch tiny --size 160 120 --repeat 2     # CPU, quick

* **end to end**: ``ssn_test.run`` over the videos of a sliding-window list
  (``--repeat`` copies of it, to run long enough): frame decoding and test
  crops in ``-j`` loader processes, the backbone, the folded heads and the
  pooling of every proposal, per-video result files written.
* **backbone alone**: the first ``--memory_chunks`` chunks of the same frames,
  decoded beforehand and held on the device, through ``model.base`` with the
  same chunking and precision.

Printed: sampled frames (x crops) per second of both and their ratio (the
issue's target on a GPU: end to end within 10 % of the backbone alone), and
the number of proposals scored.  Both runs are preceded by one untimed
warm-up pass over a few chunks.  Weights are random (speed does not depend
on them); the frames come from ``bench_common.prepare_frames``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# A benchmark runs as `python bench/NAME.py`: Python puts bench/ on the path, not the
# repository root that holds `ops` and the stage scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench_common import add_bench_args, describe_device, frames_from_args, synthetic_ssn  # noqa: E402
from ops.models.backbones import BackboneConfig  # noqa: E402
from ops.train.dataset import FrameSequenceDataset, data_spec  # noqa: E402
from ops.train.engine import seed_everything, setup_runtime  # noqa: E402
from ops.log import setup_logging  # noqa: E402
from ops.formats.proposal_list import read_proposal_list  # noqa: E402
from ops.models.ssn_inference import Scorer  # noqa: E402
from ssn_test import Outputs, run  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_args(p, subset="test")
    p.add_argument("--repeat", type=int, default=4, help="copies of the video list scored end to end")
    p.add_argument("--frame_interval", type=int, default=1)
    p.add_argument("--num_crops", type=int, default=1, choices=[1, 5, 10])
    p.add_argument("--chunk", type=int, default=32, help="frames per backbone batch (ssn_test's --chunk)")
    p.add_argument("--memory_chunks", type=int, default=16, help="chunks held on the device for the backbone run")
    return p


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def end_to_end(model, dataset: FrameSequenceDataset, device, workers: int, out_dir: Path) -> float:
    """Seconds of ssn_test's scoring loop over the whole dataset."""
    scorer = Scorer(model, np.array([[0.0, 0.0], [1.0, 1.0]]), dataset.frame_interval)
    start = time.perf_counter()
    run(model, dataset, scorer, Outputs(out_dir / "bench.pkl", None), device, workers, show_progress=False)
    sync(device)
    return time.perf_counter() - start


@torch.no_grad()
def backbone_alone(model, chunks: list[torch.Tensor], device) -> float:
    """Seconds of model.base over chunks already on the device, as ssn_test.run calls it."""
    sync(device)
    start = time.perf_counter()
    for x in chunks:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            model.base(x.flatten(0, 1)).float()
    sync(device)
    return time.perf_counter() - start


def measure(args: argparse.Namespace, list_path: Path | None = None) -> dict:
    """Both runs over the videos of sliding-window list ``list_path`` (default: prepared by
    :func:`bench_common.frames_from_args`); the figures (frames/s, their ratio, counts) as a dict."""
    plist = read_proposal_list(list_path or frames_from_args(args))
    rt = setup_runtime(args.device)
    seed_everything(0)
    model, _, backbone = synthetic_ssn(args)
    model = model.to(rt.device).eval()
    cfg = BackboneConfig.from_dict(backbone)

    def frames(videos):
        return FrameSequenceDataset(videos, cfg.modality, cfg.length, data_spec(cfg), args.frame_interval,
                                    args.num_crops, args.chunk)

    dataset = frames(plist.videos * args.repeat)
    n_frames = sum(len(p) for p in dataset.positions) * args.num_crops
    n_props = sum(len(v.bounds) for v in dataset.videos)
    chunks = [dataset[i % len(dataset)][0].to(rt.device) for i in range(args.memory_chunks)]
    mem_frames = sum(len(x) for x in chunks) * args.num_crops
    with tempfile.TemporaryDirectory() as tmp:
        backbone_alone(model, chunks[:2], rt.device)                       # warm-up (cuDNN autotuning)
        end_to_end(model, frames(plist.videos[:1]), rt.device, args.workers, Path(tmp))
        e2e_s = end_to_end(model, dataset, rt.device, args.workers, Path(tmp))
    alone_s = backbone_alone(model, chunks, rt.device)
    return {"device": describe_device(rt.device), "videos": len(dataset.videos), "list_videos": len(plist),
            "frames": n_frames, "proposals": n_props, "end_to_end_s": e2e_s, "memory_frames": mem_frames,
            "backbone_s": alone_s, "end_to_end_frames_s": n_frames / e2e_s, "backbone_frames_s": mem_frames / alone_s,
            "ratio": (n_frames / e2e_s) / (mem_frames / alone_s)}


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    m = measure(args)
    print(f"SSN {args.arch} {args.modality}, {m['videos']} videos ({args.repeat} x {m['list_videos']}) at "
          f"{args.size[0]}x{args.size[1]}, frame interval {args.frame_interval}, {args.num_crops} crop(s), chunk "
          f"{args.chunk}, {args.workers} loader workers; {m['device']}\n"
          f"  end to end:     {m['frames']} frames x crops, {m['proposals']} proposals in {m['end_to_end_s']:.2f} s "
          f"-> {m['end_to_end_frames_s']:.1f} frames/s\n"
          f"  backbone alone: {m['memory_frames']} frames x crops in {m['backbone_s']:.2f} s -> "
          f"{m['backbone_frames_s']:.1f} frames/s\n"
          f"  end to end / backbone alone: {100 * m['ratio']:.1f}%")
    if args.json_out:
        args.json_out.write_text(json.dumps({"settings": {k: str(v) for k, v in vars(args).items()},
                                             "device": m["device"], "end_to_end_frames_s": m["end_to_end_frames_s"],
                                             "backbone_frames_s": m["backbone_frames_s"], "ratio": m["ratio"],
                                             "proposals": m["proposals"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
