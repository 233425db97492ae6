"""Proposals into SSN lists and into detections: the labelling rules, the video-score file, both scripts."""
from __future__ import annotations

import importlib
import json

import numpy as np
import pytest

from ops.errors import InputError
from ops.evaluation.label_proposals import align_video_ids, label_with_video_classes, top_classes, top_n_per_video
from ops.formats.presets import load_preset
from ops.formats.frames import rgb_name
from ops.formats.proposal_list import read_frame_based_list, read_proposal_list
from ops.formats.video_scores import VideoScores, VideoScoresError, read_video_scores, write_video_scores
from tests.conftest import run_script

CLASSES = ["A", "B", "C"]


def run_stage(name: str, *args):
    """A stage's main in this process (faster than a subprocess; bad input raises)."""
    module = importlib.import_module(name)
    return module.main(module.get_args_parser().parse_args([str(a) for a in args]))


# --------------------------------------------------------------------------- pure rules


def test_align_video_ids_adds_or_drops_the_prefix():
    assert align_video_ids(["v_abc", "def", "v_x", "zz", "v_q"], ["abc", "v_def", "v_x", "v_v_q"]) == \
        {"v_abc": "abc", "def": "v_def", "v_x": "v_x", "v_q": "v_v_q"}


def test_top_n_per_video_groups_sorts_and_keeps_ties_in_order():
    codes = [1, 0, 1, 0, 1, 1]
    scores = [0.5, 0.1, 0.9, 0.3, 0.5, 0.2]
    assert top_n_per_video(codes, scores, 2).tolist() == [3, 1, 2, 0]
    assert top_n_per_video(codes, scores, 3).tolist() == [3, 1, 2, 0, 4]      # the tie 0 / 4 in file order
    assert top_n_per_video(codes, scores, 0).tolist() == [3, 1, 2, 0, 4, 5]
    assert top_n_per_video([], [], 5).tolist() == []


def test_top_classes_skips_unlisted_classes():
    cs = np.array([[0.2, np.nan, 0.7], [0.5, 0.5, 0.1]])
    classes, valid = top_classes(cs, 3)
    assert classes.tolist() == [[2, 0, 1], [0, 1, 2]]          # ties: the lower class first
    assert valid.tolist() == [[True, True, False], [True, True, True]]


def test_label_top1_keeps_the_proposal_score():
    cs = np.array([[0.7, 0.2, 0.1], [0.0, 0.1, 0.9]])          # video 0: A best; video 1: C best
    rows, labels, scores = label_with_video_classes([0, 1, 0], [0.9, 0.8, 0.3], cs, top_k=1)
    assert rows.tolist() == [0, 1, 2]
    assert labels.tolist() == [1, 3, 1]
    assert scores.tolist() == [0.9, 0.8, 0.3]


def test_label_top2_multiplies_by_the_class_score():
    cs = np.array([[0.7, 0.2, 0.1], [0.0, 0.1, 0.9]])
    rows, labels, scores = label_with_video_classes([0, 1], [0.9, 0.5], cs, top_k=2, score_mode="product")
    assert rows.tolist() == [0, 0, 1, 1]
    assert labels.tolist() == [1, 2, 3, 2]
    np.testing.assert_allclose(scores, [0.63, 0.18, 0.45, 0.05])


def test_label_with_fewer_listed_classes_than_k():
    cs = np.array([[np.nan, 0.4, np.nan]])
    rows, labels, scores = label_with_video_classes([0, 0], [1.0, 0.5], cs, top_k=2, score_mode="product")
    assert rows.tolist() == [0, 1] and labels.tolist() == [2, 2] and scores.tolist() == [0.4, 0.2]
    with pytest.raises(ValueError, match="score_mode"):
        label_with_video_classes([0], [1.0], cs, score_mode="sum")


# --------------------------------------------------------------------------- the video-score file


def test_video_scores_round_trip(tmp_path):
    vs = VideoScores(["v1", "v2"], CLASSES, [[0.1, 0.7, 0.2], [0.5, np.nan, 0.25]])
    write_video_scores(tmp_path / "s.json", vs)
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["results"]["v1"] == [{"label": "B", "score": 0.7}, {"label": "C", "score": 0.2},
                                     {"label": "A", "score": 0.1}]
    assert data["results"]["v2"] == [{"label": "A", "score": 0.5}, {"label": "C", "score": 0.25}]
    back = read_video_scores(tmp_path / "s.json", CLASSES)
    assert back.videos == ["v1", "v2"] and back.classes == CLASSES
    np.testing.assert_array_equal(back.scores, vs.scores)
    write_video_scores(tmp_path / "top1.json", vs, top_k=1)
    top1 = read_video_scores(tmp_path / "top1.json", CLASSES)
    np.testing.assert_array_equal(top1.scores, [[np.nan, 0.7, np.nan], [0.5, np.nan, np.nan]])
    free = read_video_scores(tmp_path / "s.json")           # classes from the file, in order of appearance
    assert free.classes == ["B", "C", "A"]


