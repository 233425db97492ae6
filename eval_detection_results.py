"""Evaluate temporal action detections: SSN result files or detection files.

SSN results (fused, post-processed, ground truth from the proposal list as the
original SSN did, or from annotations in seconds)::

    python eval_detection_results.py activitynet1.2 rgb.pkl flow.pkl --score_weights 1 1.2 \\
        --proposal_list data/activitynet1.2_tag_val_proposal_list.txt

Fusion weights per output (activity, completeness, regression) chosen on a
subset that is not the test set, then applied to the test set (ops/evaluation/fusion.py)::

    python eval_detection_results.py synthetic rgb_val.pkl flow_val.pkl --annotations ANN \\
        --subset validation --search_weights fusion_weights.json
    python eval_detection_results.py synthetic rgb_test.pkl flow_test.pkl --annotations ANN \\
        --subset test --fusion_weights fusion_weights.json

Detection files from any method (ActivityNet JSON or THUMOS14 evalkit text)::

    python eval_detection_results.py thumos14 --detections run.txt \\
        --annotations ../shared/data/thumos14/temporal_annotations_test --protocol thumos14 \\
        --iou 0.3 0.5 0.7 --per_class --diagnose 0.5 --json_out th14.json

Prints a table of mAP per IoU threshold and their mean, the number of videos
and ground-truth instances, the settings used; writes all of it as JSON with
``--json_out``.  ``--export_json`` / ``--export_thumos`` save the detections
(seconds) in the ActivityNet / THUMOS14 formats.
"""
from __future__ import annotations

import argparse
import logging
import sys

import numpy as np

from ops.errors import InputError, run_main
from ops.evaluation.detection_eval import (GroundTruth, class_confusion, evaluate_detections,
                                           false_positive_breakdown, format_confusion, ground_truth_from_db,
                                           ground_truth_from_proposal_list)
from ops.evaluation.fusion import (FusionWeights, FusionWeightsError, fuse_results, read_fusion_weights,
                                   search_fusion_weights, write_fusion_weights)
from ops.evaluation.postprocess import PostprocessConfig, results_to_detections
from ops.formats.annotations import load_dataset_annotations
from ops.formats.detections import Detections, read_detection_file, write_activitynet_json, write_thumos14_txt
from ops.formats.presets import load_preset, resolve
from ops.formats.proposal_list import read_proposal_list
from ops.formats.results import read_class_scores, read_results
from ops.io import atomic_write_json
from ops.log import setup_logging

