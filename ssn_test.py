"""Score every proposal of a proposal list with a trained SSN checkpoint.

Example::

    python ssn_test.py thumos14 RGB work/tag_test.txt work/ssn_rgb/checkpoint_last.pth work/ssn_rgb_test.pkl \\
        --frame_interval 6 --num_crops 10
    # several GPUs (or CPU processes): videos are split across processes, results merged
    torchrun --nproc_per_node 4 ssn_test.py thumos14 Flow work/tag_test.txt work/ssn_flow/checkpoint_last.pth \\
        work/ssn_flow_test.pkl
    # also keep every video's per-frame head outputs, to re-pool other proposals later
    python ssn_test.py thumos14 RGB work/tag_test.txt work/ssn_rgb/checkpoint_last.pth work/ssn_rgb_test.pkl \\
        --save_raw work/ssn_rgb_test_raw

The model is rebuilt from the config stored in the checkpoint.  The backbone
runs once per sampled frame (every ``--frame_interval``-th, 1 or 10 crops);
the heads are folded into per-frame projections and every proposal's
activity, completeness and regression scores are pooled from them with the
training-time pyramid (``ops/ssn_inference.py``).  Regression outputs are
de-normalised with the statistics stored in the checkpoint.  The result file
(``ops/results.py``, the original SSN layout) feeds ``eval_detection_results.py``.
Finished videos are kept in ``OUTPUT.parts/``: a killed run re-run with the
same command resumes from them.

``--save_raw DIR`` also writes each video's per-frame outputs of the folded
heads (activity, completeness and regression per STPP part, with their frame
indices) to ``DIR/<video id>.npz`` (layout in ``ops/results.py``); a video
counts as finished only once both files exist.  ``ops.ssn_inference.score_raw``
re-pools them into exactly the scores of the result file.

Under torchrun every process scores every ``world_size``-th video of the list
and saves its parts; rank 0 merges them once all processes are done.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from datetime import timedelta
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
from ops.results import (RawOutputs, VideoResult, load_video_result, save_raw_outputs,  # noqa: E402
                         save_video_result, write_results)
from ops.ssn_inference import fold_heads, head_scores, project_frames, raw_outputs, score_frames  # noqa: E402

logger = logging.getLogger("ssn_test")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_args(p, training=False, output_help="result file (.pkl) to write")
    p.add_argument("--save_raw", type=Path, default=None, metavar="DIR",
                   help="also write each video's per-frame head outputs to DIR/<video id>.npz")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


class Scorer:
    """Turns one video's frame features into its :class:`VideoResult` (and its raw per-frame outputs)."""

    def __init__(self, model, reg_stats, frame_interval: int):
        self.heads = fold_heads(model)
        self.reg_stats = np.asarray(reg_stats, np.float64)
        self.k = model.num_classes
        self.frame_interval = frame_interval

    def __call__(self, features: torch.Tensor, block, count: int) -> tuple[VideoResult, RawOutputs]:
        y = project_frames(features, self.heads.weights)                     # (T, parts, D_out)
        out = score_frames(y, self.heads, block.bounds, count, self.frame_interval)
        act, comp, reg = head_scores(out, self.k, self.reg_stats)
        raw = raw_outputs(y, self.heads, block.video, count, self.frame_interval, self.reg_stats)
        return VideoResult(block.bounds / float(block.num_frames), act, comp, reg), raw


class Outputs:
    """Where one run keeps its per-video files: result parts (resume points) and, optionally, raw outputs."""

    def __init__(self, output: Path, raw_dir: Path | None):
        self.parts = output.with_name(output.name + ".parts")
        self.raw = raw_dir

    def part(self, block) -> Path:
        return self.parts / f"{block.video_id}.npz"

    def finished(self, block) -> bool:
        return self.part(block).exists() and (self.raw is None or (self.raw / f"{block.video_id}.npz").exists())

    def save(self, block, result: VideoResult, raw: RawOutputs) -> None:
        """Raw outputs first: a part file then always means the video is complete."""
        if self.raw is not None:
            save_raw_outputs(self.raw / f"{block.video_id}.npz", raw)
        save_video_result(self.part(block), result)


@torch.no_grad()
def run(model, dataset: FrameSequenceDataset, scorer: Scorer, outputs: Outputs, device, workers: int,
        progress: bool) -> None:
    """Score the dataset's videos, saving each finished video through ``outputs`` (resume points)."""
    feats: dict[int, list] = {}
    remaining = {v: -(-len(p) // dataset.chunk) for v, p in enumerate(dataset.positions)}
    loader = DataLoader(dataset, batch_size=None, num_workers=workers, pin_memory=device.type == "cuda")
    started = time.perf_counter()
    for x, video, first in tqdm(loader, desc="frames", unit="chunk", disable=not progress):
        t, crops = x.shape[:2]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            f = model.base(x.to(device, non_blocking=True).flatten(0, 1)).float()
        feats.setdefault(video, []).append(f.view(t, crops, -1).mean(1))
        remaining[video] -= 1
        if remaining[video] == 0:
            block = dataset.videos[video]
            outputs.save(block, *scorer(torch.cat(feats.pop(video)), block, dataset.counts[video]))
            logger.debug("%s: %d proposals, %.2f s since start", block.video_id, len(block.bounds),
                         time.perf_counter() - started)


def wait_for_all(rt) -> None:
    """Barrier across torchrun processes that tolerates ranks finishing hours apart.

    The default process group times out after 10 (NCCL) or 30 (gloo) minutes, far less than the
    imbalance between ranks on a long list; a separate gloo group with a long timeout waits instead
    (gloo also needs no GPU).  A crashed rank still ends the run: torchrun stops the others.
    """
    if rt.world_size > 1:
        group = dist.new_group(backend="gloo", timeout=timedelta(days=7))
        dist.barrier(group=group)
        dist.destroy_process_group(group)


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    load_preset(args.dataset)
    joined_here = not dist.is_initialized()
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
    outputs = Outputs(args.output, args.save_raw)
    outputs.parts.mkdir(parents=True, exist_ok=True)
    if outputs.raw is not None:
        outputs.raw.mkdir(parents=True, exist_ok=True)
    done = [outputs.finished(b) for b in plist.videos]
    todo = [b for k, b in enumerate(plist.videos) if k % rt.world_size == rt.rank and not done[k]]
    logger.info("%d videos, %d already scored, %d to score in %d process(es)", len(plist), sum(done),
                len(plist) - sum(done), rt.world_size)
    start = time.perf_counter()
    if todo:
        dataset = FrameSequenceDataset(todo, backbone.modality, backbone.length,
                                       checkpoint_data_spec(ckpt, backbone), args.frame_interval, args.num_crops,
                                       args.chunk)
        run(model, dataset, Scorer(model, ckpt["extra"]["reg_stats"], args.frame_interval), outputs, rt.device,
            args.workers, rt.is_main)
    wait_for_all(rt)
    if rt.is_main:
        results = {b.video: load_video_result(outputs.part(b)) for b in plist.videos}
        write_results(args.output, results)
        shutil.rmtree(outputs.parts)
        logger.info("%s: %d videos, %d proposals in %.1f s", args.output, len(results),
                    sum(len(r.rel_props) for r in results.values()), time.perf_counter() - start)
    if joined_here and dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(get_args_parser().parse_args()))