def test_video_scores_vector_layout(tmp_path):
    (tmp_path / "v.json").write_text(json.dumps({"results": {"v1": [0.2, 0.8]}, "class": ["C", "A"]}))
    vs = read_video_scores(tmp_path / "v.json", CLASSES)
    np.testing.assert_array_equal(vs.scores, [[0.8, np.nan, 0.2]])


@pytest.mark.parametrize("content, message", [
    ("{not json", "invalid JSON"),
    (json.dumps({"database": {}}), "expected an object with 'results'"),
    (json.dumps({"results": {"v1": {"A": 1}}}), "video 'v1': expected a list"),
    (json.dumps({"results": {"v1": [{"label": "A"}]}}), "video 'v1' entry 0: expected {'label'"),
    (json.dumps({"results": {"v1": [{"label": "Z", "score": 1}]}}), "unknown class 'Z'"),
    (json.dumps({"results": {"v1": [{"label": "A", "score": 1}, {"label": "A", "score": 2}]}}), "listed twice"),
    (json.dumps({"results": {"v1": [{"label": "A", "score": "high"}]}}), "finite number"),
    ('{"results": {"v1": [{"label": "A", "score": NaN}]}}', "NaN is not a JSON number"),
    (json.dumps({"results": {"v1": [0.1]}, "class": ["A", "B"]}), "expected 2 scores"),
    (json.dumps({"results": {}, "class": ["A", "Q"]}), "not classes of the annotations"),
])
def test_video_scores_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(VideoScoresError, match="bad.json(:1)?: ") as err:
        read_video_scores(path, CLASSES)
    assert message in str(err.value) and "\n" not in str(err.value)


# --------------------------------------------------------------------------- the scripts


@pytest.fixture
def tiny(tmp_path):
    """A 3-class preset, annotations (x1: 100 s, A [10, 30] and B [50, 90]; x2: 50 s, C [5, 10];
    x3: 20 s, no ground truth) and BMN-style proposals keyed with 'v_'."""
    preset = load_preset("activitynet1.3")
    preset.update(name="tiny3", num_classes=3, classes=CLASSES, train_subset="test", test_subset="test")
    (tmp_path / "tiny3.json").write_text(json.dumps(preset))
    (tmp_path / "ann.csv").write_text("video,t_start,t_end,label,subset,duration\n"
                                      "x1,10,30,A,test,100\nx1,50,90,B,test,100\nx2,5,10,C,test,50\n"
                                      "x3,0,0,A,other,20\n")
    results = {"v_x1": [{"score": 0.05, "segment": [95, 99]}, {"score": 0.9, "segment": [10, 30]},
                        {"score": 0.7, "segment": [55, 90]}, {"score": 0.8, "segment": [20, 40]},
                        {"score": 0.95, "segment": [120, 130]}, {"score": 0.1, "segment": [-3, 5]}],
               "v_zz": [{"score": 0.5, "segment": [1, 2]}]}
    (tmp_path / "props.json").write_text(json.dumps({"version": "VERSION 1.3", "results": results,
                                                     "external_data": {}}))
    write_video_scores(tmp_path / "scores.json", VideoScores(["v_x1", "v_x2"], CLASSES,
                                                             [[0.7, 0.2, 0.1], [0.0, 0.1, 0.9]]))
    return tmp_path


def test_proposal_list_from_json_hand_checked(tiny, capsys, caplog):
    run_stage("proposals_to_list", tiny / "props.json", tiny / "list.txt", "--dataset",
              tiny / "tiny3.json", "--annotations", tiny / "ann.csv", "--top_n", 4)
    # x1 only: x2 has no proposals (warned), x3 no ground truth, v_zz is not a video of the subset.
    # [120, 130] is empty once clipped (dropped before the top 4); [-3, 5] is clipped to [0, 0.05] and
    # touches nothing: background; [20, 40] vs A [10, 30]: IoU 10 / 30, overlap over the proposal 10 / 20;
    # [55, 90] vs B [50, 90]: 35 / 40 and 35 / 35; [95, 99] (score 0.05) is the fifth: cut
    assert (tiny / "list.txt").read_text() == (
        "# 1\nx1\n1\n1\n2\n1 0.1000 0.3000\n2 0.5000 0.9000\n4\n"
        "1 1.0000 1.0000 0.1000 0.3000\n1 0.3333 0.5000 0.2000 0.4000\n"
        "2 0.8750 1.0000 0.5500 0.9000\n0 0.0000 0.0000 0.0000 0.0500\n")
    assert "have no proposals and are left out, e.g. ['x2']" in caplog.text
    assert "1 videos, 2 ground-truth instances" in capsys.readouterr().out
    plist = read_proposal_list(tiny / "list.txt")
    assert plist.normalized and [v.video_id for v in plist] == ["x1"]
    np.testing.assert_allclose(plist.videos[0].best_iou, [1, 0.3333, 0.875, 0])


