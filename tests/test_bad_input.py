"""Bad input found by the probe of issue 19, each refused at its root (the one reader it belongs to).

Every case below was accepted silently, or ended in a traceback, before the fix.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from ops.errors import InputError
from ops.formats.annotations import (AnnotationError, load_annotations, load_custom, load_dataset_annotations,
                                     read_class_list, read_durations)
from ops.formats.detections import DetectionFormatError, read_activitynet_json, read_thumos14_txt
from ops.formats.frames import count_frames
from ops.io import atomic_write_json, json_number, parse_number, read_json, read_text

BOM = "\ufeff"


# --------------------------------------------------------------------------- text and JSON (items 4, 6, 9, 15, 17)


def test_read_text_drops_a_byte_order_mark_and_names_undecodable_bytes(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes((BOM + "video_1 1 2\n").encode())
    assert read_text(path) == "video_1 1 2\n"
    path.write_bytes(b"caf\xe9\n")                       # Latin-1
    with pytest.raises(InputError, match=r"a.txt: not UTF-8 text \(byte 3: b'\\xe9'\)"):
        read_text(path)


def test_read_json_refuses_duplicate_keys_nan_and_names_the_line(tmp_path):
    path = tmp_path / "a.json"
    path.write_text('{\n "v1": 1,\n "v2": 2,\n "v1": 3\n}')
    with pytest.raises(InputError, match=r"key 'v1' appears twice in one object \(lines 2, 4\)"):
        read_json(path)
    path.write_text('{"segment": [NaN, 2]}')
    with pytest.raises(InputError, match="NaN is not a JSON number"):
        read_json(path)
    path.write_text('{"a": 1,\n "b": }')
    with pytest.raises(InputError, match=r"a.json:2: invalid JSON"):
        read_json(path)
    path.write_bytes((BOM + '{"a": [1, 2]}').encode())
    assert read_json(path) == {"a": [1, 2]}
    # the same key in two different objects is fine
    path.write_text('{"x": {"a": 1}, "y": {"a": 2}}')
    assert read_json(path)["y"]["a"] == 2


def test_writers_refuse_nan_before_writing(tmp_path):
    path = tmp_path / "out.json"
    with pytest.raises(ValueError):
        atomic_write_json(path, {"score": float("nan")})
    assert not path.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", ["1_0", "nan", "inf", "-inf", " 1", "1e999", "0x10", ""])
def test_parse_number_refuses_what_float_accepts(text):
    with pytest.raises(ValueError):
        parse_number(text)


def test_parse_number_and_json_number_accept_plain_numbers():
    assert parse_number("12") == 12.0 and parse_number("-3.5") == -3.5 and parse_number("1e-3") == 0.001
    assert parse_number(".5") == 0.5 and parse_number("7", integer=True) == 7
    with pytest.raises(ValueError):
        parse_number("7.0", integer=True)
    assert json_number(3) == 3.0
    for bad in (True, False, None, "3", float("nan"), [1]):
        with pytest.raises(ValueError):
            json_number(bad)


# --------------------------------------------------------------------------- annotations (items 2, 4, 6, 15, 17)


def test_class_list_with_a_bom_has_no_phantom_class(tmp_path):
    path = tmp_path / "detclasslist.txt"
    path.write_bytes((BOM + "7 BaseballPitch\n9 BasketballDunk\n").encode())
    assert read_class_list(path) == ([7, 9], ["BaseballPitch", "BasketballDunk"])


def test_duration_list_refuses_a_conflicting_duplicate_naming_both_lines(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("v1.mp4\n10.5\nv2.mp4\n3\nv1.mp4\n11\n")
    with pytest.raises(AnnotationError, match=r"d.txt:6: video 'v1' has duration 11.0, but line 2 gives 10.5"):
        read_durations(path)
    path.write_text("v1.mp4\n10.5\nv1.mp4\n10.5\n")          # the same value twice is no conflict
    assert read_durations(path) == {"v1": 10.5}
    path.write_text("v1.mp4\n1e308\n")
    with pytest.raises(AnnotationError, match="d.txt:2: duration 1e.308 must be a positive number"):
        read_durations(path)


def test_thumos_file_refuses_a_duplicated_ground_truth_line(tmp_path):
    folder = tmp_path / "temporal_annotations_test"
    folder.mkdir()
    (folder / "Jump_test.txt").write_text("v1 1.0 2.0\nv1 4 5\nv1 1 2\n")
    with pytest.raises(AnnotationError, match=r"Jump_test.txt:3: the same instance as line 1"):
        load_annotations(tmp_path, "test")


CSV_HEADER = "video,t_start,t_end,label,subset,duration\n"


def test_custom_csv_conflicts_and_duplicates_name_both_lines(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(CSV_HEADER + "v1,1,2,Jump,test,10\nv1,3,4,Run,training,10\n")
    with pytest.raises(AnnotationError, match=r"a.csv:3: video 'v1' has subset 'training', duration 10.0, but "
                                              r"line 2 gives 'test', 10.0"):
        load_custom(path)
    path.write_text(CSV_HEADER + "v1,1,2,Jump,test,10\nv1,1,2,Jump,test,10\n")
    with pytest.raises(AnnotationError, match=r"a.csv:3: the same instance as line 2"):
        load_custom(path)
    path.write_text(CSV_HEADER + "v1,1_0,20,Jump,test,30\n")
    with pytest.raises(AnnotationError, match=r"a.csv:2: non-numeric t_start '1_0'"):
        load_custom(path)


def test_custom_csv_keeps_the_presets_class_numbers(tmp_path):
    """A CSV without any instance of the first class must not shift every later label by one (item 2)."""
    preset = {"name": "mine", "num_classes": 3, "classes": ["Jump", "Run", "Wave"]}
    path = tmp_path / "a.csv"
    path.write_text(CSV_HEADER + "v1,1,2,Run,test,10\nv2,1,2,Wave,test,10\n")
    db = load_dataset_annotations(preset, path, "test")
    assert db.classes == ["Jump", "Run", "Wave"]
    assert sorted(db.instances["label"].tolist()) == [2, 3]
    assert sorted(load_custom(path).instances["label"].tolist()) == [1, 2]   # what the stages used to get
    path.write_text(CSV_HEADER + "v1,1,2,Run,test,10\nv2,1,2,Swim,test,10\n")
    with pytest.raises(AnnotationError, match=r"a.csv:3: label 'Swim' is not one of the dataset's classes"):
        load_dataset_annotations(preset, path, "test")
    with pytest.raises(AnnotationError, match=r"2 classes, but the dataset preset 'mine' has 3"):
        load_dataset_annotations({"name": "mine", "num_classes": 3}, path, "test")


def _anet(tmp_path, entry) -> str:
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"database": {"v1": entry}}))
    return path


@pytest.mark.parametrize("entry, message", [
    ({"subset": "testing", "duration": True, "annotations": []}, r"non-numeric duration True"),
    ({"subset": ["testing"], "duration": 10, "annotations": []}, r"'subset' must name the video's subset"),
    ({"duration": 10, "annotations": []}, r"'subset' must name the video's subset"),
    ({"subset": "testing", "duration": 10, "annotations": [{"segment": [1, 2], "label": "Jump"},
                                                           {"segment": [1, 2], "label": "Jump"}]},
     r"annotation 1: the same instance as annotation 0"),
])
def test_activitynet_json_entries_are_checked(tmp_path, entry, message):
    with pytest.raises(AnnotationError, match=message):
        load_custom(_anet(tmp_path, entry))


# --------------------------------------------------------------------------- detection files (items 4, 15, 17)


def test_thumos_detections_with_a_bom_keep_every_line(tmp_path):
    path = tmp_path / "dets.txt"
    path.write_bytes((BOM + "video_test_1 1.0 2.0 7 0.9\nvideo_test_1 3 4 7 0.5\n").encode())
    dets = read_thumos14_txt(path, [7])
    assert dets.video.tolist() == ["video_test_1", "video_test_1"]


@pytest.mark.parametrize("line, message", [
    ("v 1 nan 7 0.9", r"dets.txt:1: not a plain number: 'nan'"),
    ("v -2 1 7 0.9", r"dets.txt:1: t_start -2.0, t_end 1.0: expected 0 <= t_start <= t_end"),
    ("v 1_0 20 7 0.9", r"dets.txt:1: not a plain number: '1_0'"),
    ("v 1 2 7.5 0.9", r"dets.txt:1: not a plain integer: '7.5'"),
])
def test_thumos_detections_refuse_nan_negative_and_odd_numbers(tmp_path, line, message):
    path = tmp_path / "dets.txt"
    path.write_text(line + "\n")
    with pytest.raises(DetectionFormatError, match=message):
        read_thumos14_txt(path, [7])


@pytest.mark.parametrize("results, message", [
    ({"v1": [None]}, r"video 'v1' entry 0: segment must be two numbers"),
    ({"v1": None}, r"video 'v1': expected a list of entries"),
    ({"v1": [{"segment": [1, 2], "score": True}]}, r"video 'v1' entry 0: segment must be two numbers"),
])
def test_activitynet_detections_refuse_null_and_boolean_entries(tmp_path, results, message):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps({"results": results}))
    with pytest.raises(DetectionFormatError, match=message):
        read_activitynet_json(path)


def test_activitynet_detections_refuse_nan_written_by_python(tmp_path):
    path = tmp_path / "dets.json"
    path.write_text('{"results": {"v1": [{"segment": [1, NaN], "score": 0.5}]}}')
    with pytest.raises(DetectionFormatError, match="NaN is not a JSON number"):
        read_activitynet_json(path)


# --------------------------------------------------------------------------- frame metadata (item 15)


@pytest.mark.parametrize("meta, message", [
    ({"num_frames": "12", "num_flow": 11}, r"'num_frames' must be an integer >= 0, got '12'"),
    ({"num_frames": 12}, r"no 'num_flow'"),
    ({"num_frames": 12, "num_flow": 11, "fps": "25"}, r"'fps' must be a positive number"),
    ({"num_frames": 12, "num_flow": 11, "frame_step": 0}, r"'frame_step' must be an integer >= 1"),
    ([1, 2], r"expected a JSON object of frame metadata"),
])
def test_frame_metadata_with_wrong_types_is_one_line(tmp_path, meta, message):
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=message):
        count_frames(tmp_path / "v1")


def test_frame_metadata_of_the_right_types_is_read(tmp_path):
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "meta.json").write_text(json.dumps({"num_frames": 12, "num_flow": 11, "fps": 25.0}))
    counts = count_frames(tmp_path / "v1")
    assert (counts.num_frames, counts.num_flow) == (12, 11) and np.isclose(counts.fps, 25.0)


def test_result_arrays_of_dtype_object_are_one_line(tmp_path):
    """Item 15: a result file whose arrays hold Python objects ended in a traceback."""
    import pickle

    from ops.formats.results import ResultFileError, read_results
    rel = np.array([[0.1, 0.5]], dtype=object)
    path = tmp_path / "r.pkl"
    path.write_bytes(pickle.dumps({"v": (rel, np.zeros((1, 3)), np.zeros((1, 2)), None)}))
    with pytest.raises(ResultFileError, match=r"r.pkl: video 'v': entries must be numeric numpy arrays"):
        read_results(path)


# --------------------------------------------------------------------------- damaged checkpoints (item 15)


def _checkpoint(tmp_path, **changes):
    """A toolkit checkpoint of a 2x3 linear layer, with ``changes`` applied (None deletes a key)."""
    import torch

    from ops.train.engine import TrainConfig, load_checkpoint, save_checkpoint
    model = torch.nn.Linear(2, 3)
    path = tmp_path / "checkpoint_last.pth"
    save_checkpoint(path, model, None, 1, {"type": "linear"}, TrainConfig(), [])
    ckpt = load_checkpoint(path)
    for key, value in changes.items():
        ckpt.pop(key) if value is None else ckpt.__setitem__(key, value)
    torch.save(ckpt, path)
    return path, model


@pytest.mark.parametrize("changes, message", [
    (dict(model_config=None), r"model_config \(missing, expected dict\)"),
    (dict(state_dict=None), r"state_dict \(missing, expected dict\)"),
    (dict(extra=[1]), r"extra \(list, expected dict\)"),
    (dict(state_dict={"weight": 3}), "state_dict holds something other than named tensors"),
])
def test_a_checkpoint_missing_what_readers_use_is_one_line(tmp_path, changes, message):
    from ops.train.engine import load_checkpoint
    path, _ = _checkpoint(tmp_path, **changes)
    with pytest.raises(InputError, match=f"checkpoint_last.pth: a damaged checkpoint: {message}"):
        load_checkpoint(path)


def test_a_checkpoint_without_its_epoch_cannot_be_resumed(tmp_path):
    from ops.train.engine import TrainConfig, Trainer
    path, model = _checkpoint(tmp_path, epoch=None)
    trainer = Trainer(model, None, TrainConfig(device="cpu", workers=0), tmp_path, {"type": "linear"})
    with pytest.raises(InputError, match="checkpoint_last.pth: a damaged checkpoint .* cannot be resumed; pass --restart"):
        trainer.resume(path)


def test_weights_that_do_not_fit_the_model_are_one_line(tmp_path):
    import torch

    from ops.train.engine import load_checkpoint, load_weights
    path, model = _checkpoint(tmp_path, state_dict={"weight": torch.zeros(3, 2)})
    with pytest.raises(InputError, match=r'weights do not fit .*Missing key\(s\) in state_dict: "bias"'):
        load_weights(model, load_checkpoint(path), path)
    path, model = _checkpoint(tmp_path, state_dict={"weight": torch.zeros(3, 2), "bias": torch.ones(3)})
    assert load_weights(model, load_checkpoint(path), path).bias.tolist() == [1.0, 1.0, 1.0]


# --------------------------------------------------------------------------- labels against the model (item 7)


def test_training_list_labels_are_checked_against_the_model_before_training(tmp_path):
    from ops.formats.proposal_list import ProposalListError, check_labels, make_video_proposals
    ok = make_video_proposals("frames/v1", 100, [[10, 40]], [5], [[12, 38], [60, 90]])
    check_labels([ok], 5, "train.txt")
    bad = make_video_proposals("frames/v2", 100, [[10, 40]], [9], [[12, 38]])
    with pytest.raises(ProposalListError, match=r"train.txt: video v2: label 9 is outside the model's classes 1..5"):
        check_labels([ok, bad], 5, "train.txt")



# --------------------------------------------------------------------------- a list without any box (item 5)


def test_a_list_without_any_box_is_read_as_the_caller_says(tmp_path):
    """TAG finding nothing in a video gives a list with no '.' token: it used to be guessed frame-based."""
    from ops.formats.proposal_list import (ListVariantError, ProposalList, make_video_proposals, read_frame_based_list,
                                           read_proposal_list, write_proposal_list)
    empty = make_video_proposals("v1", 1, np.zeros((0, 2)), [], np.zeros((0, 2)))
    normalized = tmp_path / "tag.txt"
    write_proposal_list(normalized, ProposalList(videos=[empty], normalized=True))
    assert read_proposal_list(normalized).normalized                       # no box: taken as normalized
    assert read_proposal_list(normalized, normalized=True).videos[0].bounds.shape == (0, 2)
    assert not read_frame_based_list(normalized).normalized                # and as frame-based when asked
    boxes = make_video_proposals("frames/v1", 100, [[10, 40]], [2], [[12, 38]])
    frame_based = tmp_path / "frames.txt"
    write_proposal_list(frame_based, ProposalList(videos=[boxes], normalized=False))
    with pytest.raises(ListVariantError, match="bounds are written as frame numbers, but this stage reads a "
                                               "normalized list"):
        read_proposal_list(frame_based, normalized=True)
    fractions = make_video_proposals("v1", 1, [[0.1, 0.4]], [2], [[0.12, 0.38]])
    write_proposal_list(normalized, ProposalList(videos=[fractions], normalized=True))
    with pytest.raises(ListVariantError, match="tag.txt is a normalized list .* convert it with gen_proposal_list"):
        read_frame_based_list(normalized)


# --------------------------------------------------------------------------- lists against their folders (item 3)


def _folder(root, name, num_frames):
    from ops.formats.frames import make_meta, write_meta
    folder = root / name
    folder.mkdir(parents=True)
    write_meta(folder, make_meta(name, num_frames, num_frames - 1, 10.0, (32, 24), "dis_fast", 20.0))
    return folder


@pytest.mark.parametrize("num_frames, boxes, message", [
    (9999, [[10, 40]], r"the proposal list says 9999 frames, but the folder has 134 RGB and 133 flow frames"),
    (134, [[10, 400]], r"box \[10, 400\] outside the video's frames \[0, 134\]"),
    (134, [[-3, 40]], r"box \[-3, 40\] outside the video's frames"),
])
def test_frame_based_blocks_must_describe_their_folder(tmp_path, num_frames, boxes, message):
    from ops.formats.frames import count_frames
    from ops.formats.proposal_list import make_video_proposals
    from ops.train.dataset import check_block_against_folder
    folder = _folder(tmp_path, "v1", 134)
    block = make_video_proposals(str(folder), num_frames, [[10, 40]], [1], boxes)
    with pytest.raises(InputError, match=message):
        check_block_against_folder(block, count_frames(folder))


def test_a_block_one_frame_off_its_folder_is_accepted(tmp_path):
    from ops.formats.frames import count_frames
    from ops.formats.proposal_list import make_video_proposals
    from ops.train.dataset import check_block_against_folder
    folder = _folder(tmp_path, "v1", 134)
    for n in (133, 134, 135):      # the flow count, decoders one frame apart
        check_block_against_folder(make_video_proposals(str(folder), n, [[0, n]], [1], [[0, n]]), count_frames(folder))


def test_gen_proposal_list_refuses_fractions_outside_the_video(tmp_path):
    from ops.formats.proposal_list import ProposalList, ProposalListError, check_fractions, make_video_proposals
    ok = make_video_proposals("v1", 1, [[0.1, 0.4]], [1], [[0.0, 1.0]])
    check_fractions(ProposalList(videos=[ok], normalized=True), "a.txt")
    bad = make_video_proposals("v2", 1, [[0.1, 0.4]], [1], [[-0.2, 0.5], [0.5, 1.7]])
    with pytest.raises(ProposalListError, match=r"a.txt: video v2: box \[-0.2, 0.5\] is not inside \[0, 1\]"):
        check_fractions(ProposalList(videos=[ok, bad], normalized=True), "a.txt")


def test_hidden_partial_videos_are_not_videos(tmp_path):
    """Issue 19 item 20: a killed generator's .X.partial.mp4 was taken for a video."""
    from extract_frames import collect_videos
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / ".b.partial.mp4").write_bytes(b"x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.mp4").write_bytes(b"x")
    assert [p.name for p in collect_videos(tmp_path, recursive=True)] == ["a.mp4"]


