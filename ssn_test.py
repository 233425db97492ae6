"""Score every proposal of a proposal list with a trained SSN checkpoint.

Example::

    python ssn_test.py thumos14 RGB work/tag_test.txt work/ssn_rgb/checkpoint_last.pth work/ssn_rgb_test.pkl \\
        --frame_interval 6 --num_crops 10
    # several GPUs: videos are split across processes, results merged
    torchrun --nproc_per_node 4 ssn_test.py thumos14 Flow work/tag_test.txt work/ssn_flow/checkpoint_last.pth \\
        work/ssn_flow_test.pkl

The model is rebuilt from the config stored in the checkpoint.  The backbone
runs once per sampled frame (every ``--frame_interval``-th, 1 or 10 crops);
the heads are folded into per-frame projections and every proposal's
activity, completeness and regression scores are pooled from them with the
training-time pyramid (``ops/ssn_inference.py``).  Regression outputs are
de-normalised with the statistics stored in the checkpoint.  The result file
(``ops/results.py``, the original SSN layout) feeds ``eval_detection_results.py``.
Finished videos are kept in ``OUTPUT.parts/``: a killed run re-run with the
same command resumes from them.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from tqdm import tqdm  # noqa: E402

from ops.backbones import BackboneConfig  # noqa: E402
from ops.dataset import FrameSequenceDataset, checkpoint_data_spec  # noqa: E402
from ops.engine import add_stage_args, load_checkpoint, setup_runtime  # noqa: E402
from ops.log import setup_logging  # noqa: E402
from ops.models import build_model  # noqa: E402
from ops.presets import load_preset  # noqa: E402
from ops.proposal_list import read_proposal_list  # noqa: E402
from ops.results import VideoResult, load_video_result, save_video_result, write_results  # noqa: E402
from ops.ssn_inference import folded_weights, score_proposals  # noqa: E402

logger = logging.getLogger("ssn_test")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_args(p, training=False, output_help="result file (.pkl) to write")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


class Scorer:
    """Turns one video's frame features into its :class:`VideoResult`."""

    def __init__(self, model, reg_stats, frame_interval: int):
        self.weights, self.bias, self.sizes = folded_weights(model)
        self.pooling, self.parts = model.stpp.matrix.cpu(), model.stpp.parts
        self.num_segments = model.num_segments
        self.reg_stats = np.asarray(reg_stats, np.float64)
        self.k = model.num_classes
        self.frame_interval = frame_interval

    def __call__(self, features: torch.Tensor, block, count: int) -> VideoResult:
        out = score_proposals(features.float(), block.bounds, count, self.frame_interval, self.weights, self.bias,
                              self.pooling, self.parts, self.num_segments).cpu().numpy().astype(np.float64)
        act, comp, reg = np.split(out, [self.sizes[0], self.sizes[0] + self.sizes[1]], axis=1)
        reg = reg.reshape(-1, self.k, 2) * self.reg_stats[1] + self.reg_stats[0]
        return VideoResult(block.bounds / float(block.num_frames), act, comp, reg)


@torch.no_grad()
def run(model, dataset: FrameSequenceDataset, scorer: Scorer, parts_dir: Path, device, workers: int) -> None:
    """Score the dataset's videos, saving each finished video to ``parts_dir`` (resume points)."""
    feats: dict[int, list] = {}
    remaining = {v: -(-len(p) // dataset.chunk) for v, p in enumerate(dataset.positions)}
    loader = DataLoader(dataset, batch_size=None, num_workers=workers, pin_memory=device.type == "cuda")
    started = time.perf_counter()
    for x, video, first in tqdm(loader, desc="frames", unit="chunk", disable=dist.is_initialized()
                                and dist.get_rank() != 0):
        t, crops = x.shape[:2]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            f = model.base(x.to(device, non_blocking=True).flatten(0, 1)).float()
        feats.setdefault(video, []).append(f.view(t, crops, -1).mean(1))
        remaining[video] -= 1
        if remaining[video] == 0:
            block = dataset.videos[video]
            result = scorer(torch.cat(feats.pop(video)), block, dataset.counts[video])
            save_video_result(parts_dir / f"{block.video_id}.npz", result)
            logger.debug("%s: %d proposals, %.2f s since start", block.video_id, len(block.bounds),
                         time.perf_counter() - started)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    load_preset(args.dataset)
    rt = setup_runtime(args.device)
    if not rt.is_main:
        setup_logging(-1)
    ckpt = load_checkpoint(args.checkpoint)
    backbone = BackboneConfig.from_dict(ckpt["model_config"]["backbone"])
    if ckpt["model_config"].get("type") != "ssn":
        raise SystemExit(f"{args.checkpoint} is not an SSN checkpoint (type {ckpt['model_config'].get('type')})")
    if backbone.modality != args.modality:
        raise SystemExit(f"{args.checkpoint} is a {backbone.modality} model but --modality is {args.modality}")
    model = build_model(ckpt["model_config"])
    model.load_state_dict(ckpt["state_dict"])
    model.to(rt.device).eval()
    plist = read_proposal_list(args.proposal_list)
    if plist.normalized:
        raise SystemExit(f"{args.proposal_list} is normalized; give the frame-based list (gen_proposal_list.py)")
    parts_dir = args.output.with_name(args.output.name + ".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    todo = [b for k, b in enumerate(plist.videos) if k % rt.world_size == rt.rank
            and not (parts_dir / f"{b.video_id}.npz").exists()]
    logger.info("%d videos, %d already scored, %d to score here", len(plist), len(plist) - len(todo), len(todo))
    start = time.perf_counter()
    if todo:
        dataset = FrameSequenceDataset(todo, backbone.modality, backbone.length,
                                       checkpoint_data_spec(ckpt, backbone), args.frame_interval, args.num_crops,
                                       args.chunk)
        run(model, dataset, Scorer(model, ckpt["extra"]["reg_stats"], args.frame_interval), parts_dir, rt.device,
            args.workers)
    if rt.world_size > 1:
        dist.barrier()
    if rt.is_main:
        results = {b.video: load_video_result(parts_dir / f"{b.video_id}.npz") for b in plist.videos}
        write_results(args.output, results)
        shutil.rmtree(parts_dir)
        logger.info("%s: %d videos, %d proposals in %.1f s", args.output, len(results),
                    sum(len(r.rel_props) for r in results.values()), time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
