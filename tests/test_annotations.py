"""Annotation databases: real THUMOS14, ActivityNet JSON, custom CSV, errors."""
from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest

from ops.errors import InputError
from ops.formats.annotations import (AnnotationDB, AnnotationError, load_activitynet, load_annotations, load_custom,
                                     load_thumos14, read_avoid_list, read_class_list, read_durations,
                                     to_activitynet_json, write_activitynet, write_thumos14)


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
    with pytest.raises(AnnotationError, match="bad.json:1: invalid JSON"):
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


def test_thumos_subset_without_files(tmp_path):
    (tmp_path / "Jump_test.txt").write_text("video_1  1.0 2.0\n")
    with pytest.raises(AnnotationError, match="no '\\*_val.txt' annotation files"):
        load_thumos14(tmp_path, "validation")


# --------------------------------------------------------------------------- bad input: clear errors naming the place


@pytest.mark.parametrize("row, message", [
    ("a,1\n", "mine.csv:2: 2 fields, but the header names 4 columns"),          # used to be a bare TypeError
    ("a,1,2,x,extra\n", "mine.csv:2: 5 fields, but the header names 4 columns"),
    ("a,abc,2,x\n", "mine.csv:2: non-numeric t_start 'abc'"),
    ("a,1,nan,x\n", "mine.csv:2: non-numeric t_end 'nan'"),
    ("a,-1,2,x\n", "mine.csv:2: t_start -1.0 is negative"),
    ("a,1,2,\n", "mine.csv:2: empty 'label'"),
    (",1,2,x\n", "mine.csv:2: empty 'video'"),
])
def test_custom_csv_bad_rows(tmp_path, row, message):
    path = tmp_path / "mine.csv"
    path.write_text("video,t_start,t_end,label\n" + row)
    with pytest.raises(AnnotationError, match=message):
        load_custom(path)


def anet_with(video, **entry):
    data = json.loads(json.dumps(ANET))
    data["database"][video].update(entry)
    return data


@pytest.mark.parametrize("data, message", [
    (anet_with("v1", duration="abc"), "video 'v1': non-numeric duration 'abc'"),   # used to be a bare ValueError
    (anet_with("v3", duration=-5), "video 'v3': duration -5.0 must be a positive"),
    (anet_with("v2", annotations=[{"segment": ["abc", 2.0], "label": "Archery"}]),
     "video 'v2' annotation 0: non-numeric t_start 'abc'"),
    (anet_with("v2", annotations=[{"segment": [1.0, 2.0, 3.0], "label": "Archery"}]),
     "video 'v2' annotation 0: segment \\[1.0, 2.0, 3.0\\] is not a \\[t_start, t_end\\] pair"),
    (anet_with("v2", annotations=[{"segment": 4.0, "label": "Archery"}]), "annotation 0: segment 4.0 is not a"),
    (anet_with("v2", annotations=[{"label": "Archery"}]), "annotation 0: segment None is not a"),
    (anet_with("v2", annotations=[{"segment": [3.0, 2.0], "label": "Archery"}]),
     "annotation 0: t_start 3.0 is after t_end 2.0"),
    (anet_with("v2", annotations=[{"segment": [1.0, 2.0]}]), "annotation 0: label None is not a class name"),
    (anet_with("v2", annotations={"segment": [1.0, 2.0]}), "video 'v2': 'annotations' must be a list"),
    ({"database": {"v1": [1, 2]}}, "video 'v1': expected an object"),
    ({"database": [1, 2]}, "no 'database' object"),
    ({"taxonomy": [{"nodeId": 1}], "database": {}}, "'taxonomy' must be a list of nodes"),
])
def test_activitynet_bad_values(tmp_path, data, message):
    path = tmp_path / "anet.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=message):
        load_activitynet(path)


