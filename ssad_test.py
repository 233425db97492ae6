"""Score every anchor of every window with a trained SSAD: the release's prediction CSV.

Example::

    python ssad_test.py thumos14 --features work/features --annotations data/annotations \\
        --checkpoint work/ssad/decouple_RGB/checkpoint_last.pth --output work/ssad/decouple_RGB_test.csv

    # a model trained on the release's features scores the release's test windows
    python ssad_test.py thumos14 --released_features data/THUMOS14/feature --window_list \\
        data/thumos14/test/window_info.log --checkpoint work/ssad/release_decouple_RGB/checkpoint_last.pth \\
        --output work/ssad/release_decouple_RGB_test.csv

The checkpoint (``ssad_train.py``) gives the network, the stream, the windowing and the features' geometry
(features made another way are refused).  Every test-split window of every video of ``--subset`` (default: the
preset's test subset) is scored; each of its 140 anchors becomes one row ``video_name,start,conf,xmin,xmax,
score_0..score_K`` (``ops/formats/ssad_files.py``): class probabilities (softmax), the raw confidence, the decoded
box in frames (start clipped at 0, end at the window's length, then the window's start frame added).  The window
list is written beside it (``OUTPUT.window_info.log``).  With ``--released_features`` the windows are the lines of
``--window_list`` (the release's files, ``--annotations`` not needed), and the checkpoint must come from the same
released features (stream, backbone).  ``ssad_postprocess.py`` turns one or two streams' files
into detections.
"""
from __future__ import annotations

import argparse
import logging
import sys

import numpy as np
import torch

from ops.device import DEVICE_HELP, device_arg
from ops.errors import InputError, run_main
from ops.formats.annotations import load_dataset_annotations
from ops.formats.presets import load_preset
from ops.formats.ssad_files import read_window_list, write_predictions, write_window_list
from ops.log import setup_logging
from ops.models.ssad import build_ssad
from ops.proposals.ssad import decode, ssad_anchors
from ops.train.engine import load_checkpoint, load_weights, setup_runtime
from ops.train.feature_dataset import FeatureDataset, videos_with_features
from ops.train.feature_stage import add_scoring_args
from ops.train.ssad_windows import ReleasedWindows, collate, window_items

logger = logging.getLogger("ssad_test")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scoring_args(p, "ssad_train.py", "prediction CSV to write", source="ssad")
    p.add_argument("-b", "--batch_size", type=int, default=48)
    p.add_argument("--device", default="auto", type=device_arg, help=DEVICE_HELP)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def _our_windows(args, preset: dict, extra: dict) -> FeatureDataset:
    """Every test-split window of ``--subset``'s videos over our features, checked against the checkpoint's."""
    if args.annotations is None:
        raise InputError("--features needs --annotations (the videos of --subset)")
    subset = args.subset or preset["test_subset"]
    db = load_dataset_annotations(preset, args.annotations, subset)
    stream = extra["modality"]
    videos = videos_with_features(args.features, [v for v in db.video_ids if v not in db.avoid], (stream,), subset)
    items = window_items(args.features, stream, videos, {}, extra["ssad"], training=False)
    return FeatureDataset(args.features, (stream,), items, geometry=extra["feature_record"]).preload()


def _released_windows(args, extra: dict) -> ReleasedWindows:
    """Every line of the release's window list, from the released features the checkpoint was trained on."""
    record = extra["feature_record"]
    if args.window_list is None:
        raise InputError("--released_features needs --window_list (the release's window_info.log of that split)")
    if args.backbone != record["backbone"]:
        raise InputError(f"{args.checkpoint}: trained on the release's {record['backbone']} features, not "
                         f"{args.backbone}; pass --backbone {record['backbone']}")
    dataset = ReleasedWindows(args.released_features, args.split, extra["modality"], args.backbone,
                              read_window_list(args.window_list), window_rows=extra["ssad"]["window_rows"])
    if dataset.dim != record["dim"]:
        raise InputError(f"{dataset.path(0)}: {dataset.dim}-d features; the checkpoint was trained on "
                         f"{record['dim']}-d")
    return dataset


def window_frames(dataset, index: int) -> tuple[str, float, float]:
    """``(video, start frame, length in frames)`` of window ``index`` of either dataset."""
    if isinstance(dataset, ReleasedWindows):
        return dataset.window(index)
    video, first, n = dataset.window(index)
    stride = dataset.records[video].stride
    return video, first * stride, n * stride


@torch.no_grad()
def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    rt = setup_runtime(args.device)
    ckpt = load_checkpoint(args.checkpoint, map_location="cpu")
    if ckpt.get("model_config", {}).get("type") != "ssad":
        raise InputError(f"{args.checkpoint}: not a checkpoint of ssad_train.py")
    model = build_ssad(ckpt["model_config"])
    load_weights(model, ckpt, args.checkpoint)
    model = model.to(rt.device).eval()
    extra = ckpt["extra"]
    released = extra["feature_record"].get("source") == "decouple_ssad_release"
    if released != bool(args.released_features):
        raise InputError(f"{args.checkpoint}: trained on {'the release' if released else 'our own'} features; "
                         f"score with {'--released_features and --window_list' if released else '--features'}")
    dataset = _released_windows(args, extra) if released else _our_windows(args, preset, extra)
    anchors = torch.from_numpy(ssad_anchors()).float().to(rt.device)
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=False, collate_fn=collate)
    names, rows, windows = [], [], []
    for x, index in loader:
        out = model.detection_outputs(model(x.to(rt.device)))
        probs = torch.softmax(out["logits"].float(), -1)
        boxes = decode(anchors, out["dx"].float(), out["dw"].float())
        for j, i in enumerate(index.tolist()):
            video, start_frame, length = window_frames(dataset, i)
            b = boxes[j].cpu().numpy() * length
            b = np.stack([np.maximum(b[:, 0], 0), np.minimum(b[:, 1], length)], 1) + start_frame
            names += [video] * len(b)
            rows.append(np.column_stack([np.full(len(b), start_frame), out["confidence"][j].float().cpu().numpy(),
                                         b, probs[j].cpu().numpy()]))
            windows.append((int(round(start_frame)), video))
    write_predictions(args.output, names, np.concatenate(rows))
    write_window_list(args.output.with_name(args.output.name + ".window_info.log"), windows)
    logger.info("%s: %d windows of %d videos, %d anchor rows", args.output, len(windows),
                len({v for _, v in windows}), len(names))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
