"""SSAD on the Decouple-SSAD release's own files, as they are: window_info.log, the annotation CSV (frames) and
``<split>/<spatial|temporal>DataX<backbone>/<i>.npy`` windows (128, D) float64 -- a small fake release with the
release's layout, trained, scored and post-processed with ``--released_features``."""
from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from conftest import run_script
from ops.errors import InputError
from ops.formats.presets import load_preset
from ops.formats.ssad_files import annotation_csv_instances, read_predictions, read_window_list, write_window_list
from ops.proposals.ssad import ssad_windows
from ops.train.ssad_windows import ReleasedWindows, released_training_lines

CSV_HEADER = "video,type,type_idx,startFrame,endFrame,frame_num\n"
VAL_ROWS = [("video_validation_1", "MoveUp", 4, 100, 300, 1200), ("video_validation_1", "Orbit", 5, 700, 900, 1200),
            ("video_validation_2", "MoveDown", 1, 50, 400, 900)]
TEST_FRAMES = {"video_test_1": 1500, "video_test_2": 300}
DIM = 8


def _write_csv(path, rows):
    path.write_text(CSV_HEADER + "".join(",".join(map(str, r)) + "\n" for r in rows))


def _all_windows(frames: dict, stride: int) -> list[tuple[int, str]]:
    """Every window start every ``stride`` frames (the release's rules, without the training filter)."""
    return [(int(s), v) for v, n in frames.items()
            for s in ssad_windows(n, np.zeros((0, 2)), training=False, test_stride=stride)]


def _write_features(root, split: str, windows, rng):
    for stream in ("spatial", "temporal"):
        folder = root / split / f"{stream}DataXUCF101"
        folder.mkdir(parents=True)
        for i in range(len(windows)):
            np.save(folder / f"{i}.npy", rng.normal(size=(128, DIM)))          # float64, as released


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A fake release: every window of the val videos (not only the kept ones), and the test windows."""
    root = tmp_path_factory.mktemp("release")
    rng = np.random.default_rng(0)
    _write_csv(root / "val.csv", VAL_ROWS)
    val = _all_windows({"video_validation_1": 1200, "video_validation_2": 900}, 128)
    test = _all_windows(TEST_FRAMES, 256)
    write_window_list(root / "val_window_info.log", val)
    write_window_list(root / "test_window_info.log", test)
    _write_features(root / "feature", "val", val, rng)
    _write_features(root / "feature", "test", test, rng)
    return root


def _train(release, out, *extra, check=True):
    return run_script("ssad_train.py", "synthetic", "RGB", "--released_features", release / "feature",
                      "--window_list", release / "val_window_info.log", "--annotations", release / "val.csv",
                      "--model", "main", "--output", out, "--epochs", 2, "-b", 4, "--lr_list", 0.001, "-j", 0,
                      *extra, check=check)


def _test(release, ckpt, out, *extra, check=True):
    return run_script("ssad_test.py", "synthetic", "--released_features", release / "feature", "--window_list",
                      release / "test_window_info.log", "--checkpoint", ckpt, "--output", out, *extra, check=check)


@pytest.fixture(scope="module")
def trained(release, tmp_path_factory):
    out = tmp_path_factory.mktemp("release_run")
    _train(release, out / "model")
    _test(release, out / "model" / "checkpoint_last.pth", out / "RGB.csv")
    return out


def test_targets_of_a_window_are_the_instances_inside_in_window_units(release):
    preset = load_preset("synthetic")
    instances = annotation_csv_instances(release / "val.csv", preset["classes"], preset["class_ids"])
    assert instances["video_validation_1"][0] == 1200
    windows = read_window_list(release / "val_window_info.log")
    ds = ReleasedWindows(release / "feature", "val", "RGB", "UCF101", windows, instances)
    # window at frame 0 of video 1: MoveUp 100-300 inside, Orbit 700-900 outside
    x, boxes, labels, _ = ds[windows.index((0, "video_validation_1"))]
    assert x.shape == (DIM, 128) and x.dtype == torch.float32
    np.testing.assert_array_equal(boxes.numpy(), np.array([[100 / 512, 300 / 512]], np.float32))
    assert labels.tolist() == [4]
    # window at 640: Orbit 700-900 -> (60, 260) / 512
    _, boxes, labels, _ = ds[windows.index((640, "video_validation_1"))]
    np.testing.assert_array_equal(boxes.numpy(), np.array([[60 / 512, 260 / 512]], np.float32))
    assert labels.tolist() == [5]


def test_training_keeps_the_windows_of_the_release_rule(release):
    """Windows without an instance > 90 % inside are dropped: what remains is the release's training list."""
    preset = load_preset("synthetic")
    instances = annotation_csv_instances(release / "val.csv", preset["classes"])
    windows = read_window_list(release / "val_window_info.log")
    kept = [windows[i] for i in released_training_lines(windows, instances)]
    expected = [(int(s), v) for v, (n, frames, _) in instances.items() for s in ssad_windows(n, frames, True)]
    assert kept == expected and (128, "video_validation_1") not in kept      # MoveUp only 172/200 inside