def test_activitynet_unknown_label_and_null_duration(tmp_path):
    path = tmp_path / "anet.json"
    path.write_text(json.dumps(anet_with("v2", annotations=[{"segment": [1.0, 2.0], "label": "Unknown"}])))
    with pytest.raises(AnnotationError, match="video 'v2' annotation 0: label 'Unknown' is not a known class"):
        load_activitynet(path)
    path.write_text(json.dumps(anet_with("v3", duration=None)))      # what to_activitynet_json writes for NaN
    assert np.isnan(load_activitynet(path).duration("v3"))


@pytest.mark.parametrize("line, message", [
    ("v1  abc 2.0", "Jump_test.txt:2: non-numeric t_start 'abc'"),
    ("v1  1.0 inf", "Jump_test.txt:2: non-numeric t_end 'inf'"),
    ("v1  -0.5 2.0", "Jump_test.txt:2: t_start -0.5 is negative"),
    ("v1  3.0 2.0", "Jump_test.txt:2: t_start 3.0 is after t_end 2.0"),
])
def test_thumos_bad_times(tmp_path, line, message):
    (tmp_path / "Jump_test.txt").write_text(f"v0  1.0 2.0\n{line}\n")
    with pytest.raises(AnnotationError, match=message):
        load_thumos14(tmp_path, "test")


def read_thumos_test(path):
    """The THUMOS14 loader over the folder of ``path`` (a ``<Class>_test.txt`` file)."""
    return load_thumos14(path.parent, "test")


@pytest.mark.parametrize("name, text, reader, message", [
    ("mine.csv", "video,start,end,label\na,1,2,x\n", load_custom, "header must name"),
    ("mine.csv", "video,t_start,t_end,label\na,1,2,x\na,5,oops,x\n", load_custom, "mine.csv:3: non-numeric"),
    ("mine.csv", "video,t_start,t_end,label\na,5,2,x\n", load_custom, "mine.csv:2: t_start 5.0 is after"),
    ("mine.csv", "video,t_start,t_end,label,duration\na,1,2,x,10\n\nb,1,2,x,abc\n", load_custom,   # line 3: blank
     "mine.csv:4: non-numeric duration 'abc'"),
    ("mine.csv", "video,t_start,t_end,label,duration\na,1,2,x,0\n", load_custom,
     "mine.csv:2: duration 0.0 must be a positive number"),
    ("Jump_test.txt", "video_1  1.0 2.0\nvideo_2 3.0\n", read_thumos_test, "Jump_test.txt:2: expected"),
    ("Jump_test.txt", b"\xff\xfe\x00video", read_thumos_test, "Jump_test.txt: not UTF-8 text \\(byte 0"),
    ("durations.txt", "a.mp4\n10.5\n\nb.mp4\n\nabc\n", read_durations,                        # blank lines 3, 5
     "durations.txt:6: non-numeric duration 'abc'"),
    ("durations.txt", "a.mp4\n0\n", read_durations, "durations.txt:2: duration 0.0 must be a positive"),
    ("durations.txt", "a.mp4\n10.5 11\n", read_durations, "durations.txt:2: expected one duration"),
    ("classes.txt", "7 Jump\n9 Jump\n", read_class_list, "classes.txt:2: class id or name of '9 Jump' is listed twice"),
    ("classes.txt", "\n", read_class_list, "classes.txt: no classes"),
    ("avoid.txt", "v1 Jump\nv2\nv3 Jump extra\n", read_avoid_list,
     "avoid.txt:3: expected '<video id> \\[<ClassName>\\]'"),
])
def test_bad_annotation_files_name_the_file_and_line(tmp_path, name, text, reader, message):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(AnnotationError, match=message):
        reader(path)


def test_thumos_side_files(tmp_path):
    durations = tmp_path / "durations.txt"
    durations.write_text("a.mp4\n10.5\n\n/data/b.avi\n 3 \n")
    assert read_durations(durations) == {"a": 10.5, "b": 3.0}
    avoid = tmp_path / "avoid.txt"
    avoid.write_text("v1 Jump\n\nv2\n")
    assert read_avoid_list(avoid) == {"v1", "v2"}