@pytest.mark.parametrize("script, args", [
    ("ssn_test.py", ["synthetic", "RGB", "l.txt", "c.pth", "o.pkl", "--frame_interval", "0"]),
    ("ssn_test.py", ["synthetic", "RGB", "l.txt", "c.pth", "o.pkl", "--frame_interval", "-3"]),
    ("ssn_test.py", ["synthetic", "RGB", "l.txt", "c.pth", "o.pkl", "--chunk", "0"]),
    ("gen_sliding_window_proposals.py", ["synthetic", "test", "o.txt", "--time_step", "0"]),
    ("ssn_test.py", ["synthetic", "RGB", "l.txt", "c.pth", "o.pkl", "-j", "-1"]),
    ("binary_train.py", ["synthetic", "RGB", "--train_list", "l.txt", "--output", "o", "-j", "-1"]),
    ("extract_features.py", ["synthetic", "f", "o", "--modality", "RGB", "--checkpoint", "c.pth", "-j", "-2"]),
    ("gen_synthetic_dataset.py", ["o", "-j", "0"]),
    ("detect.py", ["v.mp4", "--output", "o", "-j", "-1"]),
])
def test_flags_out_of_range_are_one_line_usage_errors(script, args):
    """Issue 19 items 15 and 19: --frame_interval 0 ended in a traceback, -3 reported a missing .npz."""
    from conftest import run_script
    res = run_script(script, *args, check=False)
    assert res.returncode == 2 and "expected" in res.stderr and "Traceback" not in res.stderr
