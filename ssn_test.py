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
runs once per sampled frame (every ``--frame_interval``-th, 1, 5 or 10 crops);
the heads are folded into per-frame projections and every proposal's
activity, completeness and regression scores are pooled from them with the
training-time pyramid (``ops/models/ssn_inference.py``).  Regression outputs are
de-normalised with the statistics stored in the checkpoint.  The result file
(``ops/formats/results.py``, the original SSN layout) feeds ``eval_detection_results.py``.
Finished videos are kept in ``OUTPUT.parts/``: a killed run re-run with the
same command resumes from them.  ``OUTPUT.parts/manifest.json`` records what
the parts depend on (:func:`run_manifest`): a re-run with another checkpoint
(weights, config, regression statistics, input spec), ``--frame_interval``,
``--num_crops`` or modality discards every part, with a warning naming what
changed; a video whose proposals or frame folder changed, or whose part does
not hold the list's proposals, is scored again.

``--save_raw DIR`` also writes each video's per-frame outputs of the folded
heads (activity, completeness and regression per STPP part, with their frame
indices) to ``DIR/<video id>.npz`` (layout in ``ops/formats/results.py``); a video
counts as finished only once both files exist.  ``ops.models.ssn_inference.score_raw``
re-pools them into exactly the scores of the result file.

Under torchrun every process scores every ``world_size``-th video of the list
and saves its parts; rank 0 merges them once all processes are done.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from ops.errors import run_main
from ops.formats.frames import META_NAME
from ops.formats.presets import load_preset
from ops.formats.proposal_list import read_frame_based_list
from ops.formats.results import (RawOutputs, VideoResult, load_video_result, save_raw_outputs, save_video_result,
                                 write_results)
from ops.io import atomic_write_json
from ops.log import setup_logging
from ops.models.builder import model_from_checkpoint
from ops.models.ssn_inference import Scorer, relative_bounds, score_videos
from ops.train.dataset import FrameSequenceDataset, checkpoint_input
from ops.train.engine import add_stage_args, load_checkpoint, setup_runtime

