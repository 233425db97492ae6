"""Timeline pictures (ops/evaluation/timeline.py, plot_timeline.py): size, bar positions from the time axis, empty input."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from ops.errors import InputError
from ops.evaluation.timeline import (TimelineLayout, class_colors, draw_timeline, nice_ticks, render_timeline,
                                     time_to_x, timeline_videos)
from ops.formats.annotations import load_annotations
from ops.formats.detections import Detections, write_activitynet_json

NAMES = ["Jump", "Run", "Swim"]
LANE_BG = 235


def video(gt=None, dets=(), duration=20.0, name="v1"):
    return {"video": name, "duration": duration, "gt": gt, "detections": list(dets)}


def test_picture_size_by_hand():
    # width 800: legend cells (800 - 48 - 16) // 150 = 4 per row, 2 classes used -> 1 row of 20 px.
    # band with GT 18 + 2 x 22 + 22 + 10 = 94, without 18 + 22 + 22 + 10 = 72; title 24, final gap 10.
    img = render_timeline([video(gt=[(1, 4, 0)]), video(dets=[(2, 3, 2, 0.5)], name="v2")], NAMES, width=800)
    assert img.shape == (24 + 20 + 94 + 72 + 10, 800, 3) and img.dtype == np.uint8
    assert TimelineLayout().height([True, False], 2, 800) == img.shape[0]


def test_gt_bar_has_class_colour_at_hand_computed_columns(tmp_path):
    # width 1000: axis from x = 48 over 1000 - 48 - 16 = 936 px for 20 s, so 5 s -> 48 + 234 = 282 and
    # 10 s -> 48 + 468 = 516 (exclusive end: last bar column 515).  Title 24 px, one legend row of 20 px,
    # name row 18 px: GT lane rows 62 .. 83, the bar fills rows 64 .. 81.
    path = tmp_path / "t.png"
    img = draw_timeline([video(gt=[(5.0, 10.0, 2)])], NAMES, path, width=1000)
    colour = class_colors(3)[2]
    assert time_to_x([5.0, 10.0], 20.0, 1000).tolist() == [282, 516]
    for x in (282, 399, 515):
        for y in (64, 73, 81):
            assert img[y, x].tolist() == colour.tolist(), (x, y)
    assert img[73, 281].tolist() == [LANE_BG] * 3 and img[73, 516].tolist() == [LANE_BG] * 3
    # written atomically as a lossless PNG, no temp file left
    np.testing.assert_array_equal(cv2.imread(str(path)), img)
    assert [p.name for p in tmp_path.iterdir()] == ["t.png"]


def test_detections_lane_filters_by_score_and_top_k():
    # detections lane of a video without GT: rows 24 + 20 + 18 = 62 .. 83; bars grow from row 82 upwards
    dets = [(0.0, 5.0, 0, 1.0), (10.0, 15.0, 1, 0.05), (15.0, 20.0, 0, 0.5)]
    img = render_timeline([video(dets=dets)], NAMES, width=1000, min_score=0.1)
    xs = time_to_x([2.5, 12.5, 17.5], 20.0, 1000)
    assert img[81, xs[0]].tolist() != [LANE_BG] * 3                  # drawn
    assert img[81, xs[1]].tolist() == [LANE_BG] * 3                  # below min_score
    # the best detection is drawn full height and more opaque than the half-score one
    top = 62 + 2
    assert img[top, xs[0]].tolist() != [LANE_BG] * 3 and img[top, xs[2]].tolist() == [LANE_BG] * 3
    distance = np.abs(img[81, xs].astype(int) - class_colors(3)[0].astype(int)).sum(1)
    assert distance[0] < distance[2]
    img = render_timeline([video(dets=dets)], NAMES, width=1000, top_k=1)
    assert img[81, xs[2]].tolist() == [LANE_BG] * 3


def test_empty_input_and_errors(tmp_path):
    img = draw_timeline([video(dets=[])], NAMES, tmp_path / "empty.png", width=600)
    assert img.shape == (24 + 72 + 10, 600, 3)                        # no legend rows
    assert render_timeline([], NAMES, width=600).shape == (24 + 10, 600, 3)
    # no duration: the last end time is used
    assert render_timeline([{"video": "x", "detections": [(0, 3, 0, 1.0)]}], NAMES).shape[1] == 1200
    with pytest.raises(ValueError, match="'v1'.*class_idx"):
        render_timeline([video(gt=[(0, 1, 3)])], NAMES)
    with pytest.raises(ValueError, match="width"):
        render_timeline([video()], NAMES, width=80)


def test_ticks_and_table_conversion():
    assert nice_ticks(20.0, 10).tolist() == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    assert nice_ticks(37.6, 8).tolist() == [0, 5, 10, 15, 20, 25, 30, 35]
    dets = Detections(["a", "b", "a"], [1.0, 2.0, 3.0], [2.0, 4.0, 5.0], [1, 3, 2], [0.9, 0.8, 0.7])
    gt = {"a": (np.array([[0.5, 1.5]]), np.array([3]))}
    out = timeline_videos(dets, {"a": 10.0}, ["a", "b"], gt)
    assert out[0]["detections"].tolist() == [[1, 2, 0, 0.9], [3, 5, 1, 0.7]]
    assert out[0]["gt"].tolist() == [[0.5, 1.5, 2]] and out[1]["gt"].shape == (0, 3)
    assert np.isnan(out[1]["duration"])


def test_plot_timeline_script(tiny_dataset, tmp_path):
    import plot_timeline

    db = load_annotations(tiny_dataset / "annotations", "test")
    inst = db.instances
    path = tmp_path / "det.json"        # perfect detections: the ground truth itself
    write_activitynet_json(path, Detections(inst["video"], inst["t_start"], inst["t_end"], inst["label"],
                                            np.ones(len(inst))), db.classes)
    out = tmp_path / "timeline.png"
    args = plot_timeline.get_args_parser().parse_args(
        ["synthetic", str(path), str(out), "--annotations", str(tiny_dataset / "annotations"), "--num_videos", "2",
         "--width", "900"])
    assert plot_timeline.main(args) == 0
    img = cv2.imread(str(out))
    first = inst[inst["video"] == db.video_ids[0]].iloc[0]
    lay = TimelineLayout()
    legend = lay.legend_columns(900)
    used = len(np.unique(inst.loc[inst["video"].isin(db.video_ids[:2]), "label"]))
    top = lay.title_h + -(-used // legend) * lay.legend_row_h + lay.name_h        # first GT lane
    assert img.shape == (lay.height([True, True], used, 900), 900, 3)
    x = int(time_to_x((first.t_start + first.t_end) / 2, db.duration(db.video_ids[0]), 900))
    colour = class_colors(db.num_classes)[first.label - 1].tolist()
    assert img[top + lay.lane_h // 2, x].tolist() == colour                        # GT bar
    assert img[top + lay.lane_h + lay.lane_h - 4, x].tolist() == colour            # detection, score 1 = opaque
    with pytest.raises(InputError, match="nosuch"):
        plot_timeline.main(plot_timeline.get_args_parser().parse_args(
            ["synthetic", str(path), str(out), "--videos", "nosuch"]))
