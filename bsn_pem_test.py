"""Score PGM proposals with a trained PEM: BSN's proposals in seconds, in the ActivityNet results layout.

Example::

    python bsn_pem_test.py activitynet1.3 --pgm work/bsn/pgm --annotations anet_anno_action.json \\
        --checkpoint work/bsn/pem/checkpoint_best.pth --output work/bsn/proposals_validation.json

Per video of ``--subset`` (default: the preset's test subset): its ``test_top_k`` (1000) best PGM proposals,
score ``pem x start_score x end_score``, Gaussian soft-NMS with BSN's parameters (alpha 0.75, 0.65, 0.9) over the
video, the ``top_k`` (100) best, in seconds (``ops.proposals.windows.proposals_in_seconds``), written atomically
as ``{"version", "results": {video: [{"score", "segment"}]}, "external_data"}``.  ``eval_proposals.py`` evaluates
it; ``proposals_to_list.py`` / ``proposals_to_detections.py`` turn it into detections.
"""
from __future__ import annotations

import argparse
import logging
import sys

import numpy as np
import torch

from ops.device import DEVICE_HELP, device_arg
from ops.errors import run_main
from ops.formats.annotations import load_dataset_annotations
from ops.formats.detections import write_activitynet_json
from ops.formats.presets import load_preset
from ops.log import setup_logging
from ops.models.bsn import checkpoint_bsn
from ops.proposals.windows import proposals_in_seconds
from ops.train.engine import setup_runtime
from ops.train.feature_dataset import proposal_dataset
from ops.train.feature_stage import add_scoring_args

logger = logging.getLogger("bsn_pem_test")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scoring_args(p, "bsn_pem_train.py", "proposal file to write (ActivityNet JSON)", source="pgm")
    p.add_argument("--device", default="auto", type=device_arg, help=DEVICE_HELP)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


@torch.no_grad()
def main(args: argparse.Namespace) -> int:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    rt = setup_runtime(args.device)
    model, extra = checkpoint_bsn(args.checkpoint, "bsn_pem", rt.device)
    subset = args.subset or preset["test_subset"]
    db = load_dataset_annotations(preset, args.annotations, subset)
    data = proposal_dataset(args.pgm, [v for v in db.video_ids if v not in db.avoid], extra["test_top_k"], subset)
    windows = []
    for video, d in zip(data.videos, data.data):
        if not len(d["proposals"]):
            continue
        pem = model(torch.from_numpy(d["features"].astype(np.float32)).to(rt.device)).double().cpu().numpy()
        p = d["proposals"]
        score = pem * p[:, 2] * p[:, 3]
        for w, (t0, t1) in enumerate(d["spans"]):
            mine = d["window"] == w
            windows.append((video, np.column_stack([p[mine, 0], p[mine, 1], score[mine]]), t0, t1))
    post = extra["post"]
    props = proposals_in_seconds(windows, post["soft_nms_alpha"], post["soft_nms_low"], post["soft_nms_high"],
                                 post["top_k"], {v: db.duration(v) for v in data.videos if np.isfinite(db.duration(v))})
    write_activitynet_json(args.output, props)
    logger.info("%s: %d proposals of %d videos", args.output, len(props), len(data))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
