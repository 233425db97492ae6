"""Sliding windows -> binary_train -> binary_test on the tiny synthetic dataset (tiny backbone, CPU)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from ops.errors import InputError
from ops.formats.actionness import load_actionness
from ops.proposals.tag import action_curve
from ops.formats.annotations import load_annotations
from ops.formats.proposal_list import read_proposal_list
from ops.train.engine import load_checkpoint
from tests.conftest import run_script


@pytest.fixture(scope="module")
def sw_lists(tiny_dataset, tiny_frames, tmp_path_factory):
    out = tmp_path_factory.mktemp("sw")
    for subset in ("validation", "test"):
        res = run_script("gen_sliding_window_proposals.py", "synthetic", subset, out / f"sw_{subset}.txt",
                         "--annotations", tiny_dataset / "annotations", "--frame_path", tiny_frames)
        assert "recall" in res.stdout
    return out


@pytest.fixture(scope="module")
def binary_rgb(sw_lists, tmp_path_factory):
    out = tmp_path_factory.mktemp("binary_rgb")
    run_script("binary_train.py", "synthetic", "RGB", "--train_list", sw_lists / "sw_validation.txt",
               "--output", out, "--arch", "tiny", "--epochs", 6, "-b", 2, "-j", 0, "--lr", 0.01,
               "--epoch_multiplier", 4, "--dropout", 0.5)
    return out


def test_snippet_seconds_become_frames_at_the_videos_rate(sw_lists, tmp_path):
    """--snippet_seconds 0.3 on the tiny preset's 10 fps frames: Flow stacks of 3 flow frames, stored in the
    checkpoint (what every later stage rebuilds); with --new_length too, argparse's one-line refusal."""
    common = ["binary_train.py", "synthetic", "Flow", "--train_list", sw_lists / "sw_validation.txt", "--arch", "tiny",
              "--epochs", 1, "-b", 2, "-j", 0]
    run_script(*common, "--output", tmp_path / "run", "--snippet_seconds", 0.3)
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint_last.pth")
    assert ckpt["model_config"]["backbone"]["new_length"] == 3
    res = run_script(*common, "--output", tmp_path / "both", "--snippet_seconds", 0.3, "--new_length", 5, check=False)
    assert res.returncode == 2 and "not allowed with argument" in res.stderr.splitlines()[-1]
    assert not (tmp_path / "both").exists()


def test_sliding_window_list(sw_lists, tiny_dataset, tiny_frames):
    plist = read_proposal_list(sw_lists / "sw_test.txt")
    db = load_annotations(tiny_dataset / "annotations", "test")
    assert not plist.normalized and len(plist) == len(db.videos)
    v = plist.videos[0]
    assert v.video.endswith(v.video_id) and v.num_frames == round(db.duration(v.video_id) * 10)
    # windows of 1 s span 10 frames at 10 fps, starting at 0
    assert v.bounds[0].tolist() == [0, 10]
    assert (v.labels > 0).any() and (v.labels == 0).any()


def test_binary_classifier_learns_actionness(binary_rgb, sw_lists, tiny_dataset, tmp_path):
    ckpt = load_checkpoint(binary_rgb / "checkpoint_last.pth")
    assert ckpt["model_config"]["type"] == "binary" and ckpt["model_config"]["backbone"]["arch"] == "tiny"
    out = tmp_path / "act.npz"
    run_script("binary_test.py", "synthetic", "RGB", sw_lists / "sw_test.txt", binary_rgb / "checkpoint_last.pth",
               out, "--frame_interval", 2, "-j", 0)
    act = load_actionness(out)
    gt = load_annotations(tiny_dataset / "annotations", "test").ground_truth()
    inside, outside = [], []
    for vid, rec in act.items():
        assert rec.frame_interval == 2 and len(rec.scores) == (rec.num_frames + 1) // 2
        t = np.arange(len(rec.scores)) * 2 / 10.0                     # seconds of each scored frame
        bounds, _ = gt[vid]
        mask = ((t[:, None] >= bounds[:, 0]) & (t[:, None] < bounds[:, 1])).any(1)
        prob = action_curve(rec.scores)                                # raw scores -> P(action)
        inside.append(prob[mask]), outside.append(prob[~mask])
    inside, outside = np.concatenate(inside), np.concatenate(outside)
    # actionness separates action frames from the rest (distractors count as "outside")
    assert inside.mean() > outside.mean() + 0.2
    with pytest.raises(AssertionError, match="is a RGB model"):
        run_script("binary_test.py", "synthetic", "Flow", sw_lists / "sw_test.txt",
                   binary_rgb / "checkpoint_last.pth", tmp_path / "x.npz")