def test_instances_after_the_video_end_are_kept_with_a_warning(tmp_path, caplog):
    (tmp_path / "Jump_test.txt").write_text("v1  1.0 2.0\nv1  9.0 10.5\nv2  0.0 1.0\n")
    (tmp_path / "durations.txt").write_text("v1.mp4\n10.0\nv2.mp4\n5.0\n")
    with caplog.at_level(logging.WARNING, logger="ops.formats.annotations"):
        db = load_thumos14(tmp_path, "test", durations=tmp_path / "durations.txt")
    assert len(db.instances) == 3
    assert "1 instances in 1 videos end after the video's duration (e.g. v1)" in caplog.text


def test_custom_durations_probed_from_flv_and_wmv(tmp_path):
    """Every extension extract_frames.py accepts (ops.video.video.VIDEO_EXTS) is found; .flv and .wmv used to be missed."""
    import cv2

    for name, fourcc in (("a.flv", "FLV1"), ("b.wmv", "WMV2")):
        writer = cv2.VideoWriter(str(tmp_path / name), cv2.VideoWriter_fourcc(*fourcc), 10, (32, 24))
        for i in range(12):                                     # 12 frames at 10 fps = 1.2 s
            writer.write(np.full((24, 32, 3), 20 * i, np.uint8))
        writer.release()
    path = tmp_path / "mine.csv"
    path.write_text("video,t_start,t_end,label\na,0.1,0.5,x\nb,0.2,0.4,x\n")
    db = load_custom(path, video_dir=tmp_path)
    assert db.videos["duration"].tolist() == pytest.approx([1.2, 1.2])
    path.write_text("video,t_start,t_end,label\nc,0.1,0.5,x\n")
    with pytest.raises(AnnotationError, match="no video file for 'c'"):
        load_custom(path, video_dir=tmp_path)


def test_custom_json_past_the_probed_end_warns(tmp_path, caplog):
    """The past-the-end warning comes once the durations read from the videos are in, for JSON as for CSV."""
    import cv2

    writer = cv2.VideoWriter(str(tmp_path / "a.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for _ in range(12):                                         # 1.2 s
        writer.write(np.zeros((24, 32, 3), np.uint8))
    writer.release()
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"database": {"a": {"subset": "test", "duration": None, "annotations": [
        {"segment": [0.5, 2.0], "label": "x"}]}}}))
    with caplog.at_level(logging.WARNING, logger="ops.formats.annotations"):
        db = load_custom(path, video_dir=tmp_path)
    assert db.videos["duration"].tolist() == pytest.approx([1.2])
    assert "1 instances in 1 videos end after the video's duration (e.g. a)" in caplog.text


# ---------------------------------------------------------------- writers: THUMOS14 layout and ActivityNet JSON


def hand_made_db():
    return AnnotationDB.from_rows(
        ["Jump", "Run"], class_ids=[7, 9], name="hand-made", avoid={"v2", "w1"},
        videos=[("v1", "test", 30.0), ("v2", "test", 12.5), ("v3", "test", 8.25), ("w1", "validation", 20.0)],
        instances=[("v1", 1.5, 3.25, 2, "test"), ("v1", 10.0, 12.0, 1, "test"), ("v2", 0.0, 4.1, 2, "test"),
                   ("w1", 2.0, 3.0, 1, "validation")],
        ambiguous=[("v2", 5.0, 6.0)])