logger = logging.getLogger("eval_detection_results")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Evaluate detection mAP (ActivityNet or THUMOS14 protocol).",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("dataset", help="dataset preset name in data/ (thumos14, activitynet1.2, ...) or a preset JSON")
    p.add_argument("results", nargs="*", help="SSN result pickles to fuse")
    g = p.add_argument_group("fusion of several result files (ops/evaluation/fusion.py; weights in the order of the files)")
    g.add_argument("--score_weights", type=float, nargs="+", default=None,
                   help="one weight per file for all outputs, as the original SSN (normalised; default equal)")
    g.add_argument("--act_weights", type=float, nargs="+", default=None, help="activity weights (override)")
    g.add_argument("--comp_weights", type=float, nargs="+", default=None, help="completeness weights (override)")
    g.add_argument("--reg_weights", type=float, nargs="+", default=None, help="regression weights (override)")
    g.add_argument("--fusion_weights", default=None, metavar="FILE", help="weights file from --search_weights")
    g.add_argument("--search_weights", default=None, metavar="FILE",
                   help="choose per-output weights on this subset (maximising the average mAP over the IoU "
                        "thresholds), write them to FILE and evaluate with them; use a subset that is not the "
                        "test set, then pass FILE to --fusion_weights on the test set")
    g.add_argument("--search_step", type=float, default=0.1, help="grid step of --search_weights")
    g = p.add_argument_group("ground truth")
    g.add_argument("--proposal_list", default=None, help="proposal list holding the ground truth (SSN results)")
    g.add_argument("--annotations", default=None,
                   help="THUMOS14 annotation folder, ActivityNet-style .json or custom .csv (seconds)")
    g.add_argument("--subset", default=None, help="annotation subset (default: the preset's test subset)")
    g = p.add_argument_group("detection files")
    g.add_argument("--detections", default=None, help="ActivityNet .json or THUMOS14 evalkit .txt detections")
    g = p.add_argument_group("protocol")
    g.add_argument("--protocol", choices=["activitynet", "thumos14"], default=None)
    g.add_argument("--iou", type=float, nargs="+", default=None, help="IoU thresholds")
    g = p.add_argument_group("SSN post-processing (defaults from the preset)")
    g.add_argument("--top_k", type=int, default=None, help="(proposal, class) pairs kept per video; <=0: all")
    g.add_argument("--nms_threshold", type=float, default=None)
    g.add_argument("--softmax_before_filter", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--no_regression", action="store_true", help="skip location regression")
    g.add_argument("--cls_scores", default=None, help="video-level classifier scores pickle {video: (K,)}")
    g.add_argument("--cls_top_k", type=int, default=1, help="classes kept per video with --cls_scores")
    g = p.add_argument_group("output")
    g.add_argument("--per_class", action="store_true", help="print AP per class")
    g.add_argument("--diagnose", type=float, default=None, metavar="IOU", help="diagnose poor results at IOU: per-class AP, the class each ground-truth instance's best "
                        "detection gives (confusion), and the false-positive breakdown")
    g.add_argument("--json_out", default=None, help="write all numbers and settings here")
    g.add_argument("--export_json", default=None, help="save detections as ActivityNet JSON (seconds)")
    g.add_argument("--export_thumos", default=None, help="save detections as THUMOS14 evalkit text (seconds)")
    p.add_argument("-v", "--verbose", action="count", default=0)
    return p


def load_ground_truth(args, preset: dict) -> GroundTruth:
    """Ground truth from --annotations (seconds) or the proposal list (fractions)."""
    if args.annotations:
        subset = resolve(args.subset, preset["test_subset"])
        db = load_dataset_annotations(preset, args.annotations, subset)
        if db.num_classes != preset["num_classes"]:
            logger.warning("%s has %d classes, the preset %s has %d", args.annotations, db.num_classes,
                           preset["name"], preset["num_classes"])
        gt = ground_truth_from_db(db)
        if gt.class_ids is None and preset.get("class_ids") and len(preset["class_ids"]) == gt.num_classes:
            gt.class_ids = list(preset["class_ids"])
        return gt
    plist_path = args.proposal_list or preset.get("test_proposal_list")
    if not plist_path:
        raise InputError("give --annotations PATH or --proposal_list PATH for the ground truth")
    gt = ground_truth_from_proposal_list(read_proposal_list(plist_path), preset["num_classes"])
    gt.classes, gt.class_ids = preset.get("classes"), preset.get("class_ids")
    return gt


def _weights_given(args) -> bool:
    """Whether any fusion weight was given on the command line."""
    return any(w is not None for w in (args.score_weights, args.act_weights, args.comp_weights, args.reg_weights))


def fusion_weights_from_args(args, num_sources: int) -> FusionWeights:
    """The fusion weights the flags ask for (equal when none), checked against the number of files."""
    per_output = (args.act_weights, args.comp_weights, args.reg_weights)
    if args.fusion_weights and _weights_given(args):
        raise InputError("give --fusion_weights FILE or weights on the command line, not both")
    if args.fusion_weights:
        return read_fusion_weights(args.fusion_weights, num_sources)
    base = args.score_weights or [1.0] * num_sources
    weights = FusionWeights.make(*[base if w is None else w for w in per_output])
    if weights.num_sources != num_sources:
        raise InputError(f"{weights.num_sources} fusion weights for {num_sources} result files")
    return weights


def results_detections(sources: list, names: list[str], weights: FusionWeights, cfg: PostprocessConfig,
                       cls, gt: GroundTruth) -> Detections:
    """Fuse, post-process and express in the ground truth's unit."""
    fused = fuse_results(sources, weights, names)
    return in_ground_truth_unit(results_to_detections(fused, cfg, cls), gt, names[0])


def in_ground_truth_unit(dets: Detections, gt: GroundTruth, source: str) -> Detections:
    """Fractions of the video become seconds when the ground truth is in seconds; other mismatches fail."""
    if dets.unit == "fraction" and gt.unit == "seconds":
        dets = dets.scaled(gt.durations, gt.unit, source)
    if dets.unit != gt.unit:
        raise InputError(f"detections are in {dets.unit} but the ground truth (proposal list) in "
                         f"{gt.unit}; evaluate detection files against --annotations")
    return dets


def search_weights(args, sources, names, cfg, cls, gt, protocol: str, ious, preset: dict) -> FusionWeights:
    """Choose per-output fusion weights on this subset by average mAP; write them to --search_weights."""
    subset = resolve(args.subset, preset["test_subset"]) if args.annotations else None
    if subset is not None and subset == preset["test_subset"]:
        logger.warning("choosing fusion weights on %s, the preset's test subset: figures with them are optimistic; "
                       "choose them on the training or a held-out subset", subset)
    if args.fusion_weights or _weights_given(args):
        raise InputError("--search_weights chooses the weights; do not give them as well")
    if len(sources) < 2:
        raise InputError("--search_weights needs at least two result files")

    def score(w: FusionWeights) -> float:
        return evaluate_detections(results_detections(sources, names, w, cfg, cls, gt), gt, protocol, ious).average_map

    try:
        best, value, evaluations = search_fusion_weights(score, len(sources), args.search_step)
    except FusionWeightsError as e:
        raise InputError(f"--search_step: {e}") from None
    write_fusion_weights(args.search_weights, best, sources=names, criterion="average_mAP", value=value,
                         protocol=protocol, iou_thresholds=list(map(float, ious)), subset=subset,
                         step=args.search_step, evaluations=evaluations)
    logger.info("fusion weights %s: average mAP %.2f %% after %d evaluations; wrote %s",
                best.as_dict(), 100 * value, evaluations, args.search_weights)
    return best


def load_detections(args, preset: dict, gt: GroundTruth, protocol: str, ious) -> tuple[Detections, dict]:
    """Detections (in the ground truth's unit) and the settings that produced them."""
    if args.detections:
        if args.results:
            raise InputError("give SSN result files or --detections, not both")
        dets = read_detection_file(args.detections, gt.classes or preset.get("classes"),
                                   gt.class_ids or preset.get("class_ids"))
        dets = in_ground_truth_unit(dets, gt, str(args.detections))
        settings = {"detections": str(args.detections)}
    elif args.results:
        ev = preset["evaluation"]
        cfg = PostprocessConfig(top_k=resolve(args.top_k, ev["top_k"]),
                                nms_threshold=resolve(args.nms_threshold, ev["nms_threshold"]),
                                softmax_before_filter=resolve(args.softmax_before_filter, ev["softmax_before_filter"]),
                                regression=not args.no_regression, cls_top_k=args.cls_top_k,
                                use_class_scores=args.cls_scores is not None)
        names = [str(r) for r in args.results]
        sources = [read_results(r) for r in args.results]
        cls = read_class_scores(args.cls_scores) if args.cls_scores else None
        if args.search_weights:
            weights = search_weights(args, sources, names, cfg, cls, gt, protocol, ious, preset)
        else:
            weights = fusion_weights_from_args(args, len(sources))
        dets = results_detections(sources, names, weights, cfg, cls, gt)
        settings = {"results": names, "score_weights": args.score_weights,
                    "fusion_weights": weights.as_dict(), "fusion_weights_file": args.fusion_weights,
                    "cls_scores": args.cls_scores, "postprocess": cfg.as_dict()}
    else:
        raise InputError("give SSN result files or --detections FILE")
    return dets, settings


def format_table(metrics, title: str) -> str:
    """The mAP table: one column per IoU threshold and the mean."""
    head = ["IoU"] + [f"{t:.2f}" for t in metrics.iou_thresholds] + ["Average"]
    row = ["mAP"] + [f"{100 * x:.2f}" for x in metrics.mean_ap] + [f"{100 * metrics.average_map:.2f}"]
    width = max(len(x) for x in head + row) + 1
    line = "".join(x.rjust(width) for x in head) + "\n" + "".join(x.rjust(width) for x in row)
    return f"{title}\n{line}\n({metrics.num_videos} videos, {metrics.num_gt} ground-truth instances, " \
           f"{metrics.num_detections} detections; AP in %)"


def format_per_class(metrics) -> str:
    names = metrics.classes or [str(k) for k in range(1, len(metrics.ap) + 1)]
    lines = []
    for name, g, row in zip(names, metrics.num_gt_per_class, metrics.ap):
        vals = " ".join("   nan" if np.isnan(x) else f"{100 * x:6.2f}" for x in row)
        lines.append(f"{name[:28]:<28} {int(g):6d} {vals}")
    return "class                        num_gt AP per IoU\n" + "\n".join(lines)


def export(args, dets: Detections, gt: GroundTruth) -> None:
    if not (args.export_json or args.export_thumos):
        return
    if dets.unit != "seconds":
        dets = dets.scaled(gt.durations, "seconds", "export")
    if args.export_json:
        write_activitynet_json(args.export_json, dets, gt.classes)
        logger.info("wrote %s", args.export_json)
    if args.export_thumos:
        if not gt.class_ids:
            raise InputError("--export_thumos needs official class ids (THUMOS14 annotations or preset)")
        write_thumos14_txt(args.export_thumos, dets, gt.class_ids)
        logger.info("wrote %s", args.export_thumos)


def main(args) -> dict:
    setup_logging(args.verbose)
    preset = load_preset(args.dataset)
    protocol = resolve(args.protocol, preset["evaluation"]["protocol"])
    ious = resolve(args.iou, preset["evaluation"]["iou_thresholds"])
    gt = load_ground_truth(args, preset)
    if protocol == "thumos14" and len(gt.amb_video) == 0:
        if args.annotations:   # given, but without an Ambiguous file (our synthetic sets have none)
            logger.warning("thumos14 protocol without Ambiguous segments: %s has none; the official THUMOS14 "
                           "numbers need its Ambiguous_%s.txt", args.annotations,
                           resolve(args.subset, preset["test_subset"]))
        else:
            logger.warning("thumos14 protocol without Ambiguous segments (ground truth from %s); give "
                           "--annotations for the official numbers",
                           "a proposal list" if gt.unit != "seconds" else "the preset")
    dets, settings = load_detections(args, preset, gt, protocol, ious)
    metrics = evaluate_detections(dets, gt, protocol, ious)
    settings.update({"dataset": preset["name"], "protocol": protocol, "iou_thresholds": list(map(float, ious)),
                     "ground_truth": str(args.annotations or args.proposal_list or preset.get("test_proposal_list")),
                     "subset": resolve(args.subset, preset["test_subset"]) if args.annotations else None,
                     "unit": gt.unit})
    print(format_table(metrics, f"Detection performance on {preset['name']} ({protocol} protocol)"))
    print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    if args.per_class or args.diagnose is not None:
        print(format_per_class(metrics))
    out = {"settings": settings, "metrics": metrics.as_dict()}
    if args.diagnose is not None:
        diag = false_positive_breakdown(dets, gt, protocol, args.diagnose)
        print(f"false positives at IoU {args.diagnose}: {diag['num_false_positives']} -> " +
              ", ".join(f"{k} {100 * v:.1f}%" for k, v in diag["fractions"].items()))
        out["false_positives"] = diag
        out["confusion"] = class_confusion(dets, gt, protocol, args.diagnose)
        print(format_confusion(out["confusion"]))
    if args.json_out:
        atomic_write_json(args.json_out, out)
        logger.info("wrote %s", args.json_out)
    export(args, dets, gt)
    return out


if __name__ == "__main__":
    sys.exit(run_main(main, get_args_parser()))
