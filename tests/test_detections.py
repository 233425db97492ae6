"""Detection and proposal file formats: one reader and one writer each."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ops.errors import InputError
from ops.formats.detections import (DetectionFormatError, Detections, read_activitynet_json, read_detection_file,
                                    read_proposal_csv, read_thumos14_txt, write_activitynet_json, write_thumos14_txt)

CLASSES = ["Jump", "Run", "Swim"]
IDS = [7, 9, 12]


def sample():
    return Detections(["v1", "v1", "v2"], [0.5, 3.0, 1.25], [2.0, 4.5, 9.0], [1, 3, 2], [0.9, 0.25, 0.5])


def test_activitynet_json_round_trip(tmp_path):
    path = tmp_path / "det.json"
    write_activitynet_json(path, sample(), CLASSES)
    data = json.loads(path.read_text())
    assert data["results"]["v1"][1] == {"label": "Swim", "score": 0.25, "segment": [3.0, 4.5]}
    back = read_activitynet_json(path, CLASSES)
    for col in ("video", "t_start", "t_end", "label", "score"):
        assert getattr(back, col).tolist() == getattr(sample(), col).tolist()


def test_activitynet_proposals_and_errors(tmp_path):
    path = tmp_path / "prop.json"
    path.write_text(json.dumps({"results": {"v": [{"segment": [1, 2], "score": 0.5}]}}))
    p = read_activitynet_json(path)
    assert p.label.tolist() == [0] and p.score.tolist() == [0.5]
    path.write_text(json.dumps({"results": {"v": [{"label": "Fly", "segment": [1, 2], "score": 1}]}}))
    with pytest.raises(DetectionFormatError, match="prop.json.*'v'.*Fly"):
        read_activitynet_json(path, CLASSES)
    path.write_text(json.dumps({"results": {"v": [{"label": "Run", "segment": [3, 2], "score": 1}]}}))
    with pytest.raises(DetectionFormatError, match="after"):
        read_activitynet_json(path, CLASSES)


def test_thumos_text_refuses_a_video_id_with_white_space(tmp_path):
    """#19 item 16: `--export_thumos` wrote 'my video 1.0 2.0 7 0.5', which the evalkit and our reader split."""
    dets = sample()
    dets = Detections(np.array(["my video"] * len(dets), dtype=object), dets.t_start, dets.t_end, dets.label,
                      dets.score)
    with pytest.raises(InputError, match="'my video' is empty or holds white space"):
        write_thumos14_txt(tmp_path / "det.txt", dets, IDS)
    assert not (tmp_path / "det.txt").exists()


def test_thumos_text_round_trip_and_class_ids(tmp_path):
    path = tmp_path / "det.txt"
    write_thumos14_txt(path, sample(), IDS)
    assert path.read_text().splitlines()[1] == "v1 3.000000 4.500000 12 0.25"
    back = read_thumos14_txt(path, IDS)
    assert back.label.tolist() == [1, 3, 2]
    np.testing.assert_allclose(back.t_end, [2.0, 4.5, 9.0])


def test_thumos_reader_ignores_unknown_ids_and_strips_suffix(tmp_path, caplog):
    path = tmp_path / "det.txt"
    path.write_text("video_test_1.mp4 1.0 2.0 7 0.5\nvideo_test_1 1 2 99 0.5\n\nvideo_test_2 0 1 12 0.1\n")
    d = read_thumos14_txt(path, IDS)
    assert d.video.tolist() == ["video_test_1", "video_test_2"] and d.label.tolist() == [1, 3]
    assert "class id 99" in caplog.text
    path.write_text("v 1 2 7\n")
    with pytest.raises(DetectionFormatError, match="det.txt:1"):
        read_thumos14_txt(path, IDS)


def test_proposal_csv_folder_and_single_file(tmp_path):
    folder = tmp_path / "bmn"
    folder.mkdir()
    (folder / "vidA.csv").write_text("xmin,xmax,score\n0.1,0.5,0.9\n0.2,0.3,0.4\n")
    (folder / "vidB.csv").write_text("xmin,xmax,score,extra\n0.0,1.0,0.7,1\n")
    p = read_proposal_csv(folder)
    assert p.unit == "fraction" and p.video.tolist() == ["vidA", "vidA", "vidB"]
    np.testing.assert_allclose(p.score, [0.9, 0.4, 0.7])
    single = tmp_path / "all.csv"
    single.write_text("video,xmin,xmax,score\nvidA,0.1,0.5,0.9\n")
    assert read_proposal_csv(single).video.tolist() == ["vidA"]
    (tmp_path / "bad.csv").write_text("xmin,score\n0.1,0.5\n")
    with pytest.raises(DetectionFormatError, match="bad.csv"):
        read_proposal_csv(tmp_path / "bad.csv")


def test_dispatch_and_unit_scaling(tmp_path):
    path = tmp_path / "d.txt"
    write_thumos14_txt(path, sample(), IDS)
    assert len(read_detection_file(path, None, IDS)) == 3
    with pytest.raises(DetectionFormatError, match="class ids"):
        read_detection_file(path, CLASSES, None)
    frac = Detections(["a"], [0.1], [0.5], [1], [1.0], unit="fraction")
    sec = frac.scaled({"a": 200.0}, "seconds")
    assert (sec.t_start[0], sec.t_end[0], sec.unit) == (20.0, 100.0, "seconds")
    with pytest.raises(DetectionFormatError, match="'a'"):
        frac.scaled({}, "seconds")
