"""Snippet features from frame folders: one (T, C) float32 sequence per video and stream, with its record.

Example::

    python extract_features.py synthetic work/frames work/features --modality Flow \\
        --checkpoint work/ssn_Flow/checkpoint_last.pth --annotations data/annotations --subset test

Reads the frame folders of ``extract_frames.py`` (or DenseFlow's ``img_*.jpg`` / ``flow_x_*.jpg`` layout), one
snippet per row (``ops/video/snippets.py``: ``stride``, ``offset``, flow stack; from the preset's ``features``
section, a named ``--geometry`` such as ``tsn_anet`` or ``ssad``, or flags), through a backbone: the one of an
actionness or SSN checkpoint of ours (``--checkpoint``), or ``--arch`` with ``--pretrained`` weights (ImageNet, or
an original TSN/SSN reference checkpoint; a path: nothing is downloaded).  ``--output pool`` (default) keeps the
global-pool features, ``scores`` the checkpoint's class scores (actionness: 2; SSN: the activity classifier's
K + 1).  Writes ``OUTPUT/<modality>/<video>.npy`` + ``.json`` (``ops/formats/features.py``): the record says which
instant each row stands for (``rows_to_seconds``), the backbone, the weights' digest, input size and crops.

Per video, atomically: a re-run skips videos already written with the same settings and refuses (one line) those
written with others unless ``--overwrite``.  ``--shard K/N`` (a job array) and torchrun (every world_size-th
video of the shard) split the videos; the union of all parts equals one run's output.  A missing or empty frame
folder is reported with its path and skipped; the exit status is 1 when any video failed.  Batched, with
DataLoader workers decoding JPEGs (``-j``), on the GPU with bfloat16 autocast when there is one.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ops.device import DEVICE_HELP, device_arg, shard_arg, take_shard
from ops.errors import InputError, nonnegative_int, run_main
from ops.formats.annotations import load_dataset_annotations
from ops.formats.features import FeatureRecord, feature_path, read_record, record_path, write_features
from ops.formats.frames import check_frame_folder, list_video_dirs
from ops.formats.presets import load_preset
from ops.formats.proposal_list import make_video_proposals
from ops.log import progress, setup_logging
from ops.models.backbones import BackboneConfig, build_backbone, input_spec
from ops.models.builder import add_backbone_args, backbone_from_args, build_model
from ops.train.dataset import SnippetDataset, data_spec
from ops.train.engine import file_digest, load_checkpoint, load_weights, setup_runtime
from ops.video.snippets import GEOMETRIES, SnippetGeometry, geometry_from

logger = logging.getLogger("extract_features")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", help="dataset preset name (data/*.json) or preset JSON path")
    p.add_argument("frame_root", type=Path, help="root of the frame folders (one per video)")
    p.add_argument("output", type=Path, help="feature root: OUTPUT/<modality>/<video>.npy + .json")
    p.add_argument("--modality", choices=["RGB", "Flow"], required=True)
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="actionness or SSN checkpoint of ours (its backbone); else --arch and --pretrained")
    add_backbone_args(p, arch="bninception")
    p.add_argument("--output_kind", choices=["pool", "scores"], default="pool",
                   help="global-pool features, or the checkpoint's class scores")
    g = p.add_argument_group("snippet geometry (default: the preset's 'features' section)")
    g.add_argument("--geometry", choices=sorted(GEOMETRIES), default=None, help="a published geometry")
    g.add_argument("--stride", type=int, default=None, help="frames between rows")
    g.add_argument("--offset", type=float, default=None, help="frames from frame 0's start to row 0's instant")
    g.add_argument("--flow_shift", type=int, default=None, help="flow stack start, frames after the centred one")
    g.add_argument("--resize", choices=["crop", "full"], default=None,
                   help="crop: the backbone's test crops; full: the whole frame resized, no crop")
    g.add_argument("--num_crops", type=int, choices=[1, 10], default=None, help="crops averaged (default 1)")
    v = p.add_argument_group("videos (default: every folder under FRAME_ROOT)")
    v.add_argument("--annotations", type=Path, default=None, help="take the videos of --subset of these")
    v.add_argument("--subset", nargs="+", default=None, help="subset(s) of --annotations")
    v.add_argument("--shard", type=shard_arg, default=None, help="K/N: the K-th of N parts of the videos")
    p.add_argument("-b", "--batch_size", type=int, default=64, help="snippets per batch")
    p.add_argument("-j", "--workers", type=nonnegative_int, default=2, help="DataLoader workers decoding JPEGs")
    p.add_argument("--device", default="auto", type=device_arg, help=DEVICE_HELP)
    p.add_argument("--overwrite", action="store_true", help="redo videos written with other settings")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


# --------------------------------------------------------------------------- the network


class FeatureNet(torch.nn.Module):
    """Backbone (+ the classifier for ``scores``): x (N, C, H, W) -> (N, D)."""

    def __init__(self, base, head=None):
        super().__init__()
        self.base, self.head = base, head

    def forward(self, x):
        y = self.base(x)
        return y if self.head is None else self.head(y)


def build_net(args) -> tuple[FeatureNet, BackboneConfig, dict, dict]:
    """The network, its backbone config, its input spec and what the record says of it."""
    if args.checkpoint is not None:
        ckpt = load_checkpoint(args.checkpoint)
        cfg = ckpt["model_config"]
        if cfg.get("type") not in ("binary", "ssn"):
            raise InputError(f"{args.checkpoint}: a {cfg.get('type')!r} checkpoint; give an actionness (binary_train.py) "
                             "or SSN (ssn_train.py) checkpoint, or --arch with --pretrained")
        model = build_model(cfg)
        load_weights(model, ckpt, args.checkpoint)
        backbone = model.backbone_cfg
        if backbone.modality != args.modality:
            raise InputError(f"{args.checkpoint} is a {backbone.modality} model, given as --modality {args.modality}")
        head = None if args.output_kind == "pool" else (model.fc if cfg["type"] == "binary" else model.activity_fc)
        spec = {**input_spec(backbone), "flip": ckpt.get("extra", {}).get("input_spec", {}).get("flip", True)}
        what = {"backbone": backbone.arch, "checkpoint": file_digest(args.checkpoint) or ""}
        return FeatureNet(model.base, head), backbone, spec, what
    if args.output_kind == "scores":
        raise InputError("--output_kind scores needs a --checkpoint with a classifier")
    folders = list_video_dirs(args.frame_root).values() if args.snippet_seconds is not None else ()
    backbone = BackboneConfig.from_dict(backbone_from_args(args, args.modality, folders))
    base, _ = build_backbone(backbone)
    what = {"backbone": backbone.arch, "checkpoint": file_digest(args.pretrained) if args.pretrained else ""}
    return FeatureNet(base), backbone, data_spec(backbone), what


# --------------------------------------------------------------------------- videos


def video_list(args, preset) -> list[str]:
    if args.annotations is None:
        return list(list_video_dirs(args.frame_root))
    videos = []
    for subset in args.subset or [preset["train_subset"], preset["test_subset"]]:
        videos += load_dataset_annotations(preset, args.annotations, subset).video_ids
    return list(dict.fromkeys(videos))


def record_for(video: str, args, geometry: SnippetGeometry, backbone: BackboneConfig, spec: dict, what: dict,
               num_rows: int, dim: int, num_frames: int, fps: float, settings: dict) -> FeatureRecord:
    return FeatureRecord(video=video, stream=args.modality, num_rows=num_rows, dim=dim, fps=float(fps),
                         num_frames=int(num_frames), **geometry.record_fields(args.modality, backbone.length),
                         backbone=what["backbone"], checkpoint=what["checkpoint"], output=args.output_kind,
                         input_size=int(spec["input_size"]), crops=settings["crops"], source="ours",
                         extra={"resize": settings["resize"], "flow_shift": geometry.flow_shift})


def _settings_of(rec: FeatureRecord) -> tuple:
    return (rec.first_frame, rec.stride, rec.snippet_frames, rec.centre, rec.backbone, rec.checkpoint, rec.output,
            rec.input_size, rec.crops, rec.extra.get("resize"), rec.extra.get("flow_shift"))


def todo_videos(args, videos, template: FeatureRecord) -> list[str]:
    """Videos still to extract; those done with the same settings are skipped, others refused (--overwrite)."""
    todo, other = [], []
    for v in videos:
        if feature_path(args.output, args.modality, v).is_file() and record_path(args.output, args.modality, v).is_file():
            if _settings_of(read_record(args.output, args.modality, v)) == _settings_of(template):
                continue
            if not args.overwrite:
                other.append(v)
                continue
        todo.append(v)
    if other:
        raise InputError(f"{args.output / args.modality}: {len(other)} video(s) (e.g. {other[0]}) were extracted with "
                         "other settings (geometry, weights, crops); pass --overwrite to redo them, or choose another "
                         "OUTPUT")
    return todo


def check_folders(args, videos, modality) -> tuple[list, list[str]]:
    """(blocks of the usable videos, problems) of ``videos``' frame folders."""
    blocks, problems = [], []
    for v in videos:
        n, problem = check_frame_folder(v, args.frame_root / v, modality)
        if problem is not None:
            problems.append(f"{v}: {problem.reason}")
            continue
        blocks.append(make_video_proposals(str(args.frame_root / v), n, np.zeros((0, 2)), [], np.zeros((0, 2))))
    return blocks, problems