def test_write_thumos14_files_and_round_trip(tmp_path):
    db = hand_made_db()
    out = tmp_path / "th"
    write_thumos14(db, out, "test")
    write_thumos14(db, out, "val")                                      # alias of validation
    folder = out / "temporal_annotations_test"
    assert (folder / "Jump_test.txt").read_text() == "v1  10.00 12.00\n"
    assert (folder / "Run_test.txt").read_text() == "v1  1.50 3.25\nv2  0.00 4.10\n"
    assert (folder / "Ambiguous_test.txt").read_text() == "v2  5.00 6.00\n"
    assert (out / "detclasslist.txt").read_text() == "7 Jump\n9 Run\n"
    assert (out / "test_durations.txt").read_text() == "v1.mp4\n30.000000\nv2.mp4\n12.500000\nv3.mp4\n8.250000\n"
    assert (out / "test_avoid_videos.txt").read_text() == "v2\n"
    assert (out / "temporal_annotations_validation" / "Ambiguous_val.txt").read_text() == ""
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [   # no temp files left
        "detclasslist.txt", "temporal_annotations_test/Ambiguous_test.txt", "temporal_annotations_test/Jump_test.txt",
        "temporal_annotations_test/Run_test.txt", "temporal_annotations_validation/Ambiguous_val.txt",
        "temporal_annotations_validation/Jump_val.txt", "temporal_annotations_validation/Run_val.txt",
        "test_avoid_videos.txt", "test_durations.txt", "validation_avoid_videos.txt", "validation_durations.txt"]
    for subset in ("test", "validation"):
        back, want = load_annotations(out, subset), db.select(subset)
        assert back.classes == want.classes and back.class_ids == [7, 9]
        assert back.videos.equals(want.videos)
        key = ["video", "t_start"]
        assert back.instances.sort_values(key).reset_index(drop=True).equals(
            want.instances.sort_values(key).reset_index(drop=True))
        assert back.ambiguous.values.tolist() == want.ambiguous.values.tolist()    # (empty frames differ in dtype)
        assert back.avoid == db.avoid & set(want.video_ids)


def test_write_thumos14_refuses_what_the_layout_cannot_hold(tmp_path):
    spaced = AnnotationDB.from_rows(["Baking cookies"], [("v1", "test", 10.0)], [])
    with pytest.raises(AnnotationError, match="cannot be written in the THUMOS14 layout"):
        write_thumos14(spaced, tmp_path, "test")
    unknown = AnnotationDB.from_rows(["Jump"], [("v1", "test", 10.0), ("x", "test", np.nan)], [], name="db")
    with pytest.raises(AnnotationError, match="db: no duration for videos \\['x'\\]"):
        write_thumos14(unknown, tmp_path, "test")
    assert not any(tmp_path.iterdir())                                  # nothing half-written


def test_require_durations_names_the_videos_without_one():
    db = AnnotationDB.from_rows(["Jump"], [("a", "test", 10.0), ("b", "test", np.nan), ("c", "test", 0.0),
                                           ("d", "test", 3.5)], [], name="db")
    db.require_durations(["a", "d"])                                    # all positive: no error
    with pytest.raises(InputError, match=re.escape("db: no positive duration for 2 video(s), e.g. "
                                                   "[('b', nan), ('c', 0.0)]; give annotations")) as err:
        db.require_durations(["a", "b", "c", "d"], leave_out="--avoid")
    assert str(err.value).endswith("or leave those videos out (--avoid)")
    with pytest.raises(InputError, match=r"video\(s\), e.g. \[\('b', nan\)\]") as err:
        db.require_durations(["b"])
    assert str(err.value).endswith("to read them from the video files)")  # no flag to suggest


def test_write_activitynet_round_trip(tmp_path):
    db = hand_made_db()
    db.videos.loc[db.videos["video"] == "v3", "duration"] = np.nan     # unknown duration: null, read back as NaN
    path = tmp_path / "sub" / "gt.json"
    write_activitynet(db, path, version="mine", video_fields={"v1": {"fps": 25}})
    raw = json.loads(path.read_text())
    assert raw["version"] == "mine"
    assert list(raw["database"]["v1"]) == ["subset", "duration", "fps", "annotations"]
    assert raw["database"]["v1"]["annotations"] == [{"segment": [1.5, 3.25], "label": "Run"},
                                                    {"segment": [10.0, 12.0], "label": "Jump"}]
    assert raw["database"]["v3"] == {"subset": "test", "duration": None, "annotations": []}
    back = load_activitynet(path)
    assert back.classes == db.classes
    assert back.videos.equals(db.videos) and back.instances.equals(db.instances)
