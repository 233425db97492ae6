"""Evaluate temporal proposals: SSN recall at IoU thresholds and ActivityNet AR@AN / AUC.

A proposal list carries its own ground truth::

    python eval_proposals.py ../shared/data/activitynet1.2/activitynet1.2_tag_val_normalized_proposal_list.txt

A proposal file (ActivityNet proposal JSON in seconds, or BSN/BMN CSV in
fractions: one file with a ``video`` column or a folder of ``<video>.csv``)
needs annotations (THUMOS14 folder, ActivityNet JSON or custom CSV)::

    python eval_proposals.py bmn_results/ --annotations activity_net.v1-3.min.json --subset validation \\
        --json_out proposals.json
"""
from __future__ import annotations

import sys
from pathlib import Path

import argparse
import logging

from ops.errors import InputError, run_main
from ops.evaluation.detection_eval import ground_truth_from_db, ground_truth_from_proposal_list
from ops.evaluation.proposal_eval import ANET_THRESHOLDS, SSN_THRESHOLDS, ar_an, proposals_from_list, ssn_recall
from ops.formats.annotations import load_annotations, load_dataset_annotations
from ops.formats.detections import read_activitynet_json, read_proposal_csv
from ops.formats.presets import load_preset
from ops.formats.proposal_list import read_proposal_list
from ops.io import atomic_write_json
from ops.log import setup_logging

logger = logging.getLogger("eval_proposals")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Evaluate proposals: recall@IoU (SSN) and AR@AN (ActivityNet).",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("proposals", help="proposal list (.txt), ActivityNet proposal .json, or BSN/BMN .csv / folder")
    p.add_argument("--annotations", default=None, help="annotations for a proposal file (not a proposal list)")
    p.add_argument("--subset", default=None,
                   help="annotation subset (default: the preset's test subset, else from the THUMOS14 folder "
                        "name, else 'validation')")
    p.add_argument("--dataset", default=None, help="preset name, for the default subset and class names")
    p.add_argument("--ssn_iou", type=float, nargs="+", default=list(SSN_THRESHOLDS),
                   help="IoU thresholds of the SSN recall (strict >)")
    p.add_argument("--iou", type=float, nargs="+", default=list(ANET_THRESHOLDS),
                   help="IoU thresholds averaged in AR@AN (>=)")
    p.add_argument("--max_avg", type=float, default=100.0, help="AN_max: largest average number of proposals")
    p.add_argument("--json_out", default=None)
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def _default_subset(args, preset) -> str:
    if args.subset:
        return args.subset
    if preset:
        return preset["test_subset"]
    name = Path(args.annotations).name
    return "test" if name.endswith("_test") else "validation"


def load_inputs(args):
    """(proposals, ground truth) in one unit."""
    path = Path(args.proposals)
    if path.suffix.lower() == ".txt":
        plist = read_proposal_list(path)
        num_classes = max([int(v.gt_labels.max()) for v in plist if v.num_gt] + [1])
        return proposals_from_list(plist), ground_truth_from_proposal_list(plist, num_classes)
    if not args.annotations:
        raise InputError(f"{path} is a proposal file; give --annotations for its ground truth")
    preset = load_preset(args.dataset) if args.dataset else None
    subset = _default_subset(args, preset)
    db = (load_dataset_annotations(preset, args.annotations, subset) if preset
          else load_annotations(args.annotations, subset))
    gt = ground_truth_from_db(db)
    props = read_activitynet_json(path) if path.suffix.lower() == ".json" else read_proposal_csv(path)
    if props.unit != gt.unit:
        props = props.scaled(gt.durations, gt.unit, str(path))
    return props, gt


def main(args) -> dict:
    setup_logging(args.verbose)
    props, gt = load_inputs(args)
    logger.info("%d proposals in %d videos; %d ground-truth instances", len(props), len(set(props.video)), len(gt))
    rec = ssn_recall(props, gt, args.ssn_iou)
    curve = ar_an(props, gt, args.max_avg, args.iou)
    out = {"settings": {"proposals": str(args.proposals), "annotations": args.annotations,
                        "max_avg": args.max_avg, "unit": gt.unit},
           "ssn_recall": rec, "ar_an": curve.as_dict()}
    print(f"SSN recall over {rec['num_videos']} videos, {rec['num_gt']} instances:")
    for t, pv, pi in zip(rec["iou_thresholds"], rec["per_video"], rec["per_instance"]):
        print(f"  IoU > {t:.2f}: per video {100 * pv:.2f}%  per instance {100 * pi:.2f}%")
    print(f"  average: per video {100 * rec['average_per_video']:.2f}%  "
          f"per instance {100 * rec['average_per_instance']:.2f}%")
    d = out["ar_an"]
    fmt = lambda x: "n/a" if x is None else f"{100 * x:.2f}%"  # noqa: E731
    print(f"AR@AN (IoU {min(args.iou):.2f}:{max(args.iou):.2f}, AN up to {curve.proposals_per_video[-1]:.1f}): "
          f"AR@1 {fmt(d['AR@1'])}  AR@10 {fmt(d['AR@10'])}  AR@50 {fmt(d['AR@50'])}  AR@100 {fmt(d['AR@100'])}  "
          f"AUC {d['AUC_percent']:.2f}%")
    if args.json_out:
        atomic_write_json(args.json_out, out)
        logger.info("wrote %s", args.json_out)
    return out


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