def test_a_model_trains_on_the_released_files_and_records_them(trained):
    ckpt = torch.load(trained / "model" / "checkpoint_last.pth", map_location="cpu", weights_only=False)
    assert ckpt["extra"]["feature_record"] == {"source": "decouple_ssad_release", "stream": "spatial",
                                               "backbone": "UCF101", "dim": DIM, "snippet_frames": 4}
    assert ckpt["model_config"]["feature_dim"] == DIM and ckpt["model_config"]["mal_width"] == 256


def test_scoring_writes_every_anchor_of_every_listed_window(release, trained):
    videos, values = read_predictions(trained / "RGB.csv")
    windows = read_window_list(release / "test_window_info.log")
    assert read_window_list(trained / "RGB.csv.window_info.log") == windows
    assert len(videos) == 140 * len(windows)
    starts = values[::140, 0].astype(int).tolist()
    assert list(zip(starts, videos[::140].tolist())) == windows
    assert (values[:, 2] >= values[:, 0]).all() and (values[:, 3] <= values[:, 0] + 512).all()


def test_post_processing_converts_frames_with_the_given_fps(trained, tmp_path):
    import json

    for fps in (25, 50):
        run_script("ssad_postprocess.py", "synthetic", trained / "RGB.csv", "--fps", fps, "--output",
                   tmp_path / f"{fps}.json")
    a, b = (json.loads((tmp_path / f"{fps}.json").read_text())["results"] for fps in (25, 50))
    assert a.keys() == b.keys() and a
    for v in a:
        np.testing.assert_allclose([d["segment"] for d in a[v]], [[2 * t for t in d["segment"]] for d in b[v]])
    res = run_script("ssad_postprocess.py", "synthetic", trained / "RGB.csv", "--fps", "preset", "--output",
                     tmp_path / "x.json", check=False)
    assert res.returncode == 2 and "no ssad.fps table" in res.stderr


def test_the_thumos14_table_gives_the_releases_frame_rates():
    import ssad_postprocess

    args = argparse.Namespace(fps="preset", features=None)
    fps = ssad_postprocess.video_fps(args, load_preset("thumos14"), ["video_test_0001207", "video_test_0000950",
                                                                    "video_test_0000004"])
    assert fps == {"video_test_0001207": 24.0, "video_test_0000950": 25.0, "video_test_0000004": 30.0}


def test_mismatched_sources_are_refused(release, trained, tmp_path):
    ckpt = trained / "model" / "checkpoint_last.pth"
    res = run_script("ssad_test.py", "synthetic", "--features", tmp_path, "--annotations", release / "val.csv",
                     "--checkpoint", ckpt, "--output", tmp_path / "x.csv", check=False)
    assert res.returncode == 2 and "--released_features" in res.stderr
    res = _test(release, ckpt, tmp_path / "x.csv", "--backbone", "KnetV3", check=False)
    assert res.returncode == 2 and "--backbone UCF101" in res.stderr
    assert not (tmp_path / "x.csv").exists()


def test_bad_release_files_get_one_line_errors(release, tmp_path):
    bad = tmp_path / "release"
    import shutil

    shutil.copytree(release, bad)
    (bad / "feature" / "val" / "spatialDataXUCF101" / "3.npy").unlink()
    res = _train(bad, tmp_path / "m", check=False)
    assert res.returncode == 2 and "3.npy: missing" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    np.save(bad / "feature" / "val" / "spatialDataXUCF101" / "3.npy", np.zeros((64, DIM)))
    res = _train(bad, tmp_path / "m", check=False)
    assert res.returncode == 2 and "3.npy" in res.stderr and "(64, 8)" in res.stderr
    _write_csv(bad / "val.csv", VAL_ROWS + [("video_validation_2", "Jump", 9, 10, 20, 900)])
    res = _train(bad, tmp_path / "m", check=False)
    assert res.returncode == 2 and "val.csv:5: class 'Jump'" in res.stderr
    res = run_script("ssad_train.py", "synthetic", "RGB", "--released_features", bad / "feature", "--annotations",
                     release / "val.csv", "--output", tmp_path / "m", check=False)
    assert res.returncode == 2 and "needs --window_list" in res.stderr
    assert not (tmp_path / "m" / "checkpoint_last.pth").exists()


def test_a_class_id_that_disagrees_with_the_preset_is_named(tmp_path):
    _write_csv(tmp_path / "a.csv", [("v", "Orbit", 3, 10, 20, 100)])
    preset = load_preset("synthetic")
    with pytest.raises(InputError, match=r"a.csv:2: Orbit has type_idx 3; the preset says 5"):
        annotation_csv_instances(tmp_path / "a.csv", preset["classes"], preset["class_ids"])
