"""Decouple-SSAD and main-stream SSAD end to end on the tiny dataset's oracle features:
train -> score -> fuse -> mAP (THUMOS14 protocol)."""
from __future__ import annotations

import json

import pytest

from conftest import run_script
from ops.formats.ssad_files import read_predictions, read_window_list


@pytest.fixture(scope="module")
def ssad_run(tiny_dataset, tiny_features, tmp_path_factory):
    out = tmp_path_factory.mktemp("ssad")
    ann = tiny_dataset / "annotations"
    common = ["--features", tiny_features, "--annotations", ann]
    for mod, model in (("RGB", "main"), ("Flow", "decouple")):
        run_script("ssad_train.py", "synthetic", mod, *common, "--model", model, "--output", out / mod,
                   "--epochs", 3, "-b", 4, "--lr_list", 0.001, "-j", 0)
        run_script("ssad_test.py", "synthetic", *common, "--checkpoint", out / mod / "checkpoint_last.pth",
                   "--output", out / f"{mod}.csv")
    run_script("ssad_postprocess.py", "synthetic", out / "RGB.csv", out / "Flow.csv", "--features", tiny_features,
               "--output", out / "fused.json")
    run_script("eval_detection_results.py", "synthetic", "--detections", out / "fused.json", "--annotations", ann,
               "--json_out", out / "eval.json")
    return out


def test_predictions_hold_every_anchor_of_every_window(ssad_run):
    videos, values = read_predictions(ssad_run / "RGB.csv")
    windows = read_window_list(ssad_run / "RGB.csv.window_info.log")
    assert len(videos) == 140 * len(windows) and values.shape[1] == 4 + 6
    assert (values[:, 2] <= values[:, 3]).all()


def test_fused_detections_are_evaluated(ssad_run):
    metrics = json.loads((ssad_run / "eval.json").read_text())
    log = json.loads((ssad_run / "Flow" / "log.json").read_text())
    assert len(log) == 3 and log[-1]["train_loss"] < log[0]["train_loss"]
    assert "mAP" in json.dumps(metrics)


def test_misaligned_streams_are_refused(ssad_run, tiny_features, tmp_path):
    lines = (ssad_run / "Flow.csv").read_text().splitlines()
    (tmp_path / "short.csv").write_text("\n".join(lines[:-140]) + "\n")
    res = run_script("ssad_postprocess.py", "synthetic", ssad_run / "RGB.csv", tmp_path / "short.csv",
                     "--features", tiny_features, "--output", tmp_path / "x.json", check=False)
    assert res.returncode == 2 and "prediction rows" in res.stderr and not (tmp_path / "x.json").exists()
