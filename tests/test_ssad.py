"""Decouple-SSAD's rules (../shared/specs/decouple_ssad.md) on hand-worked inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ops.evaluation.ssad_post import fuse_predictions, predictions_to_detections
from ops.errors import InputError
from ops.formats.ssad_files import (read_predictions, read_window_list, write_predictions, write_window_list)
from ops.models.ssad import ssad_model
from ops.proposals.ssad import (decode, match, sample_masks, ssad_anchors, ssad_loss, ssad_windows, stream_loss,
                                window_targets)


@pytest.mark.parametrize("kind, dim, count", [("main", 1024, 16_052_584), ("decouple", 1024, 90_766_092),
                                              ("main", 2048, 20_771_176), ("decouple", 2048, 95_484_684)])
def test_parameter_counts_equal_the_spec(kind, dim, count):
    assert sum(p.numel() for p in ssad_model(kind, dim).parameters()) == count


def test_shapes_and_tensorflow_padding():
    model = ssad_model("decouple", 16, num_classes=5)
    out = model(torch.randn(2, 16, 128))
    assert out["main"]["logits"].shape == (2, 140, 6) and out["loc"]["dx"].shape == (2, 140)
    # stride-2 k3 on an even length: TensorFlow pads 0 left, 1 right; output position 0 sees inputs 0..2
    conv = model.mals[0]
    x = torch.zeros(1, 512, 32)
    x[0, :, 2] = 1.0
    y0 = conv(x)[0, :, 0]
    x[0, :, 2] = 0.0
    assert not torch.equal(y0, conv(x)[0, :, 0])          # input 2 reaches output 0 (symmetric padding: it would not)


def test_windows_by_hand():
    # test split: L = 991, n = (991 + 256 - 512) // 256 = 2: 0, 256, then L - 512 = 479
    np.testing.assert_array_equal(ssad_windows(1000, [], False), [0, 256, 479])
    # short videos: a test video gets 0, a training video nothing
    np.testing.assert_array_equal(ssad_windows(300, [], False), [0])
    assert len(ssad_windows(300, [[0, 100]], True)) == 0
    # training, L = 640: 0, 128 and the repeated L - 512 = 128; only [0, 512) holds > 90 % of [10, 100]
    np.testing.assert_array_equal(ssad_windows(649, [[10, 100], [500, 1000]], True), [0])
    np.testing.assert_array_equal(ssad_windows(649, [[130, 400]], True), [0, 128, 128])


def test_the_ninety_percent_rule_is_strict():
    boxes, labels = window_targets([[0, 100], [452, 552], [461, 561]], [1, 2, 3], 0)   # 60 %, 59 %... and 51 %
    assert labels.tolist() == [1] and boxes.dtype == np.float32
    boxes, labels = window_targets([[462, 562]], [4], 0)                 # 50 of 100 inside: 0.5, dropped
    assert labels.size == 0
    boxes, labels = window_targets([[-10, 90]], [4], 0)                  # exactly 0.9 inside: dropped (> 0.9)
    assert labels.size == 0
    boxes, labels = window_targets([[-5, 95]], [4], 0)
    np.testing.assert_allclose(boxes, [[0, 95 / 512]])


def test_anchors_and_decoding():
    a = ssad_anchors()
    assert a.shape == (140, 2)
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])               # layer 1, t 0, ratio 0.5
    np.testing.assert_allclose(a[4], [0.5 / 16, 2 / 16])                 # ratio 2
    np.testing.assert_allclose(a[80], [0.5 / 8, 0.5 / 8])                # layer 2 starts at 16 x 5
    np.testing.assert_allclose(a[-1], [3.5 / 4, 0.5])
    box = decode(np.array([[0.5, 0.2]]), np.array([1.0]), np.array([0.0]))
    np.testing.assert_allclose(box, [[0.5 + 0.02 - 0.1, 0.5 + 0.02 + 0.1]])
    box = decode(torch.tensor([[0.5, 0.2]]), torch.tensor([0.0]), torch.tensor([10.0]))
    torch.testing.assert_close(box, torch.tensor([[0.5 - 0.1 * np.e, 0.5 + 0.1 * np.e]], dtype=torch.float32))


def test_matching_is_strict_first_wins_and_keeps_the_gradient():
    boxes = torch.tensor([[[0.0, 0.5], [0.0, 0.125], [0.6, 0.8]]], requires_grad=True)
    gt = [torch.tensor([[0.0, 0.25], [0.0, 0.5], [0.0, 0.5]])]
    labels, targets, score = match(boxes, gt, [torch.tensor([1, 2, 3])])
    # box 0: IoUs 0.5, 1, 1: the first 1 (instance 2) wins; box 1: exactly 0.5 with the first (not > 0.5), 0.25
    # with the others: unmatched, score 0.5; box 2: nothing
    assert labels.tolist() == [[2, 0, 0]]
    torch.testing.assert_close(score, torch.tensor([[1.0, 0.5, 0.0]]))
    assert targets[0, 0].tolist() == pytest.approx([0.0, 0.5]) and not targets[0, 1:].any()
    score.sum().backward()
    assert boxes.grad.abs().sum() > 0


def test_negative_sampling_and_loss_averaging():
    score = torch.tensor([[0.9, 0.6, 0.2, 0.1, 0.0, 0.0]])
    conf = torch.tensor([[0.0, 0.0, 0.7, 0.0, 0.0, 0.0]])
    pos, hard, rand = sample_masks(score, conf, torch.Generator().manual_seed(0))
    assert pos.tolist() == [[1, 1, 0, 0, 0, 0]] and hard.tolist() == [[0, 0, 1, 0, 0, 0]]
    # r = min(1, (1 - 1/2) x 2 / (6 - 2 - 1)) = 1/3 among the 3 others
    assert rand[0, :3].sum() == 0
    _, _, rand = sample_masks(score, torch.ones_like(conf))      # n_hard >= n_pos: no random negatives
    assert not rand.any()
    logits = torch.zeros(1, 6, 3)
    boxes = torch.zeros(1, 6, 2)
    labels = torch.tensor([[1, 2, 0, 0, 0, 0]])
    targets = torch.zeros(1, 6, 2)
    targets[0, 0] = torch.tensor([0.5, 1.0])
    masks = (pos, hard, torch.zeros_like(pos))
    cls, loc, conf_loss = stream_loss(logits, conf, boxes, labels, targets, score, masks)
    assert float(cls) == pytest.approx(np.log(3))                     # uniform logits over 3 classes
    # positives: anchor 0 smooth L1 (0.125 + 0.5), anchor 1 zero, over 2 positives
    assert float(loc) == pytest.approx((0.125 + 0.5) / 2)
    # confidence over the 3 class anchors: |0 - 0.9| -> 0.405, |0 - 0.6| -> 0.18, |0.7 - 0.2| -> 0.125
    assert float(conf_loss) == pytest.approx((0.405 + 0.18 + 0.125) / 3)


def test_losses_of_both_models_are_finite_without_instances():
    anchors = torch.from_numpy(ssad_anchors()).float()
    for kind in ("main", "decouple"):
        out = ssad_model(kind, 8, num_classes=3)(torch.randn(2, 8, 128))
        loss, parts = ssad_loss(out, kind, [torch.zeros(0, 2)] * 2, [torch.zeros(0, dtype=torch.long)] * 2, anchors)
        assert torch.isfinite(loss) and parts["loc_loss"] == 0.0


def test_files_round_trip_and_errors(tmp_path):
    write_window_list(tmp_path / "window_info.log", [(0, "video_test_0000004"), (256, "video_test_0000004")])
    assert (tmp_path / "window_info.log").read_text() == "0, video_test_0000004\n256, video_test_0000004\n"
    assert read_window_list(tmp_path / "window_info.log")[1] == (256, "video_test_0000004")
    (tmp_path / "bad.log").write_text("0, v\nx, v\n")
    with pytest.raises(InputError, match=r"bad.log:2: expected '<start frame>, <video id>'"):
        read_window_list(tmp_path / "bad.log")
    values = np.array([[0, 0.5, 10, 50, 0.1, 0.6, 0.3], [256, 0.2, 300, 400, 0.9, 0.05, 0.05]])
    write_predictions(tmp_path / "p.csv", ["v", "v"], values)
    videos, got = read_predictions(tmp_path / "p.csv")
    assert videos.tolist() == ["v", "v"] and np.allclose(got, values)
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "video_name,start,conf,xmin,xmax,score_0,score_1,score_2"


def test_fusion_and_post_processing_by_hand():
    rgb = (np.array(["v", "v"], object), np.array([[0, 0.3, 0, 60, 0.0, 0.9, 0.1], [0, 0.3, 0, 30, 1.0, 0, 0]]))
    flow = (np.array(["v", "v"], object), np.array([[0, 0.6, 30, 90, 0.03, 0.87, 0.1], [0, 0.3, 0, 30, 0.99, 0, 0.01]]))
    videos, fused = fuse_predictions(rgb, flow)
    # row 2: fused p_0 = 2/3 0.99 + 1/3 1.0 = 0.9933 >= 0.99: dropped; row 1: 2/3 flow + 1/3 rgb
    np.testing.assert_allclose(fused, [[0, 0.5, 20, 80, 0.02, 0.88, 0.1]])
    dets = predictions_to_detections(videos, fused, {"v": 10.0}, ["Jump", "CliffDiving", "Diving"][:2])
    # top-3 of 2 classes: both; score p x sigmoid(0.5); seconds = frames / 10
    sig = 1 / (1 + np.exp(-0.5))
    assert sorted(dets.label.tolist()) == [1, 2]
    np.testing.assert_allclose(sorted(dets.score), sorted([0.88 * sig, 0.1 * sig]))
    np.testing.assert_allclose(dets.bounds, [[2.0, 8.0]] * 2)
    bad = (np.array(["v", "w"], object), flow[1])
    with pytest.raises(InputError, match="row 3 is v .* and w"):
        fuse_predictions(rgb, bad)


def test_cliff_diving_is_also_diving_and_nms_per_class():
    classes = ["CliffDiving", "Diving", "Jump"]
    values = np.array([[0, 2.0, 0, 100, 0.0, 0.8, 0.1, 0.1], [0, 2.0, 5, 100, 0.0, 0.7, 0.2, 0.1],
                       [0, 0.05, 0, 50, 0.0, 0.9, 0.05, 0.05], [0, 2.0, 0, 50, 0.985, 0.01, 0.0, 0.005]])
    dets = predictions_to_detections(np.array(["v"] * 4, object), values, {"v": 25.0}, classes)
    # rows 3 (conf 0.05) and 4 (p_0 0.985) are filtered; rows 1 and 2 overlap (IoU 0.95 > 0.2): one per class
    sig = 1 / (1 + np.exp(-2.0))
    by_label = dict(zip(dets.label.tolist(), dets.score.tolist()))
    assert len(dets) == 3 and set(by_label) == {1, 2, 3}
    assert by_label[1] == pytest.approx(0.8 * sig)                         # CliffDiving
    assert by_label[2] == pytest.approx(0.8 * sig)                         # its Diving copy beats Diving's 0.2


def test_short_training_videos_get_one_window_when_the_preset_says():
    assert len(ssad_windows(300, [[0, 100]], True)) == 0
    np.testing.assert_array_equal(ssad_windows(300, [[0, 100]], True, short_train=True), [0])
    assert len(ssad_windows(300, [[400, 900]], True, short_train=True)) == 0     # nothing inside: no window


def test_benchmark_dry_run():
    import subprocess
    import sys

    from conftest import REPO
    res = subprocess.run([sys.executable, str(REPO / "bench" / "bench_ssad.py"), "--dry_run"], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "main SSAD" in res.stdout and "decouple SSAD" in res.stdout