def test_the_list_feeds_gen_proposal_list_as_tags_do(tiny):
    run_stage("proposals_to_list", tiny / "props.json", tiny / "list.txt", "--dataset", tiny / "tiny3.json",
              "--annotations", tiny / "ann.csv", "--top_n", 4)
    folder = tiny / "frames" / "x1"
    folder.mkdir(parents=True)
    for k in range(1, 251):                                    # 250 RGB frames: floor(fraction x 250)
        (folder / rgb_name(k)).touch()
    run_stage("gen_proposal_list", tiny / "tiny3.json", tiny / "frames", "--input", tiny / "list.txt",
              "--output", tiny / "frames.txt")
    block = read_frame_based_list(tiny / "frames.txt").videos[0]
    assert block.video == str(folder) and block.num_frames == 250
    assert block.gt_bounds.tolist() == [[25, 75], [125, 225]]
    assert block.bounds.tolist() == [[25, 75], [50, 100], [137, 225], [0, 12]]
    assert block.labels.tolist() == [1, 1, 2, 0]


def test_proposal_list_all_videos_and_no_match(tiny):
    run_stage("proposals_to_list", tiny / "props.json", tiny / "all.txt", "--dataset", tiny / "tiny3.json",
              "--annotations", tiny / "ann.csv", "--top_n", 0, "--all_videos")
    assert read_proposal_list(tiny / "all.txt").videos[0].num_proposals == 5
    res = run_script("proposals_to_list.py", tiny / "props.json", tiny / "none.txt", "--dataset",
                     tiny / "tiny3.json", "--annotations", tiny / "ann.csv", "--subset", "other", check=False)
    assert res.returncode == 2 and "none of its videos" in res.stderr and not (tiny / "none.txt").exists()


def _evaluate(tiny, detections) -> float:
    out = run_stage("eval_detection_results", tiny / "tiny3.json", "--detections", detections,
                    "--annotations", tiny / "ann.csv", "--subset", "test", "--iou", 0.5)
    return out["metrics"]["average_mAP"]


def test_detections_top1_and_top2_evaluated(tiny):
    common = ["--dataset", tiny / "tiny3.json", "--annotations", tiny / "ann.csv", "--top_n", 3]
    run_stage("proposals_to_detections", tiny / "props.json", tiny / "scores.json", tiny / "top1.json", *common)
    top1 = json.loads((tiny / "top1.json").read_text())["results"]
    # ids as the annotations spell them; the 3 best proposals ([120, 130] counts: no clipping here), class A
    assert list(top1) == ["x1"]
    assert [(d["label"], d["score"], d["segment"]) for d in top1["x1"]] == [
        ("A", 0.95, [120, 130]), ("A", 0.9, [10, 30]), ("A", 0.8, [20, 40])]
    # A: a false positive ranked above the hit of its only instance -> AP 1/2; B and C never predicted -> 0
    assert _evaluate(tiny, tiny / "top1.json") == pytest.approx(0.5 / 3)
    run_stage("proposals_to_detections", tiny / "props.json", tiny / "scores.json", tiny / "top2.json", *common,
              "--top_k_classes", 2, "--top_n", 4)
    top2 = json.loads((tiny / "top2.json").read_text())["results"]["x1"]
    assert [d["label"] for d in top2] == ["A", "B"] * 4
    np.testing.assert_allclose([d["score"] for d in top2],
                               [0.665, 0.19, 0.63, 0.18, 0.56, 0.16, 0.49, 0.14])
    # A: FP, TP, FP (duplicate), FP -> AP 1/2; B, the video's second class: FP, FP, FP, TP [55, 90] -> 1/4
    assert _evaluate(tiny, tiny / "top2.json") == pytest.approx((0.5 + 0.25) / 3)


