"""Proposal sampling (shared by binary classifier and SSN) and sliding windows."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from ops.formats.proposal_list import VideoProposals, make_video_proposals, read_proposal_list
from ops.proposals.sliding_window import sliding_windows
from ops.train.sampling import ProposalSampler, ProposalTable, SamplingConfig, categorize
from tests.conftest import run_script


def video(name, bounds, gt=((100, 200),), num_frames=1000):
    return make_video_proposals(name, num_frames, np.array(gt, float), [3] * len(gt), np.array(bounds, float))


def test_categorize_hand_computed():
    v = video("a", [[100, 190],   # IoU 0.9            -> fg
                    [150, 450],   # IoU 50/350 = 0.14, overlap_self 50/300 -> incomplete
                    [600, 700],   # IoU 0, coverage 0.1 -> bg
                    [600, 610],   # IoU 0, coverage 0.01 -> nothing (too short)
                    [100, 250]])  # IoU 0.667          -> nothing
    cfg = SamplingConfig()
    kinds = categorize(ProposalTable.from_video(v), v.num_frames, cfg)
    # row 0 is the ground truth itself (included as a foreground proposal)
    assert kinds["fg"].tolist() == [0, 1]
    assert kinds["incomplete"].tolist() == [2]
    assert kinds["bg"].tolist() == [3]
    no_gt = categorize(ProposalTable.from_video(v, include_gt=False), v.num_frames, cfg)
    assert no_gt["fg"].tolist() == [0]


def test_counts_follow_ratios():
    assert SamplingConfig().counts() == {"fg": 1, "incomplete": 6, "bg": 1}
    assert SamplingConfig(proposals_per_video=8, incomplete_ratio=0).counts() == {"fg": 4, "incomplete": 0, "bg": 4}
    assert sum(SamplingConfig(proposals_per_video=7, fg_ratio=1, incomplete_ratio=1, bg_ratio=1).counts().values()) == 7


def test_from_preset_and_overrides():
    cfg = SamplingConfig.from_preset({"fg_iou_thresh": 0.6, "unknown_key": 1}, bg_iou_thresh=0.05, fg_ratio=None)
    assert cfg.fg_iou_thresh == 0.6 and cfg.bg_iou_thresh == 0.05 and cfg.fg_ratio == 1


def test_sampler_proportions_and_dataset_pool():
    rich = video("rich", [[100, 195], [150, 450], [160, 460], [600, 700], [700, 800]])
    poor = video("poor", [[600, 700]])        # no incomplete proposal of its own
    sampler = ProposalSampler([rich, poor], SamplingConfig())
    g = torch.Generator().manual_seed(0)
    draws = sampler.sample(1, g)
    kinds = Counter(k for _, _, k in draws)
    assert kinds == {"fg": 1, "incomplete": 6, "bg": 1}
    # poor's incomplete proposals come from the dataset pool (video 0), the rest from itself
    assert {v for v, _, k in draws if k == "incomplete"} == {0}
    assert {v for v, _, k in draws if k != "incomplete"} == {1}
    for v, row, kind in draws:
        table = sampler.tables[v]
        if kind == "incomplete":
            assert table.best_iou[row] < 0.3 and table.overlap_self[row] > 0.01
    # the same generator state gives the same draws (checkpoint/resume relies on it)
    assert sampler.sample(1, torch.Generator().manual_seed(0)) == draws


def test_sampler_without_any_foreground_fails_clearly():
    v = VideoProposals("x", 100, bounds=np.array([[0.0, 50.0]]), labels=np.array([0]), best_iou=np.array([0.0]),
                       overlap_self=np.array([0.0]))
    with pytest.raises(ValueError, match="no fg proposal"):
        ProposalSampler([v], SamplingConfig())


def test_sliding_windows_hand_computed():
    w = sliding_windows(5.5, max_level=3, overlap=0.4)
    # level 0: span 1, stride ceil(0.6) = 1; [5, 6] has only 0.5 s inside -> dropped
    # level 1: span 2, stride ceil(1.2) = 2; [4, 6] clipped to [4, 5.5]
    # level 2: span 4, stride ceil(2.4) = 3; [3, 7] clipped to [3, 5.5]
    assert w.tolist() == [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [0, 2], [2, 4], [4, 5.5], [0, 4], [3, 5.5]]
    assert sliding_windows(0.5).shape == (0, 2)
    # 0.5 s steps: level 0 (0.5 s windows) is below the 1 s minimum; level 1 gives 1 s windows every 1 s
    assert sliding_windows(3.0, time_step=0.5, max_level=2, overlap=0.0).tolist() == [[0, 1], [1, 2], [2, 3]]


def test_sliding_window_script_refuses_a_zero_duration(tmp_path):
    csv = tmp_path / "ann.csv"
    csv.write_text("video,t_start,t_end,label,subset,duration\n"
                   "good,1.0,2.0,MoveUp,validation,10.0\nempty,0.0,0.0,MoveUp,validation,0\n")
    res = run_script("gen_sliding_window_proposals.py", "synthetic", "validation", tmp_path / "sw.txt",
                     "--annotations", csv, check=False)
    assert res.returncode != 0 and not (tmp_path / "sw.txt").exists()
    assert f"{csv}:3: duration 0.0 must be a positive number of seconds" in res.stderr


def test_sliding_window_script_reads_missing_durations_from_video_dir(tmp_path):
    import cv2

    videos = tmp_path / "videos"
    videos.mkdir()
    writer = cv2.VideoWriter(str(videos / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for _ in range(35):                                   # 3.5 s at 10 fps
        writer.write(np.zeros((24, 32, 3), np.uint8))
    writer.release()
    csv = tmp_path / "ann.csv"
    csv.write_text("video,t_start,t_end,label,subset\nclip,1.0,2.0,MoveUp,validation\n")
    out = tmp_path / "sw.txt"
    res = run_script("gen_sliding_window_proposals.py", "synthetic", "validation", out, "--annotations", csv,
                     check=False)
    # no duration: one line naming the video and the flags that help (ops.formats.annotations.require_durations)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "no positive duration for 1 video(s), e.g. [('clip', nan)]" in res.stderr
    assert "--video_dir" in res.stderr and "(--avoid)" in res.stderr and not out.exists()
    run_script("gen_sliding_window_proposals.py", "synthetic", "validation", out, "--annotations", csv,
               "--video_dir", videos, "--max_level", "2")
    # windows of 1 and 2 s over 3.5 s (hand-checked as in test_sliding_windows_hand_computed)
    expected = np.array([[0, 1], [1, 2], [2, 3], [0, 2], [2, 3.5]]) / 3.5
    block = read_proposal_list(out).videos[0]
    np.testing.assert_allclose(block.bounds, expected, atol=1e-4)
    np.testing.assert_allclose(block.gt_bounds, [[1 / 3.5, 2 / 3.5]], atol=1e-4)
