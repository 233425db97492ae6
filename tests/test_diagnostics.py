"""The diagnostics of eval_detection_results.py --diagnose on hand-made detections: the class each
instance's best detection gives (confusion) next to the false-positive breakdown."""
from __future__ import annotations

import numpy as np

from ops.evaluation.detection_eval import GroundTruth, class_confusion, format_confusion
from ops.formats.detections import Detections


def _gt():
    # video a: class 1 [0, 10], class 2 [20, 30]; video b: class 2 [0, 10], class 3 [50, 60]
    return GroundTruth(np.array(["a", "a", "b", "b"], object), np.array([0.0, 20, 0, 50]),
                       np.array([10.0, 30, 10, 60]), np.array([1, 2, 2, 3]), ["a", "b"], 3,
                       classes=["Jump", "Run", "Spin"])


def test_best_detection_per_instance_names_its_class():
    dets = Detections(
        ["a", "a", "a", "b", "b", "b"],
        [0.0, 1.0, 20.0, 0.0, 0.0, 40.0],
        [10.0, 10.0, 30.0, 10.0, 9.0, 49.0],
        [1, 2, 1, 2, 3, 3],
        [0.5, 0.9, 0.8, 0.7, 0.7, 0.99],
        unit="seconds")
    conf = class_confusion(dets, _gt(), "activitynet", 0.5)
    # a/Jump: [1,10] IoU 0.9 (Run, 0.9) beats [0,10] (Jump, 0.5) -> Run
    # a/Run: [20,30] (Jump, 0.8) -> Jump
    # b/Run: [0,10] Run 0.7 and [0,9] Spin 0.7 tie on score -> the first in input order: Run
    # b/Spin: [40,49] does not overlap [50,60] -> missed
    assert conf["matrix"] == [[0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1]]
    assert conf["missed"] == [0, 0, 1]
    assert conf["top_confusions"] == [{"true": "Jump", "predicted": "Run", "count": 1},
                                      {"true": "Run", "predicted": "Jump", "count": 1}]
    text = format_confusion(conf)
    assert "Spin                              1      0      0      1" in text
    assert "Jump -> Run 1" in text


def test_thumos14_needs_strictly_more_than_the_threshold():
    # [0, 5] against [0, 10]: IoU exactly 0.5 -> meets ActivityNet's >=, not THUMOS14's >
    dets = Detections(["a"], [0.0], [5.0], [1], [1.0], unit="seconds")
    assert class_confusion(dets, _gt(), "activitynet", 0.5)["matrix"][0] == [1, 0, 0, 0]
    assert class_confusion(dets, _gt(), "thumos14", 0.5)["matrix"][0] == [0, 0, 0, 1]


def test_no_detections_all_missed():
    dets = Detections([], [], [], [], [], unit="seconds")
    conf = class_confusion(dets, _gt(), "thumos14", 0.5)
    assert conf["missed"] == [1, 2, 1] and conf["top_confusions"] == []