logger = logging.getLogger("ssn_test")
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "ssn_test-parts"


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_args(p, training=False, output_help="result file (.pkl) to write")
    p.add_argument("--save_raw", type=Path, default=None, metavar="DIR",
                   help="also write each video's per-frame head outputs to DIR/<video id>.npz")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def checkpoint_digest(ckpt: dict, spec: dict) -> str:
    """sha256 of what the scores take from a checkpoint: model config, weights, regression statistics and
    input spec.  Optimizer, RNG and history are left out: a checkpoint re-saved with them changed scores
    the same."""
    h = hashlib.sha256(json.dumps([ckpt["model_config"], ckpt["extra"].get("reg_stats"), spec], sort_keys=True,
                                  default=str).encode())
    for name, tensor in sorted(ckpt["state_dict"].items()):
        h.update(f"{name} {tensor.dtype} {tuple(tensor.shape)}".encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def video_fingerprint(block) -> str:
    """sha256 of what one video's scores take from the list and the disk besides the run's settings: the
    frame folder (path; size and modification time of its ``meta.json``, rewritten by every extraction),
    the frame count and the proposals.  Labels and ground truth are left out: they change no score."""
    meta = Path(block.video) / META_NAME
    stat = meta.stat() if meta.is_file() else None
    h = hashlib.sha256(json.dumps([block.video, int(block.num_frames),
                                   stat and [stat.st_size, stat.st_mtime_ns]]).encode())
    h.update(np.ascontiguousarray(block.bounds, np.float64))
    return h.hexdigest()


def run_manifest(args, ckpt: dict, spec: dict, videos) -> dict:
    """What this run's parts depend on: ``settings`` shared by all videos, a fingerprint per video id.

    The device and ``--chunk`` are left out: they change scores only by rounding (bfloat16 on CUDA), and a
    run killed on one device may well be resumed on another.
    """
    return {"format": MANIFEST_FORMAT, "version": 1,
            "settings": {"checkpoint": checkpoint_digest(ckpt, spec), "modality": args.modality,
                         "frame_interval": args.frame_interval, "num_crops": args.num_crops},
            "checkpoint_path": str(Path(args.checkpoint).resolve()),
            "videos": {b.video_id: video_fingerprint(b) for b in videos}}


def changed_settings(old: dict | None, new: dict) -> list[str]:
    """The settings that differ between two manifests, in words (all of them when ``old`` is unusable)."""
    if not isinstance(old, dict) or (old.get("format"), old.get("version")) != (new["format"], new["version"]):
        return [f"no {MANIFEST_NAME} of this version (parts of an older ssn_test.py?)"]
    was, now = old.get("settings", {}), new["settings"]
    return [f"checkpoint {old.get('checkpoint_path')} -> {new['checkpoint_path']} (weights, config or statistics)"
            if key == "checkpoint" else f"{key} {was.get(key)} -> {now[key]}"
            for key in now if was.get(key) != now[key]]


def read_manifest(path: Path) -> dict | None:
    """The manifest at ``path``; None when there is none or it is unreadable (then no part is trusted)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class Outputs:
    """Where one run keeps its per-video files: result parts (resume points) and, optionally, raw outputs."""

    def __init__(self, output: Path, raw_dir: Path | None):
        self.parts = output.with_name(output.name + ".parts")
        self.manifest = self.parts / MANIFEST_NAME
        self.raw = raw_dir

    def part(self, block) -> Path:
        return self.parts / f"{block.video_id}.npz"

    def finished(self, block) -> bool:
        return self.part(block).exists() and (self.raw is None or (self.raw / f"{block.video_id}.npz").exists())

    def prepare(self, manifest: dict, videos) -> None:
        """Keep only the parts this run would compute itself, then write its manifest (main process only).

        Stale parts go before the new manifest is written, so a kill in between leaves no part that the new
        manifest vouches for.
        """
        self.parts.mkdir(parents=True, exist_ok=True)
        old = read_manifest(self.manifest)
        parts = sorted(self.parts.glob("*.npz"))
        changed = changed_settings(old, manifest) if parts else []
        if changed:
            logger.warning("%s: discarding %d scored video(s), scoring them again: %s", self.parts, len(parts),
                           "; ".join(changed))
            for path in parts:
                path.unlink()
        elif parts:
            for block in videos:
                self._drop_if_stale(block, old["videos"].get(block.video_id) == manifest["videos"][block.video_id])
        atomic_write_json(self.manifest, manifest)

    def _drop_if_stale(self, block, same_fingerprint: bool) -> None:
        path = self.part(block)
        if not path.exists():
            return
        problem = self._part_problem(block) if same_fingerprint else "its proposals or frame folder changed"
        if problem:
            logger.warning("%s: scoring again: %s", block.video_id, problem)
            path.unlink()

    def _part_problem(self, block) -> str | None:
        """Why the part of ``block`` does not fit the list, or None."""
        try:
            rel = load_video_result(self.part(block)).rel_props
        except Exception as e:  # noqa: BLE001 -- whatever is wrong with a cached part, scoring again mends it
            return f"its part {self.part(block)} is unreadable ({type(e).__name__})"
        if len(rel) != len(block.bounds):
            return f"its part holds {len(rel)} proposals, the list {len(block.bounds)}"
        if not np.array_equal(rel, relative_bounds(block)):
            return "its part's proposals differ from the list's"
        return None

    def save(self, block, result: VideoResult, raw: RawOutputs) -> None:
        """Raw outputs first: a part file then always means the video is complete."""
        if self.raw is not None:
            save_raw_outputs(self.raw / f"{block.video_id}.npz", raw)
        save_video_result(self.part(block), result)


def run(model, dataset: FrameSequenceDataset, scorer: Scorer, outputs: Outputs, device, workers: int,
        show_progress: bool) -> None:
    """Score the dataset's videos, saving each finished video through ``outputs`` (resume points)."""
    started = time.perf_counter()
    for block, result, raw in score_videos(model, dataset, scorer, device, workers, show_progress):
        outputs.save(block, result, raw)
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
    # checked before any part is discarded as stale
    backbone, spec = checkpoint_input(ckpt, args.checkpoint, "ssn", args.modality, args.num_crops)
    model = model_from_checkpoint(ckpt, rt.device, args.checkpoint)
    plist = read_frame_based_list(args.proposal_list)
    outputs = Outputs(args.output, args.save_raw)
    if rt.is_main:
        outputs.prepare(run_manifest(args, ckpt, spec, plist.videos), plist.videos)
    if outputs.raw is not None:
        outputs.raw.mkdir(parents=True, exist_ok=True)
    wait_for_all(rt)    # the other processes look at the parts only once stale ones are gone
    done = [outputs.finished(b) for b in plist.videos]
    todo = [b for k, b in enumerate(plist.videos) if k % rt.world_size == rt.rank and not done[k]]
    logger.info("%d videos, %d already scored, %d to score in %d process(es)", len(plist), sum(done),
                len(plist) - sum(done), rt.world_size)
    start = time.perf_counter()
    if todo:
        dataset = FrameSequenceDataset(todo, backbone.modality, backbone.length, spec, args.frame_interval,
                                       args.num_crops, args.chunk)
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
    sys.exit(run_main(main, get_args_parser()))