def test_scoring_stages_refuse_the_other_stage_checkpoint(tmp_path):
    """binary_test.py refuses an SSN checkpoint (and ssn_test.py an actionness one) before reading anything
    else, naming the file and what it is; both stages call their checkpoint checkpoint_last.pth."""
    import binary_test
    import ssn_test
    from ops.train.engine import TrainConfig, save_checkpoint
    from ops.models.builder import build_model

    backbone = {"arch": "tiny", "modality": "RGB", "new_length": 1, "pretrained": None, "bn_mode": "full",
                "dropout": 0.0}
    models = {"ssn": build_model({"type": "ssn", "backbone": backbone, "num_classes": 5}),
              "binary": build_model({"type": "binary", "backbone": backbone})}
    for kind, model in models.items():
        save_checkpoint(tmp_path / kind / "checkpoint_last.pth", model, None, 1, model.config(), TrainConfig(), [])
    for script, other, wanted in ((binary_test, "ssn", "an actionness (binary) one: give a checkpoint of "
                                                        "binary_train.py"),
                                  (ssn_test, "binary", "an SSN one: give a checkpoint of ssn_train.py")):
        ckpt = tmp_path / other / "checkpoint_last.pth"
        args = script.get_args_parser().parse_args(["synthetic", "RGB", str(tmp_path / "missing_list.txt"),
                                                    str(ckpt), str(tmp_path / "out")])
        with pytest.raises(InputError, match=re.escape(f"{ckpt} is a '{other}' checkpoint, not {wanted}")):
            script.main(args)
        own = tmp_path / ("binary" if other == "ssn" else "ssn") / "checkpoint_last.pth"
        args = script.get_args_parser().parse_args(["synthetic", "Flow", str(tmp_path / "missing_list.txt"),
                                                    str(own), str(tmp_path / "out")])
        with pytest.raises(InputError, match=re.escape(f"{own} is a RGB model, given as Flow (--modality)")):
            script.main(args)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["binary", "ssn"]            # nothing written


@pytest.fixture(scope="module")
def actionness(binary_rgb, sw_lists, tmp_path_factory):
    out = tmp_path_factory.mktemp("actionness")
    for subset in ("validation", "test"):
        run_script("binary_test.py", "synthetic", "RGB", sw_lists / f"sw_{subset}.txt",
                   binary_rgb / "checkpoint_last.pth", out / f"rgb_{subset}.npz", "--frame_interval", 2, "-j", 0)
    return out


def instance_recall(plist, iou=0.5):
    from ops.temporal import pairwise_iou

    hit = total = 0
    for v in plist:
        if v.num_gt:
            best = pairwise_iou(v.gt_bounds, v.bounds).max(axis=1) if v.num_proposals else np.zeros(v.num_gt)
            hit, total = hit + int((best > iou).sum()), total + v.num_gt
    return hit / total


def test_tag_beats_sliding_windows(actionness, sw_lists, tiny_dataset, tmp_path):
    """Sliding windows -> binary_train -> binary_test -> TAG: with fewer proposals per video than all the
    sliding windows, TAG recalls at least as much ground truth at IoU 0.5 (both reach 0.8 on the tiny
    preset's few test instances, where recall moves in coarse steps)."""
    out = tmp_path / "tag_test.txt"
    res = run_script("gen_bottom_up_proposals.py", actionness / "rgb_test.npz", "--dataset", "synthetic",
                     "--subset", "test", "--annotations", tiny_dataset / "annotations", "--write_proposals", out)
    assert "per-instance recall" in res.stdout
    tag = read_proposal_list(out)
    sw = read_proposal_list(sw_lists / "sw_test.txt")
    assert tag.normalized and len(tag) == len(sw) == 4
    tag_n, sw_n = (np.mean([v.num_proposals for v in p]) for p in (tag, sw))
    assert tag_n < sw_n
    assert instance_recall(tag) >= instance_recall(sw) >= 0.6


def test_torchrun_two_processes(sw_lists, tmp_path):
    """The same script under torchrun (DDP, gloo on CPU): one checkpoint, written by rank 0."""
    import shutil
    import subprocess
    import sys

    from tests.conftest import REPO

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun not installed beside this python")
    res = subprocess.run([torchrun, "--nproc_per_node", "2", str(REPO / "binary_train.py"), "synthetic", "RGB",
                          "--train_list", str(sw_lists / "sw_validation.txt"), "--output", str(tmp_path / "ddp"),
                          "--arch", "tiny", "--epochs", "1", "-b", "1", "-j", "0", "--device", "cpu"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stderr.count("training videos") == 1          # only rank 0 logs at INFO
    ckpt = load_checkpoint(tmp_path / "ddp" / "checkpoint_last.pth")
    assert ckpt["epoch"] == 1 and not any(k.startswith("module.") for k in ckpt["state_dict"])


def test_binary_test_resumes_finished_videos(binary_rgb, sw_lists, tmp_path):
    """Issue 19 item 14: a killed binary_test rescored everything.  Videos finished before the kill wait in
    OUTPUT.parts/; a re-run scores only the rest and gives the same file as one run."""
    import shutil

    from ops.formats.actionness import load_actionness, save_actionness
    ckpt = binary_rgb / "checkpoint_last.pth"
    args = ("binary_test.py", "synthetic", "RGB", sw_lists / "sw_test.txt", ckpt)
    run_script(*args, tmp_path / "one.npz", "-j", 0)
    one = load_actionness(tmp_path / "one.npz")
    # as if killed after the first video: its part and the stamp of these settings are there
    run_script(*args, tmp_path / "two.npz", "-j", 0)
    parts = tmp_path / "two.npz.parts"
    parts.mkdir()
    first = sorted(one)[0]
    save_actionness(parts / f"{first}.npz", {first: one[first]})
    import json

    from ops.train.engine import file_digest
    stamp = {"checkpoint": file_digest(ckpt), "list": file_digest(sw_lists / "sw_test.txt"), "frame_interval": 6,
             "num_crops": 1, "modality": "RGB"}
    (parts / "stamp.json").write_text(json.dumps(stamp))
    res = run_script(*args, tmp_path / "two.npz", "-j", 0)
    assert f"resuming: 1 videos already scored, {len(one) - 1} to score" in res.stderr
    two = load_actionness(tmp_path / "two.npz")
    assert sorted(two) == sorted(one) and not parts.exists()
    for v in one:
        np.testing.assert_array_equal(two[v].scores, one[v].scores)
    shutil.rmtree(tmp_path, ignore_errors=True)
