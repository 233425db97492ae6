"""Score videos with a trained BMN: proposals in seconds, in the ActivityNet results layout.

Example::

    python bmn_test.py activitynet1.3 --features work/features --annotations anet_anno_action.json \\
        --checkpoint work/bmn/checkpoint_best.pth --output work/bmn/proposals_validation.json

Rebuilds the network, the windowing (whole rescaled videos or windows), the streams and the post-processing
from the checkpoint (``bmn_train.py``) and refuses features made another way (the first differing field is
named).  Every video of ``--subset`` (default: the preset's test subset) that has features is scored: start
and end curves and the boundary-matching maps -> candidates (``ops.proposals.bmn.bmn_candidates``) ->
soft-NMS over each video -> its ``top_k`` proposals in seconds
(``ops.proposals.windows.proposals_in_seconds``), written atomically as
``{"version", "results": {video: [{"score", "segment": [t_start, t_end]}]}, "external_data"}``.
``eval_proposals.py`` evaluates the file; ``proposals_to_list.py`` and ``proposals_to_detections.py`` turn it into
detections.  See docs/bmn.md.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from ops.device import DEVICE_HELP, device_arg
from ops.errors import InputError, run_main
from ops.formats.annotations import load_dataset_annotations
from ops.formats.detections import write_activitynet_json
from ops.formats.presets import load_preset
from ops.log import setup_logging
from ops.models.bmn import bmn_proposals, build_bmn
from ops.train.engine import load_checkpoint, load_weights, setup_runtime
from ops.train.feature_stage import add_scoring_args, feature_dataset

logger = logging.getLogger("bmn_test")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scoring_args(p, "bmn_train.py", "proposal file to write (ActivityNet JSON)")
    p.add_argument("--top_k", type=int, default=None, help="proposals kept per video (default: the checkpoint's)")
    p.add_argument("-b", "--batch_size", type=int, default=16)
    p.add_argument("--device", default="auto", type=device_arg, help=DEVICE_HELP)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def checkpoint_bmn(path: Path, device):
    """The network a checkpoint stores (eval mode) and its ``extra`` (windowing, streams, geometry)."""
    ckpt = load_checkpoint(path, map_location="cpu")
    extra = ckpt.get("extra", {})
    if ckpt.get("model_config", {}).get("type") != "bmn" or "bmn" not in extra or "feature_record" not in extra:
        raise InputError(f"{path}: not a checkpoint of bmn_train.py (no BMN model config or feature record)")
    model = build_bmn(ckpt["model_config"])
    load_weights(model, ckpt, path)
    return model.to(device).eval(), extra


def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    rt = setup_runtime(args.device)
    model, extra = checkpoint_bmn(args.checkpoint, rt.device)
    settings = dict(extra["bmn"])
    if args.top_k is not None:
        settings["post"] = {**settings["post"], "top_k": args.top_k}
    subset = args.subset or preset["test_subset"]
    db = load_dataset_annotations(preset, args.annotations, subset)
    dataset = feature_dataset(args.features, db, settings, [v for v in db.video_ids if v not in db.avoid], subset,
                              geometry=extra["feature_record"])
    start = time.perf_counter()
    props = bmn_proposals(model, dataset, settings["post"], args.batch_size, rt.device)
    write_activitynet_json(args.output, props)
    logger.info("%s: %d proposals of %d videos (%d items) in %.1f s", args.output, len(props), len(dataset.records),
                len(dataset), time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