# --------------------------------------------------------------------------- main


@torch.no_grad()
def extract(net, dataset: SnippetDataset, device, workers: int, on_video, show: bool) -> None:
    """Run every chunk; ``on_video(index, features (T, D))`` once a video's rows are all done."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers,
                                         pin_memory=device.type == "cuda")
    parts: dict[int, list] = {}
    remaining = {v: -(-len(p) // dataset.chunk) for v, p in enumerate(dataset.positions)}
    for x, video, first in progress(loader, desc="snippets", unit="chunk", disable=not show):
        k, crops = x.shape[:2]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            y = net(x.flatten(0, 1).to(device, non_blocking=True))
        parts.setdefault(video, []).append((first, y.float().view(k, crops, -1).mean(1).cpu().numpy()))
        remaining[video] -= 1
        if remaining[video] == 0:
            on_video(video, np.concatenate([a for _, a in sorted(parts.pop(video), key=lambda t: t[0])]))


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    section = preset.get("features", {})
    geometry = geometry_from(section, args.geometry, stride=args.stride, offset=args.offset,
                             flow_shift=args.flow_shift)
    settings = {"resize": args.resize or section.get("resize", "crop"), "crops": args.num_crops or 1}
    rt = setup_runtime(args.device)
    net, backbone, spec, what = build_net(args)
    net = net.to(rt.device).eval()
    template = record_for("template", args, geometry, backbone, spec, what, 1, 1, 1, 1.0, settings)
    videos = take_shard(video_list(args, preset), args.shard, rt.rank, rt.world_size)
    todo = todo_videos(args, videos, template)
    blocks, problems = check_folders(args, todo, args.modality)
    logger.info("%d videos in this part, %d already extracted, %d to extract, %d unusable", len(videos),
                len(videos) - len(todo), len(blocks), len(problems))
    frames = [_num_frames(Path(b.video), b.num_frames) for b in blocks]
    positions = [geometry.frames(geometry.num_rows(n), args.modality, backbone.length)[:, 0] for n in frames]
    start, written = time.perf_counter(), []
    if blocks:
        dataset = SnippetDataset(blocks, args.modality, backbone.length, spec, positions, settings["crops"],
                                 args.batch_size, settings["resize"])
        fps = {b.video_id: _fps(Path(b.video), section) for b in blocks}

        def save(index, feats):
            b = blocks[index]
            rec = record_for(b.video_id, args, geometry, backbone, spec, what, len(feats), feats.shape[1],
                             frames[index], fps[b.video_id], settings)
            write_features(args.output, feats.astype(np.float32), rec)
            written.append(b.video_id)

        extract(net, dataset, rt.device, args.workers, save, rt.is_main)
    seconds = time.perf_counter() - start
    rows = sum(len(p) for p in positions)
    logger.info("%s/%s: %d videos, %d snippets in %.1f s (%.0f snippets/s)", args.output, args.modality, len(written),
                rows, seconds, rows / max(seconds, 1e-9))
    for problem in problems:
        logger.error("skipped %s", problem)
    if problems:
        logger.error("%d video(s) could not be extracted (listed above); fix their frame folders and re-run",
                     len(problems))
        return 1
    return 0


def _fps(folder: Path, section: dict) -> float:
    from ops.formats.frames import count_frames
    fps = count_frames(folder).fps or section.get("fps")
    if not fps:
        raise InputError(f"{folder}: no fps in its meta.json and none in the preset's 'features' section; "
                         "re-extract the frames with extract_frames.py or add \"fps\" to the preset")
    return float(fps)


def _num_frames(folder: Path, count: int) -> int:
    """Frames the video spans (meta.json's kept frames, else the folder's RGB count or flow count + 1)."""
    from ops.formats.frames import count_frames
    c = count_frames(folder)
    return int(c.num_kept or c.num_frames or count + 1)


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