def test_detections_bad_score_file_is_one_line(tiny):
    (tiny / "bad.json").write_text(json.dumps({"results": {"x1": [{"label": "Q", "score": 1}]}}))
    res = run_script("proposals_to_detections.py", tiny / "props.json", tiny / "bad.json", tiny / "d.json",
                     "--dataset", tiny / "tiny3.json", check=False)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [
        f"proposals_to_detections.py: error: {tiny / 'bad.json'}: video 'x1' entry 0: unknown class 'Q'; "
        "the class names must be those of the annotations"]


def test_thumos14_text_and_json_detections_evaluate_alike(shared_data, tmp_path):
    """Real THUMOS14 test annotations: ground-truth segments as proposals, each video's classes as its scores;
    the evalkit text (official class ids) and the ActivityNet JSON give the same mAP."""
    from ops.formats.annotations import load_annotations

    ann = shared_data / "thumos14"
    db = load_annotations(ann, "test")
    results, rows = {}, []
    for vid, (bounds, labels) in db.ground_truth().items():
        if len(labels):
            results[vid] = [{"score": 1.0 - 1e-3 * k, "segment": b} for k, b in enumerate(bounds.tolist())]
            rows.append((vid, sorted(set(labels.tolist()))))
    (tmp_path / "props.json").write_text(json.dumps({"results": results}))
    scores = np.full((len(rows), db.num_classes), np.nan)
    for i, (_, labels) in enumerate(rows):
        scores[i, np.array(labels) - 1] = 1.0
    write_video_scores(tmp_path / "scores.json", VideoScores([v for v, _ in rows], db.classes, scores))
    maps = []
    for out in ("dets.txt", "dets.json"):
        run_stage("proposals_to_detections", tmp_path / "props.json", tmp_path / "scores.json", tmp_path / out,
                  "--dataset", "thumos14", "--annotations", ann, "--subset", "test", "--top_n", 0)
        maps.append(run_stage("eval_detection_results", "thumos14", "--detections", tmp_path / out,
                              "--annotations", ann, "--subset", "test")["metrics"]["mAP"])
    assert (tmp_path / "dets.txt").read_text().split("\n")[0].split()[3] in {str(c) for c in db.class_ids}
    assert maps[0] == maps[1]
    assert min(maps[0]) > 0.8            # 88.16 at every IoU: a video's first class is right for most segments


def test_detections_from_bsn_csv_proposals_need_durations(tiny):
    (tiny / "csv").mkdir()
    (tiny / "csv" / "v_x1.csv").write_text("xmin,xmax,score\n0.1,0.3,0.9\n0.55,0.9,0.4\n")
    run_stage("proposals_to_detections", tiny / "csv", tiny / "scores.json", tiny / "csv.json", "--dataset",
              tiny / "tiny3.json", "--annotations", tiny / "ann.csv")
    dets = json.loads((tiny / "csv.json").read_text())["results"]
    assert list(dets) == ["x1"] and [(d["label"], d["score"]) for d in dets["x1"]] == [("A", 0.9), ("A", 0.4)]
    np.testing.assert_allclose([d["segment"] for d in dets["x1"]], [[10, 30], [55, 90]])      # x 100 s
    with pytest.raises(InputError, match="proposals in fractions of the video; give --annotations"):
        run_stage("proposals_to_detections", tiny / "csv", tiny / "scores.json", tiny / "csv2.json", "--dataset",
                  tiny / "tiny3.json")


def test_proposal_list_durations_from_video_info(tiny):
    (tiny / "video_info.csv").write_text("video,numFrame,seconds,fps,rfps,subset,featureFrame\n"
                                         "v_x1,5000,200.0,25,25,test,4992\n")
    run_stage("proposals_to_list", tiny / "props.json", tiny / "info.txt", "--dataset", tiny / "tiny3.json",
              "--annotations", tiny / "ann.csv", "--top_n", 2, "--video_info", tiny / "video_info.csv")
    block = read_proposal_list(tiny / "info.txt").videos[0]
    # 200 s instead of 100 s: [120, 130] is now inside the video and the best; ground truth halves too
    assert block.bounds.tolist() == [[0.6, 0.65], [0.05, 0.15]]
    assert block.gt_bounds.tolist() == [[0.05, 0.15], [0.25, 0.45]]
    assert block.labels.tolist() == [0, 1] and block.best_iou.tolist() == [0, 1]
    (tiny / "partial.csv").write_text("video,numFrame,seconds\nv_x9,10,1\n")
    with pytest.raises(InputError, match="video x1 is not in the annotation file"):
        run_stage("proposals_to_list", tiny / "props.json", tiny / "p.txt", "--dataset", tiny / "tiny3.json",
                  "--annotations", tiny / "ann.csv", "--video_info", tiny / "partial.csv")
