"""compare_methods.py and ops.evaluation.comparison: rows from the evaluation scripts' JSON layouts
(made by the same functions the scripts call), hand-checked table cells, times, errors, the picture."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import compare_methods
from ops.errors import InputError
from ops.evaluation.comparison import parse_row
from ops.evaluation.detection_eval import GroundTruth, evaluate_detections
from ops.evaluation.proposal_eval import ar_an, ssn_recall
from ops.formats.detections import Detections
from ops.formats.run_times import read_run_times


def _gt():
    # two videos of 10 s, one instance each, class 1
    return GroundTruth(np.array(["a", "b"], object), np.array([1.0, 2.0]), np.array([3.0, 6.0]),
                       np.array([1, 1]), ["a", "b"], 1, durations={"a": 10.0, "b": 10.0})


def _write_proposal_eval(path, gt):
    # a: exact hit; b: [2, 4] against [2, 6] -> IoU 0.5 (not > 0.5 for SSN recall)
    props = Detections(["a", "b"], [1.0, 2.0], [3.0, 4.0], [0, 0], [0.9, 0.8], unit="seconds")
    out = {"ssn_recall": ssn_recall(props, gt), "ar_an": ar_an(props, gt).as_dict()}  # eval_proposals.py's layout
    path.write_text(json.dumps(out))


def _write_detection_eval(path, gt):
    # a hit in a (IoU 1), b detected at IoU 0.5: AP 1 up to 0.5, 0.5 above
    dets = Detections(["a", "b"], [1.0, 2.0], [3.0, 4.0], [1, 1], [0.9, 0.8], unit="seconds")
    metrics = evaluate_detections(dets, gt, "activitynet", [0.3, 0.5, 0.7])
    path.write_text(json.dumps({"metrics": metrics.as_dict()}))  # eval_detection_results.py's layout


def test_table_cells_from_the_evaluation_layouts(tmp_path, capsys):
    gt = _gt()
    _write_proposal_eval(tmp_path / "p.json", gt)
    _write_detection_eval(tmp_path / "d.json", gt)
    (tmp_path / "t.tsv").write_text("# key\tseconds\nm_train\t5.0\nm_test\t2.5\nm_test2\t1.5\nm_train\t7\n")
    args = compare_methods.get_args_parser().parse_args(
        ["--times", str(tmp_path / "t.tsv"), "--output", str(tmp_path / "cmp"),
         "--row", "M", f"props={tmp_path / 'p.json'}", f"det={tmp_path / 'd.json'}", "train=m_train",
         "infer=m_test+m_test2",
         "--row", "props only", f"props={tmp_path / 'p.json'}"])
    assert compare_methods.main(args) == 0
    table = (tmp_path / "cmp.md").read_text().splitlines()
    assert table[0] == ("| method | AR@100 | AUC | R@0.5 | mAP@0.3 | mAP@0.5 | mAP@0.7 | avg mAP | train s | "
                        "infer s |")
    cells = [c.strip() for c in table[2].strip("|").split("|")]
    # ActivityNet IoU >= 0.5: b's 0.5 counts at 0.5; mAP 100, 100, 50 (one of two at 0.7: AP 0.5)
    assert cells[0] == "M" and cells[3] == "50.00"          # SSN recall@0.5 is IoU > 0.5: only a
    assert cells[4:8] == ["100.00", "100.00", "50.00", "83.33"]
    assert cells[8:] == ["7", "4"]                           # the last m_train line wins; 2.5 + 1.5
    other = [c.strip() for c in table[3].strip("|").split("|")]
    assert other[4:] == ["–"] * 6
    assert "| M |" in capsys.readouterr().out
    img = cv2.imread(str(tmp_path / "cmp.png"))
    assert img is not None and img.shape[1] == 1100
    saved = json.loads((tmp_path / "cmp.json").read_text())
    assert [r["label"] for r in saved["rows"]] == ["M", "props only"]


def test_bad_rows_and_files_are_refused_with_the_place_named(tmp_path):
    (tmp_path / "t.tsv").write_text("ok\t1\nbad line\n")
    with pytest.raises(InputError, match=r"t.tsv:2: expected 'KEY<TAB>SECONDS'"):
        read_run_times(tmp_path / "t.tsv")
    (tmp_path / "x.json").write_text('{"metrics": {"mAP": [0.1]}}')
    with pytest.raises(InputError, match="not an eval_detection_results.py --json_out file"):
        parse_row(["X", f"det={tmp_path / 'x.json'}"])
    with pytest.raises(InputError, match="bad item 'speed=3'"):
        parse_row(["X", "speed=3"])
    with pytest.raises(InputError, match="neither det= nor props="):
        parse_row(["X"])
    _write_proposal_eval(tmp_path / "p.json", _gt())
    with pytest.raises(InputError, match="train step.*m_train not in"):
        parse_row(["X", f"props={tmp_path / 'p.json'}", "train=m_train"], {})


def test_seed_summary_mean_and_std_per_row():
    from compare_seeds import summarise
    def run(m, ar):
        return [{"label": "A", "detection": {"iou": [0.3, 0.5], "mAP": [90.0, m], "average": m},
                 "proposals": {"AR@100": ar, "AUC": 50.0}},
                {"label": "only once", "detection": None, "proposals": {"AR@100": 1.0, "AUC": 1.0}}]
    lines, missing = summarise([run(80.0, 60.0), run(84.0, 62.0), run(82.0, 64.0)][:2] + [run(82.0, 64.0)[:1]])
    # mAP@0.5 80, 84, 82 -> 82.00 ± 2.00; AR@100 60, 62, 64 -> 62.00 ± 2.00; AUC constant
    assert lines[2] == "| A | 62.00 ± 2.00 | 50.00 ± 0.00 | 82.00 ± 2.00 | 82.00 ± 2.00 | 3 |"
    assert missing == ["only once"]
