"""Detection mAP on validation videos while a model trains: the metric that picks checkpoint_best.pth.

:func:`ssn_validation` returns the engine's ``val_fn`` for SSN: the validation videos of a frame-based list
(their proposals and ground truth) scored exactly as ``ssn_test.py`` scores them (one crop, every
``frame_interval``-th frame), post-processed as ``eval_detection_results.py --results`` does with the
dataset preset's settings, and evaluated with its protocol.  The held-out videos' proposals are the list's
own (TAG's on the synthetic demo), so the figure is what the test stage would report on those videos.
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import torch

from ops.evaluation.detection_eval import evaluate_detections, ground_truth_from_proposal_list
from ops.evaluation.postprocess import PostprocessConfig, results_to_detections
from ops.formats.proposal_list import ProposalList
from ops.models.ssn_inference import Scorer, score_videos
from ops.train.dataset import FrameSequenceDataset

logger = logging.getLogger(__name__)


def postprocess_config(preset: dict) -> PostprocessConfig:
    """The dataset preset's post-processing (``evaluation``: top_k, nms_threshold, softmax_before_filter)."""
    ev = preset["evaluation"]
    return PostprocessConfig(top_k=ev["top_k"], nms_threshold=ev["nms_threshold"],
                             softmax_before_filter=ev["softmax_before_filter"])


def metric_names(iou_thresholds) -> tuple[str, ...]:
    """History columns of :func:`ssn_validation`: ``val_mAP`` (the mean over the thresholds, which chooses the
    best checkpoint) then ``val_mAP@<iou>`` per threshold."""
    return ("val_mAP", *(f"val_mAP@{float(t):g}" for t in iou_thresholds))


def ssn_validation(blocks: list, modality: str, new_length: int, spec: dict, reg_stats, num_classes: int,
                   preset: dict, frame_interval: int, workers: int = 0) -> Callable[[torch.nn.Module], dict]:
    """``val_fn(model) -> {val_mAP, val_mAP@<iou> ...}`` (fractions in [0, 1]) on the frame-based ``blocks``.

    ``spec``: the data spec the model trains with (``ops.train.dataset.data_spec``); ``reg_stats``: the
    training set's regression statistics (2, 2).  The model runs where its weights are.  Detections are evaluated against the blocks' ground truth as
    fractions of each video; the mean is over the classes with ground truth in these videos."""
    gt = ground_truth_from_proposal_list(ProposalList(blocks, normalized=False), num_classes)
    dataset = FrameSequenceDataset(blocks, modality, new_length, spec, frame_interval, 1, 32)
    post = postprocess_config(preset)
    ev = preset["evaluation"]
    thresholds = np.asarray(ev["iou_thresholds"], np.float64)
    names = metric_names(thresholds)

    def val_fn(model) -> dict:
        scorer = Scorer(model, reg_stats, frame_interval)
        device = next(model.parameters()).device
        results = {block.video: result for block, result, _ in score_videos(model, dataset, scorer, device,
                                                                             workers)}
        dets = results_to_detections(results, post, log=False)
        maps = evaluate_detections(dets, gt, ev["protocol"], thresholds, warn_missing=False).mean_ap
        return dict(zip(names, [float(maps.mean()), *map(float, maps)]))

    missing = sorted(set(range(1, num_classes + 1)) - set(gt.label.tolist()))
    logger.info("validation mAP on %d videos (%d instances), every %d-th frame%s", len(blocks), len(gt),
                frame_interval, f"; classes {missing} have no instance there, the mean leaves them out"
                if missing else "")
    return val_fn
