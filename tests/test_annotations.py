"""Annotation databases: real THUMOS14, ActivityNet JSON, custom CSV, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ops.annotations import (AnnotationError, load_activitynet, load_annotations, load_custom, load_thumos14,
                             read_durations, to_activitynet_json)


def thumos_paths(shared_data, subset):
    root = shared_data / "thumos14"
    return root / f"temporal_annotations_{subset}", root / "detclasslist.txt"


def test_real_thumos14_test_set(shared_data):
    folder, classes = thumos_paths(shared_data, "test")
    root = shared_data / "thumos14"
    db = load_thumos14(folder, "test", classes, durations=root / "test_durations.txt",
                       avoid=root / "test_avoid_videos.txt")
    annotated = set(db.instances["video"]) | set(db.ambiguous["video"])
    assert len(annotated) == 213
    assert db.instances["video"].nunique() == 212          # video_test_0001292 has only Ambiguous segments
    assert "video_test_0001292" not in set(db.instances["video"])
    assert len(db.instances) == 3358 and len(db.ambiguous) == 99
    assert db.num_classes == 20 and db.classes[0] == "BaseballPitch" and db.classes[-1] == "VolleyballSpiking"
    assert db.class_ids[:3] == [7, 9, 12] and db.class_ids[-1] == 97
    # Ambiguous is not a class: no instance carries it
    assert db.instances["label"].between(1, 20).all()
    first = db.instances.iloc[0]
    assert (first.video, first.t_start, first.t_end, first.label) == ("video_test_0000324", 49.2, 53.5, 1)
    assert len(db.videos) == 1574 and not db.videos["duration"].isna().any()
    assert db.duration("video_test_0000764") == pytest.approx(51.328)
    assert "video_test_0001496" in db.avoid


def test_real_thumos14_validation_via_dispatcher(shared_data):
    db = load_annotations(shared_data / "thumos14", "validation")
    assert db.instances["video"].nunique() == 200
    assert db.class_ids is not None and db.num_classes == 20
    gt = db.ground_truth()
    bounds, labels = gt[db.instances.iloc[0]["video"]]
    assert bounds.shape[1] == 2 and np.all(bounds[:, 0] <= bounds[:, 1]) and labels.min() >= 1


def test_duration_list_with_paths(shared_data):
    d = read_durations(shared_data / "thumos14" / "th14_test_durations.txt")
    assert d["video_test_0000764"] == pytest.approx(51.328) and len(d) == 1574


ANET = {
    "version": "VERSION 1.3",
    "taxonomy": [
        {"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None},
        {"nodeId": 1, "nodeName": "Sports", "parentId": 0, "parentName": "Root"},
        {"nodeId": 2, "nodeName": "Surfing", "parentId": 1, "parentName": "Sports"},
        {"nodeId": 3, "nodeName": "Archery", "parentId": 1, "parentName": "Sports"},
        {"nodeId": 4, "nodeName": "Cooking", "parentId": 0, "parentName": "Root"},
        {"nodeId": 5, "nodeName": "Baking cookies", "parentId": 4, "parentName": "Cooking"},
    ],
    "database": {
        "v1": {"subset": "training", "duration": 100.0, "url": "",
               "annotations": [{"segment": [10.0, 20.5], "label": "Surfing"},
                               {"segment": [30.0, 40.0], "label": "Archery"}]},
        "v2": {"subset": "validation", "duration": 50.0, "annotations": [{"segment": [1.0, 2.0], "label": "Baking cookies"}]},
        "v3": {"subset": "testing", "duration": 75.5, "annotations": []},
    },
}


def test_activitynet_json(tmp_path):
    path = tmp_path / "anet.json"
    path.write_text(json.dumps(ANET))
    db = load_activitynet(path)
    assert db.classes == ["Archery", "Baking cookies", "Surfing"]      # leaves, sorted by name
    assert len(db.videos) == 3 and db.duration("v3") == 75.5             # unannotated video kept
    v1 = db.instances[db.instances.video == "v1"]
    assert v1["label"].tolist() == [3, 1] and v1["t_end"].tolist() == [20.5, 40.0]
    test = db.select("test")                                             # alias of 'testing'
    assert test.video_ids == ["v3"] and len(test.instances) == 0
    assert db.select("train").video_ids == ["v1"]
    with pytest.raises(AnnotationError, match="no subset 'bogus'"):
        db.select("bogus")
    # export and reload gives the same ground truth
    (tmp_path / "again.json").write_text(json.dumps(to_activitynet_json(db)))
    again = load_activitynet(tmp_path / "again.json")
    assert again.classes == db.classes and again.instances.equals(db.instances)


def test_activitynet_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(AnnotationError, match="bad.json: invalid JSON"):
        load_activitynet(bad)
    data = json.loads(json.dumps(ANET))
    data["database"]["v2"]["annotations"][0]["label"] = "Unknown"
    bad.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match="'v2' annotation 0"):
        load_activitynet(bad)


def test_custom_csv(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("video,t_start,t_end,label,subset,duration\n"
                    "a,1.5,3.0,jump,validation,10\n"
                    "a,4.0,6.0,run,validation,10\n"
                    "b,0.0,2.0,jump,test,5.5\n")
    db = load_custom(path)
    assert db.classes == ["jump", "run"]
    assert db.instances["label"].tolist() == [1, 2, 1]
    assert db.duration("b") == 5.5
    assert load_annotations(path, "test").video_ids == ["b"]


def test_custom_csv_errors(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("video,start,end,label\na,1,2,x\n")
    with pytest.raises(AnnotationError, match="header must name"):
        load_custom(path)
    path.write_text("video,t_start,t_end,label\na,1,2,x\na,5,oops,x\n")
    with pytest.raises(AnnotationError, match="mine.csv:3: non-numeric"):
        load_custom(path)
    path.write_text("video,t_start,t_end,label\na,5,2,x\n")
    with pytest.raises(AnnotationError, match="mine.csv:2: t_start 5.0 is after"):
        load_custom(path)


def test_thumos_malformed_line(tmp_path):
    folder = tmp_path / "temporal_annotations_test"
    folder.mkdir()
    (folder / "Jump_test.txt").write_text("video_1  1.0 2.0\nvideo_2 3.0\n")
    with pytest.raises(AnnotationError, match="Jump_test.txt:2: expected"):
        load_thumos14(folder, "test")
    with pytest.raises(AnnotationError, match="no '\\*_val.txt' annotation files"):
        load_thumos14(folder, "validation")
